"""The wasm reader against hand-computed modules and against wasm-objdump."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.wasm.grow import find_grow_sites
from auditor.wasm.parse import parse_module
from auditor.wasm.reader import MalformedModule

from objdump import OBJDUMP_KIND, code_sizes, sections


def wat2wasm(tmp_path: Path, text: str, *flags: str) -> Path:
    src = tmp_path / "m.wat"
    src.write_text(text)
    out = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", "--enable-all", *flags, str(src), "-o", str(out)], check=True)
    return out


def assert_matches_objdump(path: Path) -> None:
    mod = parse_module(path.read_bytes(), str(path))
    ours = [(s.name if s.custom else OBJDUMP_KIND[s.name], s.payload_offset, s.payload_size) for s in mod.sections]
    assert ours == sections(path)
    assert {f.index: f.body_size for f in mod.functions} == code_sizes(path)
    assert 8 + sum(s.size for s in mod.sections) == path.stat().st_size


MULTI = r"""
(module
  (import "env" "mem" (memory $m0 1 10))
  (import "env" "g" (global $ig i64))
  (import "env" "t" (table 2 funcref))
  (memory $m1 2)
  (memory $m2 i64 3 4)
  (memory $m3 1 5 shared)
  (table $t 3 externref)
  (type $mv (func (param i32 i64) (result i32 i64 f32)))
  (tag $e (param i32))
  (func $f (type $mv) local.get 0 local.get 1 f32.const 1)
  (func $start)
  (start $start)
  (global $sp (mut i32) (i32.const 65536))
  (global $c i64 (i64.const -5))
  (data (memory $m1) (i32.const 8) "abcd")
  (data "passive-bytes")
  (elem declare func $f)
  (elem $pe funcref (ref.func $f))
  (export "f" (func $f))
  (export "m1" (memory $m1))
  (export "m1b" (memory $m1)))
"""


def test_modern_structure_hand_computed(tmp_path):
    path = wat2wasm(tmp_path, MULTI)
    assert_matches_objdump(path)
    mod = parse_module(path.read_bytes(), "m.wasm")
    assert mod.types[0].params == ("i32", "i64") and mod.types[0].results == ("i32", "i64", "f32")
    mems = [(x.imported, x.limits.initial, x.limits.maximum, x.limits.shared, x.limits.memory64) for x in mod.memories]
    assert mems == [(True, 1, 10, False, False), (False, 2, None, False, False), (False, 3, 4, False, True), (False, 1, 5, True, False)]
    assert mod.memories[0].module == "env" and mod.memories[0].field == "mem"
    assert mod.memories[1].exports == ["m1", "m1b"]
    assert [(t.reftype, t.limits.initial, t.imported) for t in mod.tables] == [("funcref", 2, True), ("externref", 3, False)]
    assert [(g.valtype, g.mutable, g.init, g.imported) for g in mod.globals] == [("i64", False, None, True), ("i32", True, 65536, False), ("i64", False, -5, False)]
    assert [(d.mode, d.memory, d.offset, d.size) for d in mod.data_segments] == [("active", 1, 8, 4), ("passive", None, None, 13)]
    assert [e.mode for e in mod.elements] == ["declarative", "passive"]
    assert mod.tags == [1] or len(mod.tags) == 1
    assert mod.start == 1
    assert [f.index for f in mod.functions] == [0, 1]  # no imported functions


def test_names_and_grow_sites(tmp_path):
    path = wat2wasm(tmp_path, r"""
    (module
      (memory 1)
      (func $checked_tee (param i32) (result i32)
        local.get 0 memory.grow local.tee 0 i32.const -1 i32.eq
        if unreachable end local.get 0)
      (func $checked_later (param i32) (result i32) (local i32)
        local.get 0 memory.grow local.set 1 i32.const 7 drop
        local.get 1 i32.const 0 i32.lt_s if i32.const 0 return end local.get 1)
      (func $checked_const_first (param i32) (result i32)
        i32.const -1 local.get 0 memory.grow i32.ne)
      (func $checked_plus_one (param i32) (result i32)
        local.get 0 memory.grow i32.const 1 i32.add i32.eqz)
      (func $unchecked (param i32) (result i32)
        local.get 0 memory.grow i32.const 16 i32.shl)
      (func $dropped (param i32)
        local.get 0 memory.grow drop)
      (func $no_grow (result i32) i32.const 64 block nop end))
    """, "--debug-names")
    assert_matches_objdump(path)
    mod = parse_module(path.read_bytes(), "m.wasm")
    assert [f.name for f in mod.functions][:2] == ["checked_tee", "checked_later"]
    sites = {s.name: (s.checked, s.use) for s in find_grow_sites(mod)}
    assert sites == {
        "checked_tee": (True, "compared"),
        "checked_later": (True, "compared"),
        "checked_const_first": (True, "compared"),
        "checked_plus_one": (True, "compared"),
        "unchecked": (False, "unchecked"),
        "dropped": (False, "dropped"),
    }
    # The offset is the memory.grow opcode itself.
    data = path.read_bytes()
    assert all(data[s.offset] == 0x40 for s in find_grow_sites(mod))


def test_post_mvp_instructions_decode(tmp_path):
    path = wat2wasm(tmp_path, r"""
    (module
      (memory 1 1 shared)
      (data $d "xyz")
      (func (param i32 v128) (result i32)
        local.get 0 i32.extend8_s i64.extend_i32_s i32.wrap_i64 drop
        i32.const 0 i32.const 0 i32.const 3 memory.init $d
        data.drop $d
        i32.const 0 i32.const 1 i32.const 1 memory.copy
        i32.const 0 i32.const 0 i32.const 1 memory.fill
        local.get 1 i8x16.extract_lane_s 3 drop
        v128.const i32x4 1 2 3 4 local.get 1 i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 drop
        i32.const 0 v128.load offset=16 drop
        i32.const 0 i32.const 1 i32.atomic.rmw.add drop
        f32.const 1.5 i32.trunc_sat_f32_s drop
        ref.null func ref.is_null drop
        memory.size memory.grow))
    """)
    assert_matches_objdump(path)
    sites = find_grow_sites(parse_module(path.read_bytes(), "m.wasm"))
    assert len(sites) == 1 and not sites[0].checked


def test_data_count_and_bulk_memory(tmp_path):
    path = wat2wasm(tmp_path, r"""
    (module (memory 1) (data "a") (data "bc")
      (func i32.const 0 i32.const 0 i32.const 1 memory.init 1))
    """)
    mod = parse_module(path.read_bytes(), "m.wasm")
    assert mod.data_count == 2
    assert_matches_objdump(path)


@pytest.mark.parametrize("data, problem, offset", [
    (b"", "empty file", 0),
    (b"\0asn\1\0\0\0", "bad magic", 0),
    (b"\0as", "truncated in the magic", 3),
    (b"\0asm\1\0", "truncated in the version", 6),
    (b"\0asm\2\0\0\0", "unsupported version", 4),
    (b"\0asm\1\0\0\0\x01\x05\x01\x60", "runs past the end", 8),
    (b"\0asm\1\0\0\0\x01\xff\xff\xff\xff\x7f", "unused bits", 9),
    (b"\0asm\1\0\0\0\x01\x80\x80\x80\x80\x80\x00", "longer than 5 bytes", 9),
    (b"\0asm\1\0\0\0\x03\x05\xff\xff\xff\xff\x0f", "count 4294967295 larger than", 10),
    (b"\0asm\1\0\0\0\x07\x05\x01\x02\xff\xfe\x00", "not valid UTF-8", 12),
    (b"\0asm\1\0\0\0\x05\x01\x00\x01\x01\x00", "out of order", 11),
    (b"\0asm\1\0\0\0\x05\x01\x00\x05\x01\x00", "repeated memory", 11),
    (b"\0asm\1\0\0\0\x0e\x00", "unknown section id 14", 8),
    (b"\0asm\1\0\0\0\x05\x04\x01\x00\x01\x00", "left over", 13),
    (b"\0asm\1\0\0\0\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00", "declares 1 functions but the code section has 0", 18),
])
def test_malformed_inputs_report_offset(data, problem, offset):
    with pytest.raises(MalformedModule) as err:
        parse_module(data, "bad.wasm")
    assert problem in err.value.what
    assert err.value.offset == offset
    assert err.value.line().startswith(f"bad.wasm: byte {offset} ")


def test_count_never_allocates_by_bogus_value():
    # A type section claiming 2**32-1 types in 5 bytes fails before any list is built.
    data = b"\0asm\1\0\0\0\x01\x05\xff\xff\xff\xff\x0f"
    with pytest.raises(MalformedModule) as err:
        parse_module(data, "x.wasm")
    assert "larger than the 0 bytes left" in err.value.what


@pytest.mark.cargo
def test_fast_opcode_walk_agrees_with_exact_decode():
    """The regex walk used on every body must find exactly what decode() finds."""
    from auditor.wasm.opcodes import code_start, decode, find_opcode

    import fixturelib

    modules = [fixturelib.build_crate(n) for n in ("heavy", "guarded")]
    modules += [fixturelib.build_crate("heavy", config=["profile.release.lto=true", 'profile.release.opt-level="z"'])]
    modules += [fixturelib.wat(n) for n in fixturelib.wat_names()]
    modules += [fixturelib.clang_module(c, ("-O2", "-msimd128", "-mbulk-memory")) for c in fixturelib.c_names()]
    targets = frozenset((0x40, 0x10, 0x11, 0x12, 0xD2))
    bodies = 0
    for path in modules:
        data = Path(path).read_bytes()
        for f in parse_module(data, str(path)).functions:
            first = code_start(data, f.code_offset, f.end)
            assert find_opcode(data, first, f.end, targets) == [at for at, op, _ in decode(data, first, f.end) if op in targets]
            bodies += 1
    assert bodies > 500
