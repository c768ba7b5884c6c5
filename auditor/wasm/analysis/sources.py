"""Code bytes per source file, directory and line, from the module's DWARF line tables.

Every byte of the code section lands in exactly one row, so the rows sum to the code
section (id byte, size LEB, body count, every body's size LEB and body):

- a file, when a line-table row covers the byte (inlined code counts at the file it
  was written in: the line table records it there);
- `unattributed`, split into `overhead` (the section's header, the body count and each
  body's size field: bytes no source line describes), `no_line_info` (bodies compiled
  without debug info, e.g. a release build without `debug = 1`, or rustc's allocator
  shims) and `unknown_file` (a row naming a file number its table lacks).

Line 0 is DWARF's "no particular line" (code the compiler made up: spills, jump
tables); its bytes stay with the row's file and are shown as line 0.
"""

from __future__ import annotations

import posixpath
from bisect import bisect_right
from dataclasses import dataclass, field

from auditor.wasm import model as m
from auditor.wasm.dwarf_lines import LineTable, read_line_tables

__all__ = ["SourceAttribution", "FileBytes", "source_attribution"]

DEBUG_SETTING = "debug = 1"  # the Cargo profile setting that adds line tables (README)


@dataclass
class FileBytes:
    path: str
    bytes: int
    functions: int  # bodies with at least one byte from this file

    def to_json(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "functions": self.functions}


@dataclass
class SourceAttribution:
    code_bytes: int  # the whole code section
    files: list[FileBytes] = field(default_factory=list)  # most bytes first
    directories: list[tuple[str, int]] = field(default_factory=list)
    overhead: int = 0
    no_line_info: int = 0
    unknown_file: int = 0
    function_unit: dict[int, int] = field(default_factory=dict)  # function index -> unit
    lines: LineTable | None = None
    _by_function: dict[int, dict[tuple[int, int], int]] = field(default_factory=dict, repr=False)

    @property
    def available(self) -> bool:
        return self.lines is not None

    @property
    def unattributed(self) -> int:
        return self.overhead + self.no_line_info + self.unknown_file

    def function_lines(self, index: int, limit: int = 10) -> list[tuple[str | None, int, int]]:
        """(path, line, bytes) of one body, most bytes first."""
        table = self.lines
        rows = self._by_function.get(index, {})
        out = [(table.paths[p] if table is not None and p >= 0 else None, ln, b)
               for (p, ln), b in rows.items()]
        out.sort(key=lambda x: (-x[2], x[0] or "", x[1]))
        return out[:limit]

    def to_json(self, mod: m.Module | None = None, top_functions: int = 10, top_lines: int = 5) -> dict:
        table = self.lines
        fns: list[dict] = []
        if mod is not None and table is not None:
            biggest = sorted(mod.functions, key=lambda f: (-f.body_size, f.index))[:top_functions]
            from auditor.wasm.demangle import demangle

            for f in biggest:
                raw = mod.func_name(f.index)
                fns.append({"index": f.index, "name": demangle(raw) if raw else None, "bytes": f.body_size,
                            "lines": [{"path": p, "line": ln, "bytes": b}
                                      for p, ln, b in self.function_lines(f.index, top_lines)]})
        return {
            "available": self.available,
            "hint": None if self.available else f"no DWARF line tables: build with `{DEBUG_SETTING}`",
            "code_bytes": self.code_bytes,
            "files": [f.to_json() for f in self.files],
            "directories": [{"path": d, "bytes": b} for d, b in self.directories],
            "unattributed": {"bytes": self.unattributed, "overhead": self.overhead,
                             "no_line_info": self.no_line_info, "unknown_file": self.unknown_file},
            "functions": fns,
            "sequences": table.sequences if table else 0,
            "tombstoned_sequences": table.tombstoned if table else 0,
            "errors": table.errors if table else [],
        }


def source_attribution(mod: m.Module, lines: LineTable | None = None) -> SourceAttribution:
    """Bytes per file / directory / line; without line tables everything is unattributed."""
    code = mod.section("code")
    if code is None:
        return SourceAttribution(0)
    table = lines if lines is not None else read_line_tables(mod)
    out = SourceAttribution(code.size, lines=table)
    body_bytes = sum(f.body_size for f in mod.functions)
    out.overhead = code.size - body_bytes
    if table is None:
        out.no_line_info = body_bytes
        return out
    base = code.payload_offset
    starts, ends, paths, line_nos, units = table.start, table.end, table.path, table.line, table.unit
    per_path = [0] * len(table.paths)
    fn_count = [0] * len(table.paths)
    covered_total = 0
    for f in mod.functions:
        lo, hi = f.code_offset - base, f.end - base
        i = bisect_right(starts, lo) - 1
        if i < 0 or ends[i] <= lo:
            i += 1
        rows: dict[tuple[int, int], int] = {}
        seen_paths: set[int] = set()
        while i < len(starts) and starts[i] < hi:
            n = min(ends[i], hi) - max(starts[i], lo)
            if n > 0:
                p = paths[i]
                if p < 0:
                    out.unknown_file += n
                else:
                    per_path[p] += n
                    seen_paths.add(p)
                covered_total += n
                key = (p, line_nos[i])
                rows[key] = rows.get(key, 0) + n
                if f.index not in out.function_unit:
                    out.function_unit[f.index] = units[i]
            i += 1
        for p in seen_paths:
            fn_count[p] += 1
        if rows:
            out._by_function[f.index] = rows
    out.no_line_info = body_bytes - covered_total
    files = (FileBytes(p, per_path[i], fn_count[i]) for i, p in enumerate(table.paths) if per_path[i])
    out.files = sorted(files, key=lambda x: (-x.bytes, x.path))
    dirs: dict[str, int] = {}
    for fb in out.files:
        d = posixpath.dirname(fb.path)
        dirs[d] = dirs.get(d, 0) + fb.bytes
    out.directories = sorted(dirs.items(), key=lambda x: (-x[1], x[0]))
    return out
