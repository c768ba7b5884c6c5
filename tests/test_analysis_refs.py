"""Every body's references (calls, indirect tables, ref.func, globals, data addresses,
segment instructions) equal what wasm-objdump -d decodes, instruction by instruction,
on the hand-written modules, C, and rustc builds."""

from __future__ import annotations

import re

import pytest

from auditor.wasm.analysis.refs import code_references, data_ranges
from auditor.wasm.parse import parse_module

import fixturelib
import toolcache

_FUNC = re.compile(r"^[0-9a-f]+ func\[(\d+)\]")
_INSN = re.compile(r"^ [0-9a-f]+: [0-9a-f ]+\|\s*([a-z0-9_.]+)(?: (-?\d+))?")


def objdump_refs(path, ranges):
    text = toolcache.run_checked("wasm-objdump", ["-d"], path)
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
        elif op == "call_indirect":  # objdump prints the table first: call_indirect T <t> (type X)
            cur["tables"].add(int(a))
        elif op == "return_call_indirect":  # wabt 1.0.32 prints the raw immediates: type, then table
            cur["tables"].add(int(line.split("|")[1].split()[2]))
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


def window(mod) -> list[tuple[int, int, int]]:
    """[lowest segment start, highest end): the constants `data_addresses` keeps, gaps
    between segments included (edge_kinds.wat has one; the item graph maps each address
    to its segment, or to none)."""
    ranges = data_ranges(mod)
    return [(ranges[0][0], max(e for _, e, _ in ranges), 0)] if ranges else []


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
    theirs = objdump_refs(path, window(mod))
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


# --------------------------------------------------------------------------- constants and
# the parse pass's full refs: every i32.const LEB length, canonical and padded, around
# data windows at LEB boundaries; wasm-objdump -d decodes the same bytes.

def _leb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v == 0:
            return bytes(out + bytes((b,)))
        out.append(b | 0x80)


def _sleb_n(v: int, n: int) -> bytes:
    """v as a signed LEB128 of exactly n bytes (padded with sign-extension bytes)."""
    out = bytearray()
    for i in range(n):
        out.append((v & 0x7F) | (0x80 if i < n - 1 else 0))
        v >>= 7
    return bytes(out)


def _fits(v: int, n: int) -> bool:
    return -(1 << (7 * n - 1)) <= v < 1 << (7 * n - 1) if n < 5 else -(1 << 31) <= v < 1 << 31


def _section(sid: int, body: bytes) -> bytes:
    return bytes((sid,)) + _leb(len(body)) + body


def _const_module(segments: list[tuple[int, int]], values: list[int]) -> bytes:
    body = bytearray(b"\x00")  # no locals
    for v in values:
        for n in range(1, 6):
            if _fits(v, n):
                body += b"\x41" + _sleb_n(v, n) + b"\x1a"  # i32.const v (n LEB bytes); drop
    body += b"\x23\x00\x24\x00"  # global.get 0; global.set 0
    body += b"\x0b"
    data = bytearray(_leb(len(segments)))
    for offset, size in segments:
        data += b"\x00\x41" + _sleb_n(offset, 5) + b"\x0b" + _leb(size) + bytes(size)
    return (b"\0asm\x01\x00\x00\x00" + _section(1, b"\x01\x60\x00\x00") + _section(3, b"\x01\x00")
            + _section(5, b"\x01\x00\x01") + _section(6, b"\x01\x7f\x01\x41\x00\x0b")
            + _section(10, b"\x01" + _leb(len(body)) + bytes(body)) + _section(11, bytes(data)))


_WINDOWS = [[(0, 8)], [(60, 8)], [(64, 16)], [(8180, 30)], [(8192, 4)], [(1 << 20, 64), (3 << 20, 8)],
            [((1 << 27) - 8, 16)], [(0x7FFFFFF0, 8)], [(1000, 4), (1 << 28, 4)]]


@pytest.mark.parametrize("segments", _WINDOWS, ids=lambda s: "-".join(f"{a:x}+{b}" for a, b in s))
def test_constants_in_data_windows_equal_wasm_objdump(tmp_path, segments):
    edges = {x for a, size in segments for x in (a, a + size)}
    values = sorted({v + d for v in edges | {0, 63, 64, 8191, 8192, 1 << 20, 1 << 27, 1 << 28}
                     for d in (-2, -1, 0, 1) if -(1 << 31) <= v + d < 1 << 31} | {-1, -64, -(1 << 31)})
    path = tmp_path / "consts.wasm"
    path.write_bytes(_const_module(segments, values))
    for full_refs in (False, True):
        mod = parse_module(path.read_bytes(), str(path), full_refs=full_refs)
        ranges = data_ranges(mod)
        # data_addresses keeps the constants in [lowest segment, highest end), gaps
        # between segments included (the item graph maps each to its segment)
        theirs = objdump_refs(path, [(ranges[0][0], max(e for _, e, _ in ranges), 0)])
        ours = code_references(mod)
        assert ours.bodies[0].data_addresses == theirs[0]["addresses"], full_refs
        assert ours.bodies[0].globals == theirs[0]["globals"] == {0}
        assert theirs[0]["addresses"], "the window holds some of the constants"


@pytest.mark.parametrize("make", list(modules()))
def test_parse_pass_full_refs_equal_wasm_objdump(make):
    """parse_module(full_refs=True) keeps globals and data-address constants in its one
    pass (what the deep analyses read): the same references as wasm-objdump."""
    path = make()
    mod = parse_module(path.read_bytes(), str(path), full_refs=True)
    ours = code_references(mod)
    theirs = objdump_refs(path, window(mod))
    for index, refs in ours.bodies.items():
        t = theirs[index]
        assert (refs.calls, refs.indirect_tables, refs.ref_funcs, refs.globals) == \
            (t["calls"], t["tables"], t["ref_funcs"], t["globals"]), index
        assert refs.data_addresses == t["addresses"], index
        assert refs.grow == t["grow"] and refs.tags == t["tags"], index
