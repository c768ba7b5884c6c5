"""wabt's wasm-objdump as the independent reader the wasm stage is checked against."""

from __future__ import annotations

import re
from pathlib import Path

import toolcache

_SECTION = re.compile(r'^\s*(\w+) start=0x([0-9a-f]+) end=0x([0-9a-f]+) \(size=0x([0-9a-f]+)\)(?:.*?"([^"]*)")?')
_FUNC = re.compile(r"^ - func\[(\d+)\] size=(\d+)")


def _run(args: list[str]) -> str:
    """wasm-objdump ARGS... PATH's stdout (the path last), cached by the file's content (toolcache.py)."""
    return toolcache.run_checked("wasm-objdump", args[:-1], args[-1])


def sections(path: Path) -> list[tuple[str, int, int]]:
    """(kind or custom name, payload start, payload size) per section, as wasm-objdump -h sees it."""
    out = []
    for line in _run(["-h", str(path)]).splitlines():
        m = _SECTION.match(line)
        if m:
            kind, start, end, size, cname = m.groups()
            out.append((cname if kind == "Custom" else kind, int(start, 16), int(size, 16)))
    return out


def code_sizes(path: Path) -> dict[int, int]:
    """func index -> body size, from wasm-objdump -x -j Code."""
    out = {}
    for line in _run(["-x", "-j", "Code", str(path)]).splitlines():
        m = _FUNC.match(line)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


OBJDUMP_KIND = {
    "type": "Type", "import": "Import", "function": "Function", "table": "Table", "memory": "Memory",
    "global": "Global", "export": "Export", "start": "Start", "element": "Elem", "code": "Code",
    "data": "Data", "datacount": "DataCount", "tag": "Tag",
}
