"""Bad input: mutated modules never escape as anything but the tool's own error, and
the malformed corpus (wast2json from assert_malformed) is rejected with exit 2."""

from __future__ import annotations

import subprocess
import sys
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import AuditorError
from auditor.wasm.inspect import inspect_bytes

SEED_WAT = r"""
(module
  (import "env" "f" (func $imp (param i32) (result i32)))
  (memory (export "memory") 2 16)
  (global $sp (mut i32) (i32.const 65536))
  (table 2 funcref)
  (elem (i32.const 0) $a $b)
  (func $a (export "a") (param i32) (result i32)
    local.get 0 memory.grow local.tee 0 i32.const -1 i32.eq
    if (result i32) i32.const 0 else local.get 0 call $imp end)
  (func $b (param i32 i64) (result i32 i64)
    local.get 0 i32.extend8_s local.get 1)
  (data (i32.const 1024) "hello, world")
  (data "passive"))
"""


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    d = tmp_path_factory.mktemp("seed")
    (d / "s.wat").write_text(SEED_WAT)
    subprocess.run(["wat2wasm", "--enable-all", "--debug-names", str(d / "s.wat"), "-o", str(d / "s.wasm")], check=True)
    return [(d / "s.wasm").read_bytes()]


def _only_our_error(data: bytes) -> None:
    try:
        inspect_bytes(data, "fuzz.wasm", compression="none").to_json()
    except AuditorError as e:
        line = e.line()
        assert "\n" not in line and line.startswith("fuzz.wasm")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutations_raise_only_our_error(seeds, data):
    base = bytearray(data.draw(st.sampled_from(seeds)))
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    pos = data.draw(st.integers(0, len(base)))
    if kind == "flip" and pos < len(base):
        base[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        del base[pos:]
    elif kind == "insert":
        base[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    elif pos < len(base):
        chunk = data.draw(st.binary(min_size=1, max_size=6))
        base[pos:pos + len(chunk)] = chunk
    _only_our_error(bytes(base))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_after_preamble(tail):
    _only_our_error(b"\0asm\1\0\0\0" + tail)


def test_every_truncation_is_rejected_with_its_offset(seeds):
    from auditor.wasm.parse import parse_module

    data = seeds[0]
    # A cut at a section boundary can leave a valid module (say, without its name
    # section); every other cut must be refused.
    boundaries = {s.offset for s in parse_module(data).sections}
    for n in range(len(data)):
        if n in boundaries:
            continue
        with pytest.raises(AuditorError) as err:
            inspect_bytes(data[:n], "cut.wasm", compression="none")
        assert err.value.line().startswith("cut.wasm: byte ")


def test_cli_bad_input_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\1\0\0\0\x01\x09\x01\x60")
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", str(bad)], check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "byte 8 " in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, expect", [
    (["inspect", "/nonexistent/x.wasm"], "no such file"),
    (["inspect", "."], "is a directory"),
])
def test_cli_missing_paths(args, expect):
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], check=False, capture_output=True, text=True)
    assert proc.returncode == 2 and expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_malformed_corpus_rejected(tmp_path):
    """Every case through the CLI's main() in-process (tests/clirun.py), a sample of them
    in a real `python -m auditor` too (the exit code and stderr a user sees)."""
    import clirun
    import fixturelib

    corpus = fixturelib.malformed_corpus(tmp_path)
    assert len(corpus) >= 15
    sample = {path for path, _ in corpus[::12]}
    for path, message in corpus:
        args = ["inspect", "--compression", "none", path]
        proc = clirun.run_process(args) if path in sample else clirun.run(args)
        assert proc.returncode == 2, f"{path.name} ({message}) was accepted"
        assert proc.stdout == "", proc.stdout
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "byte " in proc.stderr


# -- the fast body validator against the exact one ------------------------------------
# parse_module validates every body with opcodes.check_body: regexes built from the
# opcode table, with the exact one-instruction-at-a-time decoder as the fallback. Both
# must give the same verdict on every body, well-formed or not.

def _leb_u(value: int, pad: int = 0) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value or pad > 0:
            out.append(b | 0x80)
            pad -= 1 if not value else 0
            if not value and pad <= 0:
                out.append(0)
                return bytes(out)
        else:
            out.append(b)
            return bytes(out)


@st.composite
def _leb(draw, bits: int = 32, signed: bool = False) -> bytes:
    """LEB128s, mostly well-formed: short, padded (over-long but within the width), too
    long, and with unused bits set in the last byte."""
    kind = draw(st.sampled_from(["small", "small", "big", "padded", "too_long", "unused_bits"]))
    max_bytes = (bits + 6) // 7
    if kind == "small":
        return bytes((draw(st.integers(0, 0x7F)),))
    if kind == "big":
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        v = draw(st.integers(lo, hi))
        out = bytearray()
        while True:
            b = v & 0x7F
            v >>= 7
            done = (v == 0 and not b & 0x40) or (v == -1 and b & 0x40) if signed else v == 0
            out.append(b if done else b | 0x80)
            if done:
                return bytes(out)
    if kind == "padded":
        n = draw(st.integers(2, max_bytes))
        return bytes([0x80 | draw(st.integers(0, 0x7F))] + [0x80] * (n - 2) + [0x00])
    if kind == "too_long":
        return bytes([0x80] * max_bytes + [0x00])
    last = draw(st.integers(0x10, 0x7F))
    return bytes([0xFF] * (max_bytes - 1) + [last])


@lru_cache(maxsize=1)
def _instruction_strategy():
    from auditor.wasm.opcodes import tables

    t = tables()
    ops = list(t.single.values()) + [op for subs in t.prefixed.values() for op in subs.values()]
    valtype = st.sampled_from([b"\x7f", b"\x7e", b"\x7b", b"\x70", b"\x6f", b"\x63\x70", b"\x64\x00", b"\x64\x62\x01",
                               b"\x78", b"\x63\x40", b"\x64\xff\x7f"])
    heap = st.sampled_from([b"\x70", b"\x6e", b"\x00", b"\x05", b"\x62\x00", b"\x40", b"\xf0\x7f", b"\x80\x00"])
    blocktype = st.one_of(st.sampled_from([b"\x40", b"\x7f", b"\x7b", b"\x6f", b"\x63\x70", b"\x01", b"\x78", b"\x60"]),
                          _leb(33, signed=True))

    @st.composite
    def imm(draw, kind: str) -> bytes:
        if kind == "u32":
            return draw(_leb(32))
        if kind == "i32":
            return draw(_leb(32, signed=True))
        if kind == "i64":
            return draw(_leb(64, signed=True))
        if kind in ("f32", "f64", "v128", "shuffle", "lane"):
            n = {"f32": 4, "f64": 8, "v128": 16, "shuffle": 16, "lane": 1}[kind]
            return draw(st.binary(min_size=n, max_size=n))
        if kind == "memarg":
            flags = draw(st.sampled_from([b"\x00", b"\x03", b"\x40\x01", b"\x42\x80\x00", b"\x80\x00", b"\x80\x01",
                                          b"\xc0\x80\x00\x00", b"\x7f\x00"]))
            return flags + draw(_leb(64))
        if kind == "blocktype":
            return draw(blocktype)
        if kind == "heaptype":
            return draw(heap)
        if kind == "castflags":
            return bytes((draw(st.sampled_from([0, 1, 3, 4])),))
        if kind == "zero":
            return draw(st.sampled_from([b"\x00", b"\x01"]))
        if kind == "valtypes":
            n = draw(st.sampled_from([0, 1, 1, 2]))
            return bytes((n,)) + b"".join(draw(valtype) for _ in range(n))
        if kind == "labels":
            n = draw(st.sampled_from([0, 1, 3, 63, 64, 65, 130]))
            return _leb_u(n) + b"".join(draw(_leb(32)) for _ in range(n + 1))
        assert kind == "trytable"
        clauses = draw(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4]), _leb(32), _leb(32)), max_size=3))
        return draw(blocktype) + bytes((len(clauses),)) + b"".join(
            bytes((k,)) + (tag if k < 2 else b"") + label for k, tag, label in clauses)

    @st.composite
    def instruction(draw) -> bytes:
        op = draw(st.sampled_from(ops))
        if op.code < 0x100:
            enc = bytes((op.code,))
        else:  # prefix, then the sub-opcode: shortest, or padded (valid, rarely emitted)
            enc = bytes((op.code >> 16,)) + _leb_u(op.code & 0xFFFF, pad=draw(st.sampled_from([0, 0, 0, 1])))
        return enc + b"".join(draw(imm(k)) for k in op.imms)

    structure = st.sampled_from([b"\x02\x40", b"\x03\x7f", b"\x04\x40", b"\x05", b"\x0b", b"\x06\x40", b"\x07\x00",
                                 b"\x19", b"\x18\x00"])
    return st.lists(st.one_of(instruction(), structure, structure), max_size=40)


def _verdict(fn, body: bytes, datacount: bool):
    """"ok" plus the body's call/ref.func/memory.grow targets, or the error line."""
    from auditor.wasm.opcodes import body_refs, check_body

    try:
        if fn is check_body:
            refs: list = []
            fn(body, 0, len(body), "f.wasm", datacount, refs)
        else:
            fn(body, 0, len(body), "f.wasm", datacount)
            refs = body_refs(body, 0, len(body))  # positions, then each instruction decoded
        return "ok", refs
    except AuditorError as e:
        return e.line()


@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_fast_body_check_agrees_with_exact(data):
    from auditor.wasm.opcodes import check_body, check_body_exact

    insns = data.draw(_instruction_strategy())
    body = b"".join(insns) + data.draw(st.sampled_from([b"\x0b", b"\x0b", b"", b"\x0b\x0b"]))
    datacount = data.draw(st.booleans())
    assert _verdict(check_body, body, datacount) == _verdict(check_body_exact, body, datacount)


@pytest.mark.cargo
def test_fast_body_check_agrees_with_exact_on_real_bodies():
    """Every body of the compiler-built fixtures, and one-byte mutations of them."""
    import random

    from auditor.wasm.opcodes import check_body, check_body_exact, read_locals
    from auditor.wasm.parse import parse_module

    import fixturelib

    rng = random.Random(15)
    modules = [fixturelib.build_crate("heavy"), fixturelib.clang_module("bulk_simd", ("-O2", "-msimd128", "-mbulk-memory"))]
    checked = 0
    for path in modules:
        data = path.read_bytes()
        for f in parse_module(data, str(path)).functions:
            first = read_locals(data, f.code_offset, f.end)
            body = data[first:f.end]
            assert _verdict(check_body, body, True)[0] == "ok"
            assert _verdict(check_body, body, True) == _verdict(check_body_exact, body, True)
            for _ in range(3):
                mutated = bytearray(body)
                mutated[rng.randrange(len(body))] = rng.randrange(256)
                assert _verdict(check_body, bytes(mutated), True) == _verdict(check_body_exact, bytes(mutated), True)
                checked += 1
    assert checked > 300


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_accepted_by_inspect_means_readable_by_every_analysis(seeds, data):
    """One reader: a module parse_module accepts has every body decodable, so the
    runtime's static pass (call graph, grow sites, OOM path) can never reject what
    `inspect` accepted — the 41 fuzz mutants of issue 15 cannot happen by construction."""
    from auditor.runtime.static import static_facts
    from auditor.wasm.opcodes import decode, read_locals
    from auditor.wasm.parse import parse_module

    base = bytearray(data.draw(st.sampled_from(seeds)))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(8, len(base) - 1))
        base[pos] = data.draw(st.integers(0, 255))
    blob = bytes(base)
    try:
        mod = parse_module(blob, "m.wasm")
    except AuditorError:
        return
    for f in mod.functions:
        decode(blob, read_locals(blob, f.code_offset, f.end), f.end)
    facts = static_facts(mod)
    assert facts["available"], facts["reason"]
