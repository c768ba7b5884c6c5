"""The HTML page's retained-size view, computed here and handed to the report
(auditor.records.retained): the module's dominator tree, bounded.

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

The module is the one the flow has parsed (`inspect --format html`), or it is read from
the path the report names (a scan variant's `wasm_path` in the cache, an inspect report's
`file`), checked against the report first: the record's `sha256` (inspect records carry
it; an older scan variant's own `sha256` when no shipping stage ran), and for every report
the file size, the section layout and each body's size. A file that is missing,
unreadable, malformed or changed gives one line (`RetainedView.why`: the page says it and
the renderer logs it), never a traceback, and the page is drawn without the retained view.

Each flow whose result can be drawn as HTML gives it a `retained_view` source made here
(`of_module`, `of_record`); the view is computed when the HTML renderer first asks, so no
other format pays for reading and analysing the module.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import AuditorError
from auditor.records.retained import BOXES, CHILDREN, RetainedTree, RetainedView, Role, shown_variant

if TYPE_CHECKING:  # the readers are imported when a view is computed: a flow pays only when HTML asks
    from auditor.wasm.analysis.dominators import Dominators
    from auditor.wasm.analysis.items import ItemGraph
    from auditor.wasm.model import Module

__all__ = ["Later", "module_for", "of_module", "of_record", "retained_tree", "view_of_module", "view_of_record"]


class Later:
    """A `RetainedSource`: `compute` runs on the first call, its view is kept."""

    def __init__(self, compute: Callable[[], RetainedView]) -> None:
        self._compute: Callable[[], RetainedView] | None = compute
        self._view: RetainedView | None = None

    def __call__(self) -> RetainedView:
        if self._view is None:
            assert self._compute is not None
            self._view, self._compute = self._compute(), None
        return self._view


def of_module(mod: Module, wasm: Mapping[str, Any]) -> Later:
    """The view of a module the flow has parsed (`wasm`: its auditor.inspect/1 record)."""
    return Later(lambda: view_of_module(mod, wasm))


def of_record(kind: str, record: Callable[[], Mapping[str, Any]], *, base: Path | None = None) -> Later:
    """The view of the module a scan or inspect record describes, read from the file it
    names (`record`: called when the view is first asked for, so a scan's recommendation
    is in). `base`: the saved report's directory (a relative path is also tried there)."""
    return Later(lambda: view_of_record(kind, record(), base=base))


# --------------------------------------------------------------------------- the module


def _matches(mod: Module, wasm: Mapping[str, Any]) -> str | None:
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


def module_for(path: str | None, wasm: Mapping[str, Any], *, sha256: str | None = None,
               base: Path | None = None) -> tuple[Module | None, str | None]:
    """The module a report describes, read from `path` and checked against the report:
    (module, None), or (None, one line saying why not). The check: the record's own
    `sha256` (inspect records since the retained treemap), else `sha256` (a scan
    variant's, of its cargo output), and always the size, sections and body sizes. A
    relative path is tried as given (the working directory), then next to the report
    file (`base`)."""
    from auditor.wasm.parse import parse_module

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


# --------------------------------------------------------------------------- the view


def view_of_record(kind: str, record: Mapping[str, Any], *, base: Path | None = None) -> RetainedView:
    """The view of the module a record describes: a scan's shown variant (its `wasm_path`;
    its cargo output's `sha256` only when `wasm` describes that stage), an inspect
    report's `file`."""
    if kind == "scan":
        pick = shown_variant(record)
        if pick is None:
            return RetainedView()
        wasm, path = pick["wasm"], pick.get("wasm_path")
        # a later shipping stage (bindgen, wasm-opt) is not the file `sha256` is of
        sha = pick.get("sha256") if pick.get("stage") in (None, "cargo") else None
    elif kind == "inspect" and record.get("functions") is not None:
        wasm, path, sha = record, record.get("file"), None
    else:
        return RetainedView()
    mod, why = module_for(path, wasm, sha256=sha, base=base)
    if mod is None:
        return RetainedView(why=why)
    return view_of_module(mod, wasm)


def view_of_module(mod: Module, wasm: Mapping[str, Any], *, children: int = CHILDREN,
                   boxes: int = BOXES) -> RetainedView:
    """The bounded tree and every function's retained size of `mod`: the full item graph
    and its dominator tree, computed once for both. `wasm` (the module's record) names
    each function's crate."""
    from auditor.wasm.analysis.dominators import dominators
    from auditor.wasm.graph import item_graph

    crates = {int(f["index"]): str(f["crate"]) for f in wasm.get("functions", []) or []
              if isinstance(f, dict) and isinstance(f.get("index"), int) and f.get("crate")}
    g = item_graph(mod, full=True)
    d = dominators(g)
    by_function = {f.index: int(d.retained[f.index]) for f in mod.functions}  # a function's item id is its index
    return RetainedView(retained_tree(g, d, crates=crates, children=children, boxes=boxes), by_function)


def retained_tree(g: ItemGraph, d: Dominators, *, crates: dict[int, str] | None = None, children: int = CHILDREN,
                  boxes: int = BOXES) -> RetainedTree:
    """The dominator tree `d` of `g`, bounded (see the module docstring). `crates`:
    function index -> crate."""
    from auditor.wasm.analysis.items import KIND_NAMES

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

    ids, parents, values, shallow = [box_id(root)], [""], [total], [0]
    roles: list[Role] = ["file"]
    names, kinds, counts = [""], [""], [0]
    crate_of: list[str | None] = [None]
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
                roles.append("unreachable")
                names.append("")
                kinds.append("")
                crate_of.append(None)
                counts.append(len(dead))
                heapq.heappush(heap, (-value(c), c))
                continue
            shown += 1
            kind = KIND_NAMES[g.kind(c)]
            roles.append("item")
            names.append(g.label(c))
            kinds.append(kind)
            crate_of.append((crates or {}).get(g.index(c)) if kind == "function" else None)
            counts.append(0)
            if d.is_reachable(c) and cstart[c + 1] > cstart[c]:
                heapq.heappush(heap, (-value(c), c))
        budget -= len(show)
        if rest:
            ids.append(f"more:{pid}")
            parents.append(pid)
            values.append(sum(value(c) for c in rest))
            shallow.append(sum(own(c) for c in rest))
            roles.append("more")
            names.append("")
            kinds.append("")
            crate_of.append(None)
            counts.append(len(rest))
            budget -= 1
    return {"ids": ids, "parents": parents, "values": values, "shallow": shallow, "roles": roles, "names": names,
            "kinds": kinds, "crates": crate_of, "counts": counts, "items": n, "shown": shown, "bytes": total,
            "unreachable": {"items": len(dead), "bytes": dead_bytes}}
