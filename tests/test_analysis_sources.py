"""Per-source-file attribution from DWARF line tables, checked against llvm-dwarfdump-16.

Every row range llvm-dwarfdump --debug-line prints must be ours, with the same file
path and line; per-file byte sums computed from llvm-dwarfdump's rows must equal ours;
sampled addresses must resolve as `llvm-dwarfdump --lookup` resolves them; and the
files plus the unattributed row must sum to the code section wasm-objdump reports.
Inputs: Rust (rustc 1.63, DWARF 4; release with and without `debug = true`) and C
(clang-16, DWARF 4 and 5).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from auditor.wasm.analysis.sources import source_attribution
from auditor.wasm.dwarf_lines import read_line_tables
from auditor.wasm.parse import parse_module

import dwarfdump
import fixturelib
import objdump

NAMES = ["heavy", "heavy-debug", "heavy-dwarf5", "c-dwarf4", "c-dwarf5"]


@cache
def fixture(name: str) -> Path:
    if name == "heavy":
        return fixturelib.build_crate("heavy")
    if name == "heavy-debug":
        return fixturelib.build_crate("heavy", config=("profile.release.debug=true",))
    if name == "heavy-dwarf5":  # rustc 1.96 (stable -C dwarf-version): the crate in DWARF 5, std's in 4
        return fixturelib.build_crate("heavy", config=("profile.release.debug=true",), toolchain="rust196",
                                      env={"RUSTFLAGS": "-Cdwarf-version=5"})
    if name == "c-dwarf4":
        return fixturelib.clang_module("debug_info.c", ("-gdwarf-4",))
    if name == "c-dwarf5":
        return fixturelib.clang_module("debug_info.c", ("-gdwarf-5",))
    raise KeyError(name)


@cache
def module(name: str):
    p = fixture(name)
    return parse_module(p.read_bytes(), str(p))


def _dump(*args: str) -> str:
    return dwarfdump.dump(*args)


def dump_rows(name: str) -> list[tuple[int, int, str, int]]:
    """(start, end, path, line) of every row range llvm-dwarfdump --debug-line prints."""
    return dwarfdump.rows(fixture(name))


@pytest.mark.cargo
def test_rust_dwarf5_build_mixes_line_table_versions():
    """The precondition of heavy-dwarf5, from llvm-dwarfdump alone: the crate's own units
    have DWARF 5 line tables, the precompiled std's DWARF 4 (one module, both readers)."""
    versions: dict[int, int] = {}
    for m in re.finditer(r"debug_line\[0x([0-9a-f]+)\]\nLine table prologue:\n(?:.*\n){2}\s+version: (\d+)",
                         _dump("--debug-line", str(fixture("heavy-dwarf5")))):
        versions[int(m.group(2))] = versions.get(int(m.group(2)), 0) + 1
    assert versions.keys() == {4, 5}, versions
    own = [p for p in {r[2] for r in dump_rows("heavy-dwarf5")} if "/fixtures/crates/heavy/" in p or
           p.endswith("heavy/src/lib.rs")]
    assert own, "the crate's own source file is in the line tables"


@pytest.mark.cargo
@pytest.mark.parametrize("name", NAMES)
def test_rows_equal_llvm_dwarfdump(name):
    table = read_line_tables(module(name))
    assert table is not None and table.errors == []
    ours = sorted(zip(table.start, table.end, (table.paths[p] for p in table.path), table.line, strict=True))
    assert ours == dump_rows(name)
    assert table.overlapping_bytes == 0


@pytest.mark.cargo
@pytest.mark.parametrize("name", NAMES)
def test_file_sums_equal_llvm_dwarfdump_and_add_up_to_the_code_section(name):
    mod = module(name)
    attr = source_attribution(mod)
    code = next(s for s in objdump.sections(fixture(name)) if s[0] == "Code")
    code_section = mod.section("code")
    assert code[1] == code_section.payload_offset and code[2] == code_section.payload_size
    assert attr.code_bytes == code_section.size
    # bytes per file from llvm-dwarfdump's rows, clipped to the bodies
    base = code_section.payload_offset
    expected = dwarfdump.file_bytes(fixture(name), [(f.code_offset - base, f.end - base) for f in mod.functions])
    assert {f.path: f.bytes for f in attr.files} == expected
    assert sum(f.bytes for f in attr.files) + attr.unattributed == code_section.size
    assert sum(b for _, b in attr.directories) == sum(expected.values())
    assert attr.overhead == code_section.size - sum(sizes for sizes in objdump.code_sizes(fixture(name)).values())


@pytest.mark.cargo
@pytest.mark.parametrize("name", ["heavy-debug", "heavy-dwarf5", "c-dwarf5"])
def test_sampled_addresses_resolve_like_llvm_dwarfdump_lookup(name):
    mod = module(name)
    table = read_line_tables(mod)
    rows = dump_rows(name)
    step = max(1, len(rows) // 8)
    for a, b, _, _ in rows[::step][:8]:
        addr = (a + b) // 2
        out = _dump(f"--lookup=0x{addr:x}", str(fixture(name)))
        m = re.search(r"Line info: file '([^']*)', line (\d+)", out)
        assert m, out[-400:]
        path, line = table.lookup(addr)
        # --lookup prints the file entry's own name: a base name, `src/x.rs` in 1.96's std,
        # or the whole path when clang ran outside the source's directory tree
        shown = m.group(1)
        assert (path == shown if shown.startswith("/") else path.endswith("/" + shown)) and line == int(m.group(2))


@pytest.mark.cargo
def test_release_build_without_debug_info_leaves_own_code_unattributed():
    # std carries DWARF, the crate's own units do not: their bytes are `no_line_info`
    attr = source_attribution(module("heavy"))
    debug = source_attribution(module("heavy-debug"))
    assert attr.no_line_info > debug.no_line_info > 0  # allocator shims never have lines
    assert not any("/fixtures/crates/heavy/src/" in f.path for f in attr.files)
    assert any(f.path.endswith("/fixtures/crates/heavy/src/lib.rs") for f in debug.files)
    assert attr.lines is not None and attr.lines.tombstoned > 0  # std's dead code


def test_without_dwarf_everything_is_unattributed_with_the_setting_to_add_it():
    mod = parse_module(fixturelib.wat("names").read_bytes())
    attr = source_attribution(mod)
    assert not attr.available and attr.files == []
    assert attr.unattributed == attr.code_bytes == mod.section("code").size
    assert "debug = 1" in attr.to_json()["hint"]
