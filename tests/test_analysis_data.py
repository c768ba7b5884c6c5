"""Data attribution: a hand-built segment whose pieces are known byte by byte
(fixtures/wat/data_strings.wat), a real rustc build whose panic strings and source
paths are checked against the strings wasm-objdump dumps, and hostile data."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from auditor.wasm.analysis.data import CATEGORIES, data_attribution, formatting_functions, preview
from auditor.wasm.analysis.refs import code_references
from auditor.wasm.parse import parse_module

import fixturelib


def _attribute(path, **kw):
    mod = parse_module(path.read_bytes(), str(path))
    refs = code_references(mod)
    addrs = {i: b.data_addresses for i, b in refs.bodies.items()}
    fm = formatting_functions(mod, {i: b.calls for i, b in refs.bodies.items()})
    return mod, refs, data_attribution(mod, addrs, formatters=fm, **kw)


def test_hand_built_segment():
    mod, refs, d = _attribute(fixturelib.wat("data_strings"))
    assert refs.bodies[0].data_addresses == [1034, 1084]
    assert refs.bodies[2].data_addresses == [1066] and refs.bodies[3].data_addresses == [1100]
    assert d.bytes == 102
    assert d.categories == {"panic_messages": 32, "source_paths": 10, "format_strings": 7, "strings": 11 + 10,
                            "tables": 16 + 8, "rest": 8}
    assert d.counts == {"panic_messages": 1, "source_paths": 1, "format_strings": 1, "strings": 2,
                        "tables": 2, "rest": 1}
    assert d.pointers == 2 and d.references == 4
    [panic] = d.top("panic_messages")
    assert (panic.address, panic.size, panic.functions, panic.text) == \
        (1034, 32, [0], "index out of bounds: the len is ")
    [path] = d.top("source_paths")
    assert (path.address, path.functions, path.via_tables) == (1024, [], [0])  # through the Location
    [piece] = d.top("format_strings")
    assert (piece.address, piece.text, piece.via_tables) == (1077, "value: ", [3])
    assert [p.address for p in d.top("strings")] == [1066, 1116]
    assert [(p.address, p.size) for p in d.top("tables")] == [(1084, 16), (1100, 8)]
    assert d.top_functions("panic_messages") == [(0, 32)]
    # per category, every function a piece lists (directly or via a table) with the piece's
    # bytes: the path through panic_site's Location, "value: " through fmt_site's pieces
    assert {c: d.top_functions(c) for c in CATEGORIES} == {
        "panic_messages": [(0, 32)], "source_paths": [(0, 10)], "format_strings": [(3, 7)],
        "strings": [(2, 11)], "tables": [(0, 16), (3, 8)], "rest": []}
    js = d.to_json(mod.function_names)
    assert [c["name"] for c in js["categories"]] == list(CATEGORIES)
    assert js["categories"][0]["top"][0]["functions"] == [{"index": 0, "name": "panic_site"}]


def test_without_names_every_string_in_a_table_is_a_format_piece():
    mod = parse_module(fixturelib.wat("data_strings").read_bytes())
    refs = code_references(mod)
    d = data_attribution(mod, {i: b.data_addresses for i, b in refs.bodies.items()}, formatters=None)
    assert d.categories["format_strings"] == 7 and d.categories["source_paths"] == 10


def _objdump_data(path) -> bytes:
    """The data section's payload as wasm-objdump -s prints it (hex dump rows)."""
    text = subprocess.run(["wasm-objdump", "-s", "-j", "Data", str(path)], check=True, capture_output=True,
                          text=True).stdout
    out = bytearray()
    for m in re.finditer(r"^ *[0-9a-f]{7}: ((?:[0-9a-f]{4} ?)+) ", text, re.M):
        out += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(out)


@pytest.mark.cargo
def test_real_build_sums_and_known_strings():
    path = fixturelib.build_crate("heavy")
    mod, _, d = _attribute(path, keep=1000)
    assert sum(d.categories.values()) == d.bytes == sum(s.size for s in mod.data_segments)
    # the bytes of each reported source path, read from wasm-objdump's dump of the
    # (single, active) segment, are a path; and every `/library/…/*.rs` path the dump
    # holds is among them
    dump = _objdump_data(path)
    [seg] = mod.data_segments
    base = seg.data_offset - mod.section("data").payload_offset  # objdump -s dumps the payload
    texts = [dump[base + p.offset:base + p.offset + p.size].decode() for p in d.top("source_paths", None)]
    assert texts and all(t.endswith(".rs") and " " not in t for t in texts)
    assert d.counts["source_paths"] == len(texts)
    for m in re.finditer(rb"/usr/src/rustc-1\.63\.0/library/[a-z_/]+\.rs", dump):
        assert any(t.startswith(m.group().decode()) or m.group().decode() in t for t in texts)
    assert d.categories["panic_messages"] > 0
    panics = " ".join(p.text for p in d.top("panic_messages", None))
    assert "called `Option::unwrap()` on a `None` value" in panics or "capacity overflow" in panics


def test_preview_escapes_module_bytes():
    assert preview(b"a\x1b[31mb\\\n\xff") == "a\\x1b[31mb\\\\\\n\\xff"
    assert preview(b"x" * 100, 10) == "x" * 10 + "…"


def test_hostile_data_costs_linear_time(tmp_path):
    # 1 MB of `ab/` and of alternating text/binary bytes in one segment
    for payload in (b"ab/" * 350_000, b"a\x00" * 500_000, b"\xe0\x80" * 500_000):
        hexed = "".join(f"\\{b:02x}" for b in payload)
        wat = tmp_path / "h.wat"
        wat.write_text(f'(module (memory 32) (data (i32.const 1024) "{hexed}"))')
        subprocess.run(["wat2wasm", str(wat), "-o", str(tmp_path / "h.wasm")], check=True)
        mod = parse_module((tmp_path / "h.wasm").read_bytes())
        t = time.process_time()
        d = data_attribution(mod, {})
        assert time.process_time() - t < 2
        assert sum(d.categories.values()) == len(payload)
