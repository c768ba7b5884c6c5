"""The speed-ups of the deep analyses (issue 12) change no answer.

Each fast path is compared with the code it replaced, kept here verbatim as the
reference: random inputs (hypothesis) reach the corners, and the 35,823 v0 names of
@biomejs/wasm-nodejs (scripts/real_modules.sh) are the real cases.

- monos: the bracket scans of `generic_of` work on the `<`, `>`, `->` of a name and copy
  the text between them in slices (was: one character at a time);
- data: candidate pointer words by translate+AND masks (was: a lookahead regex), the
  table users by one bisection (was: up to 17 lookups), and the format entry points
  found without demangling names that cannot be one;
- crates: a v0 symbol's instantiating crate read on from the main path `demangle`
  parsed (was: a second parse of the whole symbol).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.wasm import demangle as dm
from auditor.wasm.analysis import data as da
from auditor.wasm.analysis import monos as mo
from auditor.wasm.analysis import refs as rf

import fixturelib
import refcache

REPO = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def real_modules() -> list[Path]:
    return list(fixturelib.real_modules())


@lru_cache(maxsize=1)
def biome_bytes() -> tuple[str, bytes]:
    path = next(p for p in real_modules() if "biome" in p.name)
    return path.name, path.read_bytes()


@lru_cache(maxsize=1)
def biome_module():
    """@biomejs/wasm-nodejs, parsed once for the tests below: the npm module with names
    (35,823 v0 symbols; the other three have none, or Go's)."""
    from auditor.wasm.parse import parse_module

    name, data = biome_bytes()
    return parse_module(data, name)


@lru_cache(maxsize=1)
def real_names() -> list[str]:
    names = [n for n in biome_module().function_names.values() if n]
    assert len(names) > 35_000
    return names


# --------------------------------------------------------------------------- references (the code replaced)

def ref_matching(name: str, i: int) -> int:
    depth = 0
    n = len(name)
    while i < n:
        c = name[i]
        if c == "<":
            depth += 1
        elif c == ">" and name[i - 1] != "-":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def ref_strip_args(name: str) -> str:
    out: list[str] = []
    stack: list[bool] = []
    dropping = 0
    i, n = 0, len(name)
    while i < n:
        c = name[i]
        if c == "-" and i + 1 < n and name[i + 1] == ">":
            if not dropping:
                out.append("->")
            i += 2
            continue
        if c == "<":
            if dropping:
                stack.append(True)
                dropping += 1
            elif i >= 2 and name.startswith("::<", i - 2):
                del out[-2:]
                stack.append(True)
                dropping += 1
            elif out and out[-1][-1] in mo._IDENT_TAIL:
                stack.append(True)
                dropping += 1
            else:
                stack.append(False)
                out.append(c)
            i += 1
            continue
        if c == ">" and stack:
            if stack.pop():
                dropping -= 1
            else:
                out.append(c)
            i += 1
            continue
        if not dropping:
            out.append(c)
        i += 1
    return "".join(out)


def ref_unwrap_inherent(name: str) -> str:
    if not name.startswith("<"):
        return name
    depth = 0
    for i, c in enumerate(name):
        if c == "<":
            depth += 1
        elif c == ">" and not (i and name[i - 1] == "-"):
            depth -= 1
            if depth == 0:
                inner = name[1:i]
                if " as " in inner:
                    return name
                return inner + name[i + 1:] if name.startswith("::", i + 1) else name
    return name


def ref_candidate_words(chunk: bytes, lo: int, hi: int) -> list[int]:
    top_lo, top_hi = lo >> 24, min((hi - 1) >> 24, 0xFF)
    if top_lo > 0xFF:
        pattern = re.compile(rb"(?!)")
    else:
        if top_lo == top_hi:
            third = rb"[\x%02x-\x%02x]" % ((lo >> 16) & 0xFF, ((hi - 1) >> 16) & 0xFF)
        else:
            third = rb"[\x00-\xff]"
        pattern = re.compile(rb"(?=[\x00-\xff]{2}" + third + rb"[\x%02x-\x%02x])" % (top_lo, top_hi))
    return [m.start() >> 2 for m in pattern.finditer(chunk) if not m.start() & 3]


def ref_v0_instantiating_crate(symbol: str) -> str | None:
    if not symbol.startswith("_R"):
        return None
    inner = symbol[2:]
    if not inner or not inner.isascii() or "\0" in inner:
        return None
    p = dm._V0Printer(inner + "\0")
    try:
        p.print_path(True)
        if "A" <= p.sym[p.pos] <= "Z":
            before = len(p.out)
            p.print_path(False)
            return "".join(p.out[before:]) or None
    except (dm._Invalid, RecursionError, IndexError):
        return None
    return None


def ref_format_targets(names: dict[int, str], entries: list[str]) -> set[int]:
    suffixes = tuple("::" + e for e in entries)
    exact = set(entries)
    out = set()
    for i, raw in names.items():
        name = dm.strip_hash(dm.demangle(raw))
        if name in exact or name.endswith(suffixes):
            out.add(i)
    return out


# --------------------------------------------------------------------------- monos

brackets = st.text(alphabet="<>-:a9_ ]x", max_size=40)


@settings(max_examples=3000, deadline=None)
@given(brackets)
def test_bracket_scans_equal_the_character_loops(name):
    assert mo._strip_args(name) == ref_strip_args(name)
    assert mo._unwrap_inherent(name) == ref_unwrap_inherent(name)
    for i in range(len(name)):
        assert mo._matching(name, i) == ref_matching(name, i)


def test_bracket_scans_on_real_names():
    # a quarter: ~9,000 names (demangled in one call, as `monos` does)
    names = sorted({dm.strip_hash(n) for n in dm.demangle_many(real_names()[::4])})
    # the character loops' answers from tests/refcache.py (the names, their code and
    # auditor/wasm: ref_strip_args reads monos._IDENT_TAIL)
    want = refcache.cached("ref-bracket-scans", refcache.digest("\0".join(names).encode()),
                           lambda: [(ref_strip_args(name), ref_unwrap_inherent(name)) for name in names],
                           [ref_strip_args, ref_unwrap_inherent], refcache.WASM_STAGE)
    generic = 0
    for name, (stripped, unwrapped) in zip(names, want, strict=True):
        assert mo._strip_args(name) == stripped, name
        assert mo._unwrap_inherent(name) == unwrapped, name
        generic += "<" in name
    assert generic > 5_000


# --------------------------------------------------------------------------- data

@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256).map(lambda b: b[:len(b) & ~3]),
       st.integers(min_value=0, max_value=(1 << 32) - 2), st.integers(min_value=1, max_value=1 << 26))
def test_candidate_mask_equals_the_lookahead_regex(chunk, lo, span):
    hi = min(lo + span, 1 << 32)
    mask = rf._candidate_mask(chunk, rf._candidate_tables(lo, hi))
    assert [k for k, b in enumerate(mask) if b] == ref_candidate_words(chunk, lo, hi)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.integers(min_value=0, max_value=400), st.sets(st.integers(0, 5), max_size=3),
                       max_size=40),
       st.lists(st.integers(min_value=0, max_value=500), max_size=40))
def test_table_users_by_bisection(by_addr, words):
    users = da._TableUsers(by_addr)
    for w in words:
        assert users(w) == da._table_users(w, by_addr, {})


def test_format_entry_points_without_demangling_every_name():
    from auditor.wasm import model as m

    names = dict(enumerate(real_names()))
    entries = da._rules()["format_strings"]["entry_points"]
    # the reference's answer from tests/refcache.py (it demangles every name in Python)
    expected = refcache.cached("ref-format-targets", (refcache.digest(biome_bytes()[1]), entries),
                               lambda: ref_format_targets(names, entries), [ref_format_targets],
                               refcache.WASM_STAGE)
    assert len(expected) >= 10  # the biome module calls core::fmt::write & co.
    # formatting_functions: each name "calls" itself, so the answer is the targets
    mod = m.Module(data=b"", file="x")
    mod.function_names = names
    assert da.formatting_functions(mod, {i: [i] for i in names}) == expected
    # and the prefilter alone on hand-made cases: a `[` or a legacy name is always demangled
    maybe = da._entry_prefilter(entries)
    assert maybe("_ZN4core3fmt5write17h0123456789abcdefE") and maybe("_RNvC3foo3b[a]r")
    assert not maybe("_RNvCs1234_3foo3bar")


# --------------------------------------------------------------------------- crates

V0_SEEDS = ["_RINvNtCs1234_4core3ptr13drop_in_placeINtNtCs1234_5alloc3vec3VechEECs5678_3app",
            "_RNvMs_NtCs1234_5alloc3vecINtB4_3VecpE4pushCs99_4main",
            "_RINvCs1_3fooKj1f_EB2_", "_RNvCs1_3foo3bar", "_RNvNvCs1_3foo3barB4_"]


def test_v0_instantiating_crate_on_real_names():
    # the reference's answers from tests/refcache.py when the wasm stage's sources and the
    # module are those it last ran on (its second parse of every symbol: ~0.9 CPU-s)
    names = real_names()
    expected = refcache.cached("ref-v0-instantiating-crate", refcache.digest(biome_bytes()[1]),
                               lambda: [ref_v0_instantiating_crate(raw) for raw in names],
                               [ref_v0_instantiating_crate], refcache.WASM_STAGE)
    named = 0
    for raw, want in zip(names, expected, strict=True):
        got = dm.v0_instantiating_crate(raw)
        assert got == want, raw
        named += got is not None
    assert named > 10_000


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(V0_SEEDS), st.integers(0, 80), st.integers(0, 80), st.text(alphabet="BCEINKjs_0123456789abcRvh",
                                                                                    max_size=6))
def test_v0_instantiating_crate_on_mutated_symbols(seed, cut, at, insert):
    sym = seed[:cut] + insert + seed[cut:] if at % 2 else seed[:cut]
    dm._v0_main_path.cache_clear()
    dm.demangle(sym)  # fills the main-path cache the fast path reads, when it parses
    assert dm.v0_instantiating_crate(sym) == ref_v0_instantiating_crate(sym)


@pytest.mark.parametrize("sym", V0_SEEDS)
def test_v0_instantiating_crate_seeds(sym):
    assert dm.v0_instantiating_crate(sym) == ref_v0_instantiating_crate(sym)


# --------------------------------------------------------------------------- dominators

def _reach(adj, roots, removed=None):
    seen = set()
    todo = [r for r in roots if r != removed]
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        todo.extend(w for w in adj[v] if w != removed and w not in seen)
    return seen


raw_graphs = st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.lists(st.integers(0, n - 1), unique=True, max_size=4), min_size=n, max_size=n),
    st.lists(st.integers(0, n - 1), min_size=1, max_size=4),  # unsorted, repeats
    st.lists(st.integers(0, 50), min_size=n, max_size=n)))


@settings(max_examples=400, deadline=None)
@given(raw_graphs)
def test_dominators_with_self_loops_and_repeated_roots(case):
    """The item graph keeps a recursive function's edge to itself and lists roots in its
    own order: the dominator tree (predecessors recorded by the DFS itself) must still be
    the definition's."""
    from auditor.wasm.analysis.core import CSRGraph
    from auditor.wasm.analysis.dominators import dominators

    n, adj_lists, roots, sizes = case
    starts, targets = [0], []
    for lst in adj_lists:
        targets += lst
        starts.append(len(targets))
    g = CSRGraph(sizes, starts, targets, roots)
    adj = dict(enumerate(adj_lists))
    d = dominators(g)
    live = _reach(adj, roots)
    assert sorted(d.order) == sorted(live)
    for b in range(n):
        if b not in live:
            assert not d.is_reachable(b) and d.retained[b] == sizes[b]
            continue
        doms = {a for a in live if a != b and b not in _reach(adj, roots, removed=a)}
        assert set(d.dominators_of(b)) - {b} == doms
        killed = live - _reach(adj, roots, removed=b)
        assert d.retained[b] == sum(sizes[x] for x in killed)


# --------------------------------------------------------------------------- paths / dominators NAME

def ref_find_items(g, query, labels, names, stripped):
    """find_items as it was (labels, raw names and stripped labels of every item computed
    once by the caller)."""
    from auditor.wasm.analysis import results

    bare = dm.strip_hash(query)
    exact = [i for i, label in enumerate(labels) if query == label or query == names[i]
             or bare == stripped[i]]
    if exact:
        return exact
    matches = results.name_matcher(query)
    return [i for i, label in enumerate(labels) if matches(label)]


def test_find_items_demangles_only_names_that_may_match(monkeypatch):
    import random

    from auditor.wasm.analysis import results
    from auditor.wasm.analysis.items import Kind
    from auditor.wasm.analysis.results import find_items
    from auditor.wasm.graph import item_graph

    g = item_graph(biome_module())
    named = [i for i in range(g.count[Kind.FUNCTION]) if g.module.function_names.get(i)]
    rnd = random.Random(12)
    queries = ["function[12]", "export \"memory\"", "core::fmt::write", "drop_in_place", "no such thing",
               "biome_service::file_handlers::compute_manifest_visitor"]
    for i in rnd.sample(named, 6):
        label = g.label(i)
        queries += [label, dm.strip_hash(label), g.name(i), label.replace("::", "::x", 1), label + "x"]
        head, sep, rest = label.partition("::")
        if sep:
            queries.append(f"{head}[1a2b3c4d5e6f7a8b]::{rest}")  # as tools print v0 crate disambiguators
    # the point of it: an exact name ending in an identifier demangles few names
    dm.demangle.cache_clear()
    assert find_items(g, "biome_service::file_handlers::compute_analyzer_visitor")
    assert dm.demangle.cache_info().currsize < len(named) // 10
    generic = next(g.label(i) for i in named if g.label(i).endswith(">") and '"' not in g.label(i))
    dm.demangle.cache_clear()
    assert find_items(g, generic)  # a name ending in generic arguments (twiggy's largest in the benchmark)
    # every identifier of the query must be in a v0 symbol (its longest alone, a crate
    # name here, let ~4,700 names through)
    assert dm.demangle.cache_info().currsize < len(named) // 100
    # the rest compares the exact stage (what the prefilter changes): a query with no
    # exact match would search every label with RE2, twice, in ~0.3 s; both sides get a
    # matcher that matches nothing instead (the first six, two of them regular
    # expressions, keep the real one)
    nothing = lambda query: lambda name: False  # noqa: E731

    def reference():  # every item's label demangled by the Python demangler: ~2 CPU-s
        labels = [g.label(i) for i in range(len(g))]
        names = [g.name(i) for i in range(len(g))]
        stripped = [dm.strip_hash(x) for x in labels]
        out = [ref_find_items(g, q, labels, names, stripped) for q in queries[:6]]
        with monkeypatch.context() as m:
            m.setattr(results, "name_matcher", nothing)
            return out + [ref_find_items(g, q, labels, names, stripped) for q in queries[6:]]

    # the answers of the reference (refcache: biome's bytes, the queries, this code, auditor/wasm)
    want = refcache.cached("ref-find-items", (refcache.digest(biome_bytes()[1]), queries), reference,
                           code=[ref_find_items, test_find_items_demangles_only_names_that_may_match],
                           tree=refcache.WASM_STAGE)
    hits = 0
    for k, q in enumerate(queries):
        if k == 6:
            monkeypatch.setattr(results, "name_matcher", nothing)
        got = find_items(g, q)
        assert got == want[k], q
        hits += bool(got)
    assert hits > 20


@settings(max_examples=300, deadline=None)
@given(raw_graphs, st.sampled_from(["I", "i", "Q", "list"]))
def test_referrers_by_byte_search_equal_the_reversed_graph(case, code):
    """`paths` finds the referrers of the items it lists by searching the edge array's
    bytes; they must be the reversed graph's predecessor lists."""
    from array import array

    from auditor.wasm.analysis.core import CSRGraph, predecessors
    from auditor.wasm.analysis.reach import referrers

    n, adj_lists, roots, sizes = case
    starts, targets = [0], []
    for lst in adj_lists:
        targets += lst
        starts.append(len(targets))
    # values that share bytes with their neighbours (256, 1) test the alignment check
    big = [t * 257 + 1 for t in targets] if code == "Q" else targets
    g = CSRGraph(sizes, starts, big if code == "list" else array(code, big), roots)
    pstart, pred = predecessors(g) if code != "Q" else ([], [])
    for t in set(big) | {0, 5}:
        if t >= n or code == "Q":
            assert referrers(g, t) == sorted({v for v in range(n) for k in range(starts[v], starts[v + 1])
                                              if big[k] == t})
        else:
            assert referrers(g, t) == sorted(set(pred[pstart[t]:pstart[t + 1]]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFF), st.integers(0, (1 << 32) - 1)), max_size=40),
       st.sampled_from(["I", "L", "Q"]), st.booleans())
def test_pair_keys_by_byte_slicing(pairs, code, odd):
    """The item graph reads a body's (opcode, value) pairs as ints opcode | value << 8
    made by slicing the pairs array's bytes; an opcode or value too wide for that takes
    the plain way. Both must equal the arithmetic."""
    from array import array

    from auditor.wasm.analysis.items import _pair_keys

    if odd and code != "I":
        pairs = [*pairs, (0x41, 1 << 40)]  # not a u32: the fallback
    flat = array(code, [x for p in pairs for x in p])
    assert list(_pair_keys(flat)) == [op | v << 8 for op, v in pairs]
