"""Graph analyses (dominators, retained sizes, why-paths, garbage) against independent
answers: the published example of Lengauer and Tarjan (1979) and, on random graphs,
the definitions themselves computed by brute force."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.wasm.analysis.core import csr, predecessors
from auditor.wasm.analysis.dominators import dominators, retained_by
from auditor.wasm.analysis.reach import bfs, garbage, why_paths

# Lengauer & Tarjan, "A fast algorithm for finding dominators in a flowgraph", fig. 1.
LT_NODES = "RABCDEFGHIJKL"
LT_EDGES = {"R": "ABC", "A": "D", "B": "ADE", "C": "FG", "D": "L", "E": "H", "F": "I",
            "G": "IJ", "H": "EK", "I": "K", "J": "I", "K": "IR", "L": "H"}
LT_IDOM = {"A": "R", "B": "R", "C": "R", "D": "R", "E": "R", "F": "C", "G": "C", "H": "R",
           "I": "R", "J": "G", "K": "R", "L": "D"}


def _lt_graph(sizes=None):
    ix = {c: i for i, c in enumerate(LT_NODES)}
    edges = [(ix[a], ix[b]) for a, bs in LT_EDGES.items() for b in bs]
    return ix, csr(sizes or [1] * len(LT_NODES), edges, [ix["R"]])


def test_lengauer_tarjan_paper_example():
    ix, g = _lt_graph()
    d = dominators(g)
    for node, idom in LT_IDOM.items():
        assert d.idom[ix[node]] == ix[idom], node
    assert d.idom[ix["R"]] == len(g)  # the real root hangs off the super-root


def test_retained_sizes_by_hand():
    # sizes 1, 2, 4, ... so every retained size names its members uniquely
    sizes = [1 << i for i in range(len(LT_NODES))]
    ix, g = _lt_graph(sizes)
    d = dominators(g)
    s = {c: sizes[ix[c]] for c in LT_NODES}
    assert d.retained[ix["C"]] == s["C"] + s["F"] + s["G"] + s["J"]
    assert d.retained[ix["D"]] == s["D"] + s["L"]
    assert d.retained[ix["G"]] == s["G"] + s["J"]
    assert d.retained[ix["R"]] == sum(sizes) == d.reachable_bytes
    assert d.retained[ix["I"]] == s["I"]  # I is reached from F, G, J and K
    start, kids = d.children()
    assert sorted(LT_NODES[k] for k in kids[start[ix["C"]]:start[ix["C"] + 1]]) == ["F", "G"]
    assert [LT_NODES[v] for v in d.dominators_of(ix["J"])] == ["J", "G", "C", "R"]


def test_why_paths_and_garbage_by_hand():
    #   0 -> 1 -> 3 -> 4      roots 0 and 2; 5 -> 4 with 5 unreachable;
    #   2 ------> 3           4 -> 6 -> 4 (6 only reachable through 4)
    g = csr([10, 20, 30, 40, 50, 60, 70], [(0, 1), (1, 3), (3, 4), (2, 3), (5, 4), (4, 6), (6, 4)],
            [0, 2])
    w = why_paths(g, 4)
    assert w.paths == [[2, 3, 4]]  # the shorter one: roots first reached at distance 0
    assert w.referrers == 3 and w.total == 1  # 3 explains it; 5 is dead, 6 only via 4
    w3 = why_paths(g, 3)
    assert w3.paths == [[2, 3], [0, 1, 3]] and w3.total == 2
    assert why_paths(g, 0).paths == [[0]]
    assert why_paths(g, 5).paths == [] and not why_paths(g, 5).reachable
    assert garbage(g) == [5]
    d = dominators(g)
    assert d.idom[4] == 3 and d.idom[3] == len(g) and d.idom[5] == -1
    assert d.retained[3] == 40 + 50 + 70 and d.retained[5] == 60
    assert retained_by(g, [3]).bytes == 160
    assert retained_by(g, [1, 2]).bytes == 20 + 30 + 40 + 50 + 70


# ------------------------------------------------------------------ brute force

def _reach(n, adj, roots, removed=None):
    seen = set()
    todo = [r for r in roots if r != removed]
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        todo.extend(w for w in adj[v] if w != removed and w not in seen)
    return seen


def _dist(n, adj, roots):
    dist = {r: 0 for r in roots}
    q = deque(sorted(set(roots)))
    while q:
        v = q.popleft()
        for w in adj[v]:
            if w not in dist:
                dist[w] = dist[v] + 1
                q.append(w)
    return dist


graphs = st.integers(1, 14).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.lists(st.integers(0, n - 1), min_size=1, max_size=3),
    st.lists(st.integers(0, 100), min_size=n, max_size=n)))


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_dominators_match_the_definition(case):
    n, edges, roots, sizes = case
    g = csr(sizes, edges, roots)
    adj = {v: list(g.successors(v)) for v in range(n)}
    d = dominators(g)
    live = _reach(n, adj, roots)
    for v in range(n):
        assert d.is_reachable(v) == (v in live)
    for b in live:
        # strict dominators of b by definition: removing a kills b
        doms = {a for a in live if a != b and b not in _reach(n, adj, roots, removed=a)}
        chain = set(d.dominators_of(b)) - {b}
        assert chain == doms
        killed = live - _reach(n, adj, roots, removed=b)
        assert d.retained[b] == sum(sizes[x] for x in killed)
        assert retained_by(g, [b]).bytes == d.retained[b]
    assert d.reachable_bytes == sum(sizes[v] for v in live)
    assert garbage(g) == sorted(set(range(n)) - live, key=lambda v: (-sizes[v], v))


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_why_paths_are_real_shortest_paths(case):
    n, edges, roots, sizes = case
    g = csr(sizes, edges, roots)
    adj = {v: set(g.successors(v)) for v in range(n)}
    dist = _dist(n, adj, roots)
    tree, preds = bfs(g), predecessors(g)
    for t in range(n):
        w = why_paths(g, t, limit=100, tree=tree, preds=preds)
        assert w.reachable == (t in dist)
        if t not in dist:
            continue
        assert len(w.paths[0]) - 1 == dist[t]  # the first is a shortest path overall
        for p in w.paths:
            assert p[0] in roots and p[-1] == t and len(set(p)) == len(p)
            assert all(b in adj[a] for a, b in zip(p, p[1:], strict=False))
            if len(p) > 1:  # shortest through its last referrer
                assert len(p) - 2 == dist[p[-2]]
        assert len({tuple(p[-2:]) for p in w.paths}) == len(w.paths)  # one per referrer


def test_scales_linearly_on_a_long_chain_and_a_wide_fan():
    # 200,000-node chain: no recursion limit, no quadratic path compression
    n = 200_000
    g = csr([1] * n, [(i, i + 1) for i in range(n - 1)], [0])
    d = dominators(g)
    assert d.retained[0] == n and d.retained[n - 1] == 1 and d.idom[n - 1] == n - 2
    assert len(why_paths(g, n - 1).paths[0]) == n
    # every node calls every later one among 600: 180,000 edges, idom of each is 0's chain
    m = 600
    g2 = csr([1] * m, [(a, b) for a in range(m) for b in range(a + 1, m)], [0])
    d2 = dominators(g2)
    assert all(d2.idom[v] == 0 for v in range(1, m))
