"""The item graph and the analyses over it, on fixtures/wat/item_graph.wat, whose every
item size, edge, dominator, retained size, path and garbage item is worked out by hand
in its header; and on every other module: item sizes add up to the file size."""

from __future__ import annotations

import pytest

from auditor.wasm.analysis.dominators import dominators, retained_by
from auditor.wasm.analysis.items import Edge, Kind, build_item_graph
from auditor.wasm.analysis.reach import garbage, why_paths
from auditor.wasm.parse import parse_module

import fixturelib


@pytest.fixture(scope="module")
def g():
    return build_item_graph(parse_module(fixturelib.wat("item_graph").read_bytes(), "item_graph.wasm"))


def ids(g):
    return {g.name(i): i for i in range(len(g))}


def test_every_item_and_its_size(g):
    sizes = {g.name(i): g.size(i) for i in range(len(g))}
    assert sizes == {
        "log": 10, "main": 13, "helper": 9, "shared": 7, "cb": 6, "init": 8, "dead": 10, "dead_child": 4,
        "table[0]": 3, "memory[0]": 2, "g": 5, "element[0]": 7, "data[0]": 11, "data[1]": 9,
        "custom section name": 96, 'export "main"': 7, 'export "mem"': 6,
        "preamble": 8, "type section": 10, "import section header": 3, "function section header": 3,
        "table section header": 3, "memory section header": 3, "global section header": 3,
        "export section header": 3, "start section": 3, "element section header": 3,
        "code section header": 3, "data section header": 3,
    }
    assert sum(sizes.values()) == 261


def test_edges(g):
    n = ids(g)
    edges = {(g.name(a), g.name(b), e.name) for a in range(len(g)) for b, e in g.edges(a)}
    assert edges == {
        ("main", "helper", "CALL"), ("main", "shared", "CALL"), ("main", "table[0]", "CALL_INDIRECT"),
        ("helper", "log", "CALL"), ("helper", "data[0]", "DATA_REF"), ("shared", "g", "GLOBAL_ACCESS"),
        ("cb", "shared", "CALL"), ("init", "g", "GLOBAL_ACCESS"), ("table[0]", "element[0]", "TABLE_ELEMENT"),
        ("element[0]", "cb", "ELEMENT_FUNCTION"), ("element[0]", "shared", "ELEMENT_FUNCTION"),
        ("dead", "dead_child", "CALL"), ("dead", "data[1]", "DATA_REF"),
        ('export "main"', "main", "EXPORT"), ('export "mem"', "memory[0]", "EXPORT"),
        ("start section", "init", "START"),
    }
    assert g.exported(Kind.FUNCTION) == {1: ["main"]} and g.exported(Kind.MEMORY) == {0: ["mem"]}
    assert n["main"] == 1 and g.kind(n["data[1]"]) == Kind.DATA and Edge.DATA_REF.name == "DATA_REF"


def test_dominators_and_retained_sizes(g):
    n = ids(g)
    d = dominators(g)
    root = len(g)
    idom = {name: (g.name(d.idom[i]) if d.idom[i] not in (root, -1) else d.idom[i]) for name, i in n.items()}
    assert idom["main"] == 'export "main"'
    assert idom["helper"] == idom["shared"] == idom["table[0]"] == "main"
    assert idom["log"] == idom["data[0]"] == "helper"
    assert idom["element[0]"] == "table[0]" and idom["cb"] == "element[0]"
    assert idom["init"] == "start section"
    assert idom["g"] == idom["memory[0]"] == root
    assert idom["dead"] == idom["dead_child"] == idom["data[1]"] == -1
    retained = {name: d.retained[i] for name, i in n.items()}
    assert retained["main"] == 66 and retained['export "main"'] == 73 and retained["helper"] == 30
    assert retained["table[0]"] == 16 and retained["element[0]"] == 13 and retained["start section"] == 11
    assert retained["g"] == 5 and retained['export "mem"'] == 6
    assert d.reachable_bytes == 261 - 23


def test_paths_and_garbage(g):
    n = ids(g)
    names = lambda p: [g.name(i) for i in p]  # noqa: E731
    w = why_paths(g, n["shared"])
    assert [names(p) for p in w.paths] == [
        ['export "main"', "main", "shared"],
        ['export "main"', "main", "table[0]", "element[0]", "shared"],
        ['export "main"', "main", "table[0]", "element[0]", "cb", "shared"],
    ]
    assert [names(p) for p in why_paths(g, n["g"]).paths] == [
        ["start section", "init", "g"], ['export "main"', "main", "shared", "g"]]
    assert not why_paths(g, n["dead_child"]).reachable
    assert sorted(names(garbage(g))) == ["data[1]", "dead", "dead_child"]
    assert retained_by(g, [n["main"]]).bytes == 66
    assert retained_by(g, [n["helper"], n["shared"]]).bytes == 9 + 10 + 11 + 7  # g stays: init reads it


def modules():
    """Built when the test runs, not at collection (a cargo build there would run in
    every session, `-m "not cargo"` too, and escape the `cargo` marker)."""
    yield from (pytest.param(lambda n=n: fixturelib.wat(n), id=n) for n in fixturelib.wat_names())
    yield pytest.param(lambda: fixturelib.build_crate("heavy"), id="heavy", marks=pytest.mark.cargo)
    yield pytest.param(lambda: fixturelib.build_crate("heavy", config=("profile.release.debug=true",)),
                       id="heavy-debug", marks=pytest.mark.cargo)
    yield pytest.param(lambda: fixturelib.clang_module("cxx_names.cpp"), id="cxx_names")


@pytest.mark.parametrize("make", list(modules()))
def test_sizes_add_up_to_the_file(make):
    path = make()
    data = path.read_bytes()
    g = build_item_graph(parse_module(data, str(path)))
    assert sum(g.sizes) == len(data)
    assert all(0 <= t < len(g) for t in g.targets)
