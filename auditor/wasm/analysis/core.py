"""The graph interface every analysis reads, and a compact implementation of it.

Why CSR arrays and not dicts of sets: a 45 MB module has ~40,000 items and ~250,000
edges; Python sets cost ~200 bytes per edge, `array('i')` costs 4. twiggy's `paths`
keeps BTreeMaps of every edge and enumerates every simple path (AlexEne/twiggy#500:
more than 10 GB on a 2.3 MB module); here every analysis is linear in nodes + edges
and keeps only int arrays of that size.

Nodes are 0..n-1. The analyses add a virtual super-root (index n) whose successors
are the roots, so several exports behave as one entry point.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Graph", "CSRGraph", "csr", "predecessors", "reachable"]


@runtime_checkable
class Graph(Protocol):
    """What an analysis needs: node count (`len`), sizes, successors in CSR form, roots.

    `starts` has len + 1 entries; the successors of v are `targets[starts[v]:starts[v + 1]]`.
    The wasm stage's item graph (`auditor.wasm.graph.ItemGraph`) is one.
    """

    def __len__(self) -> int: ...

    @property
    def sizes(self) -> Sequence[int]: ...

    @property
    def starts(self) -> Sequence[int]: ...

    @property
    def targets(self) -> Sequence[int]: ...

    @property
    def roots(self) -> Sequence[int]: ...


class CSRGraph:
    """An immutable graph in compressed sparse row form (int arrays only)."""

    __slots__ = ("_n", "roots", "sizes", "starts", "targets")

    def __init__(self, sizes: Sequence[int], starts: Sequence[int], targets: Sequence[int],
                 roots: Sequence[int]):
        n = len(sizes)
        if len(starts) != n + 1 or starts[n] != len(targets):
            raise ValueError("starts must have n + 1 entries ending at len(targets)")
        self._n = n
        self.sizes = sizes
        self.starts = starts
        self.targets = targets
        self.roots = roots

    def __len__(self) -> int:
        return self._n

    def successors(self, v: int) -> Sequence[int]:
        return self.targets[self.starts[v]:self.starts[v + 1]]


def csr(sizes: Sequence[int], edges: Iterable[tuple[int, int]], roots: Iterable[int]) -> CSRGraph:
    """A CSRGraph from (from, to) pairs; duplicate edges and self-loops are dropped
    (neither changes reachability, dominators or shortest paths)."""
    n = len(sizes)
    per: list[list[int] | None] = [None] * n
    for a, b in edges:
        if not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"edge ({a}, {b}) outside 0..{n - 1}")
        if a == b:
            continue
        lst = per[a]
        if lst is None:
            per[a] = [b]
        else:
            lst.append(b)
    start = array("i", [0]) * (n + 1)
    out = array("i")
    for v in range(n):
        lst = per[v]
        if lst:
            out.extend(sorted(set(lst)))
            per[v] = None
        start[v + 1] = len(out)
    root_list = array("i", sorted(set(roots)))
    for r in root_list:
        if not 0 <= r < n:
            raise ValueError(f"root {r} outside 0..{n - 1}")
    return CSRGraph(array("q", sizes), start, out, root_list)


def predecessors(g: Graph) -> tuple[array, array]:
    """(pred_start, pred) in CSR form: the reversed edges, by a counting sort (O(E))."""
    n = len(g)
    start, succ = g.starts, g.targets
    counts = array("i", [0]) * (n + 1)
    for w in succ:
        counts[w + 1] += 1
    for v in range(n):
        counts[v + 1] += counts[v]
    pstart = array("i", counts)
    fill = array("i", counts)
    pred = array("i", [0]) * len(succ)
    for v in range(n):
        for k in range(start[v], start[v + 1]):
            w = succ[k]
            pred[fill[w]] = v
            fill[w] += 1
    return pstart, pred


def reachable(g: Graph, roots: Iterable[int] | None = None, avoid: Iterable[int] = (),
              native: bool | None = None) -> bytearray:
    """A 0/1 mark per node: reachable from `roots` (default: the graph's) without
    entering any node of `avoid`. From the graph's own roots with nothing avoided, big
    graphs are walked by the compiled graphcore.c (`native`: True/False forces it)."""
    if roots is None and not avoid and native is not False:
        from auditor.wasm.native import graph as native_graph

        if native or native_graph.wanted(len(g) + len(g.targets)):
            seen = native_graph.reachable(g)
            if seen is not None:
                return seen
    n = len(g)
    seen = bytearray(n)
    avoided = list(avoid)
    for a in avoided:
        seen[a] = 2
    start, succ = g.starts, g.targets
    todo = [r for r in (g.roots if roots is None else roots) if not seen[r]]
    for r in todo:
        seen[r] = 1
    while todo:
        v = todo.pop()
        for k in range(start[v], start[v + 1]):
            w = succ[k]
            if not seen[w]:
                seen[w] = 1
                todo.append(w)
    for a in avoided:
        seen[a] = 0
    return seen
