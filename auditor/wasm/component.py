"""Where a component's core modules are (the component model's binary format, layer 1).

A component holds its code in core modules (section id 1: a whole core module binary,
`\\0asm` preamble included) and in nested components (id 4: a whole component, whose
modules count too); everything else (types, imports, canonical ABI glue, instances) is
the component's own. The deep analyses run on each core module as on any module file,
and the bytes they do not cover are reported as the component's own, so the sizes still
add up to the file (twiggy cannot read components at all: AlexEne/twiggy#753).

Only the section framing is read here (id, size, payload range), not the component's
types: linear in the file's size, and a section that runs past its parent is one
malformed-module line with its offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditor.wasm.reader import MalformedModule, Reader

__all__ = ["COMPONENT_VERSION", "ComponentResult", "CoreModule", "core_modules", "is_component"]

MAGIC = b"\0asm"
COMPONENT_VERSION = b"\x0d\x00\x01\x00"  # version 0x0d, layer 1
CORE_MODULE, COMPONENT = 1, 4
#: Nested components deeper than this are refused: each level is a few bytes, and a
#: recursion this deep is no real component.
MAX_NESTING = 100


@dataclass(frozen=True)
class CoreModule:
    index: int  # in file order over the whole file, nested components' modules included
    offset: int  # of its first byte (`\0asm`) in the file
    size: int
    path: tuple[int, ...]  # (nested component, ..., module) positions, each within its parent

    @property
    def label(self) -> str:
        """`module[1]`, `component[0]/module[0]`: the n-th core module section of its
        component, inside the n-th nested component section of its parent (the numbering
        of `wasm-tools objdump`)."""
        return "".join(f"component[{c}]/" for c in self.path[:-1]) + f"module[{self.path[-1]}]"


def is_component(data: bytes) -> bool:
    return data[:4] == MAGIC and data[4:8] == COMPONENT_VERSION


def core_modules(data: bytes, name: str | None = None) -> list[CoreModule]:
    """Every core module of the component in `data`, in file order."""
    out: list[CoreModule] = []

    def walk(start: int, end: int, path: tuple[int, ...]) -> None:
        if len(path) > MAX_NESTING:
            raise MalformedModule(f"components nested more than {MAX_NESTING} deep", start, name)
        if data[start:start + 4] != MAGIC or data[start + 4:start + 8] != COMPONENT_VERSION:
            raise MalformedModule("a nested component without the component preamble", start, name)
        r = Reader(data, start + 8, end, name)
        modules = components = 0
        while not r.at_end():
            at = r.pos
            sid = r.u8()
            size = r.u32()
            if size > r.end - r.pos:
                raise MalformedModule(f"section {sid} at byte {at} runs {size - (r.end - r.pos)} bytes past its end",
                                      r.pos, name)
            body = r.pos
            if sid == CORE_MODULE:
                out.append(CoreModule(len(out), body, size, (*path, modules)))
                modules += 1
            elif sid == COMPONENT:
                walk(body, body + size, (*path, components))
                components += 1
            r.pos = body + size

    walk(0, len(data), ())
    return out


@dataclass
class ComponentResult:
    """One deep analysis of a component: its result on each core module (each a result of
    kind `analysis`, sized and labelled within that module) and the component's own bytes."""

    KIND: ClassVar[str] = "component"
    SCHEMA: ClassVar[str] = "auditor.component/1"

    analysis: str  # the kind of every module's result: "top", "garbage", ...
    file: str
    bytes: int
    modules: list[tuple[CoreModule, Any]]  # (where the module is, its analysis result)
    skipped: list[CoreModule] = field(default_factory=list)  # a NAME|REGEX query matched nothing there

    @property
    def own_bytes(self) -> int:
        """What no core module holds: preamble, section headers, types, imports, canonical
        ABI definitions, instances, nested components' own framing."""
        every = [m for m, _ in self.modules] + self.skipped
        return self.bytes - sum(m.size for m in every)

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, "analysis": self.analysis, "file": self.file, "bytes": self.bytes,
                "component_bytes": self.own_bytes,
                "modules": [{"index": m.index, "label": m.label, "offset": m.offset, "bytes": m.size,
                             "result": r.to_json()} for m, r in self.modules],
                "unmatched": [{"index": m.index, "label": m.label, "offset": m.offset, "bytes": m.size}
                              for m in self.skipped]}
