"""The item graph of a module, built once per parsed module: the one IR that `inspect`
(export roots, memory.grow sites), the runtime's static OOM checks (the call closure),
the allocator code cost and every deep size analysis read.

The graph itself (items, sizes, edges, roots) is `auditor.wasm.analysis.items`; this
module is where the wasm stage gets it. `item_graph(mod)` builds the call graph
(`full=False`: calls, `call_indirect` through tables and element segments, the other
table instructions' tables, `ref.func`, tags, `memory.grow`, global initialisers, exports, start) and keeps it in
`mod.derived`; `item_graph(mod, full=True)` adds the edges only the size analyses need
(`global.get`/`global.set`, code -> data and data -> data references), building them
once and replacing the call-graph-only version, which a later `item_graph(mod)` call
then returns too (a full graph answers every call-graph question the same way).
"""

from __future__ import annotations

from auditor.wasm.analysis.items import Edge, ItemGraph, Kind, Root, build_item_graph
from auditor.wasm.model import Module
from auditor.wasm.reader import gc_paused

__all__ = ["Edge", "ItemGraph", "Kind", "Root", "item_graph"]

_KEY = "item_graph"


@gc_paused()
def item_graph(mod: Module, *, full: bool = False) -> ItemGraph:
    """The module's item graph, built on first use and kept on the module.

    Raises MalformedModule when a function body does not decode."""
    graph = mod.derived.get(_KEY)
    if isinstance(graph, ItemGraph) and (graph.full or not full):
        return graph
    graph = build_item_graph(mod, full=full)
    mod.derived[_KEY] = graph
    return graph
