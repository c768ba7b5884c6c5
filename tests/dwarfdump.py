"""llvm-dwarfdump-16 as the independent reader of DWARF line tables: every row range it
prints (start, end, path, line), and the code bytes per source file computed from them
(tests of `auditor sources`, `scan --attribute` and `diff`'s per-file deltas)."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

DWARFDUMP = shutil.which("llvm-dwarfdump-16") or "llvm-dwarfdump-16"


def dump(*args: str) -> str:
    return subprocess.run([DWARFDUMP, *args], check=True, capture_output=True, text=True).stdout


@cache
def comp_dirs(path: Path) -> dict[int, str]:
    """stmt_list -> DW_AT_comp_dir of each unit, from llvm-dwarfdump --debug-info."""
    out, stmt = {}, None
    for line in dump("--debug-info", "--recurse-depth=0", str(path)).splitlines():
        if m := re.search(r"DW_AT_stmt_list\t\(0x([0-9a-f]+)\)", line):
            stmt = int(m.group(1), 16)
        elif (m := re.search(r'DW_AT_comp_dir\t\("(.*)"\)', line)) and stmt is not None:
            out[stmt] = m.group(1)
            stmt = None
    return out


@cache
def rows(path: Path) -> list[tuple[int, int, str, int]]:
    """(start, end, path, line) of every row range llvm-dwarfdump --debug-line prints
    (addresses relative to the code section's payload, as DWARF for wasm has them)."""
    text = dump("--debug-line", str(path))
    out: list[tuple[int, int, str, int]] = []
    dirs: dict[int, str] = {}
    files: dict[int, tuple[str, int]] = {}
    version = 4
    comp_dir = ""
    pending: tuple[int, int, int] | None = None
    cur_file = None
    for line in text.splitlines():
        if m := re.match(r"debug_line\[0x([0-9a-f]+)\]", line):
            dirs, files, pending = {}, {}, None
            comp_dir = comp_dirs(path).get(int(m.group(1), 16), "")
        elif m := re.match(r"\s+version: (\d+)", line):
            version = int(m.group(1))
        elif m := re.match(r'include_directories\[\s*(\d+)\] = "(.*)"', line):
            dirs[int(m.group(1))] = m.group(2)
        elif m := re.match(r"file_names\[\s*(\d+)\]:", line):
            cur_file = int(m.group(1))
        elif (m := re.match(r'\s+name: "(.*)"', line)) and cur_file is not None:
            files[cur_file] = (m.group(1), 0)
        elif (m := re.match(r"\s+dir_index: (\d+)", line)) and cur_file is not None:
            files[cur_file] = (files[cur_file][0], int(m.group(1)))
        elif m := re.match(r"0x([0-9a-f]{16})\s+(\d+)\s+\d+\s+(\d+)\s.*", line):
            addr, ln, f = int(m.group(1), 16), int(m.group(2)), int(m.group(3))
            if pending is not None and addr > pending[0]:
                fname, d = files[pending[2]]
                directory = comp_dir if (version < 5 and d == 0) else dirs.get(d, "")
                if directory and not posixpath.isabs(directory):
                    directory = posixpath.join(comp_dir, directory)
                name = fname if posixpath.isabs(fname) else posixpath.join(directory, fname)
                out.append((pending[0], addr, name, pending[1]))
            pending = None if "end_sequence" in line else (addr, ln, f)
    return sorted(out)


def file_bytes(path: Path, bodies: list[tuple[int, int]]) -> dict[str, int]:
    """Code bytes per source file: llvm-dwarfdump's row ranges clipped to `bodies`
    ((start, end) of each function body, relative to the code section's payload)."""
    out: dict[str, int] = {}
    for a, b, name, _ in rows(path):
        for lo, hi in bodies:
            n = min(b, hi) - max(a, lo)
            if n > 0:
                out[name] = out.get(name, 0) + n
    return out


def directory_bytes(files: dict[str, int]) -> dict[str, int]:
    """Bytes per directory: each file's bytes in the directory that holds it."""
    out: dict[str, int] = {}
    for name, n in files.items():
        d = posixpath.dirname(name)
        out[d] = out.get(d, 0) + n
    return out
