"""Code bytes per crate, two ways: the crate that *defines* the code and the crate that
*instantiated* it.

`Vec<MyType>::push` is defined in `alloc` but compiled into your crate because you
instantiated it; `inspect`'s crate rollup (and cargo-bloat's) counts it as `alloc`.
The instantiating view puts it in your crate, which is the view that answers "what
does depending on X cost me" (AlexEne/twiggy#705).

Defining crate of a body, first answer wins:
1. DWARF: the outermost `DW_TAG_namespace` around its subprogram (`dwarf.dwarf_walk`);
2. its demangled name (`auditor.wasm.crates.crate_of`, the rules of `inspect`).

Instantiating crate:
1. DWARF: the compile unit whose line table covers the body (rustc names units
   `<root>/@/<crate>.<hash>-cgu.<n>`, `dwarf.crate_of_unit`);
2. a v0 symbol's instantiating-crate suffix (rustc adds it to generic instances);
3. a v0 symbol without that suffix is not generic, nor is a plain (unmangled) name —
   `#[no_mangle]` functions, C, linker-made code: the defining crate compiled it.
Legacy (`_ZN…`) and C++ names carry neither, so without DWARF their bodies are
`unattributed` in this view; v0 mangling or `debug = 1` attributes them.

Each body counts with its size field (LEB) and its body; the code section's header
and body count are `unattributed` too, so each view sums to the code section exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.wasm import model as m
from auditor.wasm.crates import UNNAMED, crate_alias, crate_of
from auditor.wasm.demangle import compiled_crate, demangle, demangle_many, v0_instantiating_crate
from auditor.wasm.reader import gc_paused

__all__ = ["UNATTRIBUTED", "CrateRow", "CrateViews", "crate_views", "v0_instantiating_crate"]

UNATTRIBUTED = "unattributed"


@dataclass
class CrateRow:
    name: str
    bytes: int
    functions: int

    def to_json(self) -> dict:
        return {"name": self.name, "bytes": self.bytes, "functions": self.functions}


@dataclass
class CrateViews:
    code_bytes: int
    defining: list[CrateRow] = field(default_factory=list)
    instantiating: list[CrateRow] = field(default_factory=list)
    # per function index: (defining, instantiating) crate, None = unattributed
    of_function: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)  # view -> evidence -> bodies

    def to_json(self) -> dict:
        return {"code_bytes": self.code_bytes,
                "defining": [r.to_json() for r in self.defining],
                "instantiating": [r.to_json() for r in self.instantiating],
                "evidence": self.sources}


def _rows(items: Mapping[int, tuple[str | None, int]], overhead: int) -> list[CrateRow]:
    sizes: dict[str, int] = {UNATTRIBUTED: overhead}
    counts: dict[str, int] = {UNATTRIBUTED: 0}
    for crate, size in items.values():
        key = crate or UNATTRIBUTED
        sizes[key] = sizes.get(key, 0) + size
        counts[key] = counts.get(key, 0) + 1
    rows = [CrateRow(k, sizes[k], counts[k]) for k in sizes if k != UNATTRIBUTED]
    rows.sort(key=lambda r: (-r.bytes, r.name))
    rows.append(CrateRow(UNATTRIBUTED, sizes[UNATTRIBUTED], counts[UNATTRIBUTED]))
    return rows


@gc_paused()
def crate_views(mod: m.Module, dwarf_crates: Mapping[int, str | None] | None = None,
                unit_crates: Mapping[int, str | None] | None = None) -> CrateViews:
    """Both views of the code section.

    `dwarf_crates`: function index -> DWARF namespace crate (from `dwarf.dwarf_functions`);
    `unit_crates`: function index -> crate of the unit whose line table covers it (from
    `sources.source_attribution(...).function_unit` mapped through the units).
    """
    # every key present for a module without code too: readers index it unconditionally
    evidence = {"defining": {"dwarf": 0, "name": 0, "none": 0},
                "instantiating": {"dwarf": 0, "v0": 0, "v0-not-generic": 0, "plain-name": 0, "none": 0}}
    code = mod.section("code")
    if code is None:
        return CrateViews(0, [CrateRow(UNATTRIBUTED, 0, 0)], [CrateRow(UNATTRIBUTED, 0, 0)], sources=evidence)
    dwarf_crates = dwarf_crates or {}
    unit_crates = unit_crates or {}
    defining: dict[int, tuple[str | None, int]] = {}
    instantiating: dict[int, tuple[str | None, int]] = {}
    out = CrateViews(code.size)
    # every name, its crate and its v0 instantiating crate below, worked out in one call
    raws = [mod.func_name(f.index) for f in mod.functions]
    demangle_many(raws, crates=True, crate_of=True)
    for f, raw in zip(mod.functions, raws):
        size = f.end - f.body_offset
        d = dwarf_crates.get(f.index)
        if d:
            evidence["defining"]["dwarf"] += 1
        else:
            by_name = _crate_by_name(raw) if raw else UNNAMED
            d = None if by_name == UNNAMED else by_name
            evidence["defining"]["name" if d else "none"] += 1
        i = unit_crates.get(f.index)
        if i:
            evidence["instantiating"]["dwarf"] += 1
        elif raw and raw.startswith("_R"):
            i = v0_instantiating_crate(raw)
            if i:
                evidence["instantiating"]["v0"] += 1
            else:
                i = _crate_by_name(raw)
                i = None if i == UNNAMED else i
                evidence["instantiating"]["v0-not-generic" if i else "none"] += 1
        elif raw and not raw.startswith("_Z") and d:
            i = d
            evidence["instantiating"]["plain-name"] += 1
        else:
            evidence["instantiating"]["none"] += 1
        defining[f.index] = (d, size)
        instantiating[f.index] = (i, size)
        out.of_function[f.index] = (d, i)
    overhead = code.size - sum(f.end - f.body_offset for f in mod.functions)
    out.defining = _rows(defining, overhead)
    out.instantiating = _rows(instantiating, overhead)
    out.sources = evidence
    return out


def _crate_by_name(raw: str) -> str:
    """crate_of(demangle(raw)), from the compiled demangler's answer when it gave one."""
    known = compiled_crate(raw)
    return crate_alias(known) if known is not None else crate_of(demangle(raw))


def module_crate_views(mod: m.Module, with_dwarf: bool = True) -> CrateViews:
    """`crate_views` with the module's own DWARF read first (when it has any)."""
    dwarf_crates: dict[int, str | None] = {}
    unit_crates: dict[int, str | None] = {}
    if with_dwarf:
        from auditor.wasm.analysis.sources import source_attribution
        from auditor.wasm.dwarf import debug_sections, dwarf_functions

        if ".debug_info" in debug_sections(mod):
            dwarf_crates = {i: e.get("crate") for i, e in dwarf_functions(mod).items()}
        attr = source_attribution(mod)
        if attr.lines is not None:
            units = attr.lines.units
            unit_crates = {i: units[u].crate for i, u in attr.function_unit.items()}
    return crate_views(mod, dwarf_crates, unit_crates)
