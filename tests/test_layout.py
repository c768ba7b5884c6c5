"""Section entry spans (auditor/wasm/layout.py): contiguous, inside their section, as
many as wasm-objdump counts, with data segment entries ending at the data wasm-objdump
places; expression element segments yield their ref.func targets."""

from __future__ import annotations

import re
import subprocess

import pytest

from auditor.wasm.layout import layout
from auditor.wasm.parse import parse_module

import fixturelib
import objdump
import toolcache


def modules():
    """Built when the test runs, not at collection (a cargo build there would run in
    every session, `-m "not cargo"` too, and escape the `cargo` marker)."""
    yield from (pytest.param(lambda n=n: fixturelib.wat(n), id=n) for n in fixturelib.wat_names())
    yield pytest.param(lambda: fixturelib.build_crate("heavy"), id="heavy", marks=pytest.mark.cargo)
    yield pytest.param(lambda: fixturelib.clang_module("malloc_free.c"), id="malloc_free")


@pytest.mark.parametrize("make", list(modules()))
def test_entries_tile_each_section(make):
    path = make()
    mod = parse_module(path.read_bytes(), str(path))
    lay = layout(mod)
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"^\s*(\w+) start=.*count: (\d+)", toolcache.run_checked("wasm-objdump", ["-h"], path), re.M)}
    dumped = {kind: (start, size) for kind, start, size in objdump.sections(path)}
    for sl in lay.sections:
        s = sl.section
        if s.custom:
            continue
        kind = objdump.OBJDUMP_KIND[s.name]
        assert dumped[kind] == (s.payload_offset, s.payload_size)
        if sl.entries:
            assert len(sl.entries) == counts[kind], kind
            assert sl.entries[0][0] > s.payload_offset and sl.entries[-1][1] == s.payload_offset + s.payload_size
            assert all(a[1] == b[0] for a, b in zip(sl.entries, sl.entries[1:], strict=False))
            assert sl.header == s.size - sum(b - a for a, b in sl.entries) > 0


def test_expression_elements_and_global_initialisers(tmp_path):
    wat = tmp_path / "e.wat"
    wat.write_text("""(module
      (table 3 funcref)
      (func $a) (func $b)
      (global funcref (ref.func $b))
      (elem (table 0) (i32.const 0) funcref (ref.func $a) (ref.null func) (ref.func $b)))""")
    subprocess.run(["wat2wasm", str(wat), "-o", str(tmp_path / "e.wasm")], check=True)
    lay = layout(parse_module((tmp_path / "e.wasm").read_bytes()))
    assert lay.element_functions == {0: [0, 1]}
    assert lay.global_functions == {0: [1]}


def test_exact_function_import_is_one_entry_as_the_parser_reads_it():
    """Kind 0x20 (custom descriptors: an exact function import, then a type index) once
    sent layout's own import walk past the section end while parse_module accepted it
    (a hypothesis mutant of tests/test_wasm_fuzz.py); layout now walks with the parser's
    reader. Offsets by hand: type section 8..14, import section id at 14, size at 15,
    count at 16, the entry `01 6d 01 66 20 00` at 17..23."""
    from auditor.runtime.static import static_facts
    from auditor.wasm.layout import layout
    from auditor.wasm.parse import parse_module

    data = bytes.fromhex("0061736d01000000" "010401600000" "020701016d01662000")
    mod = parse_module(data, "m.wasm")
    assert layout(mod).by_kind["import"].entries == [(17, 23)]
    assert static_facts(mod)["available"]


def test_compact_import_group_gives_one_span_per_import():
    """A committed fuzz seed (GC types, an exact function import and a compact import
    group of two) whose import spans once disagreed in number with mod.imports (libFuzzer:
    fuzz/regressions/module/compact-import-group-layout-spans.wasm). Offsets from
    `wasm-tools dump`: the exact import at 0x27..0x2d; the group header (module "m", type,
    count) at 0x2d and its imports "a" at 0x34 and "b" at 0x36..0x38 — the group's shared
    bytes go to its first import."""
    from pathlib import Path

    from auditor.wasm.layout import layout
    from auditor.wasm.parse import parse_module

    path = Path(__file__).resolve().parents[1] / "fuzz" / "regressions" / "module" / "compact-import-group-layout-spans.wasm"
    mod = parse_module(path.read_bytes(), str(path))
    assert [i.field for i in mod.imports] == ["f", "a", "b"]
    assert layout(mod).by_kind["import"].entries == [(0x27, 0x2D), (0x2D, 0x36), (0x36, 0x38)]
