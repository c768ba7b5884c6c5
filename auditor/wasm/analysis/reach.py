"""Reachability questions: why is this item here (shortest paths from the roots), and
what is here for no reason (garbage: unreachable from every root).

Why shortest paths and not twiggy's listing of every path: the number of simple paths
grows exponentially with the call graph's fan-in, which is how twiggy `paths` reached
10 GB on a 2.3 MB module (AlexEne/twiggy#500). One breadth-first search from all roots
gives every node its distance and a parent on a shortest path, in O(nodes + edges);
each path printed is then a walk up that parent array. For an item we print one
shortest path through each of its direct referrers (callers, tables, exports…) — the
answer to "who keeps it, and by what chain" — shortest first, bounded by `limit`.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.wasm.analysis.core import Graph, reachable

__all__ = ["BFS", "bfs", "WhyPaths", "referrers", "why_paths", "garbage"]


@dataclass
class BFS:
    """Distance from the nearest root (-1: unreachable) and a parent on a shortest path
    (-1 for roots and unreachable nodes). Roots are searched in ascending node order,
    so ties go to the lowest-numbered root."""

    dist: array
    parent: array

    def chain(self, v: int) -> list[int]:
        """Root … v along parents (v must be reachable)."""
        out = [v]
        parent = self.parent
        while parent[v] >= 0:
            v = parent[v]
            out.append(v)
        out.reverse()
        return out


def bfs(g: Graph, native: bool | None = None) -> BFS:
    """Breadth-first search from every root: by the compiled graphcore.c for big graphs
    (`native`: True/False forces it), else in Python (the reference)."""
    if native is not False:
        from auditor.wasm.native import graph as native_graph

        if native or native_graph.wanted(len(g) + len(g.targets)):
            out = native_graph.bfs(g)
            if out is not None:
                return BFS(*out)
    n = len(g)
    start, succ = g.starts, g.targets
    dist = array("i", [-1]) * n
    parent = array("i", [-1]) * n
    frontier = []
    for r in sorted(set(g.roots)):
        dist[r] = 0
        frontier.append(r)
    d = 0
    while frontier:
        d += 1
        nxt = []
        for v in frontier:
            for k in range(start[v], start[v + 1]):
                w = succ[k]
                if dist[w] < 0:
                    dist[w] = d
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    return BFS(dist, parent)


@dataclass
class WhyPaths:
    target: int
    paths: list[list[int]]  # root … target, shortest first, at most `limit`
    total: int  # paths there were before the limit (one per live referrer, +1 if a root)
    referrers: int  # direct predecessors of the target, reachable or not

    @property
    def reachable(self) -> bool:
        return self.total > 0


def referrers(g: Graph, target: int) -> list[int]:
    """The direct predecessors of `target`, sorted, without building the reversed graph:
    the edges into it are found by a byte search of the targets array (C speed), for
    the few items a `paths` query asks about."""
    targets, starts = g.targets, g.starts
    size = getattr(targets, "itemsize", 0)
    if size not in (4, 8) or target < 0:
        return sorted({v for v in range(len(g)) for k in range(starts[v], starts[v + 1]) if targets[k] == target})
    raw = targets.tobytes()  # type: ignore[attr-defined]
    needle = target.to_bytes(size, sys.byteorder)
    out: set[int] = set()
    at = raw.find(needle)
    while at >= 0:
        if at % size == 0:
            out.add(bisect_right(starts, at // size) - 1)
            at = raw.find(needle, at + size)
        else:
            at = raw.find(needle, at + 1)
    return sorted(out)


def why_paths(g: Graph, target: int, limit: int = 10, tree: BFS | None = None,
              preds: tuple[Sequence[int], Sequence[int]] | None = None) -> WhyPaths:
    """Shortest root paths to `target`, one through each direct referrer.

    A referrer whose own shortest path already passes through the target (it is only
    reachable because of the target, e.g. a callee that calls back) explains nothing
    and is skipped. Pass `tree` (and `preds`, the reversed graph, if built) to answer
    many targets from one search.
    """
    tree = tree or bfs(g)
    candidates: list[list[int]] = []
    if tree.dist[target] == 0:
        candidates.append([target])
    if preds is not None:
        pstart, pred = preds
        refs = sorted(set(pred[pstart[target]:pstart[target + 1]]))
    else:
        refs = referrers(g, target)
    for p in refs:
        if tree.dist[p] < 0:
            continue
        chain = tree.chain(p)
        if target in chain:
            continue
        chain.append(target)
        candidates.append(chain)
    candidates.sort(key=lambda c: (len(c), c))
    return WhyPaths(target, candidates[:max(limit, 0)], len(candidates), len(refs))


def garbage(g: Graph) -> list[int]:
    """Nodes no root reaches, largest first (then by node index)."""
    seen = reachable(g)
    sizes = g.sizes
    out = [v for v in range(len(g)) if not seen[v]]
    out.sort(key=sizes.__getitem__, reverse=True)  # largest first; stable: ties stay in node order
    return out
