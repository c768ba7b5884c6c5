"""The item graph: every item of a module and what keeps it alive, built once per module.

Items are the module's functions (imported first, in function index space), tables,
memories, globals, tags, element segments, data segments and custom sections. Each has
an int id; ids of one kind are contiguous and follow that kind's own index space, so
`graph.id(Kind.FUNCTION, i)` is `graph.first[FUNCTION] + i` (functions start at id 0,
so a function's id is its index). Per item the graph keeps its kind, its index and its
shallow size in `array`s, and the edges in compressed sparse rows (`succ_start`,
`succ`, `edge_kinds`), sorted and without duplicates per item: a 45 MB module with
35,000 functions is a few arrays of machine ints, not a million Python objects.

Edges (what an item retains):
- CALL: function -> function, for `call` and `return_call`;
- CALL_INDIRECT: function -> table, for `call_indirect` / `return_call_indirect`;
- REF_FUNC: function -> function whose reference it takes (`ref.func`);
- TABLE_ELEMENT: table -> the active element segments that fill it;
- ELEMENT_FUNCTION: element segment -> each function it lists;
- MEMORY_DATA: memory -> the active data segments that fill it;
- GLOBAL_INIT: global -> the global its initialiser reads (`global.get`).
Roots: every export (to the exported item) and the start function.

Sizes are the bytes the IR attributes to an item exactly: a function's body with its
size LEB (0 for an import), a data segment's data bytes, a custom section whole (id,
size LEB, payload); items whose bytes are entries inside a shared section (globals,
tables, tags, element segments, memories) count 0 for now. Analyses over the graph
(reachability, the conservative call closure the runtime's static OOM check uses;
later dominators, retained sizes, paths, garbage) are functions taking it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum

from auditor.wasm.model import Function, Module, Section
from auditor.wasm.opcodes import (
    OP_CALL,
    OP_CALL_INDIRECT,
    OP_MEMORY_GROW,
    OP_REF_FUNC,
    OP_RETURN_CALL,
    code_start,
    decode,
    find_opcode,
)

OP_RETURN_CALL_INDIRECT = 0x13
_TARGETS = frozenset((OP_CALL, OP_CALL_INDIRECT, OP_RETURN_CALL, OP_RETURN_CALL_INDIRECT, OP_REF_FUNC,
                      OP_MEMORY_GROW))


class Kind(IntEnum):
    FUNCTION = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4
    ELEMENT = 5
    DATA = 6
    CUSTOM = 7


class Edge(IntEnum):
    CALL = 0
    CALL_INDIRECT = 1
    REF_FUNC = 2
    TABLE_ELEMENT = 3
    ELEMENT_FUNCTION = 4
    MEMORY_DATA = 5
    GLOBAL_INIT = 6


class Root(IntEnum):
    EXPORT = 0
    START = 1


@dataclass(eq=False)
class ItemGraph:
    """Items and edges of one module (see the module docstring); build with `item_graph`."""

    module: Module
    first: dict[Kind, int]  # id of the first item of each kind
    count: dict[Kind, int]  # items of each kind
    kinds: array[int] = field(default_factory=lambda: array("B"))  # Kind per item
    indices: array[int] = field(default_factory=lambda: array("I"))  # index in its kind's index space
    sizes: array[int] = field(default_factory=lambda: array("Q"))  # shallow bytes
    succ_start: array[int] = field(default_factory=lambda: array("I"))  # edges of item i: [succ_start[i], succ_start[i+1])
    succ: array[int] = field(default_factory=lambda: array("I"))
    edge_kinds: array[int] = field(default_factory=lambda: array("B"))
    roots: array[int] = field(default_factory=lambda: array("I"))  # item ids
    root_kinds: array[int] = field(default_factory=lambda: array("B"))
    root_names: list[str] = field(default_factory=list)  # export name ("" for the start function)
    # function index -> file offsets of its memory.grow opcodes (found by the same walk)
    grow_offsets: dict[int, list[int]] = field(default_factory=dict)
    _closure: tuple[frozenset[int], frozenset[int]] | None = field(default=None, repr=False)

    # -- items -----------------------------------------------------------------------
    @property
    def node_count(self) -> int:
        return len(self.kinds)

    def __len__(self) -> int:
        return len(self.kinds)

    def id(self, kind: Kind, index: int) -> int:
        if not 0 <= index < self.count[kind]:
            raise IndexError(f"no {kind.name.lower()} {index}")
        return self.first[kind] + index

    def kind(self, item: int) -> Kind:
        return Kind(self.kinds[item])

    def index(self, item: int) -> int:
        return self.indices[item]

    def size(self, item: int) -> int:
        return self.sizes[item]

    def name(self, item: int) -> str:
        """The item's name from the module (name section, custom section name), else
        `kind[index]`."""
        kind, index = self.kind(item), self.index(item)
        mod = self.module
        name: str | None = None
        if kind == Kind.FUNCTION:
            name = mod.function_names.get(index)
        elif kind == Kind.GLOBAL:
            name = mod.global_names.get(index)
        elif kind == Kind.DATA:
            name = mod.data_names.get(index)
        elif kind == Kind.CUSTOM:
            name = self._customs()[index].name
        return name if name is not None else f"{kind.name.lower()}[{index}]"

    def _customs(self) -> list[Section]:
        return [s for s in self.module.sections if s.custom]

    # -- edges -----------------------------------------------------------------------
    def successors(self, item: int) -> array[int]:
        """Ids the item retains (sorted, no duplicates)."""
        return self.succ[self.succ_start[item]:self.succ_start[item + 1]]

    def edges(self, item: int) -> Iterator[tuple[int, Edge]]:
        for e in range(self.succ_start[item], self.succ_start[item + 1]):
            yield self.succ[e], Edge(self.edge_kinds[e])

    def exported(self, kind: Kind) -> dict[int, list[str]]:
        """Index -> export names, for the exported items of one kind."""
        out: dict[int, list[str]] = {}
        lo, hi = self.first[kind], self.first[kind] + self.count[kind]
        for item, rk, name in zip(self.roots, self.root_kinds, self.root_names):
            if rk == Root.EXPORT and lo <= item < hi:
                out.setdefault(item - lo, []).append(name)
        return out

    # -- analyses --------------------------------------------------------------------
    def reachable(self, roots: Iterable[int]) -> set[int]:
        """Item ids reachable from `roots` (ids) over every edge."""
        seen: set[int] = set()
        todo = list(roots)
        succ_start, succ = self.succ_start, self.succ
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo.extend(t for t in succ[succ_start[i]:succ_start[i + 1]] if t not in seen)
        return seen

    def call_closure(self, functions: Iterable[int]) -> set[int]:
        """Function indices a call from `functions` may reach, conservatively: direct calls,
        and from any function with an indirect call every function whose reference
        escapes (listed in an element segment or taken by `ref.func`), whichever table it
        ends up in — the table contents at run time are not known statically."""
        indirect, escaping = self._indirect()
        f0 = self.first[Kind.FUNCTION]
        succ_start, succ, kinds = self.succ_start, self.succ, self.edge_kinds
        seen: set[int] = set()
        todo = [f0 + f for f in functions]
        escaped = False  # the escaping functions are queued once, by the first indirect caller
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            for e in range(succ_start[i], succ_start[i + 1]):
                if kinds[e] == Edge.CALL and succ[e] not in seen:
                    todo.append(succ[e])
            if not escaped and i in indirect:
                escaped = True
                todo.extend(escaping)
        return {i - f0 for i in seen}

    def _indirect(self) -> tuple[frozenset[int], frozenset[int]]:
        if self._closure is None:
            indirect, escaping = set(), set()
            for e, k in enumerate(self.edge_kinds):
                if k == Edge.REF_FUNC or k == Edge.ELEMENT_FUNCTION:
                    escaping.add(self.succ[e])
            lo, hi = self.first[Kind.FUNCTION], self.first[Kind.FUNCTION] + self.count[Kind.FUNCTION]
            for i in range(lo, hi):
                if any(self.edge_kinds[e] == Edge.CALL_INDIRECT for e in range(self.succ_start[i], self.succ_start[i + 1])):
                    indirect.add(i)
            self._closure = (frozenset(indirect), frozenset(escaping))
        return self._closure


# --------------------------------------------------------------------------- building


def item_graph(mod: Module) -> ItemGraph:
    """The module's item graph, built on first use and kept on the module (`mod.derived`),
    so inspect and the runtime's static checks read one graph per parsed module.

    Raises MalformedModule when a function body does not decode."""
    graph = mod.derived.get("item_graph")
    if not isinstance(graph, ItemGraph):
        graph = _build(mod)
        mod.derived["item_graph"] = graph
    return graph


def _build(mod: Module) -> ItemGraph:
    customs = [s for s in mod.sections if s.custom]
    counts = {
        Kind.FUNCTION: len(mod.func_type_indices), Kind.TABLE: len(mod.tables), Kind.MEMORY: len(mod.memories),
        Kind.GLOBAL: len(mod.globals), Kind.TAG: len(mod.tags), Kind.ELEMENT: len(mod.elements),
        Kind.DATA: len(mod.data_segments), Kind.CUSTOM: len(customs),
    }
    first: dict[Kind, int] = {}
    n = 0
    for k in Kind:
        first[k] = n
        n += counts[k]
    g = ItemGraph(mod, first, counts)
    for k in Kind:
        g.kinds.extend([int(k)] * counts[k])
        g.indices.extend(range(counts[k]))
    sizes = [0] * n
    for f in mod.functions:
        sizes[first[Kind.FUNCTION] + f.index] = f.end - f.body_offset
    for d in mod.data_segments:
        sizes[first[Kind.DATA] + d.index] = d.size
    for i, s in enumerate(customs):
        sizes[first[Kind.CUSTOM] + i] = s.size
    g.sizes.extend(sizes)

    def table_id(t: int | None) -> int | None:
        return first[Kind.TABLE] + t if t is not None and 0 <= t < counts[Kind.TABLE] else None

    def func_id(f: int) -> int | None:
        return first[Kind.FUNCTION] + f if 0 <= f < counts[Kind.FUNCTION] else None

    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    assert first[Kind.FUNCTION] == 0 and first[Kind.TABLE] == counts[Kind.FUNCTION]  # _body_edges relies on it
    refs = mod.derived.pop("body_refs", None)  # what parse_module's body pass found (issue 16)
    if refs is not None and len(refs.starts) != len(mod.functions):  # type: ignore[attr-defined]
        refs = None
    for body, f in enumerate(mod.functions):
        if refs is not None:
            out[f.index] = _read_edges(mod, f, refs.of(body), counts[Kind.FUNCTION], counts[Kind.TABLE],  # type: ignore[attr-defined]
                                       g.grow_offsets)
        else:
            out[f.index] = _body_edges(mod, f, counts[Kind.FUNCTION], counts[Kind.TABLE], g.grow_offsets)
    for e in mod.elements:
        item = first[Kind.ELEMENT] + e.index
        out[item] = [(t, Edge.ELEMENT_FUNCTION) for t in map(func_id, e.func_indices) if t is not None]
        if e.mode == "active":
            t = table_id(e.table if e.table is not None else 0)
            if t is not None:
                out[t].append((item, Edge.TABLE_ELEMENT))
    for d in mod.data_segments:
        if d.mode == "active":
            mem = d.memory if d.memory is not None else 0
            if 0 <= mem < counts[Kind.MEMORY]:
                out[first[Kind.MEMORY] + mem].append((first[Kind.DATA] + d.index, Edge.MEMORY_DATA))
    for gl in mod.globals:
        if gl.init_global is not None and 0 <= gl.init_global < counts[Kind.GLOBAL]:
            out[first[Kind.GLOBAL] + gl.index].append((first[Kind.GLOBAL] + gl.init_global, Edge.GLOBAL_INIT))

    g.succ_start.append(0)
    for edges in out:
        for target, kind in sorted(set(edges)):
            g.succ.append(target)
            g.edge_kinds.append(kind)
        g.succ_start.append(len(g.succ))

    export_kinds = {"func": Kind.FUNCTION, "table": Kind.TABLE, "memory": Kind.MEMORY, "global": Kind.GLOBAL,
                    "tag": Kind.TAG}
    for ex in mod.exports:
        ek = export_kinds.get(ex.kind)
        if ek is not None and 0 <= ex.index < counts[ek]:
            g.roots.append(first[ek] + ex.index)
            g.root_kinds.append(Root.EXPORT)
            g.root_names.append(ex.name)
    if mod.start is not None and (start := func_id(mod.start)) is not None:
        g.roots.append(start)
        g.root_kinds.append(Root.START)
        g.root_names.append("")
    return g


def _u32(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of an unsigned LEB128 the opcode walk already matched as one
    (at most 5 bytes, terminated inside the body)."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _read_edges(mod: Module, f: Function, flat: Iterable[int], functions: int, tables: int,
                grow: dict[int, list[int]]) -> list[tuple[int, int]]:
    """_body_edges from the (opcode, target) pairs parse_module collected while validating
    the body; only a body that grows memory is walked again, for its memory.grow offsets."""
    edges: list[tuple[int, int]] = []
    it = iter(flat)
    grows = False
    for op, index in zip(it, it):
        if op == OP_CALL or op == OP_RETURN_CALL:
            if index < functions:
                edges.append((index, Edge.CALL))
        elif op == OP_REF_FUNC:
            if index < functions:
                edges.append((index, Edge.REF_FUNC))
        elif op == OP_MEMORY_GROW:
            grows = True
        elif index < tables:  # call_indirect / return_call_indirect: the table
            edges.append((functions + index, Edge.CALL_INDIRECT))
    if grows:
        first = code_start(mod.data, f.code_offset, f.end)
        hits = find_opcode(mod.data, first, f.end, _GROW)
        if hits is None:  # pragma: no cover - parse_module validated the body
            hits = [at for at, op, _ in decode(mod.data, first, f.end, mod.file) if op == OP_MEMORY_GROW]
        grow[f.index] = hits
    return edges


_GROW = frozenset((OP_MEMORY_GROW,))


def _body_edges(mod: Module, f: Function, functions: int, tables: int,
                grow: dict[int, list[int]]) -> list[tuple[int, int]]:
    """Calls, indirect calls and function references of one body (function ids equal
    function indices; `functions` and `tables` bound the index spaces), and where it
    executes memory.grow (`grow`: function index -> opcode offsets): the fast opcode walk,
    or a full decode for bodies it does not vouch for (which reports malformed code). This
    is the module's one walk over every body for these facts."""
    data, end = mod.data, f.end
    first = code_start(data, f.code_offset, end)
    hits = find_opcode(data, first, end, _TARGETS)
    if hits is None:
        hits = [at for at, op, _ in decode(data, first, end, mod.file) if op in _TARGETS]
    edges: list[tuple[int, int]] = []
    for at in hits:
        op = data[at]
        if op == OP_MEMORY_GROW:
            grow.setdefault(f.index, []).append(at)
            continue
        index, pos = _u32(data, at + 1)
        if op == OP_CALL or op == OP_RETURN_CALL:
            if index < functions:
                edges.append((index, Edge.CALL))
        elif op == OP_REF_FUNC:
            if index < functions:
                edges.append((index, Edge.REF_FUNC))
        else:  # call_indirect / return_call_indirect: type index, then the table
            table = _u32(data, pos)[0]
            if table < tables:
                edges.append((functions + table, Edge.CALL_INDIRECT))
    return edges
