"""Dominator tree and retained sizes: what disappears if an item goes.

Item A dominates B when every path from a root to B passes through A; removing A makes
B dead, so A's *retained size* is its own size plus the retained sizes of the items it
immediately dominates (twiggy's definition). All roots hang off one virtual super-root,
so an item reached from two exports is dominated by neither.

The algorithm is Lengauer-Tarjan's simple version (path compression, O(E log V)) on
int arrays indexed by DFS number, iterative throughout (no recursion limit on deep call
chains). Cooper-Harvey-Kennedy is shorter but quadratic on some graph shapes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from auditor.wasm.analysis.core import Graph, reachable
from auditor.wasm.reader import gc_paused

__all__ = ["Dominators", "dominators", "dominators_py", "retained_by", "RetainedBy"]

UNREACHABLE = -1


@dataclass
class Dominators:
    """Immediate dominators and retained sizes of every node.

    `idom[v]` is a node, `root` (= len(graph), the super-root) for nodes only the
    super-root dominates, or -1 for unreachable nodes. `retained[v]` of an unreachable
    node is its shallow size (it is in no tree), as in twiggy. `order` lists reachable
    nodes in DFS preorder (a dominator always comes before the nodes it dominates).
    """

    idom: array
    retained: array
    order: array
    root: int
    reachable_bytes: int

    def is_reachable(self, v: int) -> bool:
        return self.idom[v] != UNREACHABLE

    def children(self) -> tuple[array, array]:
        """The dominator tree as CSR (start, child) over nodes 0..root; the super-root's
        children are at start[root]:start[root + 1]. Children are in DFS preorder."""
        n = self.root
        counts = array("i", [0]) * (n + 2)
        for v in self.order:
            counts[self.idom[v] + 1] += 1
        for v in range(n + 1):
            counts[v + 1] += counts[v]
        fill = array("i", counts)
        kids = array("i", [0]) * len(self.order)
        for v in self.order:
            p = self.idom[v]
            kids[fill[p]] = v
            fill[p] += 1
        return counts, kids

    def dominators_of(self, v: int) -> list[int]:
        """v's dominator chain up to (not including) the super-root: [v, idom(v), …]."""
        out = []
        while v != self.root and v != UNREACHABLE:
            out.append(v)
            v = self.idom[v]
        return out


def dominators(g: Graph, *, native: bool | None = None) -> Dominators:
    """The dominator tree of `g`: by the compiled graphcore.c for graphs big enough to pay
    for it (auditor/wasm/native/graph.py; the same arrays), else `dominators_py`.
    `native`: True/False = that one whatever the size (tests)."""
    if native is not False:
        from auditor.wasm.native import graph as native_graph

        if native or native_graph.wanted(len(g) + len(g.targets)):
            d = native_graph.dominators(g)
            if d is not None:
                return Dominators(d.idom, d.retained, d.order, len(g), d.reachable_bytes)
    return dominators_py(g)


@gc_paused()
def dominators_py(g: Graph) -> Dominators:
    """Lengauer-Tarjan in Python (the reference graphcore.c's `dominators` follows)."""
    n = len(g)
    start, succ, sizes = g.starts, g.targets, g.sizes
    # ---- DFS preorder from the super-root (DFS number 0), iteratively; each edge it
    # crosses records its source's DFS number as a predecessor of its target (only
    # reachable nodes have any), so no second pass builds the predecessor lists.
    dfnum = array("i", [-1]) * n
    vertex = [n]  # DFS number -> node (0: the super-root)
    parent_l = [-1]  # DFS number -> parent's DFS number
    preds_of: list[list[int] | None] = [None] * n  # node -> DFS numbers of its predecessors
    for r in g.roots:
        pl = preds_of[r]
        if pl is None:
            preds_of[r] = [0]
        elif 0 not in pl:
            pl.append(0)
        if dfnum[r] >= 0:
            continue
        dfnum[r] = len(vertex)
        vertex.append(r)
        parent_l.append(0)
        stack = [(dfnum[r], iter(succ[start[r]:start[r + 1]]))]
        while stack:
            num_v, it = stack[-1]
            for w in it:  # resumes where this node's scan stopped
                pl = preds_of[w]
                if pl is None:
                    preds_of[w] = [num_v]
                else:
                    pl.append(num_v)
                if dfnum[w] < 0:
                    num_w = dfnum[w] = len(vertex)
                    vertex.append(w)
                    parent_l.append(num_v)
                    stack.append((num_w, iter(succ[start[w]:start[w + 1]])))
                    break
            else:
                stack.pop()
    count = len(vertex)
    no_preds: list[int] = []
    preds = [preds_of[vertex[i]] or no_preds for i in range(1, count)]
    preds.insert(0, no_preds)
    del preds_of
    # ---- Lengauer-Tarjan, simple version. A predecessor numbered below i is not yet
    # linked into the forest, so its evaluation is itself (semi = its own number): the
    # common case costs no call.
    semi = list(range(count))
    label = list(range(count))
    ancestor = [-1] * count
    idom = [0] * count
    bucket_head = [-1] * count
    bucket_next = [-1] * count
    path: list[int] = []

    def evaluate(x: int) -> int:
        # compress the forest path from x up to its tree root, top-down
        y = x
        while ancestor[ancestor[y]] >= 0:
            path.append(y)
            y = ancestor[y]
        while path:
            y = path.pop()
            a = ancestor[y]
            if semi[label[a]] < semi[label[y]]:
                label[y] = label[a]
            ancestor[y] = ancestor[a]
        return label[x]

    for i in range(count - 1, 0, -1):
        s = i
        for v in preds[i]:
            if v < i:
                if v < s:
                    s = v
            elif ancestor[v] < 0:  # unreachable in practice: every v > i is linked
                if semi[v] < s:
                    s = semi[v]
            else:
                if ancestor[ancestor[v]] >= 0:
                    u = evaluate(v)
                else:
                    u = label[v]
                if semi[u] < s:
                    s = semi[u]
        semi[i] = s
        bucket_next[i] = bucket_head[s]
        bucket_head[s] = i
        p = parent_l[i]
        ancestor[i] = p
        v = bucket_head[p]
        bucket_head[p] = -1
        while v >= 0:
            if ancestor[v] < 0:
                u = v
            elif ancestor[ancestor[v]] >= 0:
                u = evaluate(v)
            else:
                u = label[v]
            idom[v] = u if semi[u] < semi[v] else p
            v = bucket_next[v]
    for i in range(1, count):
        if idom[i] != semi[i]:
            idom[i] = idom[idom[i]]
    # ---- back to node space; retained sizes bottom-up in reverse preorder.
    ret = [0] * count
    for i in range(1, count):
        ret[i] = sizes[vertex[i]]
    for i in range(count - 1, 0, -1):
        ret[idom[i]] += ret[i]
    node_idom = array("i", [UNREACHABLE]) * n
    retained = array("q", sizes)
    for i in range(1, count):
        v = vertex[i]
        node_idom[v] = vertex[idom[i]]
        retained[v] = ret[i]
    return Dominators(node_idom, retained, array("i", vertex[1:]), n, ret[0] if count else 0)


@dataclass
class RetainedBy:
    """Bytes a set of items costs: the items plus everything only they keep alive."""

    items: list[int]  # the set itself
    only_through: list[int]  # nodes dead once the set is gone (not in the set)
    bytes: int  # sizes of both lists together

    def to_json(self) -> dict:
        return {"items": len(self.items), "only_through": len(self.only_through), "bytes": self.bytes}


def retained_by(g: Graph, items: Iterable[int]) -> RetainedBy:
    """The bytes of `items` plus what is reachable only through them.

    It is the retained size of the set as if it were one node: a node counts when the
    set reaches it and no root reaches it while avoiding the set. Linear time; the
    answer for a single item equals its dominator-tree retained size.
    """
    chosen = sorted(set(items))
    through = reachable(g, roots=chosen)
    without = reachable(g, avoid=chosen)
    chosen_set = set(chosen)
    only = [v for v in range(len(g)) if through[v] and not without[v] and v not in chosen_set]
    sizes = g.sizes
    total = sum(sizes[v] for v in chosen) + sum(sizes[v] for v in only)
    return RetainedBy(chosen, only, total)
