"""Allocator detection from names: legacy and v0 demangled forms, the crate-prefix
prefilter (checked against a brute-force search of every pattern over every name), the
std-symbol test that tells std's private dlmalloc from the dlmalloc crate, and the
allocator_check's sources (names, twin, churn narrowing, siblings)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from auditor.rules.allocator import allocator_check, resolve_siblings
from auditor.wasm.allocator import StdSymbols, detect, lead_segment, resolve_std_copy, std_copy_of

from fixturelib import REPO

ENTRIES = tomllib.loads((REPO / "rules" / "allocators.toml").read_text())["allocator"]

# Names as rustc 1.63 (legacy) and rustc 1.96 (v0 std, legacy crates) leave them, demangled.
LEGACY_STD = ["dlmalloc::dlmalloc::Dlmalloc<A>::malloc", "__rdl_alloc", "__rust_alloc"]
V0_STD = ["<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc", "__rustc::__rdl_alloc",
          "__rustc::__rust_alloc", "__rustc::__rust_alloc_error_handler"]


def _fns(names, size=100):
    return [(None, n, size) for n in names]


@pytest.mark.parametrize("names,want", [
    (LEGACY_STD, "default"), (V0_STD, "default"),
    (["<wee_alloc::WeeAlloc as core::alloc::global::GlobalAlloc>::alloc", "wee_alloc::alloc_first_fit"], "wee_alloc"),
    (["<lol_alloc::free_list_allocator::FreeListAllocator<T> as core::alloc::global::GlobalAlloc>::alloc",
      "<lol_alloc::DefaultGrower as lol_alloc::MemoryGrower>::memory_grow"], "lol_alloc"),
    (["<lol_alloc::trivial_allocators::LeakingAllocator<T> as core::alloc::global::GlobalAlloc>::alloc"],
     "lol_alloc_leaking"),
    (["talc::base::Talc<S,B>::allocate", "<talc::wasm::WasmBinning as talc::base::binning::Binning>::size_to_bin"],
     "talc"),
    (["talc::talc::Talc<O>::malloc"], "talc4"),
    (["dlmalloc::dlmalloc::Dlmalloc<A>::malloc", "<dlmalloc::global::GlobalDlmalloc as core::alloc::global::GlobalAlloc>::alloc"],
     "dlmalloc"),
    (["dlmalloc::dlmalloc::Dlmalloc<A>::malloc", "__rustc::__rg_alloc"], "dlmalloc"),
])
def test_legacy_and_v0_forms(names, want):
    info = detect(_fns(names + ["core::fmt::write", "<alloc::string::String as core::fmt::Write>::write_str"]), [])
    assert info.name == want and not info.ambiguous_with, info


def test_crate_names_alone_leave_the_crates_entries_ambiguous():
    info = detect(_fns(["<lol_alloc::DefaultGrower as lol_alloc::MemoryGrower>::memory_grow",
                        "lol_alloc::PageCount::size_in_bytes"]), [])
    assert {info.name, *info.ambiguous_with} == {"lol_alloc", "lol_alloc_leaking"}


def test_dlmalloc_without_shims_is_ambiguous_with_the_crate():
    info = detect(_fns(["<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc"]), [])
    assert info.name == "default" and info.ambiguous_with == ["dlmalloc"]


def test_no_names_is_unknown_and_none_needs_grow_sites():
    assert detect([(None, None, 10)], []).name == "unknown"
    assert detect(_fns(["f"]), []).name == "none"
    assert detect(_fns(["f"]), None).name == "unknown"  # grow sites not looked at: never "none"


def test_lead_segment():
    assert lead_segment("<&mut wee_alloc::WeeAlloc as x::Y>::alloc") == "wee_alloc"
    assert lead_segment("<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc") == "dlmalloc"
    assert lead_segment("__rustc::__rdl_alloc") == "__rustc" and lead_segment("__rdl_alloc") == "__rdl_alloc"
    assert lead_segment("talc::base::Talc<S,B>::allocate") == "talc"


# ----------------------------------------------------------------- std's dlmalloc vs the crate

STD_V0 = StdSymbols(frozenset({"_RNvXs_NtCsjDNFGDkxO1F_8dlmalloc3sysNtB4_6SystemNtB6_9Allocator5alloc"}))
STD_LEGACY = StdSymbols(frozenset({"_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h0d49dc60e377c70eE"}))


def test_std_copy_of_sound_rules():
    # v0: the crate root's disambiguator is std's instance, or another one.
    assert std_copy_of("_RNvMs0_NtCsjDNFGDkxO1F_8dlmalloc8dlmalloc6malloc", "dlmalloc", STD_V0) is True
    assert std_copy_of("_RNvMs0_NtCsOTHERxO1F_8dlmalloc8dlmalloc6malloc", "dlmalloc", STD_V0) is False
    # a legacy symbol can't be std's copy when std's copy is v0-mangled
    assert std_copy_of("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h1111111111111111E", "dlmalloc", STD_V0) is False
    # legacy std: the exact symbol is std's; the same path under another hash is another instance
    assert std_copy_of("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h0d49dc60e377c70eE.llvm.123", "dlmalloc",
                       STD_LEGACY) is True
    assert std_copy_of("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h1111111111111111E", "dlmalloc",
                       STD_LEGACY) is False
    # a legacy path std does not export: cannot tell
    assert std_copy_of("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$4free17h1111111111111111E", "dlmalloc",
                       STD_LEGACY) is None


def test_resolve_std_copy_decides_the_pair():
    def rec(symbol):
        return detect([(symbol, "dlmalloc::dlmalloc::Dlmalloc<A>::malloc", 500)], []).to_json()

    crate = resolve_std_copy(rec("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h1111111111111111E"), STD_LEGACY)
    assert crate["name"] == "dlmalloc" and crate["ambiguous_with"] == [] and crate["std_copy"]
    std = resolve_std_copy(rec("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h0d49dc60e377c70eE"), STD_LEGACY)
    assert std["name"] == "default" and std["ambiguous_with"] == []
    unknown = rec("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$4free17h1111111111111111E")
    assert resolve_std_copy(unknown, STD_LEGACY) == unknown  # nothing decides: still ambiguous
    assert resolve_std_copy(unknown, None) == unknown


# ----------------------------------------------------------------- allocator_check sources

def _wasm(names):
    return {"allocator": detect(_fns(names), []).to_json()}


STRIPPED = {"allocator": detect([(None, None, 10)], []).to_json()}


def test_check_from_names_twin_and_none():
    c = allocator_check("wee_alloc", [], _wasm(["wee_alloc::alloc_first_fit"]))
    assert (c["status"], c["method"], c["detected"]) == ("match", "names", "wee_alloc")
    c = allocator_check("wee_alloc", [], STRIPPED, twin=_wasm(["wee_alloc::alloc_first_fit"])["allocator"])
    assert (c["status"], c["method"]) == ("match", "twin")
    c = allocator_check("wee_alloc", [], STRIPPED, twin=STRIPPED["allocator"])
    assert (c["status"], c["method"]) == ("unverified", "none")
    c = allocator_check("talc", [], STRIPPED, twin=_wasm(["wee_alloc::alloc_first_fit"])["allocator"])
    assert (c["status"], c["method"], c["detected"]) == ("mismatch", "twin", "wee_alloc")


def test_check_ambiguous_unless_churn_or_std_symbols_decide():
    lol = ["<lol_alloc::DefaultGrower as lol_alloc::MemoryGrower>::memory_grow"]
    assert allocator_check("lol_alloc_leaking", [], _wasm(lol))["status"] == "ambiguous"
    c = allocator_check("lol_alloc_leaking", [], _wasm(lol), churn="leak")
    assert c["status"] == "match" and any(b.startswith("churn: leak") for b in c["basis"])
    assert allocator_check("lol_alloc_leaking", [], _wasm(lol), churn="plateau")["status"] == "ambiguous"
    lto = {"allocator": detect([("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h1111111111111111E",
                                 "dlmalloc::dlmalloc::Dlmalloc<A>::malloc", 500)], []).to_json()}
    assert allocator_check("dlmalloc", [], lto)["status"] == "ambiguous"  # dlmalloc crate vs std under LTO
    assert allocator_check("dlmalloc", [], lto, std=STD_LEGACY)["status"] == "match"
    assert allocator_check("default", [], lto, std=STD_LEGACY)["status"] == "mismatch"


def test_siblings_verify_injected_allocators_only():
    def v(vid, alloc, injected, check):
        return SimpleNamespace(id=vid, allocator=alloc, injected=injected, allocator_check=check)

    names = allocator_check("wee_alloc", [], _wasm(["wee_alloc::alloc_first_fit"]))
    vs = [v("release/wee_alloc", "wee_alloc", {"x": 1}, names),
          v("min-size-z/wee_alloc", "wee_alloc", {"x": 1}, allocator_check("wee_alloc", [], STRIPPED)),
          v("release/default", "default", None, allocator_check("default", [], _wasm(LEGACY_STD))),
          v("min-size-z/default", "default", None, allocator_check("default", [], STRIPPED))]
    resolve_siblings(vs)
    assert vs[1].allocator_check["status"] == "match" and vs[1].allocator_check["method"] == "sibling"
    assert vs[1].allocator_check["via"] == "release/wee_alloc"
    assert vs[3].allocator_check["status"] == "unverified"  # std's default: a dependency may cfg one in


# ----------------------------------------------------------------- the prefilter loses nothing

def _brute(names: list[tuple[str | None, str | None]]) -> dict[str, set[str]]:
    """Every entry's patterns (strong, weak, requires) searched in every name, no prefilter."""
    out: dict[str, set[str]] = {}
    for entry, spec in ENTRIES.items():
        pats = [re.compile(p) for key in ("patterns", "crate-patterns", "requires-any") for p in spec.get(key, [])]
        for raw, dem in names:
            if any(p.search(t) for p in pats for t in (dem, raw) if t):
                out.setdefault(entry, set()).add(dem or raw or "")
    return out


def _module_names(path) -> list[tuple[str | None, str | None]]:
    from auditor.wasm.demangle import demangle, strip_hash
    from auditor.wasm.parse import parse_module

    mod = parse_module(path.read_bytes(), str(path))
    return [(f.name, strip_hash(demangle(f.name)) if f.name else None) for f in mod.functions]


@pytest.mark.cargo
@pytest.mark.parametrize("tc_name", ["1.63", "1.96"])
def test_prefilter_finds_what_brute_force_finds_on_real_modules(tc_name):
    """Every name any pattern matches (brute force) starts with a crate its entry declares,
    so the prefilter skips nothing, on every module of the real-allocator scan."""
    from realcrates import ALLOCATORS_ON, scan

    allocators = ALLOCATORS_ON[tc_name] + (["talc"] if tc_name == "1.63" else [])
    report = scan(tc_name, "release,min-size-z", ",".join(allocators))  # test_real_allocators' scan, shared
    checked = 0
    for v in report["variants"]:
        for key in ("wasm_path", "probes_path"):
            if not v.get(key):
                continue
            names = _module_names(Path(v[key]))
            for entry, hits in _brute(names).items():
                crates = ENTRIES[entry].get("crates") or [ENTRIES[entry]["crate"].replace("-", "_")]
                for n in hits:
                    assert lead_segment(n) in crates, (entry, n)
                    checked += 1
    assert checked > 100


def test_detection_is_one_cheap_pass():
    """40,000 names (the size of @biomejs/wasm-nodejs, 35,823) in well under 0.3 s of CPU,
    and linear: 4x the names costs at most ~4x (plus slack for a loaded machine)."""
    import time

    base = [f"<alloc::vec::Vec<T>>::push_{i}" if i % 3 else f"core::fmt::Formatter::pad_{i}" for i in range(10_000)]
    base += ["<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc", "__rustc::__rdl_alloc"]

    def cpu(names):
        fns = [(n, n, 10) for n in names]
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            info = detect(fns, [])
            best = min(best, time.process_time() - t)
        assert info.name == "default"
        return best

    small, large = cpu(base), cpu(base * 4)
    assert large < 0.3, large
    assert large < 4 * small * 2 + 0.02, (small, large)
