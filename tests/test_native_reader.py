"""The compiled code reader (auditor/wasm/native: codescan.c run in wasmtime) against the
Python pass (opcodes.check_body), which is itself checked against wasm-tools and
wasm-objdump on the spec testsuite (tests/test_spec_corpus.py).

Contract: for any bytes, `parse_module(native=True)` and `parse_module(native=False)`
give the same module (every function's offsets and sizes, `ParsedRefs.flat`/`starts`/
`window`, with and without `full_refs`) or the same error (message and byte offset); and
on a valid module the compiled reader vouches for every body itself (the Python pass
reads none), so the speed is real. Inputs: every binary of the spec testsuite corpus,
the fuzz seeds and regressions, the .wat fixtures, generated and mutated bodies
(hypothesis), and sampled bodies of the four npm modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import AuditorError
from auditor.wasm import native as nat
from auditor.wasm import parse as parse_mod
from auditor.wasm.opcodes import FULL_REF_OPS, REF_OPS, check_body, read_locals, tables
from auditor.wasm.parse import ParsedRefs, parse_module

import fixturelib
import refcache

REPO = Path(__file__).resolve().parent.parent


class Counted:
    """Counts the bodies the Python pass read and the compiled sessions opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.python_bodies = 0
        self.sessions = 0
        read_body, session = parse_mod._read_body, nat.Session

        def counted_body(*args, **kwargs):
            self.python_bodies += 1
            return read_body(*args, **kwargs)

        def counted_session(*args, **kwargs):
            self.sessions += 1
            return session(*args, **kwargs)

        monkeypatch.setattr(parse_mod, "_read_body", counted_body)
        monkeypatch.setattr(nat, "Session", counted_session)


def outcome(data: bytes, native: bool, full: bool):
    try:
        mod = parse_module(data, "m.wasm", native=native, full_refs=full)
    except AuditorError as e:
        return ("error", type(e).__name__, e.what, getattr(e, "offset", None))
    refs = mod.derived.get(ParsedRefs.KEY)  # none without a code section
    if refs is None:
        return ("ok", [dataclasses.astuple(f) for f in mod.functions], None, None, None)
    return ("ok", [dataclasses.astuple(f) for f in mod.functions], refs.flat.tobytes(), refs.starts.tobytes(),
            refs.window)


def python_outcomes(data: bytes) -> tuple[tuple, tuple]:
    """The Python pass's outcomes, plain and with full_refs."""
    return outcome(data, False, False), outcome(data, False, True)


def same_both_ways(data: bytes, counted: Counted | None = None, python_pass: tuple | None = None) -> tuple:
    """Both passes, both modes; returns the Python pass's plain outcome. `python_pass`:
    python_outcomes(data) if the caller has them already."""
    plain = None
    for full in (False, True):
        python = python_pass[full] if python_pass is not None else outcome(data, False, full)
        before = counted.python_bodies if counted else 0
        native = outcome(data, True, full)
        assert native == python, (full, native[:4], python[:4])
        if counted and native[0] == "ok":
            assert counted.python_bodies == before, "the compiled reader left a valid body to the Python pass"
        if not full:
            plain = python
    assert plain is not None
    return plain


def test_reader_is_available():
    """The committed codescan.wasm loads with this wasmtime and these opcode tables (if
    not, every other test here would compare the Python pass with itself)."""
    assert nat.available()


# -- corpora --------------------------------------------------------------------------

def _spec_binaries() -> list[Path]:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "spec_corpus.sh")], check=False, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = Path(proc.stdout.strip().splitlines()[-1])
    seen: dict[str, Path] = {}
    for path in sorted(root.glob("*/*/*.wasm")):
        seen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
    return list(seen.values())


def test_spec_corpus_every_binary(monkeypatch):
    """Every distinct binary of the spec testsuite (valid, malformed, invalid): same
    module or same error both ways; valid bodies all read by the compiled reader."""
    counted = Counted(monkeypatch)
    paths = _spec_binaries()
    assert len(paths) >= 4000
    blobs = [path.read_bytes() for path in paths]
    # the Python pass's answers from tests/refcache.py when auditor's sources and the
    # corpus are those it last ran on (~1.5 CPU-s); the compiled reader always runs
    python = refcache.cached("python-pass-spec-corpus", refcache.digest(b"".join(map(refcache.digest_raw, blobs))),
                             lambda: [python_outcomes(b) for b in blobs], [outcome, python_outcomes], refcache.WASM_STAGE)
    ok = errors = 0
    for data, python_pass in zip(blobs, python, strict=True):
        result = same_both_ways(data, counted, python_pass)
        ok += result[0] == "ok"
        errors += result[0] == "error"
    assert ok >= 1800 and errors >= 500, (ok, errors)
    assert counted.sessions >= 1500  # modules with bodies went through the compiled reader


def test_fuzz_corpora_and_fixtures(monkeypatch):
    counted = Counted(monkeypatch)
    paths = sorted(p for p in (REPO / "fuzz").rglob("*") if p.is_file() and p.suffix in ("", ".wasm", ".bin"))
    paths += sorted(REPO.glob("fixtures/**/*.wasm"))
    paths += [fixturelib.wat(name) for name in fixturelib.wat_names()]
    assert len(paths) >= 40
    for path in paths:
        same_both_ways(path.read_bytes(), counted)
    assert counted.sessions >= 15


def test_real_modules_sampled_bodies():
    """The four npm modules (scripts/real_modules.sh): the compiled reader reads every
    body; every 16th body's pairs with full_refs (a superset of the plain pass's, which
    the spec corpus above covers) equal the Python pass's on that body (all of them:
    10 s of Python pass; tests/test_parsed_refs.py compares the whole call graph of the
    plain pass, now the compiled reader's, with a walk of the code)."""
    paths = list(fixturelib.real_modules())
    checked = 0
    for path in paths:
        data = path.read_bytes()
        for full in (True,):
            mod = parse_module(data, path.name, native=True, full_refs=full)
            refs = mod.derived[ParsedRefs.KEY]
            assert len(refs.starts) == len(mod.functions)
            bounds = [*refs.starts, len(refs.flat)]
            datacount = mod.data_count is not None
            sampled = [(f.code_offset, f.end) for f in mod.functions[::16]]
            # the Python pass's pairs of the sampled bodies from tests/refcache.py (keyed by
            # the bytes, the bodies' bounds, the window and auditor/wasm)
            expected = refcache.cached(
                "python-pass-sampled-bodies", (refcache.digest(data), refcache.digest(repr(sampled).encode()),
                                               datacount, refs.window),
                lambda data=data, sampled=sampled, datacount=datacount, window=refs.window, name=path.name:
                    python_pairs(data, sampled, name, datacount, window),
                [python_pairs], refcache.WASM_STAGE)
            for j, expect in enumerate(expected):
                k = 16 * j
                assert refs.flat[bounds[k] : bounds[k + 1]].tolist() == expect, (path.name, full, k)
                checked += 1
    assert checked > 3_500  # 63,000 bodies / 16


def python_pairs(data: bytes, bodies: list[tuple[int, int]], name: str, datacount: bool, window) -> list[list[int]]:
    """The Python pass's (check_body's) flat pairs of each (code_offset, end) body."""
    out = []
    for code_offset, end in bodies:
        expect: list[int] = []
        check_body(data, read_locals(data, code_offset, end), end, name, datacount, flat=expect, const_window=window)
        out.append(expect)
    return out


# -- generated and mutated bodies --------------------------------------------------------

def _uleb(v: int, pad: int = 0) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v or pad:
            out.append(b | 0x80)
            if not v:
                pad -= 1
                while pad > 0:
                    out.append(0x80)
                    pad -= 1
                out.append(0)
                return bytes(out)
        else:
            out.append(b)
            return bytes(out)


def _sleb(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if (v == 0 and not b & 0x40) or (v == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


WINDOW = (1000, 1064)  # the module's one active data segment: [1000, 1064)


@st.composite
def immediate(draw, kind: str) -> bytes:
    t = tables()
    small = st.integers(0, 3)
    if kind == "u32":
        return _uleb(draw(st.one_of(small, st.integers(0, 2**32 - 1))), draw(st.sampled_from([0, 0, 0, 1, 3])))
    if kind == "i32":
        lo, hi = WINDOW
        return _sleb(draw(st.one_of(st.sampled_from([lo - 1, lo, hi - 1, hi, -1, 2**31 - 1, -(2**31)]),
                                    st.integers(-(2**31), 2**31 - 1))))
    if kind == "i64":
        return _sleb(draw(st.integers(-(2**63), 2**63 - 1)))
    sizes = {"f32": 4, "f64": 8, "v128": 16, "shuffle": 16, "lane": 1}
    if kind in sizes:
        return draw(st.binary(min_size=sizes[kind], max_size=sizes[kind]))
    if kind == "memarg":
        flags = draw(st.integers(0, 0x7F))
        return _uleb(flags) + (_uleb(draw(small)) if flags & 0x40 else b"") + _uleb(draw(st.integers(0, 2**40)))
    valtype = st.sampled_from([*t.valtypes, *t.heaptypes])
    if kind == "blocktype":
        return draw(st.one_of(st.just(b"\x40"), valtype.map(lambda b: bytes((b,))), st.just(b"\x00")))
    if kind == "heaptype":
        return draw(st.one_of(st.sampled_from(sorted(t.heaptypes)).map(lambda b: bytes((b,))), st.just(b"\x00")))
    if kind == "castflags":
        return bytes((draw(st.integers(0, 4)),))
    if kind == "zero":
        return draw(st.sampled_from([b"\x00", b"\x00", b"\x01"]))
    if kind == "valtypes":
        return b"\x01" + bytes((draw(valtype),))
    if kind == "labels":
        n = draw(st.integers(0, 4))
        return _uleb(n) + b"".join(_uleb(draw(small)) for _ in range(n + 1))
    if kind == "trytable":
        clauses = draw(st.lists(st.sampled_from(sorted(t.catch_clauses)), max_size=3))
        return b"\x40" + _uleb(len(clauses)) + b"".join(
            bytes((c,)) + b"".join(_uleb(draw(small)) for _ in t.catch_clauses[c]) for c in clauses)
    raise AssertionError(kind)


def _all_ops():
    t = tables()
    return [*t.single.values(), *(op for subs in t.prefixed.values() for op in subs.values())]


_COMMON = [tables().by_name[n] for n in ("call", "call_indirect", "return_call", "ref.func", "memory.grow",
                                           "global.get", "global.set", "i32.const", "block", "loop", "if", "else",
                                           "end", "try", "catch", "catch_all", "delegate", "local.get",
                                           "i32.load", "memory.init", "data.drop")]


@st.composite
def instruction(draw) -> bytes:
    op = draw(st.one_of(st.sampled_from(_COMMON), st.sampled_from(_all_ops())))
    code = op.code
    if code < 0x100:
        head = bytes((code,))
    else:
        head = bytes((code >> 16,)) + _uleb(code & 0xFFFF, draw(st.sampled_from([0, 0, 0, 1])))
    return head + b"".join(draw(immediate(k)) for k in op.imms)


@st.composite
def body(draw) -> bytes:
    locals_ = draw(st.sampled_from([b"\x00", b"\x01\x02\x7f", b"\x02\x01\x7e\x03\x70", b"\x01\x01\x64\x00"]))
    insns = draw(st.lists(instruction(), max_size=12))
    t = tables()
    depth = 0
    for ins in insns:
        op = ins[0]
        if op in t.opens:
            depth += 1
        elif op == t.end:
            depth -= 1
    code = locals_ + b"".join(insns) + b"\x0b" * max(depth, 0) + b"\x0b"
    return code


def _section(sid: int, payload: bytes) -> bytes:
    return bytes((sid,)) + _uleb(len(payload)) + payload


def module(bodies: list[bytes], datacount: bool) -> bytes:
    n = len(bodies)
    out = b"\0asm\x01\0\0\0"
    out += _section(1, b"\x01\x60\x00\x00")  # type 0: [] -> []
    out += _section(3, _uleb(n) + b"\x00" * n)
    out += _section(4, b"\x01\x70\x00\x02")  # a funcref table
    out += _section(5, b"\x01\x00\x01")  # memory 0: 1 page
    out += _section(6, b"\x01\x7f\x01\x41\x00\x0b")  # a mutable i32 global
    if datacount:
        out += _section(12, b"\x01")
    out += _section(10, _uleb(n) + b"".join(_uleb(len(b)) + b for b in bodies))
    out += _section(11, b"\x01\x00\x41" + _sleb(WINDOW[0]) + b"\x0b" + _uleb(WINDOW[1] - WINDOW[0])
                    + b"\x2a" * (WINDOW[1] - WINDOW[0]))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(body(), min_size=1, max_size=5), datacount=st.booleans())
def test_generated_bodies(bodies, datacount):
    same_both_ways(module(bodies, datacount))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(body(), min_size=1, max_size=4), data=st.data())
def test_mutated_bodies(bodies, data):
    """A byte of the code section flipped, inserted or removed (body sizes may then lie):
    the same body fails, with the Python pass's message and offset."""
    wasm = bytearray(module(bodies, datacount=True))
    code_at = _code_payload(bytes(wasm))
    pos = data.draw(st.integers(code_at, len(wasm) - 1))
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
    if kind == "flip":
        wasm[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "insert":
        wasm.insert(pos, data.draw(st.integers(0, 255)))
    elif kind == "delete":
        del wasm[pos]
    else:
        wasm[pos] = data.draw(st.sampled_from([0x0B, 0x05, 0x02, 0x80, 0xFF, 0xFC, 0x10, 0x41]))
    same_both_ways(bytes(wasm))


def _code_payload(wasm: bytes) -> int:
    pos = 8
    while True:
        sid = wasm[pos]
        size, n = 0, 0
        pos += 1
        while True:
            b = wasm[pos]
            size |= (b & 0x7F) << (7 * n)
            pos += 1
            n += 1
            if b < 0x80:
                break
        if sid == 10:
            return pos
        pos += size


# -- the second half read in a thread (parse._Ahead) -------------------------------------

class _Split:
    """Every code section of two or more bodies split (the real threshold is 4 MB), as if
    two CPUs were free; counts the splits made."""

    def __init__(self, mp: pytest.MonkeyPatch):
        self.made = 0
        mp.setitem(tables().native, "min-split-code-bytes", 1)
        mp.setattr(parse_mod, "_cpus", lambda: 2)
        start = parse_mod._Ahead.start.__func__

        def counted(cls, *args):
            ahead = start(cls, *args)
            self.made += ahead is not None
            return ahead

        mp.setattr(parse_mod._Ahead, "start", classmethod(counted))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(body(), min_size=2, max_size=8), datacount=st.booleans(), data=st.data())
def test_split_sections_read_as_one(bodies, datacount, data):
    """Valid and mutated sections (a byte flipped, inserted or removed: body sizes may lie)
    read in two halves: the same module, pairs, error message and offset as the Python
    pass in order; a valid one is really split."""
    wasm = bytearray(module(bodies, datacount))
    mutate = data.draw(st.booleans())
    if mutate:
        code_at = _code_payload(bytes(wasm))
        pos = data.draw(st.integers(code_at, len(wasm) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if kind == "flip":
            wasm[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "insert":
            wasm.insert(pos, data.draw(st.integers(0, 255)))
        else:
            del wasm[pos]
    python = python_outcomes(bytes(wasm))
    with pytest.MonkeyPatch.context() as mp:
        split = _Split(mp)
        same_both_ways(bytes(wasm), python_pass=python)
    if not mutate:
        assert split.made == 2  # plain and full_refs


def test_split_errors_in_either_half_are_the_first_in_order(monkeypatch):
    good = b"\x00\x41\x05\x10\x00\x1a\x0b"  # i32.const 5, call 0, drop, end
    bad = b"\x00\x41\x05\xff\x0b"  # 0xff: no such opcode
    deep = b"\x00" + b"\x02\x40" * 70_000 + b"\x0b" * 70_000 + b"\x10\x01\x0b"  # declined by codescan.c
    split = _Split(monkeypatch)
    for bodies in ([good] * 5 + [bad, good], [good, bad] + [good] * 5 + [bad], [good] * 6 + [bad],
                   [good, good, deep, good, good], [good, good, good, deep, deep, good, bad]):
        wasm = module(bodies, datacount=False)
        expect = python_outcomes(wasm)
        made = split.made
        same_both_ways(wasm, python_pass=expect)
        assert split.made == made + 2, bodies


def test_split_real_module_equals_one_session(monkeypatch):
    """lightningcss (15.7 MB of code: split by the real threshold) read in two halves and
    by one session: the same bodies and pairs."""
    lightningcss = next(p for p in fixturelib.real_modules() if "lightningcss" in p.name)
    data = lightningcss.read_bytes()
    split = _Split(monkeypatch)
    monkeypatch.setitem(tables().native, "min-split-code-bytes", 4_000_000)
    two = outcome(data, True, True)
    assert split.made == 1
    monkeypatch.setitem(tables().native, "min-split-code-bytes", None)
    one = outcome(data, True, True)
    assert split.made == 1 and two == one and two[0] == "ok"


# -- error in the middle, resumption, fallback ---------------------------------------------

def test_error_in_the_third_body_same_message_and_offset(monkeypatch):
    good = b"\x00\x41\x05\x10\x00\x1a\x0b"  # i32.const 5, call 0, drop, end
    bad = b"\x00\x41\x05\xff\x0b"  # 0xff: no such opcode
    wasm = module([good, good, bad, good, good], datacount=False)
    counted = Counted(monkeypatch)
    errors = {outcome(wasm, native, full) for native in (True, False) for full in (True, False)}
    assert len(errors) == 1
    (kind, _, what, offset), = errors
    assert kind == "error" and what == "illegal opcode 0xff"
    # by hand: the third body's size byte, then its locals byte and `41 05`
    third = _code_payload(wasm) + 1 + 2 * (1 + len(good))
    assert offset == third + 1 + 3
    assert counted.sessions == 2  # the compiled reader read the first two, the Python pass the third


def test_a_body_the_compiled_reader_declines_is_read_by_python_and_the_rest_resumes(monkeypatch):
    """Nesting deeper than codescan.c's frame stack (65,536) is valid wasm: that body goes
    to the Python pass and the compiled reader resumes after it."""
    deep = b"\x00" + b"\x02\x40" * 70_000 + b"\x0b" * 70_000 + b"\x10\x01\x0b"
    plain = b"\x00\x10\x00\xd2\x01\x1a\x0b"  # call 0, ref.func 1, drop
    wasm = module([plain, deep, plain, plain], datacount=False)
    counted = Counted(monkeypatch)
    result = same_both_ways(wasm)
    assert result[0] == "ok"
    counted.python_bodies = 0
    mod = parse_module(wasm, native=True)
    assert counted.python_bodies == 1
    refs = mod.derived[ParsedRefs.KEY]
    assert [refs.of(k).tolist() for k in range(4)] == [[0x10, 0, 0xD2, 1], [0x10, 1], [0x10, 0, 0xD2, 1],
                                                      [0x10, 0, 0xD2, 1]]


def test_unavailable_reader_falls_back_to_python(monkeypatch):
    wasm = fixturelib.wat(fixturelib.wat_names()[0]).read_bytes()
    expect = outcome(wasm, False, True)
    monkeypatch.setattr(nat, "_compiled", lambda small=True: None)
    counted = Counted(monkeypatch)
    assert outcome(wasm, True, True) == expect
    assert counted.sessions == 0 and counted.python_bodies > 0


def test_mode_switch_and_threshold(monkeypatch):
    """AUDITOR_NATIVE_READER: off = Python only, on = always; auto by the code size
    (rules/wasm_opcodes.toml [native])."""
    wasm = fixturelib.wat(fixturelib.wat_names()[0]).read_bytes()
    counted = Counted(monkeypatch)
    for mode, sessions in (("off", 0), ("on", 1), ("auto", 0)):
        monkeypatch.setenv("AUDITOR_NATIVE_READER", mode)
        counted.sessions = 0
        parse_module(wasm)
        assert counted.sessions == sessions, mode
    monkeypatch.setenv("AUDITOR_NATIVE_READER", "auto")
    threshold = max(tables().native["min-code-bytes"], tables().native["min-code-bytes-loaded"])
    body = b"\x00" + b"\x41\x05\x1a" * 20_000 + b"\x0b"  # i32.const 5, drop
    big = module([body] * (threshold // len(body) + 1), datacount=False)
    counted.sessions = 0
    parse_module(big)
    assert counted.sessions == 1
    monkeypatch.setenv("AUDITOR_NATIVE_READER", "fast")
    with pytest.raises(AuditorError, match="AUDITOR_NATIVE_READER"):
        parse_module(wasm)


def test_table_blob_follows_the_opcode_tables():
    """The instruction table written into the reader is the opcode tables' data: spot
    checks against rules/wasm_opcodes.toml rows read here."""
    blob = nat.table_blob()
    t = tables()

    def entry(code: int) -> bytes:
        return blob[8 + 8 * code : 16 + 8 * code]

    kinds = nat.NATIVE_KINDS
    call = entry(t.by_name["call"].code)
    assert call[0] == kinds.index("u32") + 1 and call[1] == 0 and call[5] == nat.NATIVE_REFS.index("first") + 1
    ci = entry(t.by_name["call_indirect"].code)
    assert ci[5] == nat.NATIVE_REFS.index("second") + 1
    for code in REF_OPS | FULL_REF_OPS:
        assert entry(code)[5] != 0
    assert entry(t.by_name["i32.add"].code)[:6] == bytes(6)
    assert entry(t.by_name["if"].code)[4] == nat.NATIVE_ROLES.index("open-if") + 1


@pytest.mark.parametrize("window", [1, 37, 4096])
def test_small_windows(monkeypatch, window):
    """The section goes through linear memory a window at a time (4 MB; a body bigger
    than the window gets its own): with tiny windows every body crosses one, and the
    result is still the Python pass's."""
    monkeypatch.setattr(nat.Session, "WINDOW", window)
    counted = Counted(monkeypatch)
    good = b"\x00\x41\x05\x10\x00\x1a\x0b"
    big = b"\x00" + b"\x41\xe8\x07\x1a" * 3000 + b"\x10\x01\x0b"  # i32.const 1000 (in the data window), drop
    for wasm in (module([good, big, good, good, big], datacount=False),
                 module([good, good, b"\x00\x41\x05\xff\x0b", good], datacount=False),
                 *(fixturelib.wat(name).read_bytes() for name in fixturelib.wat_names())):
        same_both_ways(wasm, counted)
    assert counted.sessions > 0


def test_compiled_reader_cache(tmp_path, monkeypatch):
    """The reader's machine code is cached per wasmtime version and codescan.wasm; a
    file wasmtime refuses (here: garbage) is compiled again and replaced."""
    import wasmtime

    monkeypatch.setenv("AUDITOR_NATIVE_CACHE", str(tmp_path))
    engine = wasmtime.Engine()
    wasm = nat.WASM.read_bytes()
    first = nat._module(wasmtime, engine, wasm)
    (cached,) = tmp_path.glob("codescan-*.cwasm")
    assert [e.name for e in first.exports] == [e.name for e in wasmtime.Module(engine, wasm).exports]
    good = cached.read_bytes()
    cached.write_bytes(b"not machine code")
    again = nat._module(wasmtime, engine, wasm)
    assert cached.read_bytes() == good
    assert {e.name for e in again.exports} >= {"scan", "init", "memory"}
    assert nat._module(wasmtime, engine, wasm) is not None  # now from the file


def test_wasmtime_refusing_mid_section_leaves_the_rest_to_python(monkeypatch):
    """A trap or a refused memory in the reader (a bug, a limit) is not the module's
    fault: the bodies read so far stand, the Python pass reads the rest."""
    good = b"\x00\x41\x05\x10\x00\x1a\x0b"
    wasm = module([good] * 6, datacount=False)
    expect = outcome(wasm, False, True)
    monkeypatch.setattr(nat.Session, "WINDOW", 20)  # a few bodies per window: several calls
    calls = []
    real = nat.Session._scan

    def failing(self, *args):
        calls.append(args)
        if len(calls) == 2:
            raise nat.Failure("trap: out of bounds memory access (simulated)")
        return real(self, *args)

    monkeypatch.setattr(nat.Session, "_scan", failing)
    counted = Counted(monkeypatch)
    assert outcome(wasm, True, True) == expect
    assert len(calls) == 2 and 0 < counted.python_bodies < 6

    def no_instance(small=True):
        raise RuntimeError("simulated: wasmtime cannot instantiate")

    monkeypatch.setattr(nat, "_Instance", no_instance)
    monkeypatch.setattr(nat, "_POOL", [])
    monkeypatch.setattr(nat, "_BIG", [True])  # both engines refused
    counted.python_bodies = 0
    assert outcome(wasm, True, True) == expect
    assert counted.python_bodies == 6


# -- the name map's inline LEB reads (parse._read_name_map) ---------------------------------

def _name_map_by_reader(data: bytes) -> dict[int, str]:
    """The name map read one Reader call at a time: the reference for the inline reads."""
    from auditor.wasm.reader import MalformedModule, Reader

    r = Reader(data, 0, len(data), "m.wasm")
    out: dict[int, str] = {}
    for _ in range(r.count(2, "name map entry")):
        idx = r.u32()
        n = r.u32()
        if n > r.end - r.pos:
            raise MalformedModule(f"name length {n} runs past the end ({r.end - r.pos} bytes left)", r.pos, r.file)
        try:
            out[idx] = data[r.pos : r.pos + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedModule("name is not valid UTF-8", r.pos + e.start, r.file) from None
        r.pos += n
    return out


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 4), st.binary(max_size=200),
                                  st.integers(0, 2)), max_size=6),
       cut=st.integers(0, 8), junk=st.binary(max_size=3))
def test_name_map_inline_reads(entries, cut, junk):
    from auditor.wasm.reader import Reader

    body = _uleb(len(entries)) + b"".join(
        _uleb(idx, pad) + _uleb(len(name), lpad) + name for idx, pad, name, lpad in entries)
    body = (body[: len(body) - cut] if cut else body) + junk

    def run(read):
        try:
            return ("ok", read())
        except AuditorError as e:
            return ("error", e.what, getattr(e, "offset", None))

    def inline():
        out: dict[int, str] = {}
        parse_mod._read_name_map(Reader(body, 0, len(body), "m.wasm"), out)
        return out

    assert run(inline) == run(lambda: _name_map_by_reader(body))


def test_the_reader_runs_under_an_address_space_cap(tmp_path):
    """Under `ulimit -v 4 GB` (some CI sets one) wasmtime's default 4 GiB reservation per
    memory made the instance impossible and every module fell back to the Python pass.
    In a child capped at 4 GB: the compiled reader reads every body of a module and gives
    what the Python pass gives (on the bounds-checked engine: the one without bounds
    checks reserves 4 GiB + 32 MiB, which the cap refuses)."""
    module = fixturelib.wat(fixturelib.wat_names()[0])
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "from auditor.wasm import native as nat, parse as P\n"
        "calls = []\n"
        "real = P._read_body\n"
        "P._read_body = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "mine = P.parse_module(data, 'm', native=True)\n"
        "assert not calls, f'{len(calls)} bodies left to the Python pass'\n"
        "assert not nat._BIG[0], 'the 4 GiB reservation was not refused under the cap'\n"
        "theirs = P.parse_module(data, 'm', native=False)\n"
        "import dataclasses as d\n"
        "assert [d.astuple(f) for f in mine.functions] == [d.astuple(f) for f in theirs.functions]\n"
        "print(len(mine.functions))\n"
    )
    env = dict(os.environ, AUDITOR_NATIVE_CACHE=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(module)], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) > 0
