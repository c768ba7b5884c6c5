"""The compiled item-graph loops (auditor/wasm/native/graphcore.c, run in wasmtime) give
what the Python code gives, which stays as the fallback and is the reference here:

- the committed graphcore.wasm is its source rebuilt (scripts/build-native.sh, clang-16);
- the item graph (edges, kinds, data addresses in order with repeats, memory.grow
  offsets, data pointers) of every hand-written .wat fixture, of seeded random modules
  (data segments overlapping, with gaps, at negative offsets, pointer words between
  them; constants in and around them; passive segments; memory.grow; indirect calls)
  and of the npm modules of scripts/real_modules.sh;
- the dominator tree, retained sizes and preorder, the reachable set and the BFS tree,
  on random graphs with self-loops, repeated edges and repeated roots, and on those
  modules' graphs;
- when wasmtime refuses the memory, every answer comes from the Python code, unchanged.
"""

from __future__ import annotations

import random
import subprocess
from array import array
from pathlib import Path

import pytest

from auditor.wasm.analysis.core import CSRGraph, reachable
from auditor.wasm.analysis.dominators import dominators, dominators_py
from auditor.wasm.analysis.items import build_item_graph
from auditor.wasm.analysis.reach import bfs
from auditor.wasm.native import graph as native_graph
from auditor.wasm.parse import parse_module

import fixturelib
import refcache

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- item graphs

def facts(g):
    return (list(g.starts), list(g.targets), list(g.edge_kinds), g.data_addresses, list(g.data_addresses),
            g.grow_offsets, list(g.grow_offsets), list(g.data_pointers.items()), g.undecodable, list(g.sizes),
            list(g.roots), g.full)


def analyses(g):
    d = dominators(g, native=False)
    t = bfs(g, native=False)
    return (list(d.idom), list(d.retained), list(d.order), d.reachable_bytes, bytes(reachable(g, native=False)),
            list(t.dist), list(t.parent))


def native_analyses(g):
    d = dominators(g, native=True)
    t = bfs(g, native=True)
    return (list(d.idom), list(d.retained), list(d.order), d.reachable_bytes, bytes(reachable(g, native=True)),
            list(t.dist), list(t.parent))


def one_graph(monkeypatch, data: bytes, name: str, full: bool, native: bool, expect_native: bool = True):
    """The Python (native=False) or the compiled graph of one module, from its own parse."""
    ran = []
    real_edges = native_graph.edges

    def edges(*args, **kwargs):
        out = real_edges(*args, **kwargs)
        ran.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(native_graph, "edges", edges)
        m.setenv("AUDITOR_NATIVE_GRAPH", "on" if native else "off")
        g = build_item_graph(parse_module(data, name, full_refs=full), full=full)
    if not native:
        assert not ran
    elif expect_native:
        assert ran == [True], "the compiled path did not run"
    return g


def both_graphs(monkeypatch, data: bytes, name: str, full: bool, expect_native: bool = True):
    """(Python graph, compiled graph) of one module, each from its own parse."""
    return (one_graph(monkeypatch, data, name, full, False),
            one_graph(monkeypatch, data, name, full, True, expect_native))


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("name", fixturelib.wat_names())
def test_wat_fixtures(monkeypatch, name, full):
    data = fixturelib.wat(name).read_bytes()
    # tags: the Python walk reads bodies that throw (no pairs for them): no compiled path
    py, nat = both_graphs(monkeypatch, data, name, full, expect_native="tags" not in fixturelib.wat_facts(name))
    assert facts(nat) == facts(py)
    assert native_analyses(nat) == analyses(py)


def random_wat(rnd: random.Random) -> str:
    """A module whose data segments overlap, leave gaps or sit at negative offsets, hold
    aligned words pointing into each other, and whose code names addresses in, between,
    below and above them, with passive segments, memory.grow and indirect calls."""
    nseg = rnd.randint(0, 7)
    segs = []
    if rnd.random() < 0.7:  # one after another, with or without gaps, aligned or not
        at = rnd.choice([0, 8, 1024, 1027, -64, 2 ** 31 - 512])
        for _ in range(nseg):
            size = rnd.choice([0, 3, 4, 8, 13, 32, 64])
            segs.append((at, size))
            at += size + rnd.choice([0, 0, 0, 1, 4, 16])
        rnd.shuffle(segs)
    else:  # anywhere: overlaps too
        for _ in range(nseg):
            size = rnd.choice([0, 1, 3, 4, 8, 13, 32, 64])
            base = rnd.choice([0, 8, 16, 64, 100, 1024, 1030, 4096, -16, 2 ** 31 - 64])
            segs.append((base + rnd.randint(-8, 40), size))
    active = [(o, s) for o, s in segs if s]
    lo = min((o for o, _ in active), default=0)
    hi = max((o + s for o, s in active), default=0)

    def address() -> int:
        pick = rnd.random()
        if active and pick < 0.6:
            o, s = rnd.choice(active)
            return o + rnd.randint(-2, s + 2)
        if pick < 0.8:
            return rnd.randint(lo - 8, hi + 8)
        return rnd.choice([0, -1, 2 ** 31 - 1, -2 ** 31, 65536, 7])

    out = ["(module", "  (type $v (func))", "  (memory 1)", "  (table $t 4 funcref)",
           "  (global $g (mut i32) (i32.const 0))", "  (global $h (mut i32) (i32.const 5))"]
    nfun = rnd.randint(1, 9)
    for i, (o, s) in enumerate(segs):
        words = bytearray(rnd.randbytes(s))
        for w in range(-o % 4, s - 3, 4):  # the words data_pointers reads: aligned addresses
            if rnd.random() < 0.6:
                words[w:w + 4] = (address() & 0xFFFFFFFF).to_bytes(4, "little")
        text = "".join(f"\\{b:02x}" for b in words)
        if rnd.random() < 0.15:
            out.append(f'  (data $d{i} "{text}")')  # passive
        else:
            out.append(f'  (data $d{i} (i32.const {o}) "{text}")')
    funcs = [f"$f{k}" for k in range(nfun)]
    out.append(f"  (elem (i32.const 0) {' '.join(rnd.sample(funcs, min(len(funcs), rnd.randint(0, 3))))})")
    out.append(f"  (elem declare func {' '.join(funcs)})")
    for k in range(nfun):
        body = []
        for _ in range(rnd.randint(0, 25)):
            c = rnd.random()
            if c < 0.3:
                body.append(f"(drop (i32.const {address()}))")
            elif c < 0.45:
                body.append(f"(call {rnd.choice(funcs)})")
            elif c < 0.55:
                body.append(f"(global.set {rnd.choice(['$g', '$h'])} (global.get {rnd.choice(['$g', '$h'])}))")
            elif c < 0.62:
                body.append("(drop (memory.grow (i32.const 1)))")
            elif c < 0.7:
                body.append("(call_indirect (type $v) (i32.const 0))")
            elif c < 0.78:
                body.append(f"(drop (ref.func {rnd.choice(funcs)}))")
            elif c < 0.84 and segs:
                body.append(f"(memory.init $d{rnd.randrange(len(segs))} (i32.const 0) (i32.const 0) (i32.const 0))")
            elif c < 0.88 and segs:
                body.append(f"(data.drop $d{rnd.randrange(len(segs))})")
            else:
                body.append(f"(drop (i32.const {rnd.randint(-5, 5)}))")
        out.append(f"  (func $f{k} {' '.join(body)})")
    for k in rnd.sample(range(nfun), rnd.randint(0, nfun)):
        out.append(f'  (export "e{k}" (func $f{k}))')
    out.append(")")
    return "\n".join(out)


def test_random_modules(monkeypatch, tmp_path):
    rnd = random.Random(20261203)
    checked = pointers = addresses = 0
    for case in range(60):
        src = tmp_path / f"r{case}.wat"
        src.write_text(random_wat(rnd))
        wasm = tmp_path / f"r{case}.wasm"
        subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(wasm)], check=True, capture_output=True)
        data = wasm.read_bytes()
        for full in (False, True):
            py, nat = both_graphs(monkeypatch, data, src.name, full)
            assert facts(nat) == facts(py), src.read_text()
            assert native_analyses(nat) == analyses(py), src.read_text()
            checked += 1
            pointers += len(py.data_pointers)
            addresses += sum(map(len, py.data_addresses.values()))
    assert checked == 120 and pointers > 150 and addresses > 300  # the corners were reached


def test_real_modules(monkeypatch):
    for path in fixturelib.real_modules():
        if "biome" not in path.name and "wasm_bg" not in path.name:
            continue  # biome (8,767 data segments, names) and swc (18 MB): the benchmark's two
        data = path.read_bytes()

        def python_side(data=data, name=path.name):
            py = one_graph(monkeypatch, data, name, True, False)
            return facts(py), analyses(py)

        # the Python side's answers from tests/refcache.py when the wasm stage's sources and
        # the module are those it last ran on (swc's 18 MB parsed and walked in Python: ~1.5
        # CPU-s); the compiled graph and its analyses always run
        py_facts, py_analyses = refcache.cached("python-item-graph-and-analyses", refcache.digest(data), python_side,
                                                [facts, analyses], refcache.WASM_STAGE)
        nat = one_graph(monkeypatch, data, path.name, True, True)
        assert facts(nat) == py_facts, path.name
        assert native_analyses(nat) == py_analyses, path.name
        assert len(nat.targets) > 100_000


# --------------------------------------------------------------------------- graph walks

def random_graph(rnd: random.Random) -> CSRGraph:
    n = rnd.randint(1, 80)
    starts, targets = array("i", [0]), array("i")
    for _ in range(n):
        # repeated targets and self-loops kept (csr() would drop them)
        targets.extend(sorted(rnd.randrange(n) for _ in range(rnd.choice([0, 0, 1, 2, 3, 6]))))
        starts.append(len(targets))
    roots = array("i", [rnd.randrange(n) for _ in range(rnd.randint(0, 5))])  # repeats, any order
    sizes = array("q", [rnd.choice([0, 1, 7, 100, 2 ** 40]) for _ in range(n)])
    return CSRGraph(sizes, starts, targets, roots)


def test_walks_on_random_graphs():
    rnd = random.Random(7)
    for _ in range(500):
        g = random_graph(rnd)
        a, b = dominators_py(g), dominators(g, native=True)
        assert (a.idom, a.retained, a.order, a.root, a.reachable_bytes) == \
            (b.idom, b.retained, b.order, b.root, b.reachable_bytes)
        assert reachable(g, native=True) == reachable(g, native=False)
        x, y = bfs(g, native=True), bfs(g, native=False)
        assert (x.dist, x.parent) == (y.dist, y.parent)


def test_a_long_chain():
    # 200,000 nodes in one call chain: deep DFS and path compression, no recursion
    n = 200_000
    g = CSRGraph(array("q", [1] * n), array("i", [*range(n), n - 1]), array("i", range(1, n)), array("i", [0]))
    d = dominators(g, native=True)
    assert d.retained[0] == n and d.retained[n - 1] == 1 and list(d.order[:3]) == [0, 1, 2]
    assert (d.idom, d.retained, d.order) == (lambda p: (p.idom, p.retained, p.order))(dominators_py(g))


# --------------------------------------------------------------------------- fallback

def test_refused_memory_falls_back_to_python(monkeypatch):
    data = fixturelib.wat("data_strings").read_bytes()
    monkeypatch.setenv("AUDITOR_NATIVE_GRAPH", "off")
    py = build_item_graph(parse_module(data, "x", full_refs=True), full=True)
    # a store that may not grow its memory at all: every compiled call is refused
    monkeypatch.setattr(native_graph, "MAX_MEMORY", 1 << 16)
    native_graph._POOL.clear()
    monkeypatch.setenv("AUDITOR_NATIVE_GRAPH", "on")
    assert native_graph.dominators(py) is None and native_graph.bfs(py) is None
    g = build_item_graph(parse_module(data, "x", full_refs=True), full=True)
    assert facts(g) == facts(py)
    assert native_analyses(g) == analyses(py)
    native_graph._POOL.clear()


def test_memory_that_cannot_grow_falls_back_to_python(monkeypatch):
    # the instance starts (its initial memory is allowed) but a 200,000-node graph's
    # arrays need more: the call is refused and the Python code answers
    n = 200_000
    g = CSRGraph(array("q", [1] * n), array("i", [*range(n), n - 1]), array("i", range(1, n)), array("i", [0]))
    monkeypatch.setattr(native_graph, "MAX_MEMORY", 4 << 16)
    native_graph._POOL.clear()
    assert native_graph.dominators(g) is None and native_graph.reachable(g) is None
    d = dominators(g, native=True)
    assert d.retained[0] == n and list(d.idom[:3]) == [n, 0, 1]
    native_graph._POOL.clear()


def test_no_wasmtime_falls_back_to_python(monkeypatch):
    data = fixturelib.wat("item_graph").read_bytes()
    monkeypatch.setenv("AUDITOR_NATIVE_GRAPH", "off")
    py = build_item_graph(parse_module(data, "x", full_refs=True), full=True)
    monkeypatch.setenv("AUDITOR_NATIVE_GRAPH", "on")
    monkeypatch.setattr(native_graph, "_compiled", lambda: None)
    g = build_item_graph(parse_module(data, "x", full_refs=True), full=True)
    assert facts(g) == facts(py)
    assert native_analyses(g) == analyses(py)


# --------------------------------------------------------------------------- the program's exit

def test_deep_commands_end_without_teardown_with_the_same_output(tmp_path):
    """`python -m auditor top|dominators|paths|garbage|monos` ends with os._exit after flushing
    (auditor.io.skip_teardown): the same bytes and exit code as the in-process call,
    the -o file complete, and a reader that closes the pipe early gets no traceback."""
    import os
    import sys

    import clirun

    wasm = str(fixturelib.wat("item_graph"))
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_NATIVE_GRAPH"}
    for args in (["top", "--retained", "-n", "0", wasm], ["dominators", wasm, "main"], ["paths", wasm, "log"],
                 ["garbage", "--format", "json", wasm], ["monos", wasm], ["monos", "--format", "json", wasm]):
        real = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True, env=env,
                              check=False)
        same = clirun.run(args)
        assert (real.returncode, real.stdout, real.stderr) == (same.returncode, same.stdout, same.stderr), args
        assert real.returncode == 0 and real.stdout
    out = tmp_path / "top.json"
    real = subprocess.run([sys.executable, "-m", "auditor", "top", "--format", "json", "-o", str(out), wasm],
                          capture_output=True, text=True, env=env, check=False)
    assert real.returncode == 0 and out.read_text() == clirun.run(["top", "--format", "json", wasm]).stdout
    piped = subprocess.run(f"{sys.executable} -m auditor top -n 0 {wasm} | head -c 10", shell=True,
                           capture_output=True, text=True, env=env, check=False)
    assert len(piped.stdout) == 10 and "Traceback" not in piped.stderr


def test_layout_skips_function_indices_as_the_reader_reads_them():
    """layout's element walk skips a vector of u32 LEB128s by counting their last bytes
    (`_skip_u32s`): the same end as Reader.u32 in a loop, for every length 1-5."""
    from auditor.wasm.layout import _skip_u32s
    from auditor.wasm.reader import Reader

    rnd = random.Random(3)
    for _ in range(3000):
        values = [rnd.choice([0, 1, 127, 128, 300, 2 ** 14, 2 ** 21 - 1, 2 ** 28, 2 ** 32 - 1])
                  for _ in range(rnd.randint(1, 40))]
        enc = bytearray()
        for v in values:
            while True:
                byte, v = v & 0x7F, v >> 7
                enc.append(byte | (0x80 if v else 0))
                if not v:
                    break
        data = rnd.randbytes(3) + bytes(enc) + rnd.randbytes(rnd.randint(0, 10))
        n = rnd.randint(1, len(values))
        r = Reader(data, 3, len(data))
        for _ in range(n):
            r.u32()
        assert _skip_u32s(data, 3, len(data), n) == r.pos
    assert _skip_u32s(b"\x80\x80", 0, 2, 1) is None  # no last byte: the loop reads it (and fails)
