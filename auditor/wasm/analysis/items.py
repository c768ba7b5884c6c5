"""The item graph: every byte of a module in exactly one item, and what keeps each item
alive. Built once per module; every size analysis is a function over it.

Items, in id order (ids of one kind are contiguous and follow that kind's index space;
functions come first, so a function's id is its function index):

- function, one per function (imports first): its body, the body's size LEB and its
  function-section entry (twiggy's convention); an imported one: its import entry;
- table, memory, global, tag: its section entry, or its import entry;
- element, data: the segment's whole entry (flags, offset expression, contents);
- custom: the whole custom section (id, size, name, payload);
- export: its entry (name, kind, index);
- section: the 8-byte preamble, and per standard section its id, size and count bytes
  (the type, start and datacount sections whole),

so the sizes add up to the file size. Edges (`Edge`):

- CALL function -> function (`call`, `return_call`); REF_FUNC (`ref.func`);
- CALL_INDIRECT function -> table (`call_indirect`, `return_call_indirect`); the table
  reaches its functions through TABLE_ELEMENT table -> active element segment and
  ELEMENT_FUNCTION segment -> function (also `ref.func` in element expressions);
- TABLE_ACCESS function -> table any other instruction names (`table.get`, `table.set`,
  `table.size`, `table.grow`, `table.fill`, `table.copy` both tables, `table.init`'s
  table: rules/wasm_opcodes.toml [table-access]). A table whose contents code can read
  keeps them alive: `table.get` then `call_ref` calls what a segment put there, and even
  `table.size` alone observes the table, so it cannot go. Not CALL_INDIRECT, because
  `call_closure` reads that kind as "this function calls whatever escapes", which a
  `table.grow` on an externref table (wasm-bindgen's) does not;
- GLOBAL_ACCESS function -> global (`global.get` / `global.set`); GLOBAL_INIT global ->
  global its initialiser reads; INIT_FUNC global or table -> function its initialiser
  takes by `ref.func`;
- DATA_REF function -> data segment holding an address the code names as an `i32.const`
  (an approximation: a constant inside a segment's address range is taken for a pointer
  into it; an address computed at run time is missed);
- DATA_POINTER data segment -> data segment an aligned word of it points into (the
  same approximation, for data: `&str` tables, panic locations, vtables' neighbours);
- SEGMENT function -> data / element segment it names in `memory.init`, `data.drop`,
  `table.init`, `elem.drop`; TAG function -> tag (`throw`, `catch`);
- EXPORT export -> the exported item; START start section -> the start function.

Roots: every export and section item, every custom section, every memory (loads and
stores are not traced: a module's memory is always in use), every tag (`try_table`
clauses are not traced) and every imported table. The host owns an imported table: the
active segments write into it at instantiation and the host can call what they put
there, as it can through an exported table (which its export reaches). Other imports
are no roots: an imported function or global only matters if the module names it (an
unused one is dead weight, like an unused import anywhere), and imported memories and
tags are roots already, with the defined ones. Active data segments hang off no memory edge: a segment no
code address points into is reported as garbage, with that caveat.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import chain, repeat

from auditor.wasm.model import Module

__all__ = ["Edge", "ItemGraph", "Kind", "Root", "build_item_graph"]


class Kind(IntEnum):
    FUNCTION = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4
    ELEMENT = 5
    DATA = 6
    CUSTOM = 7
    EXPORT = 8
    SECTION = 9


class Edge(IntEnum):
    CALL = 0
    CALL_INDIRECT = 1
    REF_FUNC = 2
    TABLE_ELEMENT = 3
    ELEMENT_FUNCTION = 4
    MEMORY_DATA = 5  # not emitted: see the module docstring
    DATA_POINTER = 14
    GLOBAL_INIT = 6
    GLOBAL_ACCESS = 7
    DATA_REF = 8
    SEGMENT = 9
    TAG = 10
    INIT_FUNC = 11
    EXPORT = 12
    START = 13
    TABLE_ACCESS = 15  # the last kind an edge key's 4 bits hold


class Root(IntEnum):
    EXPORT = 0
    START = 1
    SECTION = 2
    CUSTOM = 3
    MEMORY = 4
    TAG = 5
    IMPORT = 6  # an imported table


KIND_NAMES = {Kind.FUNCTION: "function", Kind.TABLE: "table", Kind.MEMORY: "memory", Kind.GLOBAL: "global",
              Kind.TAG: "tag", Kind.ELEMENT: "element", Kind.DATA: "data", Kind.CUSTOM: "custom",
              Kind.EXPORT: "export", Kind.SECTION: "section"}
_EXTERN = {"func": Kind.FUNCTION, "table": Kind.TABLE, "memory": Kind.MEMORY, "global": Kind.GLOBAL,
           "tag": Kind.TAG}


@dataclass
class NameIndex:
    """ItemGraph.name_index(): function symbols (the raw names in the name section) and
    every other item's own name (`ItemGraph.name`), each found by exact text."""

    symbols: dict[str, list[int]] = field(default_factory=dict)  # raw symbol -> function indices
    v0: list[tuple[str, int]] = field(default_factory=list)  # (v0 symbol without `[`, function index)
    loose: list[int] = field(default_factory=list)  # function indices of every other symbol
    by_name: dict[str, list[int]] = field(default_factory=dict)  # item name -> item ids (no symbol)
    by_bare: dict[str, list[int]] = field(default_factory=dict)  # the same names, strip_hash'ed


@dataclass(eq=False)
class ItemGraph:
    """Items and edges of one module (see the module docstring); build with `item_graph`."""

    module: Module
    first: dict[Kind, int]  # id of the first item of each kind
    count: dict[Kind, int]  # items of each kind
    kinds: array = field(default_factory=lambda: array("B"))  # Kind per item
    indices: array = field(default_factory=lambda: array("I"))  # index in its kind's index space
    sizes: array = field(default_factory=lambda: array("Q"))  # shallow bytes
    starts: array = field(default_factory=lambda: array("I"))  # edges of item i: [starts[i], starts[i+1])
    targets: array = field(default_factory=lambda: array("I"))
    edge_kinds: array = field(default_factory=lambda: array("B"))
    roots: array = field(default_factory=lambda: array("I"))  # item ids
    root_kinds: array = field(default_factory=lambda: array("B"))
    root_names: list[str] = field(default_factory=list)  # export name, an import's module.field, else ""
    section_names: list[str] = field(default_factory=list)  # per section item: "preamble", "type", ...
    undecodable: list[int] = field(default_factory=list)  # bodies the fast walk could not read
    full: bool = True  # False: built without GLOBAL_ACCESS, DATA_REF and DATA_POINTER edges
    _closure: tuple[frozenset[int], frozenset[int]] | None = field(default=None, repr=False)
    # data_addresses / data_pointers, worked out when first read (only `data` reads them)
    _data_addresses: dict[int, list[int]] | None = field(default=None, repr=False)
    _lazy_addresses: Callable[[], dict[int, list[int]]] | None = field(default=None, repr=False)
    _data_pointers: dict[int, int] | None = field(default=None, repr=False)
    _grow_offsets: dict[int, list[int]] | None = field(default=None, repr=False)
    _lazy_grow: Callable[[], dict[int, list[int]]] | None = field(default=None, repr=False)
    _name_index: NameIndex | None = field(default=None, repr=False)

    @property
    def grow_offsets(self) -> dict[int, list[int]]:
        """Function index -> file offsets of its memory.grow opcodes."""
        if self._grow_offsets is None:
            make, self._lazy_grow = self._lazy_grow, None
            self._grow_offsets = make() if make is not None else {}
        return self._grow_offsets

    @grow_offsets.setter
    def grow_offsets(self, value: dict[int, list[int]]) -> None:
        self._grow_offsets, self._lazy_grow = value, None

    @property
    def data_addresses(self) -> dict[int, list[int]]:
        """Function index -> data addresses its i32.consts name (inside an active segment),
        in body order."""
        if self._data_addresses is None:
            make, self._lazy_addresses = self._lazy_addresses, None
            self._data_addresses = make() if make is not None else {}
        return self._data_addresses

    @data_addresses.setter
    def data_addresses(self, value: dict[int, list[int]]) -> None:
        self._data_addresses, self._lazy_addresses = value, None

    @property
    def data_pointers(self) -> dict[int, int]:
        """`refs.data_pointers(module)` of a full graph ({} for a call graph)."""
        if self._data_pointers is None:
            from auditor.wasm.analysis.refs import data_pointers

            self._data_pointers = data_pointers(self.module) if self.full else {}
        return self._data_pointers

    @data_pointers.setter
    def data_pointers(self, value: dict[int, int]) -> None:
        self._data_pointers = value

    # -- items -----------------------------------------------------------------------
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
        """The item's own name in the module (name section, export name, custom section
        name), else `kind[index]`; functions keep their raw (mangled) symbol."""
        kind, index = self.kind(item), self.index(item)
        mod = self.module
        name: str | None = None
        if kind == Kind.FUNCTION:
            name = mod.function_names.get(index)
            if name is None and index < mod.num_imported_funcs:
                imp = self._imports(Kind.FUNCTION)[index]
                name = f"{imp.module}.{imp.field}"
        elif kind == Kind.GLOBAL:
            name = mod.global_names.get(index)
        elif kind == Kind.DATA:
            name = mod.data_names.get(index)
        elif kind == Kind.CUSTOM:
            name = f"custom section {self._customs()[index].name}"
        elif kind == Kind.EXPORT:
            name = f'export "{mod.exports[index].name}"'
        elif kind == Kind.SECTION:
            s = self.section_names[index]
            name = "preamble" if s == "preamble" else f"{s} section" if s in ("type", "start", "datacount") \
                else f"{s} section header"
        return name if name is not None else f"{kind.name.lower()}[{index}]"

    def name_index(self) -> NameIndex:
        """The items by name, made once (`NameIndex`), so that looking names up more than
        once (`paths`, `dominators NAME`, `--why`, the Python API) costs dictionary
        lookups and one pass over the symbols instead of one over every item."""
        if self._name_index is None:
            from auditor.wasm.demangle import strip_hash

            ix = NameIndex()
            fnames, f0, nf = self.module.function_names, self.first[Kind.FUNCTION], self.count[Kind.FUNCTION]
            symbols, v0, loose = ix.symbols, ix.v0, ix.loose
            for index, raw in fnames.items():
                if not 0 <= index < nf:
                    continue
                if raw in symbols:
                    symbols[raw].append(index)
                else:
                    symbols[raw] = [index]
                if raw[:2] == "_R" and "[" not in raw:
                    v0.append((raw, index))
                else:
                    loose.append(index)
            # the items of the other kinds (each kind's ids are one range) and the functions
            # without a symbol
            unnamed = (f0 + index for index in range(nf) if fnames.get(index) is None)
            by_name, by_bare, name = ix.by_name, ix.by_bare, self.name
            for i in chain(range(f0), unnamed, range(f0 + nf, len(self))):
                text = name(i)
                by_name.setdefault(text, []).append(i)
                by_bare.setdefault(strip_hash(text), []).append(i)
            self._name_index = ix
        return self._name_index

    def label(self, item: int) -> str:
        """What reports print: `name`, with a function's symbol demangled."""
        name = self.name(item)
        if self.kinds[item] == Kind.FUNCTION and self.module.function_names.get(self.indices[item]):
            from auditor.wasm.demangle import demangle

            return demangle(name)
        return name

    def _customs(self) -> list:
        return [s for s in self.module.sections if s.custom]

    def _imports(self, kind: Kind) -> list:
        want = {Kind.FUNCTION: "func", Kind.TABLE: "table", Kind.MEMORY: "memory", Kind.GLOBAL: "global",
                Kind.TAG: "tag"}[kind]
        return [i for i in self.module.imports if i.kind == want]

    # -- edges -----------------------------------------------------------------------
    def successors(self, item: int) -> array:
        """Ids the item retains (sorted, no duplicates)."""
        return self.targets[self.starts[item]:self.starts[item + 1]]

    def edges(self, item: int) -> Iterator[tuple[int, Edge]]:
        for e in range(self.starts[item], self.starts[item + 1]):
            yield self.targets[e], Edge(self.edge_kinds[e])

    def exported(self, kind: Kind) -> dict[int, list[str]]:
        """Index -> export names, for the exported items of one kind."""
        out: dict[int, list[str]] = {}
        lo, hi = self.first[kind], self.first[kind] + self.count[kind]
        e0 = self.first[Kind.EXPORT]
        for i, ex in enumerate(self.module.exports):
            for t in self.successors(e0 + i):
                if lo <= t < hi:
                    out.setdefault(t - lo, []).append(ex.name)
        return out

    # -- simple analyses (the rest live in auditor.wasm.analysis) ----------------------
    def reachable(self, roots: Iterable[int]) -> set[int]:
        """Item ids reachable from `roots` (ids) over every edge."""
        seen: set[int] = set()
        todo = list(roots)
        starts, targets = self.starts, self.targets
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo.extend(t for t in targets[starts[i]:starts[i + 1]] if t not in seen)
        return seen

    def call_closure(self, functions: Iterable[int]) -> set[int]:
        """Function indices a call from `functions` may reach, conservatively: direct calls,
        and from any function with an indirect call every function whose reference
        escapes (listed in an element segment or taken by `ref.func`), whichever table it
        ends up in — the table contents at run time are not known statically."""
        indirect, escaping = self._indirect()
        f0 = self.first[Kind.FUNCTION]
        starts, targets, kinds = self.starts, self.targets, self.edge_kinds
        seen: set[int] = set()
        todo = [f0 + f for f in functions]
        escaped = False  # the escaping functions are queued once, by the first indirect caller
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            for e in range(starts[i], starts[i + 1]):
                if kinds[e] == Edge.CALL and targets[e] not in seen:
                    todo.append(targets[e])
            if not escaped and i in indirect:
                escaped = True
                todo.extend(escaping)
        return {i - f0 for i in seen}

    def _indirect(self) -> tuple[frozenset[int], frozenset[int]]:
        if self._closure is None:
            indirect, escaping = set(), set()
            for e, k in enumerate(self.edge_kinds):
                if k in (Edge.REF_FUNC, Edge.ELEMENT_FUNCTION, Edge.INIT_FUNC):
                    escaping.add(self.targets[e])
            lo, hi = self.first[Kind.FUNCTION], self.first[Kind.FUNCTION] + self.count[Kind.FUNCTION]
            for i in range(lo, hi):
                if any(self.edge_kinds[e] == Edge.CALL_INDIRECT for e in range(self.starts[i], self.starts[i + 1])):
                    indirect.add(i)
            self._closure = (frozenset(indirect), frozenset(escaping))
        return self._closure


# --------------------------------------------------------------------------- building


def build_item_graph(mod: Module, full: bool = True) -> ItemGraph:
    """Build the graph (one walk over every body; raises MalformedModule when a body does
    not decode). `full=False` leaves out the edges only the size analyses need
    (GLOBAL_ACCESS, DATA_REF, DATA_POINTER), so the walk reads calls, indirect calls,
    `ref.func`, tags and `memory.grow` only: the call graph, at about half the cost.
    Items, sizes, the other edges and the roots are the same."""
    from auditor.wasm.analysis.refs import data_pointers, data_ranges
    from auditor.wasm.layout import layout

    lay = layout(mod)
    customs = [s for s in mod.sections if s.custom]
    standard = [sl for sl in lay.sections if not sl.section.custom]
    counts = {
        Kind.FUNCTION: len(mod.func_type_indices), Kind.TABLE: len(mod.tables), Kind.MEMORY: len(mod.memories),
        Kind.GLOBAL: len(mod.globals), Kind.TAG: len(mod.tags), Kind.ELEMENT: len(mod.elements),
        Kind.DATA: len(mod.data_segments), Kind.CUSTOM: len(customs), Kind.EXPORT: len(mod.exports),
        Kind.SECTION: 1 + len(standard),
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

    # ---- sizes
    sizes = [0] * n
    imported = {k: 0 for k in _EXTERN.values()}
    for imp, (a, b) in zip(mod.imports, lay.spans("import"), strict=True):
        k = _EXTERN[imp.kind]
        sizes[first[k] + imported[k]] = b - a
        imported[k] += 1
    for k, kind_name in ((Kind.TABLE, "table"), (Kind.MEMORY, "memory"), (Kind.GLOBAL, "global"),
                         (Kind.TAG, "tag")):
        for i, (a, b) in enumerate(lay.spans(kind_name)):
            sizes[first[k] + imported[k] + i] = b - a
    for f, (a, b) in zip(mod.functions, lay.spans("function"), strict=True):
        sizes[f.index] = (f.end - f.body_offset) + (b - a)
    for k, kind_name in ((Kind.ELEMENT, "element"), (Kind.DATA, "data"), (Kind.EXPORT, "export")):
        for i, (a, b) in enumerate(lay.spans(kind_name)):
            sizes[first[k] + i] = b - a
    for i, s in enumerate(customs):
        sizes[first[Kind.CUSTOM] + i] = s.size
    sec0 = first[Kind.SECTION]
    sizes[sec0] = 8
    g.section_names.append("preamble")
    for i, sl in enumerate(standard, start=1):
        sizes[sec0 + i] = sl.header
        g.section_names.append(sl.section.name)
    g.sizes.extend(sizes)

    # ---- edges
    nf = counts[Kind.FUNCTION]
    # per item, its edges as ints `target << 4 | kind` (one int per edge, not a tuple:
    # sorting them sorts by target, then kind)
    out: list[list[int] | None] = [None] * n

    def add(src: int, dst: int, kind: Edge) -> None:
        lst = out[src]
        if lst is None:
            out[src] = [dst << 4 | kind]
        else:
            lst.append(dst << 4 | kind)

    ranges = data_ranges(mod)
    g.full = full
    start_item = None
    if mod.start is not None and 0 <= mod.start < nf:
        start_item = sec0 + g.section_names.index("start")
    if not _native_edges(mod, g, lay, ranges, full, start_item):
        if not _edges_from_parse(mod, g, out, ranges, full):
            _edges_from_refs(mod, g, out, ranges, full)
        pointers = data_pointers(mod) if full else {}
        g.data_pointers = pointers
        _pointer_edges(g, ranges, pointers, add)

        def add_many(src: int, dsts: list[int], kind: Edge) -> None:
            lst = out[src]
            if lst is None:
                out[src] = [d << 4 | kind for d in dsts]
            else:
                lst += [d << 4 | kind for d in dsts]

        _other_edges(mod, g, lay, add, start_item, add_many)
        starts, targets, kinds = [0], [], []
        for lst in out:
            if lst:
                keys = sorted(set(lst))  # by target, then edge kind
                targets += [x >> 4 for x in keys]
                kinds += [x & 15 for x in keys]
            starts.append(len(targets))
        g.starts.extend(starts)
        g.targets.extend(targets)
        g.edge_kinds.extend(kinds)

    # ---- roots
    def root(item: int, kind: Root, name: str = "") -> None:
        g.roots.append(item)
        g.root_kinds.append(kind)
        g.root_names.append(name)

    x0 = first[Kind.EXPORT]
    for i, ex in enumerate(mod.exports):
        root(x0 + i, Root.EXPORT, ex.name)
    for i in range(counts[Kind.SECTION]):
        root(sec0 + i, Root.START if sec0 + i == start_item else Root.SECTION)
    for i in range(counts[Kind.CUSTOM]):
        root(first[Kind.CUSTOM] + i, Root.CUSTOM)
    for i in range(counts[Kind.MEMORY]):
        root(first[Kind.MEMORY] + i, Root.MEMORY)
    table_imports = [imp for imp in mod.imports if imp.kind == "table"]
    for i, imp in enumerate(table_imports):  # the host's table: see the module docstring
        root(first[Kind.TABLE] + i, Root.IMPORT, f"{imp.module}.{imp.field}")
    for i in range(counts[Kind.TAG]):
        root(first[Kind.TAG] + i, Root.TAG)
    return g


def _native_edges(mod: Module, g: ItemGraph, lay, ranges: list[tuple[int, int, int]], full: bool,
                  start_item: int | None, force: bool | None = None) -> bool:
    """The edges by the compiled module (auditor/wasm/native/graph.py): what the Python
    path below gives (`_edges_from_parse`, `data_pointers`' pairs, `_other_edges`, the
    per-item sort), for a module whose parse pass kept its pairs. False (nothing done):
    the Python path runs. `force`: True/False = use it or not whatever the size (tests)."""
    from auditor.wasm.native import graph as native_graph
    from auditor.wasm.parse import ParsedRefs

    parsed = mod.derived.get(ParsedRefs.KEY)
    if force is False or not isinstance(parsed, ParsedRefs) or len(parsed.starts) != len(mod.functions) \
            or mod.tags:
        return False
    funcs = mod.functions
    f0 = funcs[0].index if funcs else 0
    if funcs and funcs[-1].index != f0 + len(funcs) - 1:
        return False
    lo = hi = 0
    if full:
        w = parsed.window
        if w is None:
            return False
        if ranges:
            lo, hi = ranges[0][0], max(r[1] for r in ranges)
            if not (w[0] <= lo and hi <= w[1]):
                return False
    n = len(g)
    if not force and not native_graph.wanted(len(parsed.flat) // 2 + n):
        return False
    first, count = g.first, g.count
    # the other edges (a few per element, global, export), and segment ops of bodies
    # (rare: modules with passive segments), as (source, key) pairs
    extra_src, extra_key = array("I"), array("I")

    def add(src: int, dst: int, kind: Edge) -> None:
        extra_src.append(src)
        extra_key.append(dst << 4 | kind)

    def add_many(src: int, dsts: list[int], kind: Edge) -> None:
        extra_src.extend(repeat(src, len(dsts)))
        extra_key.extend([d << 4 | kind for d in dsts])

    _other_edges(mod, g, lay, add, start_item, add_many)
    data = mod.data
    if any(sg.mode == "passive" for sg in mod.data_segments) or any(e.mode == "passive" for e in mod.elements):
        from auditor.wasm.analysis import refs as rf
        from auditor.wasm.opcodes import code_start

        range_starts = [r[0] for r in ranges]
        segment_of: dict[int, int] = {}
        for f in funcs:
            start = code_start(data, f.code_offset, f.end)
            if rf._SEGMENT_OPS.search(data, start, f.end):
                r = rf.BodyRefs()
                rf._segment_ops(mod, f, start, r)
                for key in _body_keys(g, r, ranges, range_starts, segment_of):
                    extra_src.append(f.index)
                    extra_key.append(key)
    pointer_data = None
    if full and ranges:
        pointer_data = _pointer_input(mod, ranges)
        if pointer_data is None:  # overlapping segments: the Python reading, as pairs
            from auditor.wasm.analysis.refs import data_pointers

            g.data_pointers = data_pointers(mod)
            _pointer_edges(g, ranges, g.data_pointers, add)
    body = native_graph.BodyInput(parsed.flat, parsed.starts, f0, count[Kind.FUNCTION], count[Kind.TABLE],
                                  count[Kind.GLOBAL], first[Kind.TABLE], first[Kind.GLOBAL], first[Kind.DATA],
                                  full, lo, hi)
    e = native_graph.edges(n, body, ranges, pointer_data, extra_src, extra_key)
    if e is None:
        g._data_pointers = None
        return False
    del mod.derived[ParsedRefs.KEY]  # as code_references takes it
    g.starts, g.targets, g.edge_kinds = e.starts, e.targets, e.kinds
    grow_bodies = e.grow_bodies

    def grow_offsets() -> dict[int, list[int]]:
        # the bodies with a memory.grow, found again by opcode (compiling the opcode
        # scanner costs ~40 ms: only for an analysis that asks)
        from auditor.wasm.analysis import refs as rf
        from auditor.wasm.opcodes import code_start, find_opcode

        out: dict[int, list[int]] = {}
        for k in grow_bodies:
            f = funcs[k]
            grow = find_opcode(data, code_start(data, f.code_offset, f.end), f.end, rf._GROW_ONLY) or []
            if grow:
                out[f.index] = grow
        return out

    g._lazy_grow = grow_offsets if grow_bodies else None
    addresses, address_counts = e.addresses, e.address_counts

    def data_addresses() -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        at = 0
        for k, c in enumerate(address_counts):
            if c:
                out[f0 + k] = addresses[at:at + c].tolist()
                at += c
        return out

    g._lazy_addresses = data_addresses if len(addresses) else None
    return True


def _pointer_input(mod: Module, ranges: list[tuple[int, int, int]]) -> tuple[bytes, int, int, array] | None:
    """The file, the span of it holding the segments' bytes and each range's offset into
    that span, for graphcore's pointer_edges; None when two ranges overlap (a word would
    be read twice: the Python reading decides which value a dict keeps)."""
    if any(ranges[k][1] > ranges[k + 1][0] for k in range(len(ranges) - 1)):
        return None
    segs = mod.data_segments
    lo = min(segs[i].data_offset for _, _, i in ranges)
    hi = max(segs[i].data_offset + segs[i].size for _, _, i in ranges)
    return mod.data, lo, hi, array("I", [segs[i].data_offset - lo for _, _, i in ranges])


def _pointer_edges(g: ItemGraph, ranges: list[tuple[int, int, int]], pointers: dict[int, int],
                   add: Callable[[int, int, Edge], None]) -> None:
    """DATA_POINTER edges: segment -> segment an aligned word of it points into."""
    range_starts = [s for s, _, _ in ranges]
    d0 = g.first[Kind.DATA]
    pairs: set[tuple[int, int]] = set()
    # each word's and each target's place among the segment starts, by C-level map and
    # zip; only the distinct (word's, target's) places are looked at in Python
    places = zip(map(bisect_right, repeat(range_starts), pointers), map(bisect_right, repeat(range_starts),
                                                                       pointers.values()))
    for pa, pb in set(places):
        if pa > 0 and pb > 0 and ranges[pa - 1][2] != ranges[pb - 1][2]:
            pairs.add((ranges[pa - 1][2], ranges[pb - 1][2]))
    for sa, sb in sorted(pairs):
        add(d0 + sa, d0 + sb, Edge.DATA_POINTER)


def _other_edges(mod: Module, g: ItemGraph, lay, add: Callable[[int, int, Edge], None],
                 start_item: int | None,
                 add_many: Callable[[int, list[int], Edge], None] | None = None) -> None:
    """The edges that do not come from bodies or data: element segments, tables,
    global initialisers, exports, the start function. `add_many(source, targets, kind)`
    takes an element segment's functions at once."""
    first, counts = g.first, g.count
    nf, nt, ng = counts[Kind.FUNCTION], counts[Kind.TABLE], counts[Kind.GLOBAL]
    t0, gl0, e0 = first[Kind.TABLE], first[Kind.GLOBAL], first[Kind.ELEMENT]
    for el in mod.elements:
        item = e0 + el.index
        fns = [*el.func_indices, *lay.element_functions.get(el.index, ())]
        if add_many is not None:
            add_many(item, [fn for fn in fns if fn < nf], Edge.ELEMENT_FUNCTION)
            continue
        for fn in fns:
            if fn < nf:
                add(item, fn, Edge.ELEMENT_FUNCTION)
    for el in mod.elements:
        item = e0 + el.index
        if el.mode == "active":
            t = el.table if el.table is not None else 0
            if t < nt:
                add(t0 + t, item, Edge.TABLE_ELEMENT)
    for glob in mod.globals:
        if glob.init_global is not None and glob.init_global < ng:
            add(gl0 + glob.index, gl0 + glob.init_global, Edge.GLOBAL_INIT)
    nimp_g = counts[Kind.GLOBAL] - len(lay.spans("global"))
    for i, fs in lay.global_functions.items():
        for fn in fs:
            if fn < nf:
                add(gl0 + nimp_g + i, fn, Edge.INIT_FUNC)
    nimp_t = counts[Kind.TABLE] - len(lay.spans("table"))
    for i, fs in lay.table_functions.items():
        for fn in fs:
            if fn < nf:
                add(t0 + nimp_t + i, fn, Edge.INIT_FUNC)
    x0 = first[Kind.EXPORT]
    for i, ex in enumerate(mod.exports):
        ekind = _EXTERN.get(ex.kind)
        if ekind is not None and 0 <= ex.index < counts[ekind]:
            add(x0 + i, first[ekind] + ex.index, Edge.EXPORT)
    if start_item is not None:
        add(start_item, mod.start, Edge.START)  # type: ignore[arg-type]


_CALL, _CALL_INDIRECT, _REF_FUNC = int(Edge.CALL), int(Edge.CALL_INDIRECT), int(Edge.REF_FUNC)
_GLOBAL_ACCESS, _DATA_REF, _SEGMENT, _TAG = int(Edge.GLOBAL_ACCESS), int(Edge.DATA_REF), int(Edge.SEGMENT), \
    int(Edge.TAG)
_TABLE_ACCESS = int(Edge.TABLE_ACCESS)


def _data_ref_keys(addresses: Iterable[int], ranges: list[tuple[int, int, int]], range_starts: list[int],
                   segment_of: dict[int, int], d0: int, contiguous: bool = False) -> list[int]:
    """DATA_REF edge keys to the segments holding `addresses` (each segment once).
    `contiguous`: the addresses are all in [lowest start, highest end) of segments that
    follow each other without a gap."""
    distinct = set(addresses)
    if contiguous:  # every address in [lo, hi) is in the segment starting at or below it
        return [(d0 + ranges[j - 1][2]) << 4 | _DATA_REF
                for j in set(map(bisect_right, repeat(range_starts), distinct)) if j > 0]
    segs: set[int] = set()
    for addr in distinct:
        seg = segment_of.get(addr)
        if seg is None:
            at = bisect_right(range_starts, addr) - 1
            seg = segment_of[addr] = ranges[at][2] if at >= 0 and addr < ranges[at][1] else -1
        if seg >= 0:
            segs.add(seg)
    return [(d0 + seg) << 4 | _DATA_REF for seg in segs]


def _body_keys(g: ItemGraph, r, ranges: list[tuple[int, int, int]], range_starts: list[int],
               segment_of: dict[int, int]) -> list[int]:
    """Edge keys of one body's `refs.BodyRefs`."""
    first, count = g.first, g.count
    nf, nt, ng = count[Kind.FUNCTION], count[Kind.TABLE], count[Kind.GLOBAL]
    ne, nd, ntag = count[Kind.ELEMENT], count[Kind.DATA], count[Kind.TAG]
    t0, gl0, d0, e0, tag0 = first[Kind.TABLE], first[Kind.GLOBAL], first[Kind.DATA], first[Kind.ELEMENT], \
        first[Kind.TAG]
    es = [c << 4 | _CALL for c in r.calls if c < nf]
    if r.ref_funcs:
        es += [c << 4 | _REF_FUNC for c in r.ref_funcs if c < nf]
    if r.indirect_tables:
        es += [(t0 + t) << 4 | _CALL_INDIRECT for t in r.indirect_tables if t < nt]
    if r.tables:
        es += [(t0 + t) << 4 | _TABLE_ACCESS for t in r.tables if t < nt]
    if r.globals:
        es += [(gl0 + x) << 4 | _GLOBAL_ACCESS for x in r.globals if x < ng]
    if r.data_addresses:
        es += _data_ref_keys(r.data_addresses, ranges, range_starts, segment_of, d0)
    if r.data_segments:
        es += [(d0 + x) << 4 | _SEGMENT for x in r.data_segments if x < nd]
    if r.elem_segments:
        es += [(e0 + x) << 4 | _SEGMENT for x in r.elem_segments if x < ne]
    if r.tags:
        es += [(tag0 + x) << 4 | _TAG for x in r.tags if x < ntag]
    return es


def _edges_from_refs(mod: Module, g: ItemGraph, out: list, ranges: list[tuple[int, int, int]], full: bool) -> None:
    """The bodies' edges from `refs.code_references` (a walk over the code when the parse
    pass kept no refs, or not the ones needed)."""
    from auditor.wasm.analysis.refs import code_references

    refs = code_references(mod, full=full)
    g.undecodable = refs.undecodable
    range_starts = [s for s, _, _ in ranges]
    segment_of: dict[int, int] = {}  # data address -> its segment, or -1
    for fi, r in refs.bodies.items():
        es = _body_keys(g, r, ranges, range_starts, segment_of)
        if r.data_addresses:
            g.data_addresses[fi] = r.data_addresses
        if r.grow:
            g.grow_offsets[fi] = r.grow
        if es:
            out[fi] = es  # function items get edges only here


def _pair_keys(flat: array) -> array:
    """`ParsedRefs.flat` (opcode, value, opcode, value, ...) as one int per pair, opcode
    | value << 8 (an opcode is one byte, a value a u32): built by byte slicing in C,
    so a body's distinct pairs are a set of ints, not of tuples."""
    n = len(flat) // 2
    size = flat.itemsize
    if n and size in (4, 8) and sys.byteorder == "little" and max(flat[0::2]) < 256 and max(flat[1::2]) < 1 << 32:
        raw = flat.tobytes()
        buf = bytearray(8 * n)
        step = 2 * size
        buf[0::8] = raw[0::step]  # the opcode's low byte
        for k in range(4):  # the value's four low bytes
            buf[1 + k::8] = raw[size + k::step]
        keys = array("Q")
        keys.frombytes(bytes(buf))
        return keys
    return array("Q", [op | v << 8 for op, v in zip(flat[0::2], flat[1::2])])


def _edges_from_parse(mod: Module, g: ItemGraph, out: list, ranges: list[tuple[int, int, int]], full: bool) -> bool:
    """The bodies' edges straight from the (opcode, value) pairs `parse_module` kept
    (`parse.ParsedRefs`), without a `refs.BodyRefs` per body: what `_edges_from_refs`
    gives from `refs.code_references` on the same pairs, in a third of the time. False
    (nothing done) when the parse pass kept no pairs or not the ones `full` needs; the
    conditions are code_references'."""
    from auditor.wasm.analysis import refs as rf
    from auditor.wasm.opcodes import code_start, find_opcode, table_firsts
    from auditor.wasm.parse import ParsedRefs

    parsed = mod.derived.get(ParsedRefs.KEY)
    if not isinstance(parsed, ParsedRefs) or len(parsed.starts) != len(mod.functions) or mod.tags:
        return False
    lo = hi = 0  # the data addresses' range (empty: no constant is one)
    if full:
        w = parsed.window
        if w is None:
            return False
        if ranges:
            lo, hi = ranges[0][0], max(r[1] for r in ranges)
            if not (w[0] <= lo and hi <= w[1]):
                return False
    del mod.derived[ParsedRefs.KEY]  # as code_references takes it
    data = mod.data
    segment_ops = any(s.mode == "passive" for s in mod.data_segments) or \
        any(e.mode == "passive" for e in mod.elements)
    first, count = g.first, g.count
    nf, nt, ng = count[Kind.FUNCTION], count[Kind.TABLE], count[Kind.GLOBAL]
    t0, gl0, d0 = first[Kind.TABLE], first[Kind.GLOBAL], first[Kind.DATA]
    range_starts = [s for s, _, _ in ranges]
    segment_of: dict[int, int] = {}
    # i32.const values are kept as u32; the signed value is in [lo, hi) iff the unsigned
    # one is when 0 <= lo and hi <= 2^31 (the usual case: no conversion per constant)
    unsigned_ok = lo >= 0 and hi <= 1 << 31
    # every constant kept is in [lo, hi): with no gap between segments, in one of them
    contiguous = all(ranges[k][1] == ranges[k + 1][0] for k in range(len(ranges) - 1))
    keys = _pair_keys(parsed.flat)  # one int per pair: opcode | value << 8
    bounds = [s // 2 for s in parsed.starts]
    bounds.append(len(keys))
    op_call, op_return_call, op_global_get, op_global_set = rf.OP_CALL, rf.OP_RETURN_CALL, rf.OP_GLOBAL_GET, \
        rf.OP_GLOBAL_SET
    op_const, op_ref_func, op_grow = rf.OP_I32_CONST, rf.OP_REF_FUNC, rf.OP_MEMORY_GROW
    op_indirect, op_return_indirect = rf.OP_CALL_INDIRECT, rf.OP_RETURN_CALL_INDIRECT
    tfirsts = table_firsts()
    for k, f in enumerate(mod.functions):
        a, b = bounds[k], bounds[k + 1]
        if a == b and not segment_ops:
            continue
        body = keys[a:b]
        es: list[int] = []
        grows = consts = False
        # distinct (opcode, value) pairs: a body calls the same few functions many times
        for x in set(body):
            op, v = x & 0xFF, x >> 8
            if op == op_call or op == op_return_call:
                if v < nf:
                    es.append(v << 4 | _CALL)
            elif op == op_const:
                consts = True
            elif op == op_global_get or op == op_global_set:
                if full and v < ng:
                    es.append((gl0 + v) << 4 | _GLOBAL_ACCESS)
            elif op == op_ref_func:
                if v < nf:
                    es.append(v << 4 | _REF_FUNC)
            elif op == op_grow:
                grows = True
            elif op == op_indirect or op == op_return_indirect:  # the table
                if v < nt:
                    es.append((t0 + v) << 4 | _CALL_INDIRECT)
            elif op in tfirsts:  # table.get, table.copy, ...
                if v < nt:
                    es.append((t0 + v) << 4 | _TABLE_ACCESS)
        if consts and full and hi > lo:
            if unsigned_ok:
                addresses = [x >> 8 for x in body if x & 0xFF == op_const and lo <= x >> 8 < hi]
            else:
                addresses = [c for c in ((x >> 8) - (1 << 32) if x >> 8 >= 1 << 31 else x >> 8
                                         for x in body if x & 0xFF == op_const)
                             if lo <= c < hi]
            if addresses:
                g.data_addresses[f.index] = addresses
                es += _data_ref_keys(addresses, ranges, range_starts, segment_of, d0, contiguous)
        if grows or segment_ops:
            start = code_start(data, f.code_offset, f.end)
            if grows:
                grow = find_opcode(data, start, f.end, rf._GROW_ONLY) or []
                if grow:
                    g.grow_offsets[f.index] = grow
            if segment_ops and rf._SEGMENT_OPS.search(data, start, f.end):
                r = rf.BodyRefs()
                rf._segment_ops(mod, f, start, r)
                es += _body_keys(g, r, ranges, range_starts, segment_of)
        if es:
            out[f.index] = es
    return True
