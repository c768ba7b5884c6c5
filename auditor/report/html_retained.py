"""The HTML report's retained-size treemap: the module's dominator tree, bounded.

Each box is an item of the item graph (README "Deep size analysis"); its value is the
item's retained size (its own bytes plus everything only it keeps alive) and its children
are the items it immediately dominates, so a parent's value is its shallow size plus its
children's values: plotly's `branchvalues: "total"` holds exactly, and the gap a parent
leaves around its children is its own bytes. The root is the file (its value the file
size: items add up to it); its children are the items only the module's roots keep (what
`auditor dominators` lists at depth 0) and one "unreachable" box holding what no root
reaches (`auditor garbage`).

Bounded for big modules: the tree is expanded largest retained size first, at most
`CHILDREN` children per box (the rest summed in one "N more items" box) and `BOXES` boxes
in all; a box not expanded is a leaf worth its retained size. So a 35k-function module
gets the same page size as a small one, and the largest subtrees get the detail.

The module comes from the result (`inspect --format html` has it parsed) or from the
path the report names (a scan variant's `wasm_path` in the cache, an inspect report's
`file`), checked against the report first: the record's `sha256` (inspect records carry
it; an older scan variant's own `sha256` when no shipping stage ran), and for every report
the file size, the section layout and each body's size. A file that is missing,
unreadable, malformed or changed gives one line (on stderr and in the page), never a
traceback, and the page is drawn without the retained view.
"""

from __future__ import annotations

import hashlib
import heapq
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.report.escape import visible
from auditor.report.table import middle
from auditor.wasm.analysis.dominators import Dominators, dominators
from auditor.wasm.analysis.items import KIND_NAMES, ItemGraph
from auditor.wasm.graph import item_graph
from auditor.wasm.model import Module
from auditor.wasm.parse import parse_module

CHILDREN = 30  # boxes per parent (the rest: one "N more items" box)
BOXES = 1500  # boxes per treemap (a 35k-function module draws as fast as a small one)
LABEL = 120  # characters of a name shown in a box (cut in the middle; the hover has the same)

__all__ = ["BOXES", "CHILDREN", "module_for", "retained_treemap", "retained_view"]


# --------------------------------------------------------------------------- the module


def _matches(mod: Module, wasm: dict[str, Any]) -> str | None:
    """Why the parsed module is not the one `wasm` (an auditor.inspect/1 record) describes,
    or None when it is: file size, sections (offset, size) and every body's size."""
    if isinstance(wasm.get("bytes"), int) and wasm["bytes"] != len(mod.data):
        return f"{len(mod.data):,} bytes, the report says {wasm['bytes']:,}"
    secs = wasm.get("sections")
    if isinstance(secs, list) and [(s.get("offset"), s.get("size")) for s in secs if isinstance(s, dict)] != [
            (s.offset, s.size) for s in mod.sections]:
        return "its sections differ from the report's"
    funcs = wasm.get("functions")
    if isinstance(funcs, list):
        have = {f.index: f.body_size for f in mod.functions}
        want = {f.get("index"): f.get("size") for f in funcs if isinstance(f, dict)}
        if have != want:
            return "its function bodies differ from the report's"
    return None


def _candidates(path: str, base: Path | None) -> list[Path]:
    p = Path(path)
    out = [p]
    if not p.is_absolute() and base is not None:
        out.append(base / p)
    return out


def module_for(path: str | None, wasm: dict[str, Any], *, sha256: str | None = None,
               base: Path | None = None) -> tuple[Module | None, str | None]:
    """The module a report describes, read from `path` and checked against the report:
    (module, None), or (None, one line saying why not). The check: the record's own
    `sha256` (inspect records since the retained treemap), else `sha256` (a scan
    variant's, of its cargo output), and always the size, sections and body sizes. A
    relative path is tried as given (the working directory), then next to the report
    file (`base`)."""
    if not path:
        return None, "the report names no .wasm file"
    sha256 = wasm.get("sha256") if isinstance(wasm.get("sha256"), str) else sha256
    for p in _candidates(path, base):
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue
        except IsADirectoryError:
            return None, f"{path}: is a directory, not a .wasm file"
        except OSError as e:
            return None, f"{path}: cannot read: {e.strerror}"
        if sha256:
            now = hashlib.sha256(data).hexdigest()
            if now != sha256:
                return None, (f"{p} changed since the report was made (sha256 {now[:12]}…, "
                              f"the report has {sha256[:12]}…)")
        try:
            mod = parse_module(data, str(p), full_refs=True)
        except AuditorError as e:
            return None, f"{p}: {e.what}"
        why = _matches(mod, wasm)
        if why:
            return None, f"{p} changed since the report was made ({why})"
        return mod, None
    return None, f"{path}: no such file (the module the report describes)"


# --------------------------------------------------------------------------- the tree


def retained_view(mod: Module, title: str, *, crates: dict[int, str] | None = None, children: int = CHILDREN,
                  boxes: int = BOXES) -> tuple[dict[str, Any], dict[int, int]]:
    """(treemap, retained size of every function by function index) of `mod`: the full
    item graph and its dominator tree, computed once for both."""
    g = item_graph(mod, full=True)
    d = dominators(g)
    by_function = {f.index: int(d.retained[f.index]) for f in mod.functions}  # a function's item id is its index
    return retained_treemap(g, d, title, crates=crates, children=children, boxes=boxes), by_function


def retained_treemap(g: ItemGraph, d: Dominators, title: str, *, crates: dict[int, str] | None = None,
                     children: int = CHILDREN, boxes: int = BOXES) -> dict[str, Any]:
    """Plotly treemap data for the dominator tree `d` of `g` (see the module docstring):
    `ids`, `labels`, `parents`, `values` (retained bytes), `shallow`, `kinds` (hover
    text), and `items` (items in the module), `shown` (item boxes drawn), `bytes` (the
    file size), `unreachable` ({items, bytes}). `crates`: function index -> crate, for
    the hover."""
    n = len(g)
    cstart, kids = d.children()
    retained, sizes = d.retained, g.sizes
    dead = [i for i in range(n) if not d.is_reachable(i)]
    dead_bytes = sum(sizes[i] for i in dead)
    total = int(d.reachable_bytes) + dead_bytes
    root, garbage = n, n + 1  # the super-root (the file) and the "unreachable" group

    def value(v: int) -> int:
        return total if v == root else dead_bytes if v == garbage else int(retained[v])

    def own(v: int) -> int:
        return dead_bytes if v == garbage else int(sizes[v])

    def children_of(v: int) -> list[int]:
        if v == garbage:
            out = list(dead)
        else:
            out = list(kids[cstart[v]:cstart[v + 1]])
            if v == root and dead:
                out.append(garbage)
        out.sort(key=lambda c: (-value(c), c))
        return out

    def box_id(v: int) -> str:
        return "root" if v == root else "unreachable" if v == garbage else f"i{v}"

    ids, parents, values = [box_id(root)], [""], [total]
    labels, shallow, kinds = [visible(middle(title, LABEL))], [0], ["the module file"]
    shown = 0
    heap = [(-total, root)]
    budget = boxes - 1
    while heap and budget >= 1:
        _, v = heapq.heappop(heap)
        cs = children_of(v)
        if len(cs) <= min(children, budget):
            show, rest = cs, []
        elif budget >= 2:
            k = min(children, budget - 1)
            show, rest = cs[:k], cs[k:]
        else:
            break
        pid = box_id(v)
        for c in show:
            ids.append(box_id(c))
            parents.append(pid)
            values.append(value(c))
            shallow.append(own(c))
            if c == garbage:
                labels.append(f"unreachable: {len(dead):,} items")
                kinds.append("what no root reaches (auditor garbage)")
                heapq.heappush(heap, (-value(c), c))
                continue
            shown += 1
            labels.append(visible(middle(g.label(c), LABEL)))
            kind = KIND_NAMES[g.kind(c)]
            crate = (crates or {}).get(g.index(c)) if kind == "function" else None
            kinds.append(f"{kind} · crate {visible(middle(crate, LABEL))}" if crate else kind)
            if d.is_reachable(c) and cstart[c + 1] > cstart[c]:
                heapq.heappush(heap, (-value(c), c))
        budget -= len(show)
        if rest:
            ids.append(f"more:{pid}")
            parents.append(pid)
            values.append(sum(value(c) for c in rest))
            labels.append(f"{len(rest):,} more items")
            shallow.append(sum(own(c) for c in rest))
            kinds.append("the smaller items here, together")
            budget -= 1
    return {"ids": ids, "labels": labels, "parents": parents, "values": values, "shallow": shallow, "kinds": kinds,
            "items": n, "shown": shown, "bytes": total, "unreachable": {"items": len(dead), "bytes": dead_bytes}}
