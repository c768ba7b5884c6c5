"""The wasm reader against hand-computed modules and against wasm-objdump."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.wasm.grow import find_grow_sites
from auditor.wasm.parse import parse_module
from auditor.wasm.reader import MalformedModule

import clirun
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


# -- hand-assembled modules: the issue-15 cases and the newest proposals ---------------
# Bytes are written out as the spec testsuite writes them, so each case says exactly
# which encoding it exercises.

HEADER = b"\0asm\1\0\0\0"
TYPE_VOID = b"\x01\x04\x01\x60\x00\x00"  # type section: (func)
ONE_FUNC = b"\x03\x02\x01\x00"  # function section: one function of type 0
MEMORY_1 = b"\x05\x03\x01\x00\x01"  # memory section: (memory 1)


def section(sid: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes((sid, len(payload))) + payload


def code(*bodies: bytes) -> bytes:
    """Code section from bodies given as locals + instructions (sizes added here)."""
    payload = bytes((len(bodies),)) + b"".join(bytes((len(b),)) + b for b in bodies)
    return section(10, payload)


@pytest.mark.parametrize("data, problem, offset", [
    # parse.py:_read_tables raised IndexError on this (a table count past the end)
    (HEADER + b"\x04\x05\x02\x70\x01\x00\x00", "unexpected end", 15),
    # over-long LEB128 in an instruction immediate: i32.const 0 in 6 bytes
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x41\x80\x80\x80\x80\x80\x00\x1a\x0b"), "longer than 5 bytes", 24),
    # i32.const with unused bits set in its fifth byte
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x41\x80\x80\x80\x80\x70\x1a\x0b"), "unused bits", 24),
    # memarg flags >= 0x80 (align.wast)
    (HEADER + TYPE_VOID + ONE_FUNC + MEMORY_1 + code(b"\x00\x41\x00\x28\x80\x01\x00\x1a\x0b"), "memop flags", 31),
    # memory.init / data.drop without a datacount section
    (HEADER + TYPE_VOID + ONE_FUNC + MEMORY_1 + code(b"\x00\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00\x0b")
     + section(11, b"\x01\x01\x00"), "requires a datacount section", 34),
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\xfc\x09\x00\x0b") + section(11, b"\x01\x01\x00"),
     "data.drop requires a datacount section", 23),
    # an element segment whose reference type is i32
    (HEADER + TYPE_VOID + ONE_FUNC + section(4, b"\x01\x70\x00\x01")
     + section(9, b"\x01\x05\x7f\x01\xd2\x00\x0b") + code(b"\x00\x0b"), "malformed reference type 0x7f", 28),
    # a br_table whose target count runs past the body
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x02\x40\x41\x00\x0e\xff\xff\xff\xff\x0f\x00\x0b\x0b"),
     "br_table target count 4294967295 larger than", 28),
    # 0xFFFFFFFF + 2 locals (binary.wast "too many locals")
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e\x0b"), "too many locals", 22),
    # block structure: `end` before the body's end, `else` outside `if`, body without its final end
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x0b\x01\x0b"), "operators remaining after the end", 24),
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x02\x40\x05\x0b\x0b"), "`else` outside an `if`", 25),
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x02\x40\x01\x0b"), "ends without its final `end`", 27),
    # a block type that is a negative s33 other than a one-byte value type (-64 in two bytes)
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x02\xc0\x7f\x0b\x0b"), "malformed block type", 24),
    # an unknown opcode and an unknown prefixed opcode
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\x27\x0b"), "illegal opcode 0x27", 23),
    (HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\xfc\x7f\x0b"), "illegal opcode 0xfc 0x7f", 23),
    # memory64 with a minimum of 2**64-1 pages
    (HEADER + b"\x05\x0c\x01\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "exceeds the 64-bit address space", 11),
    # custom descriptors: exact is only a heap type, so it needs (ref ...) around it
    (HEADER + b"\x01\x06\x01\x5f\x01\x62\x00\x00", "unknown value type 0x62", 13),
    # 0x20 (exact function) is an import kind, not an export kind
    (HEADER + TYPE_VOID + ONE_FUNC + b"\x07\x04\x01\x00\x20\x00" + code(b"\x00\x0b"), "malformed export kind 0x20", 22),
])
def test_malformed_module_one_line_with_offset(data, problem, offset, tmp_path):
    with pytest.raises(MalformedModule) as err:
        parse_module(data, "bad.wasm")
    assert problem in err.value.what, err.value.what
    assert err.value.offset == offset, err.value.line()
    # ... and through the CLI: exit 2, one line, the offset, no traceback
    path = tmp_path / "bad.wasm"
    path.write_bytes(data)
    proc = clirun.run(["inspect", "--compression", "none", path])  # in-process (test_wasm_fuzz keeps real ones)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"auditor: {path}: byte {offset} (0x{offset:x}): {err.value.what}"


def test_newest_proposals_read():
    """custom descriptors (describes/descriptor clauses, exact heap types, exact function
    imports), compact imports, GC rec groups and sub types, wide arithmetic, relaxed SIMD,
    exceptions (tag, try_table, exnref), tail calls — hand-assembled, facts hand-computed."""
    types = section(1, b"\x02"
                    b"\x4e\x02"  # rec group of 2
                    b"\x4d\x01\x5f\x00"  # descriptor 1, struct {}
                    b"\x4c\x00\x5f\x01\x64\x62\x00\x00"  # describes 0, struct {(ref (exact 0)) const}
                    b"\x50\x00\x60\x01\x7e\x02\x7e\x7e")  # sub (no supertypes) func (i64) -> (i64 i64)
    imports = section(2, b"\x02"
                      b"\x01m\x01f\x20\x02"  # "m" "f": exact func import of type 2
                      b"\x01m\x00\x7e\x00\x02\x02\x01a\x01b")  # compact: "m" (func 2) for "a", "b"
    funcs = b"\x03\x02\x01\x02"
    tags = b"\x0d\x03\x01\x00\x02"  # tag of type 2
    body = (b"\x00"
            b"\x1f\x40\x01\x02\x00"  # try_table (catch_all 0)
            b"\x42\x01\x42\x02\xfc\x15\x1a\x1a"  # i64.mul_wide_s, drops
            b"\x0b"  # end
            b"\x20\x00\x20\x00\x12\x00"  # return_call 0
            b"\x0b")
    mod = parse_module(HEADER + types + imports + funcs + tags + code(body), "new.wasm")
    assert [t is None for t in mod.types] == [True, True, False]
    assert mod.types[2].params == ("i64",) and mod.types[2].results == ("i64", "i64")
    assert [(i.module, i.field, i.kind, i.type_index) for i in mod.imports] == [
        ("m", "f", "func", 2), ("m", "a", "func", 2), ("m", "b", "func", 2)]
    assert mod.tags == [2] and [f.index for f in mod.functions] == [3]


def test_reference_value_types_are_named_like_the_text_format():
    # (func (param funcref nullexternref (ref 0) (ref null exact 0)) (result exnref))
    data = HEADER + b"\x01\x0c\x01\x60\x04\x70\x72\x64\x00\x63\x62\x00\x01\x69"
    mod = parse_module(data, "refs.wasm")
    assert mod.types[0].signature() == "(funcref, nullexternref, (ref 0), (ref null exact 0)) -> (exnref)"


def test_opcode_table_is_data(tmp_path, monkeypatch):
    """A new instruction is a row in rules/wasm_opcodes.toml: with a made-up 0xfc 0x7f row
    the module that is malformed today is read."""
    import shutil

    from auditor.data import load_rules_file
    from auditor.wasm import opcodes, parse

    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    table = rules / "wasm_opcodes.toml"
    table.write_text(table.read_text().replace("0x16  i64.mul_wide_u", "0x16  i64.mul_wide_u\n0x7f  made.up   u32"))
    data = HEADER + TYPE_VOID + ONE_FUNC + code(b"\x00\xfc\x7f\x05\x0b")
    caches = (load_rules_file, opcodes.tables, opcodes._plans, opcodes.scanner, opcodes._validation_set,
              opcodes._type_patterns, opcodes._imm_patterns, parse._formats)
    monkeypatch.setenv("AUDITOR_RULES_DIR", str(rules))
    for c in caches:
        c.cache_clear()
    try:
        assert [f.body_size for f in parse_module(data, "new-op.wasm").functions] == [5]
    finally:
        monkeypatch.undo()
        for c in caches:
            c.cache_clear()
    with pytest.raises(MalformedModule):
        parse_module(data, "new-op.wasm")
