"""The item graph (auditor.wasm.graph) on a hand-written module: every item, edge and root
computed by hand from the .wat below, sizes checked against wasm-objdump; the call graph
(`item_graph(mod)`) and the full graph (`full=True`) of one module."""

from __future__ import annotations

import subprocess
from pathlib import Path

from auditor.wasm.graph import Edge, Kind, Root, item_graph
from auditor.wasm.parse import parse_module

import fixturelib
from objdump import code_sizes
from objdump import sections as sections_of

WAT = r"""
(module
  (import "env" "g0" (global $g0 i32))
  (type $v (func))
  (table 2 funcref)
  (memory 1)
  (global $g1 (mut i32) (global.get $g0))
  (data (i32.const 16) "hello")
  (data "passive!")
  (elem (i32.const 0) $in_table)
  (elem declare func $taken)
  (func $root (export "root") call $a i32.const 0 call_indirect (type $v))
  (func $a call $b return_call $c)
  (func $b)
  (func $c (drop (ref.func $taken)))
  (func $in_table unreachable)
  (func $taken)
  (func $dead call $b)
  (export "mem" (memory 0))
  (start $b))
"""


def build(tmp_path: Path) -> Path:
    (tmp_path / "g.wat").write_text(WAT)
    out = tmp_path / "g.wasm"
    subprocess.run(["wat2wasm", "--enable-all", "--debug-names", str(tmp_path / "g.wat"), "-o", str(out)],
                   check=True)
    return out


def leb_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def test_items_edges_and_roots_hand_computed(tmp_path):
    path = build(tmp_path)
    mod = parse_module(path.read_bytes(), str(path))
    g = item_graph(mod)
    assert item_graph(mod) is g and not g.full  # built once per parsed module; the call graph
    sections = [kind for kind, _, _ in sections_of(path) if kind != "name"]  # standard sections
    # ids: functions 0-6 (= their index), table 7, memory 8, globals 9-10, elements 11-12,
    # data 13-14, "name" 15, exports 16-17, then the preamble and one item per section header
    assert [(k, g.count[k]) for k in Kind] == [(Kind.FUNCTION, 7), (Kind.TABLE, 1), (Kind.MEMORY, 1),
                                                (Kind.GLOBAL, 2), (Kind.TAG, 0), (Kind.ELEMENT, 2),
                                                (Kind.DATA, 2), (Kind.CUSTOM, 1), (Kind.EXPORT, 2),
                                                (Kind.SECTION, 1 + len(sections))]
    F = [g.id(Kind.FUNCTION, i) for i in range(7)]
    T, M = g.id(Kind.TABLE, 0), g.id(Kind.MEMORY, 0)
    G0, G1 = g.id(Kind.GLOBAL, 0), g.id(Kind.GLOBAL, 1)
    E0, E1 = g.id(Kind.ELEMENT, 0), g.id(Kind.ELEMENT, 1)
    D0, D1 = g.id(Kind.DATA, 0), g.id(Kind.DATA, 1)
    X0, X1 = g.id(Kind.EXPORT, 0), g.id(Kind.EXPORT, 1)
    assert F == list(range(7)) and (T, M, G0, G1, E0, E1, D0, D1, X0, X1) == tuple(range(7, 15)) + (16, 17)
    START = next(i for i in range(len(g)) if g.kind(i) == Kind.SECTION and g.name(i) == "start section")
    edges = {i: sorted(g.edges(i)) for i in range(len(g)) if list(g.edges(i))}
    assert edges == {
        F[0]: [(F[1], Edge.CALL), (T, Edge.CALL_INDIRECT)],
        F[1]: [(F[2], Edge.CALL), (F[3], Edge.CALL)],  # call $b, return_call $c
        F[3]: [(F[5], Edge.REF_FUNC)],
        F[6]: [(F[2], Edge.CALL)],
        T: [(E0, Edge.TABLE_ELEMENT)],  # the active segment; the declarative one fills no table
        G1: [(G0, Edge.GLOBAL_INIT)],
        E0: [(F[4], Edge.ELEMENT_FUNCTION)],
        E1: [(F[5], Edge.ELEMENT_FUNCTION)],
        X0: [(F[0], Edge.EXPORT)], X1: [(M, Edge.EXPORT)],
        START: [(F[2], Edge.START)],
    }
    roots = {(i, Root(k), n) for i, k, n in zip(g.roots, g.root_kinds, g.root_names)}
    assert {r for r in roots if r[1] in (Root.EXPORT, Root.START, Root.MEMORY, Root.CUSTOM)} == {
        (X0, Root.EXPORT, "root"), (X1, Root.EXPORT, "mem"), (START, Root.START, ""), (M, Root.MEMORY, ""),
        (15, Root.CUSTOM, "")}
    assert len(roots) == 2 + g.count[Kind.SECTION] + 1 + 1  # exports, sections, the custom section, memory
    assert g.exported(Kind.FUNCTION) == {0: ["root"]} and g.exported(Kind.MEMORY) == {0: ["mem"]}
    assert [g.name(i) for i in (F[0], F[6], T, G1, D1, 15)] == ["root", "dead", "table[0]", "g1", "data[1]",
                                                                "custom section name"]


def test_the_full_graph_adds_global_and_data_edges_and_replaces_the_call_graph():
    from auditor.wasm.analysis.items import build_item_graph

    path = fixturelib.wat("item_graph")  # helper: i32.const 1024 (data[0]); shared: global.get $g
    mod = parse_module(path.read_bytes(), str(path))
    light = item_graph(mod)
    names = lambda g: {(g.name(a), g.name(b), e.name) for a in range(len(g)) for b, e in g.edges(a)}  # noqa: E731
    extra = {("helper", "data[0]", "DATA_REF"), ("dead", "data[1]", "DATA_REF"), ("shared", "g", "GLOBAL_ACCESS"),
             ("init", "g", "GLOBAL_ACCESS")}
    assert not names(light) & extra
    full = item_graph(mod, full=True)
    assert full.full and full is not light and names(full) - names(light) == extra
    assert item_graph(mod) is full and item_graph(mod, full=True) is full  # the full graph serves both
    assert list(full.sizes) == list(light.sizes) and list(full.roots) == list(light.roots)
    assert names(build_item_graph(mod)) == names(full)


def test_reachability_and_the_conservative_call_closure(tmp_path):
    path = build(tmp_path)
    g = item_graph(parse_module(path.read_bytes(), str(path)))
    # every edge: root -> a -> b, c -> (ref.func) taken; the table -> E0 -> in_table
    assert g.reachable([0]) == {0, 1, 2, 3, 5, 7, 11, 4}
    # calls only, plus every escaping function (in an element segment or ref.func'd) from
    # the one function with an indirect call: what may run when `root` is called
    assert g.call_closure([0]) == {0, 1, 2, 3, 4, 5}
    assert g.call_closure([6]) == {6, 2}
    assert g.call_closure([1]) == {1, 2, 3}  # no indirect call on the way: nothing escapes into it


def test_sizes_agree_with_wasm_objdump(tmp_path):
    path = build(tmp_path)
    g = item_graph(parse_module(path.read_bytes(), str(path)))
    bodies = code_sizes(path)  # body sizes as wasm-objdump -x -j Code prints them
    # a function item: body, its size LEB and its function-section entry (type index 0: 1 byte)
    assert {i: g.size(g.id(Kind.FUNCTION, i)) for i in bodies} == {i: n + leb_len(n) + 1 for i, n in bodies.items()}
    data = subprocess.run(["wasm-objdump", "-x", "-j", "Data", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert "segment[0] memory=0 size=5" in data and "segment[1] passive size=8" in data
    # a segment item is its whole entry: flags 00, i32.const 16 end (41 10 0b), size 05, "hello";
    # flags 01, size 08, "passive!"
    assert (g.size(g.id(Kind.DATA, 0)), g.size(g.id(Kind.DATA, 1))) == (1 + 3 + 1 + 5, 1 + 1 + 8)
    assert sum(g.sizes) == path.stat().st_size
    head = subprocess.run(["wasm-objdump", "-h", str(path)], capture_output=True, text=True, check=True).stdout
    line = next(l for l in head.splitlines() if '"name"' in l)
    payload = int(line.split("size=")[1].split(")")[0], 16)
    assert g.size(g.id(Kind.CUSTOM, 0)) == 1 + leb_len(payload) + payload  # id byte, size LEB, payload
