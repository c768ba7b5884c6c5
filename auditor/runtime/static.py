"""OOM guards visible without running anything, read from the wasm stage's model.

Two questions: is every `memory.grow` result compared with -1 before use (an unchecked
one turns OOM into a write at 0xFFFF0000 or silent corruption), and does the
allocation-failure path reachable from the exports end in an abort. The second is
answered from names plus the call graph: Rust's OOM chain (`handle_alloc_error` ->
`__rust_alloc_error_handler` -> `__rg_oom` / `__rdl_oom` -> `rust_oom` -> abort) never
returns, so an export whose call tree reaches one of those functions aborts on OOM (an
`unreachable` trap). LTO inlines most of that chain, so "no names" means "unknown", not
"does not abort"; the ramp workload settles it at runtime.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

from auditor.errors import AuditorError
from auditor.records.run import GrowFunctionRecord, StaticRecord, TableGrowRecord
from auditor.wasm.demangle import demangle, strip_hash
from auditor.wasm.graph import item_graph
from auditor.wasm.grow import find_grow_sites
from auditor.wasm.model import Module
from auditor.wasm.opcodes import code_start, decode
from auditor.wasm.parse import parse_module

OOM_HANDLER = re.compile(
    r"(__rust_alloc_error_handler|__rg_oom|__rdl_oom|(^|::)rust_oom$|handle_alloc_error|"
    r"default_alloc_error_hook|__rust_oom|malloc_failure)"
)
OP_UNREACHABLE = 0x00


def _unavailable(reason: str) -> StaticRecord:
    return {"available": False, "reason": reason, "memory_grow_sites": None, "unchecked_grow_sites": None,
            "grow_functions": [], "aborts_on_oom": None, "oom_handlers": [], "oom_path_ends_in_unreachable": None,
            "exports_reaching_oom": [], "named_functions": 0, "table_grow_sites": None, "table_grow_over_cap": []}


# A table.grow: prefix 0xfc, sub-opcode 15 as a u32 LEB128 (minimal or padded).
_TABLE_GROW_BYTES = re.compile(rb"\xfc(?:\x0f|\x8f\x80{0,3}\x00)")


def table_grow_sites(mod: Module, cap: int | None) -> tuple[int, list[TableGrowRecord]]:
    """(number of table.grow instructions, those asking for more than `cap` elements at
    once). The delta is known when a constant is pushed right before the instruction
    (`i32.const 100000000 table.grow 0`); only bodies whose bytes could hold a table.grow
    are decoded."""
    from auditor.wasm.opcodes import OP_I32_CONST, OP_I64_CONST, tables

    grow = tables().by_name["table.grow"].code
    count, over = 0, cast(list[TableGrowRecord], [])
    data = mod.data
    for f in mod.functions:
        if not _TABLE_GROW_BYTES.search(data, f.code_offset, f.end):
            continue
        insns = decode(data, code_start(data, f.code_offset, f.end), f.end, mod.file)
        for i, (at, op, table) in enumerate(insns):
            if op != grow:
                continue
            count += 1
            prev = insns[i - 1] if i else None
            if prev is not None and prev[1] in (OP_I32_CONST, OP_I64_CONST) and isinstance(prev[2], int):
                delta = prev[2] & (0xFFFFFFFF if prev[1] == OP_I32_CONST else 0xFFFFFFFFFFFFFFFF)
                if cap is not None and delta > cap:
                    raw = mod.func_name(f.index)
                    over.append({"function": f.index, "name": strip_hash(demangle(raw)) if raw else None,
                                 "offset": at, "table": table or 0, "delta": delta, "cap": cap})
    return count, over


def static_facts(module: Module | str | Path, table_cap: int | None = None) -> StaticRecord:
    """The `static` object of the run report (see README ("auditor run")) from the wasm
    stage's IR; given the reason the module could not be read (a str), the facts are
    "unavailable" with that reason; given a path, it is read here (for API callers).
    `table_cap`: the sandbox's elements per table (table.grow requests above it are listed)."""
    if isinstance(module, Path):
        try:
            module = parse_module(module.read_bytes(), str(module))
        except AuditorError as e:
            return _unavailable(e.line())
        except OSError as e:
            return _unavailable(f"{module}: cannot read: {e.strerror}")
    if isinstance(module, str):
        return _unavailable(module)
    mod = module
    try:
        sites = find_grow_sites(mod)
        graph = item_graph(mod)
        table_grows, table_over = table_grow_sites(mod, table_cap)
    except AuditorError as e:
        return _unavailable(e.line())

    def name_of(i: int) -> str | None:
        raw = mod.func_name(i)
        return strip_hash(demangle(raw)) if raw else None

    per_fn: dict[int, GrowFunctionRecord] = {}
    for s in sites:
        f = per_fn.setdefault(s.function, {"function": s.function, "name": name_of(s.function), "sites": 0,
                                           "unchecked": 0, "offsets": []})
        f["sites"] += 1
        f["unchecked"] += 0 if s.checked else 1
        f["offsets"].append(s.offset)

    handlers = {i: n for i in mod.function_names if (n := name_of(i)) and OOM_HANDLER.search(n)}
    reaching = sorted(e.name for e in mod.exports
                      if e.kind == "func" and handlers and graph.reachable([e.index]) & handlers.keys())
    ends = _ends_in_unreachable(mod, graph.reachable(handlers)) if handlers else None
    return {
        "available": True,
        "reason": None,
        "memory_grow_sites": len(sites),
        "unchecked_grow_sites": sum(1 for s in sites if not s.checked),
        "grow_functions": list(per_fn.values()),
        "aborts_on_oom": True if reaching else None,
        "oom_handlers": sorted(set(handlers.values()))[:8],
        "oom_path_ends_in_unreachable": ends,
        "exports_reaching_oom": reaching,
        "named_functions": len(mod.function_names),
        "table_grow_sites": table_grows,
        "table_grow_over_cap": table_over,
    }


def _ends_in_unreachable(mod: Module, functions: set[int]) -> bool:
    """Does a function the OOM handlers reach contain `unreachable` (the abort)."""
    for f in mod.functions:
        if f.index in functions:
            first = code_start(mod.data, f.code_offset, f.end)
            if any(op == OP_UNREACHABLE for _, op, _ in decode(mod.data, first, f.end, mod.file)):
                return True
    return False
