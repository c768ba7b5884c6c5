"""The walk's own DIE decoder against the pyelftools walk it replaced and llvm-dwarfdump-16.

`dwarf._dwarf_walk(mod, pyelftools_dies=True)` is the replaced code path (pyelftools'
DIE objects), run in the same session on the same module: every field of the result
and the walk's internals (subprograms by DIE offset, body matches, inlined pairs) must
be equal on real output of clang-16 (DWARF 4, 5) and rustc 1.63 (DWARF 4) / 1.96
(DWARF 5), on hand-made units holding every DWARF 4 and 5 form (whose DIE offsets
llvm-dwarfdump-16 must also give), and on corrupted .debug_info.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dwarf import DWARFDUMP, _leb, content, fixture, small_rust, with_custom

from auditor.wasm import dwarf
from auditor.wasm.parse import parse_module

import fixturelib

DEBUG = ("profile.release.debug=true",)


def walks(mod, monkeypatch) -> tuple[dwarf.DwarfFunctions, tuple, dwarf.DwarfFunctions, tuple]:
    """(result, internals) of the pyelftools walk and of ours; internals recorded at `_fill`."""
    seen: list[tuple] = []
    fill = dwarf._fill

    def record(out, mod, subs, found, inlined):
        seen.append(({k: dataclasses.astuple(v) for k, v in subs.items()}, dict(found), list(inlined)))
        fill(out, mod, subs, found, inlined)

    monkeypatch.setattr(dwarf, "_fill", record)
    old = dwarf._dwarf_walk(mod, pyelftools_dies=True)
    new = dwarf._dwarf_walk(mod, pyelftools_dies=False)
    monkeypatch.setattr(dwarf, "_fill", fill)
    return old, seen[0], new, seen[1]


def assert_same(mod, monkeypatch) -> dwarf.DwarfFunctions:
    old, old_inner, new, new_inner = walks(mod, monkeypatch)
    assert dataclasses.asdict(new) == dataclasses.asdict(old)
    assert new_inner == old_inner
    return new


def real(name: str) -> Path:
    if name.startswith("c-") or name in ("heavy", "heavy-debug"):
        return fixture(name)
    if name == "heavy-dwarf5":
        return fixturelib.build_crate("heavy", config=DEBUG, toolchain="rust196",
                                      env={"RUSTFLAGS": "-Cdwarf-version=5"})
    if name == "heavy-debug-v0":
        return fixturelib.build_crate("heavy", config=DEBUG, mangling="v0")
    raise KeyError(name)


@pytest.mark.parametrize("name", ["c-dwarf4", "c-dwarf5", *(
    pytest.param(n, marks=pytest.mark.cargo) for n in ("heavy", "heavy-debug", "heavy-debug-v0", "heavy-dwarf5"))])
def test_equal_to_the_pyelftools_walk_on_real_modules(name, monkeypatch):
    path = real(name)
    result = assert_same(parse_module(path.read_bytes(), str(path)), monkeypatch)
    assert result.errors == [] and result.matched > 0


# --------------------------------------------------------------------------- every form

FORMS_4 = {  # form: value bytes of one attribute in a DIE (offset-sized ones per width)
    0x0B: lambda w: b"\x7f", 0x05: lambda w: b"\x01\x02", 0x06: lambda w: b"\1\2\3\4",
    0x07: lambda w: bytes(range(8)), 0x0D: lambda w: _sleb(-200), 0x0F: lambda w: _leb(300),
    0x0C: lambda w: b"\x01", 0x19: lambda w: b"", 0x0A: lambda w: b"\x03abc",
    0x03: lambda w: b"\x02\x00xy", 0x04: lambda w: b"\x01\x00\x00\x00z", 0x09: lambda w: b"\x81\x01" + bytes(129),
    0x18: lambda w: b"\x02\x30\x9f", 0x0E: lambda w: bytes(w), 0x08: lambda w: b"inline\0",
    0x01: lambda w: b"\x34\x12\x00\x00", 0x11: lambda w: b"\x0c", 0x12: lambda w: b"\x0c\x00",
    0x13: lambda w: (12).to_bytes(4, "little"), 0x14: lambda w: (12).to_bytes(8, "little"),
    0x15: lambda w: _leb(12), 0x10: lambda w: (11).to_bytes(w, "little"),
    0x20: lambda w: bytes(range(8)), 0x17: lambda w: bytes(w),
    0x16: lambda w: _leb(0x05) + b"\x09\x00",  # indirect: data2
}
FORMS_5 = {
    **FORMS_4,
    0x1E: lambda w: bytes(range(16)), 0x21: lambda w: b"", 0x1F: lambda w: bytes(w),
    0x1D: lambda w: bytes(w), 0x1A: lambda w: b"\x00", 0x25: lambda w: b"\x00",
    0x26: lambda w: b"\x00\x00", 0x27: lambda w: b"\x00\x00\x00", 0x28: lambda w: bytes(4),
    0x1B: lambda w: b"\x00", 0x29: lambda w: b"\x00", 0x2A: lambda w: b"\x00\x00",
    0x2B: lambda w: bytes(3), 0x2C: lambda w: bytes(4), 0x1C: lambda w: bytes(4),
    0x24: lambda w: bytes(8), 0x22: lambda w: b"\x00", 0x23: lambda w: b"\x00",
}
# Each of these has one independent reader: pyelftools 0.33 reads DW_FORM_strx4 as 8
# bytes; llvm-dwarfdump-16 stops the unit at DW_FORM_addrx3 (supported from LLVM 17).
STRX4, ADDRX3 = 0x28, 0x2B
FORMS_5_PYELFTOOLS = {f: v for f, v in FORMS_5.items() if f != STRX4}


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            return bytes(out + bytes([b]))
        out.append(b | 0x80)


def _length(body: bytes, w: int) -> bytes:
    return ((len(body)).to_bytes(4, "little") if w == 4
            else b"\xff\xff\xff\xff" + len(body).to_bytes(8, "little")) + body


def synthetic(version: int, w: int, forms: dict) -> bytes:
    """c-dwarf5 with its DWARF replaced by one unit: after the top DIE, for each form a
    DW_TAG_variable holding one attribute of that form, then a DW_TAG_subprogram named
    after it (so a form skipped by a wrong size misplaces the subprograms that follow)."""
    abbrev, dies = bytearray(), bytearray()
    top_attrs = [(0x72, 0x17), (0x73, 0x17), (0x8C, 0x17), (0x74, 0x17)] if version >= 5 else []
    abbrev += b"\x01\x11\x01" + b"".join(_leb(a) + _leb(f) for a, f in top_attrs) + b"\0\0"
    abbrev += b"\x02\x2e\x00\x03\x08\x11\x01\0\0"  # subprogram: name string, low_pc addr
    # Each table's first entry follows its header: length, version, 2 more bytes (and
    # the lists' 4-byte offset count).
    bases = {0x72: 2 * w, 0x73: 2 * w, 0x8C: 2 * w + 4, 0x74: 2 * w + 4}
    dies += b"\x01" + b"".join(bases[a].to_bytes(w, "little") for a, _ in top_attrs)
    for code, (form, value) in enumerate(sorted(forms.items()), start=3):
        abbrev += _leb(code) + b"\x34\x00" + b"\x1c" + _leb(form) + (_sleb(-7) if form == 0x21 else b"") + b"\0\0"
        dies += _leb(code) + value(w)
        dies += b"\x02" + f"after_{form:x}".encode() + b"\0" + b"\xff\xff\xff\xff"
    dies += b"\0"
    abbrev += b"\0"
    header = version.to_bytes(2, "little") + (
        b"\x01\x04" + bytes(w) if version >= 5 else bytes(w) + b"\x04")
    info = _length(header + bytes(dies), w)
    table = lambda entries: _length(b"\x05\x00" + entries, w)  # noqa: E731
    lists = _length(b"\x05\x00\x04\x00\x01\x00\x00\x00" + w.to_bytes(w, "little") + b"\x00", w)
    sections = {".debug_info": info, ".debug_abbrev": bytes(abbrev), ".debug_str": b"hello\0",
                ".debug_line_str": b"line\0", ".debug_str_offsets": table(b"\0\0" + bytes(w)),
                ".debug_addr": table(b"\x04\x00\x34\x12\x00\x00"),
                ".debug_loclists": lists, ".debug_rnglists": lists}
    data = fixture("c-dwarf5").read_bytes()
    for s in parse_module(data).sections:
        if s.custom and s.name.startswith(".debug_"):
            data = with_custom(data, s.name, None)
    for name, body in sections.items():
        payload = _leb(len(name)) + name.encode() + body
        data += b"\0" + _leb(len(payload)) + payload
    return data


def dwarfdump_subprograms(path: Path) -> dict[int, str]:
    text = subprocess.run([DWARFDUMP, "--debug-info", str(path)], check=True, capture_output=True,
                          text=True).stdout
    return {int(m.group(1), 16): m.group(2) for m in re.finditer(
        r"^0x([0-9a-f]+):\s+DW_TAG_subprogram\n\s+DW_AT_name\s+\(\"(\w+)\"\)", text, re.M)}


@pytest.mark.parametrize(("version", "w"), [(4, 4), (4, 8), (5, 4), (5, 8)])
def test_every_form_is_skipped_by_its_size(version, w, tmp_path, monkeypatch):
    forms = FORMS_5 if version >= 5 else FORMS_4
    path = tmp_path / "forms.wasm"
    llvm_forms = {f: v for f, v in forms.items() if f != ADDRX3}
    path.write_bytes(synthetic(version, w, llvm_forms))
    mod = parse_module(path.read_bytes(), str(path))
    _, _, new, new_inner = walks(mod, monkeypatch)
    names = {offset: sub[0] for offset, sub in new_inner[0].items()}
    assert names == dwarfdump_subprograms(path)
    assert sorted(names.values()) == sorted(f"after_{f:x}" for f in llvm_forms)
    assert (new.errors, new.tombstoned, new.subprograms) == ([], len(llvm_forms), 0)
    path.write_bytes(synthetic(version, w, {f: v for f, v in forms.items() if f != STRX4}))
    new = assert_same(parse_module(path.read_bytes(), str(path)), monkeypatch)
    assert (new.errors, new.tombstoned) == ([], len(forms) - (STRX4 in forms))


# --------------------------------------------------------------------------- malformed

def one_line_errors(result: dwarf.DwarfFunctions) -> None:
    for e in result.errors:
        assert "\n" not in e and "Traceback" not in e and dwarf.INTERNAL not in e, e


def test_unknown_form_is_one_line_in_both(tmp_path, monkeypatch):
    data = synthetic(5, 4, {0x0B: FORMS_4[0x0B]})
    bad = data.replace(b"\x03\x34\x00\x1c\x0b\0\0", b"\x03\x34\x00\x1c\x7f\0\0")
    assert bad != data
    old, _, new, _ = walks(parse_module(bad, "f.wasm"), monkeypatch)
    assert old.failed_units == new.failed_units == 1
    assert new.errors == ["f.wasm: .debug_info unit at offset 0x0: DIE at offset 0x1d: "
                          "unknown attribute form 0x7f"]
    one_line_errors(old)


@pytest.mark.parametrize("cut", [1, 5, 30])
def test_truncated_die_fails_its_unit_in_both(cut, monkeypatch):
    data = synthetic(5, 4, FORMS_5_PYELFTOOLS)
    mod = parse_module(data)
    info = content(mod, ".debug_info")
    length = int.from_bytes(info[:4], "little")
    # Shorter section, unit length kept: the unit header check is pyelftools' own.
    short = info[:len(info) - cut]
    old, old_inner, new, new_inner = walks(parse_module(with_custom(data, ".debug_info", short), "t.wasm"),
                                           monkeypatch)
    assert length == len(info) - 4
    one_line_errors(old)
    one_line_errors(new)
    assert old.failed_units == new.failed_units == 1
    assert new_inner == old_inner  # the DIEs before the cut are read alike


def _mutated(data, base: bytes) -> bytes:
    mod = parse_module(base)
    body = bytearray(content(mod, ".debug_info"))
    limit = data.draw(st.sampled_from([min(len(body), 64), len(body)]))
    pos = data.draw(st.integers(0, max(0, limit - 1)))
    if data.draw(st.booleans()):
        body[pos] ^= 1 << data.draw(st.integers(0, 7))
    else:
        chunk = data.draw(st.binary(min_size=1, max_size=4))
        body[pos:pos + len(chunk)] = chunk
    return with_custom(base, ".debug_info", bytes(body))


def _agree_or_both_fail(data, base: bytes, monkeypatch) -> None:
    mod = parse_module(_mutated(data, base), "m.wasm")
    _check(*walks(mod, monkeypatch))


def _check(old, old_inner, new, new_inner) -> None:
    one_line_errors(old)
    one_line_errors(new)
    if not old.errors and not new.errors:
        assert dataclasses.asdict(new) == dataclasses.asdict(old)
        assert new_inner == old_inner
    elif new.failed_units == old.failed_units:
        assert new_inner == old_inner, (old.errors, new.errors)  # failed at the same DIE
    else:
        # pyelftools also resolves the attributes the walk skips (strx, addrx, …) and may
        # fail on one where ours reads on; never the other way round, and what pyelftools
        # read before failing ours read alike.
        assert new.failed_units < old.failed_units, (old.errors, new.errors)
        assert old_inner[0].items() <= new_inner[0].items()
        assert old_inner[1].items() <= new_inner[1].items()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_debug_info_agrees_or_fails_in_one_line(data, monkeypatch):
    base = data.draw(st.sampled_from([fixture("c-dwarf4").read_bytes(), fixture("c-dwarf5").read_bytes(),
                                      synthetic(5, 4, FORMS_5_PYELFTOOLS),
                                      synthetic(4, 8, FORMS_4)]))
    _agree_or_both_fail(data, base, monkeypatch)


@pytest.mark.cargo
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_rust_debug_info_agrees_or_fails_in_one_line(data, monkeypatch):
    _agree_or_both_fail(data, small_rust(), monkeypatch)


# --------------------------------------------------------------------------- abbreviation tables

def _scan(data: bytes, table: int, code: int):
    """The lookup without memory: read the table from its start to the first entry `code`."""
    r = dwarf.Reader(data, table, len(data), "t")
    while True:
        at = r.pos
        entry, tag, _children, specs = dwarf._abbrev_entry(r)
        if entry == 0:
            raise dwarf.MalformedModule(f".debug_abbrev: no abbreviation {code} in the unit's table", at, "t")
        if entry == code:
            return tag, specs


def _table(entries: list[tuple[int, int]]) -> bytes:
    """An abbreviation table: (code, tag) entries, each with one (name, strp) attribute."""
    out = bytearray()
    for code, tag in entries:
        out += bytes([code, tag, 0, 0x03, 0x0E, 0, 0])
    return bytes(out) + b"\0"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 0x7F)), max_size=6), min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, 2), st.integers(1, 10)), min_size=1, max_size=12))
def test_abbreviations_read_once_answer_as_a_scan_from_the_start(tables, asks):
    """Units share tables and ask for codes in any order, codes repeat, some are missing:
    DebugSection.abbreviation answers (or fails, at the same offset, with the same line)
    as reading the table from its start each time did."""
    data, offsets = b"", []
    for t in tables:
        offsets.append(len(data))
        data += _table(t)
    sec = dwarf.DebugSection(".debug_abbrev", 0, len(data), len(data))
    mod = type("M", (), {"data": data, "file": "t"})()
    for which, code in asks:
        table = offsets[which % len(offsets)]
        try:
            want = _scan(data, table, code)
        except dwarf.MalformedModule as e:
            with pytest.raises(dwarf.MalformedModule) as got:
                sec.abbreviation(mod, table, code)
            assert got.value.line() == e.line()
        else:
            assert sec.abbreviation(mod, table, code) == want
