"""The item graph built straight from the parse pass's (opcode, value) pairs equals the
item graph built from a walk over the code.

`build_item_graph` reads the pairs `parse_module` kept (`ParsedRefs`) without making a
`refs.BodyRefs` per body (items._edges_from_parse, issue 12 speed); without them it
walks every body with `refs.code_references` (the regex walk, an independent reader of
the same bytes). Both must give the same edges, edge kinds, data addresses (order and
repeats), memory.grow offsets and data pointers: the call graph and the full graph of
every hand-written `.wat` fixture (wat2wasm), the full graph of two npm modules of
scripts/real_modules.sh (biome: Rust, 8,767 data segments; esbuild: Go).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auditor.wasm.analysis.items import build_item_graph
from auditor.wasm.parse import ParsedRefs, parse_module

import fixturelib
import refcache

REPO = Path(__file__).resolve().parent.parent


def graph_facts(g):
    return (list(g.starts), list(g.targets), list(g.edge_kinds), g.data_addresses, g.grow_offsets,
            list(g.data_pointers.items()), g.undecodable, list(g.sizes), list(g.roots))


def both_ways(data: bytes, name: str, full: bool, remember: bool = False):
    """(facts of the graph from the parse pass's pairs, facts of the graph from the walk).

    `remember`: the walk's facts come from tests/refcache.py when auditor's sources and
    the bytes are those it last ran on (the walk of the two npm modules took ~5 CPU-s a
    session); the graph from the pairs, the one under test, is always built."""
    mod = parse_module(data, name, full_refs=full)
    assert ParsedRefs.KEY in mod.derived
    bare = dataclasses.replace(mod, derived={k: v for k, v in mod.derived.items() if k != ParsedRefs.KEY})
    fast = build_item_graph(mod, full=full)
    assert ParsedRefs.KEY not in mod.derived  # taken, as code_references takes it

    def walk():
        return graph_facts(build_item_graph(bare, full=full))

    walked = refcache.cached("item-graph-walk", (refcache.digest(data), full), walk, [graph_facts],
                                     refcache.WASM_STAGE) if remember \
        else walk()
    return graph_facts(fast), walked


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("name", fixturelib.wat_names())
def test_wat_fixtures(name, full):
    fast, walked = both_ways(fixturelib.wat(name).read_bytes(), name, full)
    assert fast == walked


def test_real_modules():
    paths = list(fixturelib.real_modules())
    edges = 0
    # the full graph (the call graph's edges are a subset, read by the same loop) of the
    # Rust module with 8,767 data segments and of the Go one (the walk costs ~5 s each)
    for path in [p for p in paths if "biome" in p.name or "esbuild" in p.name]:
        fast, walked = both_ways(path.read_bytes(), path.name, True, remember=True)
        assert fast == walked, path.name
        edges += len(fast[1])
    assert edges > 300_000  # the modules were read, not empty
