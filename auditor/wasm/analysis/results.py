"""The deep size analyses as results: one function per command, each reading the item
graph (or the module's DWARF) and returning a dataclass with its record (`to_json`).

Results carry plain values only (names already demangled, sizes, ids), so renderers
never reach back into the module. Every JSON record has a `schema` (README "Deep size
analysis").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.errors import AuditorError, NoMatch
from auditor.records.attribution import SCHEMA as ATTRIBUTION_SCHEMA
from auditor.records.attribution import (
    DwarfViewsRecord,
    ItemRowRecord,
    ModuleViewsRecord,
    MonosViewRecord,
    SizeViewsRecord,
)
from auditor.wasm.analysis.dominators import Dominators, dominators
from auditor.wasm.analysis.items import KIND_NAMES, Edge, ItemGraph, Kind
from auditor.wasm.analysis.reach import bfs, garbage, why_paths
from auditor.wasm.model import Module

if TYPE_CHECKING:  # monos (crates, demangle) imported by generic_groups only: start-up of the rest
    from auditor.wasm.analysis.monos import MonosResult


__all__ = ["ATTRIBUTION_SCHEMA", "DWARF_VIEWS", "SIZE_VIEWS", "attribution_of", "dwarf_views", "monos_view",
           "size_views", "name_matcher", "CratesResult", "DataResult", "DominatorsResult", "GarbageResult", "ItemRow",
           "PathsResult", "SourcesResult", "TopResult", "crates_of", "data_of", "dominator_rows", "find_items",
           "garbage_items", "generic_groups", "sources_of", "top_items", "why"]


class ItemRow:
    """One item of a result. `name` is the printed name; with `label` instead, it is
    worked out (demangled) the first time it is read, so rows a report does not print
    cost no demangling (`garbage` keeps every row, the text lists 20)."""

    __slots__ = ("id", "_name", "kind", "index", "shallow", "retained", "_label")

    def __init__(self, id: int, name: str | None, kind: str, index: int, shallow: int, retained: int,
                 label: Callable[[int], str] | None = None):
        self.id, self._name, self.kind, self.index = id, name, kind, index
        self.shallow, self.retained, self._label = shallow, retained, label

    @property
    def name(self) -> str:
        if self._name is None:
            assert self._label is not None
            self._name = self._label(self.id)
        return self._name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ItemRow):
            return NotImplemented
        return (self.id, self.name, self.kind, self.index, self.shallow, self.retained) == \
            (other.id, other.name, other.kind, other.index, other.shallow, other.retained)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ItemRow(id={self.id!r}, name={self.name!r}, kind={self.kind!r}, index={self.index!r}, "
                f"shallow={self.shallow!r}, retained={self.retained!r})")

    def to_json(self) -> ItemRowRecord:
        return {"name": self.name, "kind": self.kind, "index": self.index, "shallow": self.shallow,
                "retained": self.retained}


def _row(g: ItemGraph, d: Dominators, i: int, lazy: bool = False) -> ItemRow:
    return ItemRow(i, None if lazy else g.label(i), KIND_NAMES[g.kind(i)], g.index(i), g.sizes[i], d.retained[i],
                   g.label if lazy else None)


def _analysed(g: ItemGraph) -> Dominators:
    """Dominators of the graph, computed once per graph (kept in the module's `derived`
    with the graph they belong to: a call graph and the full graph differ)."""
    key = "item_graph_dominators"
    derived = getattr(g.module, "derived", None)
    cached = derived.get(key) if derived is not None else None
    if isinstance(cached, tuple) and cached[0] is g:
        return cached[1]
    d = dominators(g)
    if derived is not None:
        derived[key] = (g, d)
    return d


# --------------------------------------------------------------------------- top

@dataclass
class TopResult:
    KIND = "top"
    file: str
    bytes: int
    sort: str  # shallow | retained
    items: list[ItemRow]
    total_items: int
    rest_items: int  # items not listed
    rest_bytes: int  # their shallow bytes

    def to_json(self) -> dict:
        return {"schema": "auditor.top/1", "file": self.file, "bytes": self.bytes, "sort": self.sort,
                "items": [r.to_json() for r in self.items], "total_items": self.total_items,
                "rest": {"items": self.rest_items, "shallow": self.rest_bytes}}


def top_items(g: ItemGraph, n: int = 20, retained: bool = False) -> TopResult:
    """The n largest items (0: all) by shallow or retained size, ties by id."""
    d = _analysed(g)
    key = d.retained if retained else g.sizes
    # largest first, ties by id: a stable sort keeps equal keys in id order, reversed too
    order = sorted(range(len(g)), key=key.__getitem__, reverse=True)
    shown = order if n <= 0 else order[:n]
    rest_items = len(g) - len(shown)
    rest_bytes = sum(g.sizes) - sum(g.sizes[i] for i in shown)
    return TopResult(g.module.file, len(g.module.data), "retained" if retained else "shallow",
                     [_row(g, d, i) for i in shown], len(g), rest_items, rest_bytes)


# --------------------------------------------------------------------------- finding items

def name_matcher(query: str) -> Callable[[str], bool]:
    """`query` as a regular expression searched in a name, in time linear in the name:
    RE2 (google-re2) when installed, which has no backtracking (a hostile pattern such
    as `(a+)+$` costs what a plain one does); else Python's `re` (README "auditor paths")."""
    try:
        import re2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        try:
            rx = re.compile(query)
        except re.error as e:
            raise AuditorError(f"no item is named {query!r}, and it is not a regular expression ({e})") from None
        return lambda name: rx.search(name) is not None
    opts = re2.Options()
    opts.log_errors = False
    try:
        rx2 = re2.compile(query, options=opts)
    except re2.error as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise AuditorError(f"no item is named {query!r}, and it is not a regular expression RE2 accepts "
                           f"({why}; backreferences and lookaround are not supported)") from None
    return lambda name: rx2.search(name) is not None


def find_items(g: ItemGraph, query: str) -> list[int]:
    """Items named `query` (the raw symbol, or the demangled name, compared without
    hashes and crate disambiguators), else the items whose printed name the regular
    expression `query` matches (linear time per name, see `name_matcher`)."""
    from auditor.wasm.demangle import demangle_many, strip_hash

    bare = strip_hash(query)  # also accepts names as other tools print them (`core[1a2b…]::…`)
    runs = _identifiers(bare)
    kinds, indices, fnames, function = g.kinds, g.indices, g.module.function_names, int(Kind.FUNCTION)
    f0 = g.first[Kind.FUNCTION]
    label = g.label
    ix = g.name_index()
    # functions with a symbol: the raw symbol, else the demangled name, which is worked
    # out only for a symbol that may print as `bare`: every v0 symbol holds each of the
    # identifiers `runs` (`_identifiers`); any other symbol may print as anything
    named = ix.symbols.get(query, [])
    exact = [f0 + index for index in named]
    candidates = ix.v0
    for run in runs if runs is not None else ():
        candidates = [c for c in candidates if run in c[0]]
    maybe = [*ix.loose, *(index for _, index in candidates)]
    if named:
        maybe = [index for index in maybe if fnames[index] != query]
    if len(maybe) > 64:  # their labels demangled in one call of the compiled demangler
        demangle_many([fnames[index] for index in maybe])
    for index in maybe:
        text = label(f0 + index)
        if query == text or bare == strip_hash(text):
            exact.append(f0 + index)
    # every other item prints its own name (g.name: no symbol to demangle)
    exact.extend(set(ix.by_name.get(query, ())).union(ix.by_bare.get(bare, ())))
    if exact:
        return sorted(exact)
    matches = name_matcher(query)
    # every function's label (ItemGraph.label), demangled in one call
    texts = demangle_many([fnames.get(indices[i]) if kinds[i] == function else None for i in range(len(g))])
    return [i for i, text in enumerate(texts) if matches(text if text is not None else label(i))]


_RUN = re.compile(r"[A-Za-z0-9_]+")  # maximal runs: one starting with a digit is a number
# identifiers the v0 printer writes itself (types, keywords, closures, placeholders)
_V0_WORDS = frozenset(("bool", "char", "str", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32",
                       "u64", "u128", "usize", "f32", "f64", "_", "as", "is", "for", "fn", "dyn", "mut", "const",
                       "unsafe", "extern", "true", "false", "null", "closure", "shim", "punycode"))


def _identifiers(bare: str) -> list[str] | None:
    """The identifiers of `bare` every v0 symbol printing as `bare` holds, longest first;
    None when there is no such test (every name is then compared): a test that is
    False only when strip_hash(label) cannot be `bare`, so that most names are not
    demangled to be compared (`paths foo::bar`).

    The v0 printer (`_R…` symbols) writes every identifier of a name from the symbol's
    own text (directly, through a backref to an earlier part of the same symbol, or as
    the ASCII part of a punycode identifier, which is in the symbol too), except its
    own words (`_V0_WORDS`), numbers (`0x1f` included), and what is quoted (string and char constants,
    lifetimes, an ABI). So when `bare` has no quote, each of its identifiers that is not
    such a word occurs in every v0 symbol whose stripped name is `bare`: no piece the
    printer writes ends or starts an identifier next to another, and strip_hash can join
    two only across a `[hex]`, which needs a `[` in the symbol (such symbols are always
    compared). All of them are looked for, longest first (one common crate name alone
    let 4,700 of biome's names through). Legacy and C++ names are always compared
    (escapes, abbreviations)."""
    if '"' in bare or "'" in bare:
        return None
    runs = sorted({t for t in _RUN.findall(bare) if not t[0].isdigit() and t not in _V0_WORDS}, key=len,
                  reverse=True)
    return runs or None


# --------------------------------------------------------------------------- dominators

@dataclass
class DominatorsResult:
    KIND = "dominators"
    file: str
    bytes: int
    root: str | None  # the items the tree starts at, joined by ", " (None: the whole module)
    rows: list[tuple[int, ItemRow]]  # (depth, item) in tree order
    truncated: bool  # rows or depth limits cut the tree
    unreachable_items: int
    unreachable_bytes: int
    roots: list[str] | None = None  # the same items one by one (a name may hold ", ")

    def to_json(self) -> dict:
        return {"schema": "auditor.dominators/1", "file": self.file, "bytes": self.bytes, "root": self.root,
                "roots": self.roots, "items": [{**r.to_json(), "depth": depth} for depth, r in self.rows],
                "truncated": self.truncated,
                "unreachable": {"items": self.unreachable_items, "bytes": self.unreachable_bytes}}


def dominator_rows(g: ItemGraph, start: list[int] | None = None, depth: int | None = None,
                   rows: int | None = None) -> DominatorsResult:
    """The dominator tree in preorder, children by retained size (largest first), from
    the super-root or from each item of `start`; `depth`/`rows` bound the output."""
    d = _analysed(g)
    cstart, kids = d.children()
    root = len(g)

    retained = d.retained

    def children(v: int) -> list[int]:
        out = sorted(kids[cstart[v]:cstart[v + 1]])  # by id, then stably by retained size, largest first
        out.sort(key=retained.__getitem__, reverse=True)
        return out

    out: list[tuple[int, ItemRow]] = []
    truncated = False
    firsts = [(0, v) for v in (start if start is not None else children(root))]
    stack = list(reversed(firsts))
    while stack:
        lvl, v = stack.pop()
        if rows is not None and len(out) >= rows:
            truncated = True
            break
        out.append((lvl, _row(g, d, v)))
        if d.is_reachable(v) or start is not None:
            cs = children(v) if d.is_reachable(v) else []
            if cs and depth is not None and lvl + 1 > depth:
                truncated = True
                continue
            stack.extend((lvl + 1, c) for c in reversed(cs))
    idom, sizes = d.idom, g.sizes
    dead = [i for i in range(len(g)) if idom[i] < 0]  # not d.is_reachable(i)
    names = None if start is None else [g.label(i) for i in start]
    return DominatorsResult(g.module.file, len(g.module.data), None if names is None else ", ".join(names), out,
                            truncated, len(dead), sum(sizes[i] for i in dead), names)


# --------------------------------------------------------------------------- paths

@dataclass
class ItemPaths:
    item: ItemRow
    paths: list[list[str]]
    total: int  # shortest paths there are (one per live referrer, one more if it is a root)
    referrers: int

    def to_json(self) -> dict:
        return {**self.item.to_json(), "paths": self.paths, "total_paths": self.total, "referrers": self.referrers}


@dataclass
class PathsResult:
    KIND = "paths"
    file: str
    query: str
    items: list[ItemPaths]
    matched: int  # items the query matched (at most `items` are listed)

    def to_json(self) -> dict:
        return {"schema": "auditor.paths/1", "file": self.file, "query": self.query,
                "paths": [p for it in self.items for p in it.paths],
                "items": [it.to_json() for it in self.items], "matched": self.matched}


def why(g: ItemGraph, query: str, max_paths: int = 10, max_items: int = 10) -> PathsResult:
    """Shortest root paths to every item `query` names or matches (largest first)."""
    from auditor.wasm.analysis.core import predecessors

    found = find_items(g, query)
    if not found:
        raise NoMatch(f"no item is named or matches {query!r}")
    d = _analysed(g)
    found.sort(key=lambda i: (-g.sizes[i], i))
    listed = found[:max_items] if max_items > 0 else found
    # the reversed graph for many items; a byte search of the edges for a few
    tree, preds = bfs(g), predecessors(g) if len(listed) > 20 else None
    out = []
    for i in listed:
        w = why_paths(g, i, max_paths, tree=tree, preds=preds)
        out.append(ItemPaths(_row(g, d, i), [[g.label(v) for v in p] for p in w.paths], w.total, w.referrers))
    return PathsResult(g.module.file, query, out, len(found))


# --------------------------------------------------------------------------- garbage

@dataclass
class GarbageResult:
    KIND = "garbage"
    file: str
    bytes_total: int  # file size
    items: list[ItemRow]
    bytes: int  # all garbage
    data_items: int  # of which data segments (reached only by approximated references)
    data_bytes: int
    shown: int = 0  # rows the text report lists (0: all); JSON lists every item

    def to_json(self) -> dict:
        return {"schema": "auditor.garbage/1", "file": self.file,
                "items": [{"name": r.name, "kind": r.kind, "index": r.index, "shallow": r.shallow}
                          for r in self.items],
                "bytes": self.bytes, "data_segments": {"items": self.data_items, "bytes": self.data_bytes}}


def garbage_items(g: ItemGraph) -> GarbageResult:
    """Items no root reaches, largest first. No dominator tree: an unreachable item's
    retained size is its shallow size (as `dominators` gives it)."""
    dead = garbage(g)
    sizes, kinds, indices = g.sizes, g.kinds, g.indices
    rows = [ItemRow(i, None, KIND_NAMES[Kind(kinds[i])], indices[i], sizes[i], sizes[i], g.label) for i in dead]
    data = [r for r in rows if r.kind == "data"]
    return GarbageResult(g.module.file, len(g.module.data), rows, sum(r.shallow for r in rows), len(data),
                         sum(r.shallow for r in data))


# --------------------------------------------------------------------------- monos

def generic_groups(g: ItemGraph, instances: int = 10) -> MonosResult:
    """Defined functions grouped by generic (sizes are function items: body, size LEB
    and function entry, as in top and twiggy)."""
    from auditor.wasm.analysis.monos import MonosResult, monos

    mod = g.module
    f0 = g.first[Kind.FUNCTION]
    named = ((g.label(f0 + f.index) if mod.function_names.get(f.index) else None, g.sizes[f0 + f.index])
             for f in mod.functions)
    return MonosResult(mod.file, monos(named), instances)


# --------------------------------------------------------------------------- crates, sources, data

@dataclass
class CratesResult:
    KIND = "crates"
    file: str
    record: dict  # CrateViews.to_json() plus the file and a hint

    def to_json(self) -> dict:
        return {"schema": "auditor.crates/1", "file": self.file, **self.record}


def crates_of(mod: Module, with_dwarf: bool = True) -> CratesResult:
    from auditor.wasm.analysis.ownership import module_crate_views

    views = module_crate_views(mod, with_dwarf=with_dwarf)
    unknown = views.sources["instantiating"]["none"]
    hint = None
    if unknown:
        hint = (f"{unknown} bodies have no instantiating crate: their names are legacy-mangled and the module "
                "has no DWARF for them; build with `debug = 1` (or `-C symbol-mangling-version=v0`) to attribute "
                "them")
    return CratesResult(mod.file, {**views.to_json(), "hint": hint})


@dataclass
class SourcesResult:
    KIND = "sources"
    file: str
    record: dict

    def to_json(self) -> dict:
        return {"schema": "auditor.sources/1", "file": self.file, **self.record}


def sources_of(mod: Module, top_functions: int = 10, top_lines: int = 5) -> SourcesResult:
    from auditor.wasm.analysis.sources import source_attribution

    attr = source_attribution(mod)
    return SourcesResult(mod.file, attr.to_json(mod, top_functions, top_lines))


@dataclass
class DataResult:
    KIND = "data"
    file: str
    record: dict

    def to_json(self) -> dict:
        return {"schema": "auditor.data/1", "file": self.file, **self.record}


def data_of(g: ItemGraph, top: int = 10) -> DataResult:
    from auditor.wasm.analysis.data import data_attribution, formatting_functions

    mod = g.module
    f0 = g.first[Kind.FUNCTION]
    calls: dict[int, list[int]] = {}
    if mod.function_names:  # formatting_functions needs them only then
        starts, targets, kinds, call = g.starts, g.targets, g.edge_kinds, int(Edge.CALL)
        calls = {f.index: [targets[e] - f0 for e in range(starts[f0 + f.index], starts[f0 + f.index + 1])
                           if kinds[e] == call] for f in mod.functions}
    attr = data_attribution(mod, g.data_addresses, keep=top, formatters=formatting_functions(mod, calls),
                            pointers=g.data_pointers)
    return DataResult(mod.file, attr.to_json(_FunctionLabels(g), top))


class _FunctionLabels(Mapping[int, str]):
    """Defined function index -> its printed name, for the functions that have one in the
    name section; each demangled when a report asks for it (a report shows a few)."""

    def __init__(self, g: ItemGraph):
        mod = g.module
        self._g, self._f0 = g, g.first[Kind.FUNCTION]
        self._names = mod.function_names
        self._defined = range(mod.num_imported_funcs, mod.num_imported_funcs + len(mod.functions))

    def __getitem__(self, f: int) -> str:
        if f not in self._defined or not self._names.get(f):
            raise KeyError(f)
        return self._g.label(self._f0 + f)

    def __iter__(self) -> Iterator[int]:
        return (f for f in self._defined if self._names.get(f))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:  # `names or {}`: no count of the names
        return True


# --------------------------------------------------------------------------- attribution (scan --attribute, diff)

# The views of an attribution record by what they read: the item graph's views (sizes,
# no DWARF), the monomorphization groups (names and sizes) and the DWARF views. `scan
# --attribute` takes the first two from the variant's own module and the DWARF views
# from its debug-info twin (whose `.debug_*` sections would crowd the retained list).
SIZE_VIEWS = ("retained", "garbage", "data", "monos")
DWARF_VIEWS = ("crates", "sources")


def attribution_of(mod: Module, g: ItemGraph, *, top_items: int = 20) -> ModuleViewsRecord:
    """Every view of one module in one record (`auditor.attribution/1`): the largest
    items by retained size (`top_items`; 0: every item), garbage bytes, both crate
    views, files and directories, and the data categories."""
    return {"schema": ATTRIBUTION_SCHEMA, "file": mod.file, "bytes": len(mod.data),
            **size_views(g, top_items=top_items), **dwarf_views(mod)}


def size_views(g: ItemGraph, *, top_items: int = 20) -> SizeViewsRecord:
    """The attribution views the item graph answers without DWARF: `retained` (the
    largest items by retained size; `top_items` 0: every item), `retained_complete`,
    `garbage` and `data`."""
    t = top_items_rows(g, top_items)
    gb = garbage_items(g)
    da = data_of(g, top=3).to_json()
    return {
        "retained": t,
        "retained_complete": top_items <= 0,  # every item listed (diff compares them)
        "garbage": {"items": len(gb.items), "bytes": gb.bytes},
        "data": {"bytes": da["bytes"], "categories": [{"name": c["name"], "bytes": c["bytes"], "pieces": c["pieces"]}
                                                      for c in da["categories"]]},
    }


def dwarf_views(mod: Module) -> DwarfViewsRecord:
    """The attribution views that read the module's DWARF: `crates` (both views) and
    `sources` (files, directories)."""
    cr = crates_of(mod).to_json()
    so = sources_of(mod, top_functions=5, top_lines=3).to_json()
    return {
        "crates": {"defining": cr["defining"], "instantiating": cr["instantiating"], "code_bytes": cr["code_bytes"],
                   "hint": cr["hint"]},
        "sources": {"available": so["available"], "hint": so["hint"], "files": so["files"],
                    "directories": so["directories"], "unattributed": so["unattributed"]},
    }


def monos_view(mod: Module, *, generics: int = 10) -> MonosViewRecord:
    """The attribution's `monos`: the `generics` generics with the most savings (name,
    copies, bytes, savings; no instances) and the totals of all (`auditor.monos/1`'s)."""
    from auditor.wasm.analysis.monos import MonosResult, module_monos

    res = MonosResult(mod.file, module_monos(mod), 0)
    res.shown = generics
    j = res.to_json()
    return {"bytes": j["bytes"], "savings": j["savings"],
            "generics": [{"name": x["name"], "copies": x["copies"], "bytes": x["bytes"], "savings": x["savings"]}
                         for x in j["generics"]],
            "rest": j["rest"]}


def top_items_rows(g: ItemGraph, n: int) -> list[ItemRowRecord]:
    return [row.to_json() for row in top_items(g, n=n, retained=True).items]
