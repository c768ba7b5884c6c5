"""auditor.wasm.crates: crate attribution of demangled names and the per-crate rollup.

The rules are documented in README ("Function names and crates"); the table below is that
document's examples. The fixture tests build the same crate with legacy and v0
mangling: the code is identical, so the rollups must be too.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.wasm.crates import CXX_GLOBAL, LINKER, NO_MANGLE, UNNAMED, CrateSize, crate_of, rollup
from auditor.wasm.demangle import demangle, strip_hash

import fixturelib
import objdump

CASES = [
    # Plain paths: the first segment.
    ("core::fmt::write", "core"),
    ("core::fmt::write::h0123456789abcdef", "core"),
    ("alloc::raw_vec::RawVec<T,A>::reserve_for_push", "alloc"),
    ("dlmalloc::dlmalloc::Dlmalloc<A>::malloc", "dlmalloc"),
    ("hashbrown::raw::RawTable<T,A>::reserve_rehash", "hashbrown"),
    ("std::panicking::begin_panic_handler::{{closure}}", "std"),
    ("mycrate::main::{closure#0}", "mycrate"),
    ("alloc[6e57ee1d1b4bbd24]::raw_vec::finish_grow", "alloc"),  # v0 disambiguator as c++filt prints it
    ("__rustc::__rust_alloc", "std"),  # newer rustc's allocator-shim pseudo-crate
    # Generic arguments never decide.
    ("core::ptr::drop_in_place<mycrate::Foo>", "core"),
    ("core::ptr::drop_in_place::<mycrate::Foo>", "core"),
    ("alloc::slice::merge_sort::<(u32, &str), <[(u32, &str)]>::sort::{closure#0}>", "alloc"),
    # Legacy impl blocks carry their module.
    ("core::fmt::num::<impl core::fmt::Debug for i32>::fmt", "core"),
    ("mycrate::<impl mycrate::Trait for u32>::f", "mycrate"),
    ("core::ops::function::FnOnce::call_once{{vtable.shim}}", "core"),
    # <T as Trait>: T's crate when T is a named type...
    ("<fx_names::Wrapper<T> as core::fmt::Display>::fmt", "fx_names"),
    ("<fx_names::Wrapper<u8> as core::fmt::Display>::fmt", "fx_names"),
    ("<alloc::vec::Vec<mycrate::Foo> as core::ops::drop::Drop>::drop", "alloc"),
    ("<mycrate::main::{closure#0} as core::ops::function::FnOnce<()>>::call_once", "mycrate"),
    ("<mycrate::Foo as serde::ser::Serialize>::serialize", "mycrate"),
    # ... unless T is from core/alloc/std and the trait is not: std cannot implement it.
    ("<alloc::string::String as serde::ser::Serialize>::serialize", "serde"),
    # ... the trait's crate when T is not a named type.
    ("<&mut W as core::fmt::Write>::write_char", "core"),
    ("<&mut alloc::string::String as core::fmt::Write>::write_char", "core"),
    ("<&mycrate::Foo as core::fmt::Debug>::fmt", "core"),
    ("<T as core::any::Any>::type_id", "core"),
    ("<u32 as mycrate::Trait>::f", "mycrate"),
    ("<[u8; 4] as core::fmt::Debug>::fmt", "core"),
    ("<(A, B) as core::fmt::Debug>::fmt", "core"),
    ("<*const T as core::fmt::Pointer>::fmt", "core"),
    ("<fn(&mycrate::Foo) -> u8 as mycrate::Trait>::f", "mycrate"),
    ("<for<'a> fn(&'a u8) as core::fmt::Debug>::fmt", "core"),
    # dyn Trait: the dyn trait's crate counts as the type's.
    ("<dyn core::any::Any as core::fmt::Debug>::fmt", "core"),
    ("<dyn mycrate::Plugin as core::fmt::Debug>::fmt", "mycrate"),
    ("<dyn core::any::Any + core::marker::Send as mycrate::Trait>::f", "mycrate"),
    # Inherent impls <T>::method.
    ("<alloc::raw_vec::RawVec<u8>>::reserve_for_push", "alloc"),
    ("<dyn core::any::Any>::is::<u8>", "core"),
    ("<dyn mycrate::Plugin>::name", "mycrate"),
    ("<[u8]>::to_vec", "core"),  # primitives: the module of the impl is not in v0 names
    ("<str>::len", "core"),
    # Nested qualified paths.
    ("<<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop::DropGuard<T> as core::ops::drop::Drop>::drop", "alloc"),
    # Unmangled names.
    (None, UNNAMED),
    ("", UNNAMED),
    ("memcpy", "compiler_builtins"),
    ("memset", "compiler_builtins"),
    ("memcpy.1", "compiler_builtins"),
    ("__multi3", "compiler_builtins"),
    ("__udivti3", "compiler_builtins"),
    ("__floatuntidf", "compiler_builtins"),
    ("__fixunsdfdi", "compiler_builtins"),
    ("__powidf2", "compiler_builtins"),
    ("__extendsfdf2", "compiler_builtins"),
    ("__rust_probestack", "compiler_builtins"),
    ("__rust_u128_mulo", "compiler_builtins"),
    ("__rust_alloc", "std"),
    ("__rust_realloc", "std"),
    ("__rust_alloc_error_handler", "std"),
    ("__rdl_alloc", "std"),
    ("__rg_alloc", "std"),
    ("__rg_oom", "std"),
    ("rust_begin_unwind", "std"),
    ("rust_panic", "std"),
    ("rust_oom", "std"),
    ("__wbindgen_malloc", "wasm_bindgen"),
    ("__wbindgen_describe_greet", "wasm_bindgen"),
    ("__wbg_log_1d3ae0a0", "wasm_bindgen"),
    ("__externref_table_alloc", "wasm_bindgen"),
    ("__wasm_call_ctors", LINKER),
    ("__wasm_init_memory", LINKER),
    ("run", NO_MANGLE),
    ("malloc", NO_MANGLE),
    ("_start", NO_MANGLE),
    ("__STATIC_FMTSTR", NO_MANGLE),
    # C++ (as wasm-ld writes them, or as demangle returns them).
    ("geometry::area(int, int)", "c++:geometry"),
    ("int geometry::twice<int>(int)", "c++:geometry"),
    ("long long geometry::twice<long long>(long long)", "c++:geometry"),
    ("geometry::Vec2::dot(geometry::Vec2 const&) const", "c++:geometry"),
    ("std::vector<int, std::allocator<int> >::push_back(int&&)", "c++:std"),
    ("Foo<int>::bar() &&", "c++:Foo"),
    ("Foo::operator()(int) const", "c++:Foo"),
    ("use_dot(int, int)", CXX_GLOBAL),
    ("operator new(unsigned long)", CXX_GLOBAL),
    ("(anonymous namespace)::helper(int)", CXX_GLOBAL),
    ("vtable for __cxxabiv1::__class_type_info", "c++:__cxxabiv1"),
    ("typeinfo name for Foo", CXX_GLOBAL),
]


@pytest.mark.parametrize("name, crate", CASES)
def test_crate_of(name, crate):
    assert crate_of(name) == crate


@pytest.mark.parametrize("mangled, crate", [
    ("_ZN50_$LT$$RF$mut$u20$W$u20$as$u20$core..fmt..Write$GT$10write_char17haaeaa39504f280b4E", "core"),
    ("_RNvXNtCs4EoLUFkKuUC_4core3fmtQNtNtCs9tm3sCXHW8O_5alloc6string6StringNtB2_5Write10write_char"
     "Csjyziq1j8z7I_8fx_names", "core"),
    ("_ZN65_$LT$fx_names..Wrapper$LT$T$GT$$u20$as$u20$core..fmt..Display$GT$3fmt17h43e3181f010036b2E", "fx_names"),
    ("_RNvXCsjyziq1j8z7I_8fx_namesINtB2_7WrapperhENtNtCs4EoLUFkKuUC_4core3fmt7Display3fmtB2_", "fx_names"),
    ("_ZN8geometry4areaEii", "c++:geometry"),
])
def test_crate_of_demangled_symbols(mangled, crate):
    """Legacy and v0 names of the same function land in the same crate."""
    assert crate_of(demangle(mangled)) == crate
    assert crate_of(strip_hash(demangle(mangled))) == crate


def test_rollup_sums_counts_and_order():
    rows = rollup([
        ("core::fmt::write", 100),
        ("alloc::vec::Vec<T>::push", 40),
        ("<alloc::string::String as core::fmt::Write>::write_str", 60),
        (None, 7),
        ("memcpy", 100),
        ("core::panicking::panic", 1),
        (None, 3),
    ])
    assert rows == [
        CrateSize("core", 101, 2),
        CrateSize("alloc", 100, 2),  # the String impl is alloc's; ties go by name
        CrateSize("compiler_builtins", 100, 1),
        CrateSize(UNNAMED, 10, 2),
    ]
    assert rows[0].to_json() == {"name": "core", "size": 101, "functions": 2}
    assert rollup([]) == []
    assert rollup(iter([("x", 0)])) == [CrateSize(NO_MANGLE, 0, 1)]


@given(st.text())
def test_crate_of_never_raises(text):
    crate = crate_of(text)
    assert isinstance(crate, str) and crate


_SEG = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@given(st.lists(_SEG, min_size=2, max_size=5), st.lists(_SEG, max_size=3))
def test_first_segment_wins_whatever_the_generics(path, generic_path):
    args = "<" + "::".join(generic_path or ["u8"]) + ">"
    name = "::".join(path[:-1]) + args + "::" + path[-1]
    expected = path[0] if path[0] != "__rustc" else "std"
    assert crate_of(name) == expected
    assert crate_of(name + "::h0123456789abcdef") == expected


# -------------------------------------------------- real modules (Debian rustc)

def _rollup_of(wasm) -> list[CrateSize]:
    out = subprocess.run(["wasm-objdump", "-x", "-j", "name", str(wasm)],
                         capture_output=True, text=True, check=True).stdout
    names = {int(i): n for i, n in re.findall(r"^ - func\[(\d+)\] <(.*)>$", out, re.M)}
    sizes = objdump.code_sizes(wasm)  # body sizes as wasm-objdump prints them
    return rollup((strip_hash(demangle(names[i])) if i in names else None, size)
                  for i, size in sizes.items())


@pytest.mark.cargo
@pytest.mark.parametrize("build", [
    lambda mangling: fixturelib.build_crate("heavy", mangling=mangling),
    lambda mangling: fixturelib.build_with_allocator("freelist", mangling=mangling),
], ids=["heavy", "freelist"])
def test_legacy_and_v0_builds_roll_up_the_same(build):
    legacy, v0 = _rollup_of(build("legacy")), _rollup_of(build("v0"))
    assert legacy == v0
    crates = {r.name for r in v0}
    assert {"core", "alloc", "std", "compiler_builtins"} <= crates
    assert sum(r.size for r in v0) == sum(objdump.code_sizes(build("v0")).values())


@pytest.mark.cargo
def test_user_crate_and_its_trait_impls():
    rows = {r.name: r for r in _rollup_of(fixturelib.build_with_allocator("freelist", mangling="v0"))}
    # freelist_{alloc,free,grow} and <FreeListAlloc as GlobalAlloc>::{alloc,dealloc}
    assert rows["auditor_fixture_freelist"].functions == 5


def test_cxx_module():
    wasm = fixturelib.clang_module("cxx_names")
    crates = {r.name: r.functions for r in _rollup_of(wasm)}
    assert crates == {"c++:geometry": 4, CXX_GLOBAL: 2, LINKER: 1}


def _split_by_characters(path: str):
    """crates._split_qualified as a loop over every character: the reference for the
    run-at-a-time scan (`<<<<…` in one step)."""
    depth, as_at, i = 0, -1, 0
    while i < len(path):
        if path.startswith("->", i):
            i += 2
            continue
        if path.startswith(" as ", i):
            if depth == 1 and as_at < 0:
                as_at = i
            i += 4
            continue
        c = path[i]
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
            if depth == 0:
                return (path[1:i], None) if as_at < 0 else (path[1:as_at], path[as_at + 4:i])
        i += 1
    return None


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "(", ")", "[", "]", "{", "}", "->", " as ", "-", " ", "a", "::"]),
                max_size=40).map(lambda parts: "<" + "".join(parts)))
def test_split_qualified_equals_the_character_loop(path):
    from auditor.wasm.crates import _split_qualified

    assert _split_qualified(path) == _split_by_characters(path)


def test_split_qualified_takes_a_run_of_brackets_in_one_step(monkeypatch):
    from auditor.wasm import crates

    seen = []

    class Counting:
        def finditer(self, text):
            for m in real.finditer(text):
                seen.append(m.group())
                yield m

    real = crates._QUALIFIED_TOKENS
    monkeypatch.setattr(crates, "_QUALIFIED_TOKENS", Counting())
    n = 1 << 19
    assert crates.crate_of.__wrapped__("<" * n + ">" * n) == "core"  # an inherent impl of no crate
    # each nesting level read once (6 levels, then unknown): an opening run and a closing
    # run each time, where a loop over every bracket visited 2n tokens per level
    assert len(seen) <= 2 * (crates._MAX_QUALIFIED_DEPTH + 1), len(seen)
