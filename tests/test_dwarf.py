"""DWARF in wasm custom sections, checked against llvm-dwarfdump-16 and wasm-objdump.

Real inputs: the `heavy` Rust fixture (release: only the Debian std carries DWARF;
release with debug=true: every crate does) and fixtures/c/debug_info.c built by clang-16
as DWARF 4 (`-g`) and DWARF 5 (`-gdwarf-5`). llvm-dwarfdump is the independent DWARF
reader, wasm-objdump the independent wasm reader (where each body starts).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.wasm import dwarf
from auditor.wasm.parse import parse_module

import fixturelib
import objdump

# Package llvm-16 (installed with clang-16 on Debian); a missing tool fails, not skips.
DWARFDUMP = shutil.which("llvm-dwarfdump-16") or shutil.which("llvm-dwarfdump") or "llvm-dwarfdump-16"

HEAVY_DEBUG = ("profile.release.debug=true",)


def inputs(*names: str) -> list:
    """Parameters for fixture(): the Rust ones carry the `cargo` marker."""
    return [pytest.param(n, marks=pytest.mark.cargo) if n.startswith("heavy") else n for n in names]


# --------------------------------------------------------------------------- inputs

@cache
def fixture(name: str) -> Path:
    if name == "heavy":
        return fixturelib.build_crate("heavy")
    if name == "heavy-debug":
        return fixturelib.build_crate("heavy", config=HEAVY_DEBUG)
    if name == "c-dwarf4":
        return fixturelib.clang_module("debug_info.c", ("-gdwarf-4",))
    if name == "c-dwarf5":
        return fixturelib.clang_module("debug_info.c", ("-gdwarf-5",))
    raise KeyError(name)


@cache
def module(name: str):
    path = fixture(name)
    return parse_module(path.read_bytes(), str(path))


@cache
def walk(name: str) -> dwarf.DwarfFunctions:
    return dwarf.dwarf_walk(module(name))


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom(data: bytes, name: str, content: bytes | None) -> bytes:
    """The module with custom section `name`'s content replaced (None: section dropped)."""
    out = bytearray(data[:8])
    for s in parse_module(data).sections:
        if s.custom and s.name == name:
            if content is not None:
                payload = _leb(len(name.encode())) + name.encode() + content
                out += b"\0" + _leb(len(payload)) + payload
        else:
            out += data[s.offset:s.offset + s.size]
    return bytes(out)


def content(mod, name: str) -> bytes:
    s = dwarf.debug_sections(mod)[name]
    return mod.data[s.start:s.end]


# --------------------------------------------------------------------------- llvm-dwarfdump

@dataclasses.dataclass
class Die:
    offset: int
    tag: str
    depth: int
    attrs: dict[str, str]
    namespace: str | None = None  # outermost DW_TAG_namespace around it
    body_die: int | None = None  # enclosing subprogram with a live low_pc


_DIE = re.compile(r"^0x([0-9a-f]+):( +)(DW_TAG_\w+|NULL)")
_ATTR = re.compile(r"^ +(DW_AT_\w+)\t\((.*?)\)?$")
_UNIT = re.compile(r"^0x[0-9a-f]+: (?:Compile|Type|Partial|Skeleton) Unit: .*version = 0x([0-9a-f]+)")


@cache
def dwarfdump(name: str, depth: int | None = None) -> tuple[list[int], list[Die]]:
    """(unit versions, DIEs) as llvm-dwarfdump --debug-info prints them."""
    cmd = [DWARFDUMP, "--debug-info", str(fixture(name))]
    if depth is not None:
        cmd.insert(2, f"--recurse-depth={depth}")
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    versions, dies, stack = [], [], []  # stack: (depth, Die) of open DIEs
    for line in text.splitlines():
        if m := _UNIT.match(line):
            versions.append(int(m.group(1), 16))
            stack = []
            continue
        if m := _DIE.match(line):
            depth_ = (len(m.group(2)) - 1) // 2
            while stack and stack[-1][0] >= depth_:
                stack.pop()
            if m.group(3) == "NULL":
                continue
            die = Die(int(m.group(1), 16), m.group(3), depth_, {})
            parent = stack[-1][1] if stack else None
            if parent is not None:
                die.namespace = parent.namespace
                die.body_die = parent.body_die
            dies.append(die)
            stack.append((depth_, die))
            continue
        if (m := _ATTR.match(line)) and dies:
            die = dies[-1]
            die.attrs[m.group(1)] = m.group(2)
            if die.tag == "DW_TAG_namespace" and m.group(1) == "DW_AT_name" and die.namespace is None:
                die.namespace = _quoted(m.group(2))
            if die.tag == "DW_TAG_subprogram" and m.group(1) == "DW_AT_low_pc" and _live(die):
                die.body_die = die.offset
    return versions, dies


def _quoted(value: str) -> str | None:
    m = re.search(r'"(.*)"', value)
    return m.group(1) if m else None


def _live(die: Die) -> bool:
    low = die.attrs.get("DW_AT_low_pc", "")
    return low.startswith("0x") and int(low.split()[0], 16) not in (0, 0xFFFFFFFF, 0xFFFFFFFE)


def _origin(die: Die) -> int | None:
    for key in ("DW_AT_abstract_origin", "DW_AT_specification"):
        if key in die.attrs:
            return int(die.attrs[key].split()[0], 16)
    return None


def _follow(by_offset: dict[int, Die], die: Die, attr: str) -> str | None:
    """An attribute of the DIE, else of its abstract origin / specification chain."""
    seen = set()
    while die is not None and die.offset not in seen:
        seen.add(die.offset)
        if attr in die.attrs:
            return die.attrs[attr]
        origin = _origin(die)
        die = by_offset.get(origin) if origin is not None else None
    return None


@cache
def body_starts(name: str) -> dict[int, int]:
    """low_pc (code payload offset) -> function index, from wasm-objdump -d and -h."""
    path = fixture(name)
    code_start = next(start for kind, start, _ in objdump.sections(path) if kind == "Code")
    text = subprocess.run(["wasm-objdump", "-d", str(path)], check=True, capture_output=True,
                          text=True).stdout
    return {int(m.group(1), 16) - code_start: int(m.group(2))
            for m in re.finditer(r"^([0-9a-f]+) func\[(\d+)\]", text, re.M)}


@cache
def expected_functions(name: str) -> dict[int, dict]:
    """What llvm-dwarfdump + wasm-objdump say each body's entry must be."""
    _, dies = dwarfdump(name)
    by_offset = {d.offset: d for d in dies}
    starts = body_starts(name)
    out: dict[int, dict] = {}
    body_of_die: dict[int, int] = {}
    for die in dies:
        if die.tag != "DW_TAG_subprogram" or not _live(die):
            continue
        index = starts.get(int(die.attrs["DW_AT_low_pc"], 16))
        assert index is not None, f"llvm-dwarfdump's low_pc {die.attrs['DW_AT_low_pc']} starts no body"
        if index in out:
            continue
        body_of_die[die.offset] = index
        line = _follow(by_offset, die, "DW_AT_decl_line")
        origin = by_offset.get(_origin(die)) if _origin(die) is not None else None
        out[index] = {
            "file": _quoted(_follow(by_offset, die, "DW_AT_decl_file") or ""),
            "line": int(line) if line else None,
            "crate": die.namespace or (origin.namespace if origin else None),
            "linkage_name": _quoted(_follow(by_offset, die, "DW_AT_linkage_name") or ""),
        }

    def key(offset: int):
        return _quoted(_follow(by_offset, by_offset[offset], "DW_AT_linkage_name") or "") or offset

    into: dict[object, set[int]] = {}
    for die in dies:
        if die.tag == "DW_TAG_inlined_subroutine" and die.body_die in body_of_die:
            into.setdefault(key(_origin(die)), set()).add(body_of_die[die.body_die])
    for offset, index in body_of_die.items():
        others = sorted(into.get(key(offset), set()) - {index})
        if others:
            out[index]["inlined_into"] = others
    return out


# --------------------------------------------------------------------------- summary

def test_no_debug_info_gives_none(wat_module):
    mod = parse_module(wat_module("names").read_bytes())
    assert dwarf.dwarf_summary(mod) is None
    result = dwarf.dwarf_walk(mod)
    assert result.functions == {} and result.unmatched == [f.index for f in mod.functions]


@pytest.mark.parametrize("name", inputs("heavy", "heavy-debug", "c-dwarf4", "c-dwarf5"))
def test_summary_units_equal_llvm_dwarfdump(name):
    versions, dies = dwarfdump(name, depth=0)
    tops = [d for d in dies if d.tag == "DW_TAG_compile_unit"]
    summary = dwarf.dwarf_summary(module(name))
    assert summary["error"] is None
    assert summary["compile_units"] == len(tops) == len(versions)
    assert [u["version"] for u in summary["units"]] == versions
    assert summary["versions"] == sorted(set(versions))
    for unit, die in zip(summary["units"], tops, strict=True):
        assert unit["name"] == _quoted(die.attrs["DW_AT_name"])
        assert unit["producer"] == _quoted(die.attrs["DW_AT_producer"])
        assert unit["comp_dir"] == _quoted(die.attrs["DW_AT_comp_dir"])
        assert unit["language"] == die.attrs["DW_AT_language"]
    assert summary["producers"] == list(dict.fromkeys(u["producer"] for u in summary["units"]))
    json.dumps(summary)


@pytest.mark.cargo
def test_summary_figures_of_real_modules():
    rust = dwarf.dwarf_summary(module("heavy"))
    assert rust["languages"] == ["DW_LANG_Rust"]
    assert rust["producers"] == ["clang LLVM (rustc version 1.63.0)"]
    # Release builds: only the prebuilt std carries DWARF, never the fixture crate.
    assert {"core", "alloc", "std", "compiler_builtins"} <= set(rust["crates"])
    assert "heavy" not in rust["crates"]
    assert "heavy" in dwarf.dwarf_summary(module("heavy-debug"))["crates"]
    c5 = dwarf.dwarf_summary(module("c-dwarf5"))
    assert c5["versions"] == [5] and c5["languages"] == ["DW_LANG_C11"]
    assert c5["units"][0]["crate"] is None
    assert c5["producers"][0].startswith("Debian clang version 16")
    assert dwarf.dwarf_summary(module("c-dwarf4"))["versions"] == [4]


@pytest.mark.parametrize("name", inputs("heavy", "c-dwarf5"))
def test_summary_bytes_equal_wasm_objdump(name):
    path = fixture(name)
    # wasm-objdump -h gives payload start/size; a whole section adds its id byte, size
    # LEB; the payload of a custom section includes its name.
    sizes = {kind: 1 + len(_leb(size)) + size for kind, _start, size in objdump.sections(path)
             if kind.startswith(".debug_")}
    summary = dwarf.dwarf_summary(module(name))
    assert summary["sections"] == sizes
    assert summary["bytes"] == sum(sizes.values())


@pytest.mark.parametrize("unit, crate", [
    ("library/std/src/lib.rs/@/std.afe45c0b-cgu.1", "std"),
    ("/usr/src/rustc-1.63.0/vendor/compiler_builtins/src/lib.rs/@/compiler_builtins.14d615d7-cgu.77",
     "compiler_builtins"),
    ("/usr/src/rustc-1.63.0/vendor/rustc-demangle/src/lib.rs/@/rustc_demangle.2a92c633-cgu.0",
     "rustc_demangle"),
    ("src/lib.rs/@/heavy.5a16d737-cgu.0", "heavy"),
    ("/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/lib.rs/@/core.e3b3ab7f-cgu.0",
     "core"),
    # CARGO_INCREMENTAL=1 (cargo's default for dev builds) hashes codegen unit names.
    ("src/lib.rs/@/3hvbpfcjxj4zfvme", None),
    ("/work/main/fixtures/c/debug_info.c", None),
    (None, None),
])
def test_crate_of_unit(unit, crate):
    assert dwarf.crate_of_unit(unit) == crate


# --------------------------------------------------------------------------- full walk

@pytest.mark.parametrize("name", inputs("heavy", "heavy-debug", "c-dwarf4", "c-dwarf5"))
def test_functions_equal_llvm_dwarfdump_and_objdump(name):
    got = walk(name)
    assert got.errors == [] and got.failed_units == 0
    assert got.unplaced == 0 and got.unplaced_examples == []
    assert got.functions == expected_functions(name)
    assert got.matched == len(expected_functions(name))
    assert got.bodies == len(objdump.code_sizes(fixture(name)))
    assert sorted(got.unmatched) == sorted(set(objdump.code_sizes(fixture(name))) - set(got.functions))


@pytest.mark.cargo
def test_linkage_names_equal_the_name_section():
    # The compiler wrote DWARF, the linker the name section: a wrong low_pc mapping
    # would pair a body with another function's symbol.
    for name in ("heavy", "heavy-debug"):
        mod, entries = module(name), walk(name).functions
        assert len(entries) > 100
        for index, entry in entries.items():
            symbol = re.sub(r"\.llvm\.\d+$", "", mod.function_names[index])
            assert entry["linkage_name"] in (symbol, None), index


@pytest.mark.cargo
def test_coverage_of_real_modules():
    debug = walk("heavy-debug")
    # Every body but rustc's allocator shims (generated without debug info) is described.
    names = [module("heavy-debug").function_names[i] for i in debug.unmatched]
    assert names and all(n.startswith("__rust_") for n in names), names
    assert debug.matched == debug.bodies - len(names)
    crates = {e["crate"] for e in debug.functions.values()}
    assert {"heavy", "core", "alloc", "std", "dlmalloc"} <= crates
    assert any("inlined_into" in e for e in debug.functions.values())
    assert debug.tombstoned > 1000  # std's DWARF describes far more than a cdylib links
    release = walk("heavy")
    assert "heavy" not in {e["crate"] for e in release.functions.values()}
    c = walk("c-dwarf5")
    assert {i: (e["file"].rsplit("/", 1)[-1], e["line"]) for i, e in c.functions.items()} == {
        1: ("debug_info.c", 13), 2: ("debug_info.c", 19)}  # manhattan, clamp_sum
    assert c.unmatched == [0]  # __wasm_call_ctors: made by wasm-ld


def test_low_pc_at_no_body_start_is_reported():
    mod = module("c-dwarf4")
    _, dies = dwarfdump("c-dwarf4")
    manhattan = next(d for d in dies if d.attrs.get("DW_AT_name") == '"manhattan"')
    # Its abbreviation code is one byte and DW_AT_low_pc (DW_FORM_addr) its first attribute.
    at = manhattan.offset + 1
    info = bytearray(content(mod, ".debug_info"))
    assert info[at:at + 4] == int(manhattan.attrs["DW_AT_low_pc"], 16).to_bytes(4, "little")
    info[at:at + 4] = (int(manhattan.attrs["DW_AT_low_pc"], 16) + 1).to_bytes(4, "little")
    bad = parse_module(with_custom(mod.data, ".debug_info", bytes(info)))
    result = dwarf.dwarf_walk(bad)
    assert (result.unplaced, result.matched, result.unmatched) == (1, 1, [0, 1])
    assert result.unplaced_examples == [{"name": "manhattan", "low_pc": 6}]
    assert result.errors == []


def test_walk_json_shape():
    mod = module("c-dwarf4")
    j = walk("c-dwarf4").to_json(mod)
    assert json.loads(json.dumps(j)) == j
    assert (j["bodies"], j["matched"], j["error"]) == (3, 2, None)
    assert j["unmatched"] == [{"index": 0, "name": "__wasm_call_ctors"}]
    assert [f["index"] for f in j["functions"]] == [1, 2]
    assert dwarf.dwarf_functions(mod) == walk("c-dwarf4").functions


# --------------------------------------------------------------------------- malformed

def _no_internal_error(mod) -> None:
    summary = dwarf.dwarf_summary(mod)
    assert isinstance(summary, dict)
    assert dwarf.INTERNAL not in (summary["error"] or "")
    json.dumps(summary)
    result = dwarf.dwarf_walk(mod)
    assert isinstance(result, dwarf.DwarfFunctions)
    assert not any(dwarf.INTERNAL in e for e in result.errors), result.errors
    assert set(result.functions) <= {f.index for f in mod.functions}
    json.dumps(result.to_json(mod))


def test_missing_abbrev_is_an_error_not_a_crash():
    data = fixture("c-dwarf5").read_bytes()
    mod = parse_module(with_custom(data, ".debug_abbrev", None), "x.wasm")
    summary = dwarf.dwarf_summary(mod)
    assert summary["compile_units"] == 0
    assert ".debug_abbrev" in summary["error"] and summary["error"].startswith("x.wasm: byte ")
    result = dwarf.dwarf_walk(mod)
    assert result.functions == {} and result.error
    _no_internal_error(mod)


@pytest.mark.cargo
def test_truncated_unit_names_its_offset():
    mod = module("heavy")
    info = content(mod, ".debug_info")
    second = dwarf.dwarf_summary(mod)["units"][1]["offset"]
    cut = parse_module(with_custom(mod.data, ".debug_info", info[:second + 40]), "t.wasm")
    summary = dwarf.dwarf_summary(cut)
    assert summary["compile_units"] == 1  # the first unit is whole and still read
    assert "runs past the end of the section" in summary["error"]
    start = dwarf.debug_sections(cut)[".debug_info"].start
    assert f"byte {start + second} " in summary["error"]


def test_unsupported_version_is_reported():
    mod = module("c-dwarf4")
    info = bytearray(content(mod, ".debug_info"))
    info[4:6] = (6).to_bytes(2, "little")
    bad = parse_module(with_custom(mod.data, ".debug_info", bytes(info)), "v.wasm")
    assert "unsupported DWARF version 6" in dwarf.dwarf_summary(bad)["error"]
    result = dwarf.dwarf_walk(bad)
    assert result.failed_units == 1 and "unit header" in result.error
    assert result.functions == {} and len(result.unmatched) == 3


@cache
def small_rust(units: int = 2) -> bytes:
    """heavy-debug with .debug_info cut to its first units: real rustc DWARF, fast to walk."""
    mod = module("heavy-debug")
    end = dwarf.dwarf_summary(mod)["units"][units]["offset"]
    return with_custom(mod.data, ".debug_info", content(mod, ".debug_info")[:end])


@pytest.mark.cargo
def test_cut_module_is_a_valid_seed():
    mod = parse_module(small_rust())
    assert dwarf.dwarf_summary(mod)["compile_units"] == 2
    assert dwarf.dwarf_walk(mod).matched > 0


@cache
def seeds() -> list[bytes]:
    return [fixture("c-dwarf4").read_bytes(), fixture("c-dwarf5").read_bytes(), small_rust()]


@pytest.mark.cargo
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corrupt_debug_sections_never_crash(data):
    base = data.draw(st.sampled_from(seeds()))
    mod = parse_module(base)
    sections = dwarf.debug_sections(mod)
    # .debug_info is where most of the structure is: pick it half of the time.
    name = data.draw(st.sampled_from([".debug_info"] * len(sections) + sorted(sections)))
    sec = sections[name]
    body = bytearray(mod.data[sec.start:sec.end])
    kind = data.draw(st.sampled_from(["overwrite", "flip", "truncate", "insert"]))
    # Most of the structure sits in the first bytes of a unit: aim there half of the time.
    limit = data.draw(st.sampled_from([min(len(body), 64), len(body)]))
    pos = data.draw(st.integers(0, limit))
    if kind == "truncate":
        del body[pos:]
    elif kind == "insert":
        body[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "flip" and pos < len(body):
        body[pos] ^= 1 << data.draw(st.integers(0, 7))
    else:
        chunk = data.draw(st.binary(min_size=1, max_size=8))
        body[pos:pos + len(chunk)] = chunk
    _no_internal_error(parse_module(with_custom(base, name, bytes(body))))


@pytest.mark.cargo
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.integers(0, 1_628_000), chunk=st.binary(min_size=1, max_size=8))
def test_summary_of_corrupt_std_debug_info(offset, chunk):
    # The summary reads the whole unit chain of the 1.6 MB std .debug_info: overwrite
    # anywhere (in place, so the module needs no re-parse) and it must still answer.
    mod = module("heavy")
    sec = dwarf.debug_sections(mod)[".debug_info"]
    at = sec.start + offset % (sec.end - sec.start)
    data = bytearray(mod.data)
    data[at:at + len(chunk)] = chunk[:sec.end - at]
    summary = dwarf.dwarf_summary(dataclasses.replace(mod, data=bytes(data)))
    assert isinstance(summary, dict) and dwarf.INTERNAL not in (summary["error"] or "")
