"""Bad input: mutated modules never escape as anything but the tool's own error, and
the malformed corpus (wast2json from assert_malformed) is rejected with exit 2."""

from __future__ import annotations

import subprocess
import sys

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
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", str(bad)], capture_output=True, text=True)
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
    proc = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True)
    assert proc.returncode == 2 and expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_malformed_corpus_rejected(tmp_path):
    import fixturelib

    corpus = fixturelib.malformed_corpus(tmp_path)
    assert len(corpus) >= 15
    for path, message in corpus:
        proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--compression", "none", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 2, f"{path.name} ({message}) was accepted"
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "byte " in proc.stderr
