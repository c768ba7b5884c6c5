"""A module file of a scan and its one parse, handed explicitly from the analysis that
made it to the next ones (issue 10: each module parsed once per scan).

The runner makes one `ModuleFile` per file it analyses (cargo's module, a shipping
stage's output, the probe build) for the time of one variant's analysis, and passes it
to every step that reads the module: inspect (which parses, and keeps its parse here),
wasm-opt's feature list, the allocator's code cost, the runtime harness and the twin's
allocator detection. A step whose result is in the cache never parses; the first step
that needs the module parses it, and the later ones reuse that parse. A parse is reused
only while the file keeps the identity it had when it was read (inode, size, mtime:
cache files are written once, by rename), so a file rewritten meanwhile is read again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.wasm.inspect import InspectResult
    from auditor.wasm.model import Module

__all__ = ["ModuleFile", "identity"]


def identity(path: Path) -> tuple[int, int, int] | None:
    """A file unchanged since: same inode, size and mtime (cache files are written once, by rename)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class ModuleFile:
    """The file at `path` and, once a step has parsed it, that parse."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kept: tuple[tuple[int, int, int], Module] | None = None

    def _keep(self, module: Module, before: tuple[int, int, int] | None) -> None:
        """Keep `module`, parsed from the bytes read when the file had identity `before`,
        if the file still has it."""
        self._kept = (before, module) if before is not None and before == identity(self.path) else None

    def kept(self) -> Module | None:
        """The parse a step made, while the file is unchanged since (None: none made)."""
        if self._kept is not None and self._kept[0] == identity(self.path):
            return self._kept[1]
        return None

    def module(self) -> Module:
        """The parse a step made, else the file parsed now (and kept for the next step)."""
        mod = self.kept()
        if mod is None:
            from auditor.wasm.parse import parse_module, read_module_file

            before = identity(self.path)
            mod = parse_module(read_module_file(self.path), str(self.path))
            self._keep(mod, before)
        return mod

    def inspect(self, shown: str, compression: str) -> InspectResult:
        """The wasm stage's inspect of the file (`shown`: the name its record gives), its
        parse kept. Inspect is the first step on a module, so it parses (kept() is None)."""
        from auditor.wasm.inspect import inspect_bytes
        from auditor.wasm.parse import read_module_file

        before = identity(self.path)
        result = inspect_bytes(read_module_file(self.path), shown, compression)
        self._keep(result.module, before)
        return result
