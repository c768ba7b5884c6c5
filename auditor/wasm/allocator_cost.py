"""What the global allocator costs in code bytes: its functions plus what only they reach.

Why "only they reach" and not a sum of names: a helper that nothing but the allocator
calls (dlmalloc's segment bookkeeping, a `memcpy` reached only from `realloc`) would
vanish with the allocator, so it is part of its price; a helper the crate also calls
would not, so it is not. That is the retained size of the allocator's functions taken
as one item (twiggy's dominators, for a set): a function counts when the allocator's
functions reach it and no entry point (export, start) reaches it without passing
through them.

The allocator's functions are found by name: the evidence `auditor.wasm.allocator.detect`
matched from rules/allocators.toml, plus Rust's allocator shims (`__rust_alloc`,
`__rdl_*`/`__rg_*`; v0 builds demangle them as `__rustc::__rust_alloc`). After LTO much of an
allocator is inlined into the shims or into the crate's own functions, and a stripped
module has no names: then the figure is what survives under the allocator's names (a
lower bound), and `method` says so. A function's bytes are counted the way twiggy
counts them: body, its size LEB and its function-section entry (`alloc_first_fit` 226 =
223 + 2 + 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.records.inspect import AllocatorRecord
from auditor.records.run import AllocatorCodeItemRecord, AllocatorCodeRecord
from auditor.wasm import model as m
from auditor.wasm.allocator import AllocatorInfo
from auditor.wasm.graph import ItemGraph, item_graph

# Rust's global-allocator shims: the symbols every allocation goes through, emitted
# only because a global allocator is linked (legacy and v0 / `__rustc` spellings).
SHIMS = re.compile(r"^(?:__rustc::)?__(?:rust|rdl|rg)_(?:alloc|dealloc|realloc|alloc_zeroed)$")


def _leb_len(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def function_bytes(f: m.Function) -> int:
    """twiggy's size of a function: body + size LEB + its function-section entry."""
    return f.body_size + _leb_len(f.body_size) + _leb_len(f.type_index)


@dataclass
class AllocatorCode:
    allocator: str
    method: str  # "names" | "none" (nothing to go by)
    bytes: int  # the allocator's functions plus what only they reach
    items: list[AllocatorCodeItemRecord] = field(default_factory=list)  # matched by name
    only_through: list[AllocatorCodeItemRecord] = field(default_factory=list)  # reached only through the items
    code_bytes: int = 0  # every function of the module, counted the same way
    reason: str | None = None

    def to_json(self) -> AllocatorCodeRecord:
        return {
            "allocator": self.allocator,
            "method": self.method,
            "bytes": self.bytes,
            "share": round(self.bytes / self.code_bytes, 4) if self.code_bytes else None,
            "code_bytes": self.code_bytes,
            "items": self.items,
            "only_through": self.only_through,
            "reason": self.reason,
        }


def allocator_code(mod: m.Module, names: dict[int, tuple[str | None, str | None]],
                   allocator: AllocatorInfo) -> AllocatorCode:
    """`names`: function index -> (raw name, demangled name without hash)."""
    sizes = {f.index: function_bytes(f) for f in mod.functions}
    total = sum(sizes.values())
    evidence = {e["function"] for e in allocator.evidence}
    items = sorted(i for i in sizes
                   if (names.get(i, (None, None))[1] or names.get(i, (None, None))[0]) in evidence
                   or any(n and SHIMS.match(n) for n in names.get(i, (None, None))))
    if not items:
        why = "no function names (stripped module)" if not any(any(v) for v in names.values()) else \
            f"no function carries the {allocator.name} allocator's names (inlined by LTO, or none linked)"
        return AllocatorCode(allocator.name, "none", 0, code_bytes=total, reason=why)
    g = item_graph(mod)  # function item ids are function indices; tables/elements carry call_indirect
    roots = {e.index for e in mod.exports if e.kind == "func"}
    if mod.start is not None:
        roots.add(mod.start)
    chosen = set(items)
    through = _reach(g, chosen, avoid=set())
    without = _reach(g, roots - chosen, avoid=chosen)
    only = sorted(i for i in through if i not in without and i not in chosen and i in sizes)

    def rows(ix: list[int]) -> list[AllocatorCodeItemRecord]:
        out: list[AllocatorCodeItemRecord] = [{"index": i, "name": names.get(i, (None, None))[1] or names.get(i, (None, None))[0],
                "bytes": sizes[i]} for i in ix]
        return sorted(out, key=lambda r: (-r["bytes"], r["index"]))

    return AllocatorCode(allocator.name, "names", sum(sizes[i] for i in items + only), rows(items), rows(only),
                         total)


def _reach(g: ItemGraph, start: set[int], avoid: set[int]) -> set[int]:
    seen: set[int] = set()
    todo = [s for s in start if s not in avoid]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(s for s in g.successors(f) if s not in seen and s not in avoid)
    return seen


def module_allocator_code(mod: m.Module, allocator: AllocatorInfo) -> AllocatorCode:
    """The same from a parsed module alone (names demangled here)."""
    from auditor.wasm.demangle import demangle, strip_hash

    names = {f.index: (f.name, strip_hash(demangle(f.name)) if f.name else None) for f in mod.functions}
    return allocator_code(mod, names, allocator)


def allocator_code_json(mod: m.Module, allocator: AllocatorInfo | AllocatorRecord | None = None
                        ) -> AllocatorCodeRecord:
    """`AllocatorCode.to_json()` of a parsed module: `allocator` is the detection (an
    `AllocatorInfo` or an inspect record's `allocator` object), detected here when None.
    What `auditor run` (on the module it runs) and `auditor scan` (on each variant's
    shipped module) report as `allocator_code`."""
    from auditor.wasm.allocator import detect
    from auditor.wasm.demangle import demangle, strip_hash
    from auditor.wasm.grow import find_grow_sites

    names = {f.index: (f.name, strip_hash(demangle(f.name)) if f.name else None) for f in mod.functions}
    if allocator is None:
        allocator = detect([(f.name, names[f.index][1], f.body_size) for f in mod.functions], find_grow_sites(mod))
    elif isinstance(allocator, dict):
        allocator = AllocatorInfo(name=str(allocator.get("name") or "unknown"),
                                  evidence=list(allocator.get("evidence") or []))
    return allocator_code(mod, names, allocator).to_json()
