"""Per-variant results keyed by a hash of everything the build reads.

Layout: `<cache>/variants/<key>/` holds `record.json` (status, error, seconds, sha256),
`module.wasm` (the measured build), `probes.wasm` (the build with probe exports) and
analysis results `inspect-<k>.json` / `runtime-<k>.json`, whose keys add the analysing
code's own hash, so a newer auditor re-reads modules instead of trusting old figures.
Probe builds (one per allocator and behaviour settings, shared by every variant whose
profile agrees on them) live under `<cache>/probes/<key>/` the same way. What depends only
on a built module's bytes (inspect, the runtime record, the shipping stages' outputs, the
allocator's code cost) is kept by the module's sha256 under `<cache>/modules/<sha>/`, so
an edit that leaves a module byte-identical costs its incremental build and nothing more.
Writes go through a temp file and a rename: an interrupted scan leaves no half entry.

`TargetStore` keeps the cargo target dirs between scans (`<cache>/targets/<crate>/`), so
a re-scan after an edit is an incremental build; its size is bounded (least recently
used crates go first) and `auditor cache prune` empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

CACHE_FORMAT = 2  # 2: probe builds shared per allocator and behaviour settings


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "auditor"


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@cache
def code_hash(package: str, data_files: tuple[str, ...] = ()) -> str:
    """Hash of the Python sources (and `rules/` data files) that produce an analysis."""
    import importlib

    from auditor.data import rules_dir

    h = hashlib.sha256()
    root = Path(importlib.import_module(package).__file__ or package).parent
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    for name in data_files:
        h.update(name.encode())
        h.update((rules_dir() / name).read_bytes())
    return h.hexdigest()


class VariantCache:
    """One variant's cache entry (a directory); `enabled=False` reads nothing."""

    def __init__(self, root: Path, key: str, read: bool = True, kind: str = "variants"):
        self.dir = root / kind / key[:2] / key
        self.read = read

    def path(self, name: str) -> Path:
        return self.dir / name

    def record(self) -> dict | None:
        return self._json("record.json") if self.read else None

    def previous_record(self) -> dict | None:
        """The stored record even under --no-cache: for the byte-identical rebuild check."""
        return self._json("record.json")

    def analysis(self, name: str) -> dict | None:
        return self._json(name) if self.read else None

    def _json(self, name: str):
        try:
            return json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put_json(self, name: str, data) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                # dumps, not dump: dump streams through json's pure-Python encoder, several
                # times slower than the C one-shot encoder on an inspect record.
                f.write(json.dumps(data))
            os.replace(tmp, self.path(name))
        except BaseException:
            _unlink(tmp)
            raise

    def put_file(self, name: str, src: Path) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{name}.")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, self.path(name))
        except BaseException:
            _unlink(tmp)
            raise
        return self.path(name)


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
