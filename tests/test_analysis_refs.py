"""Every body's references (calls, indirect tables, ref.func, globals, data addresses,
segment instructions) equal what wasm-objdump -d decodes, instruction by instruction,
on the hand-written modules, C, and rustc builds."""

from __future__ import annotations

import re
import subprocess

import pytest

from auditor.wasm.analysis.refs import code_references, data_ranges
from auditor.wasm.parse import parse_module

import fixturelib

_FUNC = re.compile(r"^[0-9a-f]+ func\[(\d+)\]")
_INSN = re.compile(r"^ [0-9a-f]+: [0-9a-f ]+\|\s*([a-z0-9_.]+)(?: (-?\d+))?")


def objdump_refs(path, ranges):
    text = subprocess.run(["wasm-objdump", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    out: dict[int, dict[str, object]] = {}
    cur = None
    for line in text.splitlines():
        if m := _FUNC.match(line):
            cur = out.setdefault(int(m.group(1)), {k: set() for k in
                                                  ("calls", "tables", "ref_funcs", "globals", "data", "elem", "tags")})
            cur["grow"] = []
            cur["addresses"] = []
            continue
        m = _INSN.match(line)
        if m is None or cur is None:
            continue
        op, a = m.group(1), m.group(2)
        if op in ("call", "return_call"):
            cur["calls"].add(int(a))
        elif op in ("call_indirect", "return_call_indirect"):
            cur["tables"].add(int(a))
        elif op == "ref.func":
            cur["ref_funcs"].add(int(a))
        elif op in ("global.get", "global.set"):
            cur["globals"].add(int(a))
        elif op in ("memory.init", "data.drop"):
            cur["data"].add(int(a))
        elif op in ("table.init", "elem.drop"):
            cur["elem"].add(int(a))
        elif op in ("throw", "catch"):
            cur["tags"].add(int(a))
        elif op == "memory.grow":
            cur["grow"].append(int(line.split(":")[0], 16))
        elif op == "i32.const" and any(s <= int(a) < e for s, e, _ in ranges):
            cur["addresses"].append(int(a))
    return out


def modules():
    """Built when the test runs, not at collection (a cargo build there would run in
    every session, `-m "not cargo"` too, and escape the `cargo` marker)."""
    yield from (pytest.param(lambda n=n: fixturelib.wat(n), id=n) for n in fixturelib.wat_names())
    yield pytest.param(lambda: fixturelib.clang_module("malloc_free.c"), id="malloc_free")
    yield pytest.param(lambda: fixturelib.build_crate("heavy"), id="heavy", marks=pytest.mark.cargo)
    yield pytest.param(lambda: fixturelib.build_crate("minimal", mangling="v0"), id="minimal-v0",
                       marks=pytest.mark.cargo)


@pytest.mark.parametrize("make", list(modules()))
def test_references_equal_wasm_objdump(make):
    path = make()
    mod = parse_module(path.read_bytes(), str(path))
    ours = code_references(mod)
    theirs = objdump_refs(path, data_ranges(mod))
    assert sorted(ours.bodies) == sorted(theirs)
    for index, refs in ours.bodies.items():
        t = theirs[index]
        assert refs.calls == t["calls"], index
        assert refs.indirect_tables == t["tables"], index
        assert refs.ref_funcs == t["ref_funcs"], index
        assert refs.globals == t["globals"], index
        assert refs.data_segments == t["data"], index
        assert refs.elem_segments == t["elem"], index
        assert sorted(refs.data_addresses) == sorted(t["addresses"]), index
        assert refs.tags == t["tags"] and refs.grow == t["grow"], index
    assert ours.undecodable == []


def test_segment_instructions_are_found():
    refs = code_references(parse_module(fixturelib.wat("segments").read_bytes()))
    init = next(r for r in refs.bodies.values() if r.data_segments)
    assert init.data_segments == {0} and init.elem_segments == {1}
