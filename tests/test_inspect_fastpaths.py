"""inspect's fast paths (issue 16) against the code they replace, on the same inputs:

- the JSON writer (auditor.report.fmt_json.dumps) against the standard library's
  `json.dumps(..., indent=2, ensure_ascii=False)`, byte for byte, on generated values and a
  real module's record;
- the rules engine's compiled item tests and shared filtered lists against its generic
  condition interpreter (`holds` over a context per element).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.report import fmt_json
from auditor.report.fmt_json import dumps
from auditor.rules import engine

import fixturelib
import refcache

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(1 << 70), max_value=1 << 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
keys = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.none(),
                 st.floats(allow_nan=False, allow_infinity=True))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5), st.tuples(inner, inner),
                                                         st.dictionaries(keys, inner, max_size=5)), max_leaves=40)


# Lists of dicts of one shape (the function entries), which the writer encodes a column
# at a time through the C encoder: columns of scalars, of containers (empty or not), of
# int/str subclasses and mixed ones, keys with `%` and escapes, the shape in a random order.
row_keys = st.lists(st.sampled_from(["index", "name", "%s", "%", "a\u00e9\n\"", "", "exports", "k\x00"]),
                    unique=True, max_size=5)


class Kind(int):
    pass


class Label(str):
    pass


column_values = st.one_of(scalars, st.just([]), st.just({}), st.lists(st.text(max_size=4), max_size=3),
                          st.dictionaries(st.text(max_size=3), scalars, max_size=2),
                          st.integers(-3, 3).map(Kind), st.text(max_size=4).map(Label))


@st.composite
def tables(draw):
    shape = draw(row_keys)
    # each column varied, or one value in every row (an all-empty one: "[]"/"{}" each)
    columns = {k: draw(st.one_of(st.just(column_values), column_values.map(st.just))) for k in shape}
    rows = draw(st.lists(st.fixed_dictionaries(columns), max_size=12))
    if rows and draw(st.booleans()):  # one row of another shape, or not a dict
        rows.insert(draw(st.integers(0, len(rows))), draw(st.one_of(values, st.just({"other": 1}))))
    return draw(st.one_of(st.just(rows), st.just({"rows": rows, "n": len(rows)}), st.just(tuple(rows))))


@settings(max_examples=300, deadline=None)
@given(st.one_of(values, tables(), st.lists(scalars, max_size=12)), st.sampled_from([(64, 4096, 1024), (2, 3, 2), (0, 1, 1)]))
def test_json_writer_is_json_dumps_with_indent_2(v, limits):
    """Also with tiny batch limits, so generated values take the batched path at every level."""
    saved = fmt_json._SMALL, fmt_json._BATCH, fmt_json._ROWS
    fmt_json._SMALL, fmt_json._BATCH, fmt_json._ROWS = limits
    try:
        assert dumps(v) == json.dumps(v, indent=2, ensure_ascii=False)
    finally:
        fmt_json._SMALL, fmt_json._BATCH, fmt_json._ROWS = saved


@pytest.mark.parametrize("accelerated", [True, False])
def test_json_writer_table_path_on_function_entries(accelerated, monkeypatch):
    """A large list of one-shaped dicts (the shape of inspect's function entries, with
    exports, NaN/Infinity, big ints, bools, escapes, a row of another key order) is
    json.dumps(indent=2)'s text, and goes through the column path (also with the
    standard library's pure-Python encoder for the columns)."""
    if not accelerated:
        monkeypatch.setattr(fmt_json, "_C_FLAT", None)
    rows = [{"index": i, "name": None if i % 3 else f"f%s{i}\x01\u2028\"", "demangled": None,
             "size": (1 << 70) + i if i % 7 == 0 else i * 3, "crate": "?" if i % 2 else "core",
             "exports": [f"e{i}"] * (i % 4 == 0), "ratio": [math.nan, math.inf, -math.inf, 0.1, True, False][i % 6], "attrs": {}}
            for i in range(3000)]
    rows[1500] = dict(reversed(list(rows[1500].items())))
    calls = []
    real = fmt_json._rows
    fmt_json._rows = lambda *a: calls.append(1) or real(*a)
    try:
        record = {"functions": rows, "sizes": [r["size"] for r in rows], "n": len(rows)}
        assert dumps(record) == json.dumps(record, indent=2, ensure_ascii=False)
    finally:
        fmt_json._rows = real
    assert len(calls) >= 3


def test_json_writer_refuses_what_json_refuses():
    for bad in ({"a": object()}, [1, {2, 3}], {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(bad, indent=2)
        with pytest.raises(TypeError):
            dumps(bad)


def test_json_writer_on_a_real_inspect_record():
    from auditor.rules.audit import audit
    from auditor.wasm.inspect import inspect_file

    lightningcss = next(p for p in fixturelib.real_modules() if "lightningcss" in p.name)
    record = audit(inspect_file(lightningcss, compression="none")).to_json()
    assert record["functions"]
    assert dumps(record) == json.dumps(record, indent=2, ensure_ascii=False)


items = st.lists(st.one_of(st.dictionaries(st.sampled_from(["name", "size", "demangled", "custom"]), scalars, max_size=4),
                           scalars), max_size=12)
conds = st.fixed_dictionaries(
    {"path": st.sampled_from(["name", "size", "demangled", "custom", "missing_key"]),
     "op": st.sampled_from(["eq", "ne", "in", "not-in", "gt", "ge", "lt", "le", "matches", "not-matches", "contains",
                            "startswith", "exists", "missing", "null", "not-null", "truthy", "falsy"])},
    optional={"value": st.one_of(scalars, st.sampled_from(["a", "^c", "core::", "x|y"]), st.lists(scalars, max_size=3))})


def generic(spec, ctx):
    """The interpreter alone: no compiled tests, no shared lists."""
    saved = engine._item_tests
    engine._item_tests = lambda spec: None
    try:
        return engine._compute(spec, ctx, {})
    finally:
        engine._item_tests = saved


def outcome(f):
    try:
        v = f()
    except Exception as e:  # noqa: BLE001  (both paths must fail the same way)
        return ("raises", type(e).__name__)
    return ("nan",) if isinstance(v, float) and math.isnan(v) else v


@settings(max_examples=400, deadline=None)
@given(items, st.lists(conds, max_size=3), st.sampled_from([None, "size", "name", "missing_key"]),
       st.sampled_from(["sum", "count", "max", "min", "first", "list"]))
def test_compiled_where_equals_the_interpreter(elems, where, field, op):
    spec = {"op": op, "from": "functions[*]", "where": where}
    if field:
        spec["field"] = field
    ctx = engine.Ctx({"functions": elems}, {"functions": elems}, {}, {})
    memo: dict = {}
    fast = outcome(lambda: engine._compute(spec, ctx, memo))
    assert fast == outcome(lambda: generic(spec, ctx))
    # a second compute over the same list and conditions reads the shared filtered list
    again = {**spec, "op": "count"}
    assert outcome(lambda: engine._compute(again, ctx, memo)) == outcome(lambda: generic(again, ctx))


def synthetic(mb: float) -> bytes:
    import importlib.util

    spec = importlib.util.spec_from_file_location("inspect_speed", fixturelib.REPO / "benchmarks" / "inspect_speed.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.synthetic_module(int(mb * 1_000_000))


def test_fast_compression_is_its_recorded_levels(tmp_path, monkeypatch):
    """`fast` is gzip -5 + brotli -q 5 (issue 16): the figures are the libraries' sizes at
    the levels the record names, within 1 % of the gzip and brotli CLIs at those levels;
    `none` starts no compression thread at all."""
    import gzip
    import shutil
    import subprocess
    import threading

    import brotli

    from auditor.wasm.inspect import inspect_bytes

    data = synthetic(0.4)
    result = inspect_bytes(data, "s.wasm", "fast")
    impl = audit_record(result)["compression_impl"]
    assert (impl["gzip_level"], impl["brotli_quality"]) == (5, 5)
    assert result.gzip == len(gzip.compress(data, 5, mtime=0))
    assert result.brotli == len(brotli.compress(data, quality=5))
    path = tmp_path / "s.wasm"
    path.write_bytes(data)
    cli_gz = len(subprocess.run(["gzip", "-5", "-n", "-c", str(path)], capture_output=True, check=True).stdout)
    assert abs(result.gzip - cli_gz) / cli_gz < 0.01
    if shutil.which("brotli"):
        cli_br = len(subprocess.run(["brotli", "-q", "5", "-c", str(path)], capture_output=True, check=True).stdout)
        assert abs(result.brotli - cli_br) / cli_br < 0.01
    started: list = []
    real = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: (started.append(self), real(self))[1])
    none = inspect_bytes(data, "s.wasm", "none")
    assert (none.gzip, none.brotli, started) == (None, None, [])
    inspect_bytes(data, "s.wasm", "fast")
    assert started  # the patch does see the compression thread


def audit_record(result):
    from auditor.rules.audit import audit

    return audit(result).to_json()


@pytest.mark.parametrize("size", [0, 1, 100, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 12345])
def test_gzip_size_is_gzip_compress_length(size):
    """The streamed count equals the length of gzip.compress's output (and of a gzip CLI
    stream of the same deflate level, as test_fast_compression checks)."""
    import gzip
    import random
    import zlib

    from auditor.wasm.inspect import gzip_size

    rng = random.Random(size)
    data = bytes(rng.choices(b"abcdefgh\0\x01\xff", k=size // 2)) + rng.randbytes(size - size // 2)
    levels = (1, 5, 6, 9)
    # gzip.compress's lengths from tests/refcache.py (keyed by the bytes and zlib's version)
    want = refcache.cached("gzip-compress-lengths", (refcache.digest(data), levels, zlib.ZLIB_RUNTIME_VERSION),
                           lambda: [len(gzip.compress(data, level, mtime=0)) for level in levels], tree=None)
    assert [gzip_size(data, level) for level in levels] == want


def test_json_on_stdout_is_streamed_and_equals_the_rendered_file(tmp_path):
    """stdout gets the JSON a piece at a time (report.stream), `-o FILE` the rendered
    string: byte for byte the same, and the same as json.dumps of the record."""
    import clirun

    path = tmp_path / "s.wasm"
    path.write_bytes(synthetic(0.3))
    out = tmp_path / "o.json"
    streamed = clirun.run_process(["inspect", str(path), "--format", "json", "--compression", "none"])
    to_file = clirun.run_process(["inspect", str(path), "--format", "json", "--compression", "none", "-o", str(out)])
    assert streamed.returncode == to_file.returncode == 0 and to_file.stdout == ""
    assert streamed.stdout == out.read_text()
    assert streamed.stdout == json.dumps(json.loads(streamed.stdout), indent=2, ensure_ascii=False) + "\n"


def test_grow_bodies_from_the_parse_pairs_equal_the_item_graphs():
    """inspect finds the bodies holding a memory.grow from the parse pass's pairs, not
    from the item graph's walk: the same functions on the real modules and a synthetic one
    (which has a few), and the same sites once the graph is built (that side, the walk's,
    is the reference: tests/refcache.py keeps its answers by the bytes and auditor/wasm)."""
    from auditor.wasm.graph import item_graph
    from auditor.wasm.grow import _grow_functions, find_grow_sites
    from auditor.wasm.parse import parse_module

    def walked(data: bytes) -> tuple[set[int], list[dict]]:
        graph = parse_module(data)
        return set(item_graph(graph).grow_offsets), [s.to_json() for s in find_grow_sites(graph)]

    datas = [p.read_bytes() for p in fixturelib.real_modules()] + [synthetic(2)]
    grows = 0
    for data in datas:
        mod = parse_module(data)
        from_pairs = set(_grow_functions(mod))
        sites = [s.to_json() for s in find_grow_sites(mod)]
        if all(s["use"] not in ("returned", "compared-by-caller") for s in sites):  # else callers needed it
            assert "item_graph" not in mod.derived  # inspect's path built no graph
        offsets, graph_sites = refcache.cached("grow-sites-from-the-item-graph", refcache.digest(data),
                                               lambda data=data: walked(data), [walked], refcache.WASM_STAGE)
        assert from_pairs == offsets
        assert sites == graph_sites
        grows += len(from_pairs)
    assert grows > 0


def test_inspect_rollup_from_each_entrys_crate_is_crates_rollup():
    """inspect's per-crate rollup, from the crate each function entry already has, is
    crates.rollup of the (demangled name, size) pairs: sums, counts, and the order
    (largest first, ties by name)."""
    from auditor.wasm.crates import crate_of, rollup
    from auditor.wasm.inspect import _rollup

    names = ["core::fmt::write", "alloc::vec::Vec<T>::push", None, "myapp::main", "<serde_json::Value as "
             "core::fmt::Debug>::fmt", "core::ptr::drop_in_place<myapp::X>", "__rdl_alloc", "", "myapp::run",
             "hashbrown::raw::RawTable<T>::insert", None]
    sizes = [40, 12, 7, 12, 30, 5, 12, 3, 8, 12, 1]
    assert _rollup(list(map(crate_of, names)), sizes) == rollup(zip(names, sizes))
    assert _rollup([], []) == rollup([]) == []
