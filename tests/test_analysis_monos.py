"""Monomorphization grouping: keys worked out by hand, and copies/bytes on real builds
counted independently from wasm-objdump's function list (raw symbols and sizes)."""

from __future__ import annotations

import re
import subprocess

import pytest

from auditor.wasm.analysis.monos import generic_of, monos
from auditor.wasm.demangle import demangle
from auditor.wasm.parse import parse_module

import fixturelib

KEYS = [
    # v0: arguments printed, removed
    ("core::ptr::drop_in_place::<alloc::vec::Vec<u8>>", "core::ptr::drop_in_place"),
    ("<alloc::vec::Vec<u32> as core::ops::drop::Drop>::drop", "<alloc::vec::Vec as core::ops::drop::Drop>::drop"),
    ("<alloc::raw_vec::RawVec<&heavy::Token>>::reserve_for_push", "alloc::raw_vec::RawVec::reserve_for_push"),
    ("alloc::slice::merge_sort::<(u32, &str), <[(u32, &str)]>::sort_by<F>::{closure#0}>", "alloc::slice::merge_sort"),
    ("<fn(u8) -> u8 as core::ops::FnOnce<(u8,)>>::call_once", "<fn(u8) -> u8 as core::ops::FnOnce>::call_once"),
    ("mycrate::run::<fn() -> bool>::{closure#0}", "mycrate::run::{closure#0}"),
    # legacy: hash removed, impl parameters removed, impl blocks named by type
    ("alloc::raw_vec::RawVec<T,A>::reserve_for_push::h6c64855634d70f50", "alloc::raw_vec::RawVec::reserve_for_push"),
    ("core::ptr::drop_in_place<alloc::vec::Vec<u8>>::h0123456789abcdef", "core::ptr::drop_in_place"),
    ("core::fmt::num::<impl core::fmt::Debug for i32>::fmt::h0123456789abcdef", "<i32 as core::fmt::Debug>::fmt"),
    ("alloc::collections::btree::navigate::<impl alloc::collections::btree::node::Handle<"
     "alloc::collections::btree::node::NodeRef<BorrowType,K,V,alloc::collections::btree::node::Leaf>,"
     "alloc::collections::btree::node::Edge>>::next_unchecked::h0123456789abcdef",
     "alloc::collections::btree::node::Handle::next_unchecked"),
    ("<&T as core::fmt::Debug>::fmt::h0123456789abcdef", "<&T as core::fmt::Debug>::fmt"),
    # LLVM's `.N` renaming suffixes go with the hash (twiggy's monos.wasm expectation groups
    # `drop_in_place::h….222` with the other copies); anything else after it stays
    ("core::ptr::drop_in_place::h0123456789abcdef.222", "core::ptr::drop_in_place"),
    ("core::ptr::drop_in_place::h0123456789abcdef.1.22", "core::ptr::drop_in_place"),
    ("core::ptr::drop_in_place::h0123456789abcdef.12x", "core::ptr::drop_in_place.12x"),
    ("core::ptr::drop_in_place::h0123456789abcdef.1.x", "core::ptr::drop_in_place.x"),
    # nothing generic: unchanged
    ("core::fmt::write", "core::fmt::write"),
    ("<[u8] as core::fmt::Debug>::fmt", "<[u8] as core::fmt::Debug>::fmt"),
    ("memcpy", "memcpy"),
    # C++: template arguments and the return type go, overloads stay apart
    ("long long geometry::twice<long long>(long long)", "geometry::twice"),
    ("int geometry::twice<int>(int)", "geometry::twice"),
    ("geometry::area(double, double)", "geometry::area(double, double)"),
    ("bool operator< <int>(A<int> const&, A<int> const&)", "operator<"),
]


@pytest.mark.parametrize(("name", "key"), KEYS)
def test_generic_keys(name, key):
    assert generic_of(name) == key


def test_renamed_copies_group_with_their_function():
    from auditor.wasm.demangle import demangle

    names = [demangle(s) for s in ("_ZN4core3ptr13drop_in_place17h0123456789abcdefE",
                                   "_ZN4core3ptr13drop_in_place17h1123456789abcdefE.222",
                                   "_ZN4core3ptr13drop_in_place17h2123456789abcdefE.513")]
    (g,) = monos(list(zip(names, (30, 20, 10))))
    assert (g.name, g.copies, g.bytes, g.savings) == ("core::ptr::drop_in_place", 3, 60, 30)


def test_savings_are_all_but_the_largest_copy():
    groups = monos([("f::<u8>", 100), ("f::<u16>", 60), ("f::<u32>", 60), ("g::<u8>", 10), ("h", 5),
                    (None, 999)])
    assert len(groups) == 1  # g and h have one copy each; unnamed bodies never group
    g = groups[0]
    assert (g.name, g.copies, g.bytes, g.savings) == ("f", 3, 220, 120)
    assert g.instances[0] == ("f::<u8>", 100)


def test_hostile_names_cost_linear_time():
    import time

    for name in ("<" * 200_000, "a<" * 100_000 + ">" * 100_000, "::<" * 100_000, "(" * 50_000 + ")"):
        t = time.process_time()
        generic_of(name)
        assert time.process_time() - t < 2


def _objdump_functions(path) -> list[tuple[str, int]]:
    text = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(path)], check=True,
                          capture_output=True, text=True).stdout
    return [(m.group(2), int(m.group(1))) for m in re.finditer(r"^ - func\[\d+\] size=(\d+) <(.*)>$", text, re.M)]


@pytest.mark.cargo
@pytest.mark.parametrize("mangling", ["legacy", "v0"])
def test_copies_and_bytes_match_wasm_objdump_on_a_real_build(mangling):
    path = fixturelib.build_crate("heavy", mangling=mangling)
    mod = parse_module(path.read_bytes())
    groups = {g.name: g for g in monos((demangle(n) if n else None, f.body_size)
                                       for f in mod.functions for n in [mod.func_name(f.index)])}
    # RawVec<T>::reserve_for_push: legacy `…RawVec$LT$T$C$A$GT$16reserve_for_push17h…E`,
    # v0 `…6RawVec…E16reserve_for_push…`; count them in the raw symbols objdump lists
    sizes = [s for n, s in _objdump_functions(path) if "RawVec" in n and "16reserve_for_push" in n]
    g = groups["alloc::raw_vec::RawVec::reserve_for_push"]
    assert len(sizes) >= 2
    assert (g.copies, g.bytes, g.savings) == (len(sizes), sum(sizes), sum(sizes) - max(sizes))


def test_cxx_templates_group_and_overloads_do_not():
    path = fixturelib.clang_module("cxx_names.cpp")
    funcs = _objdump_functions(path)
    groups = {g.name: g for g in monos(funcs)}
    twice = [s for n, s in funcs if "geometry::twice<" in n]
    assert groups["geometry::twice"].copies == len(twice) == 2
    assert groups["geometry::twice"].bytes == sum(twice)
    assert not any("area" in k for k in groups)


@pytest.mark.parametrize("entry", [b"\x00", b"\x80\x00"], ids=["canonical", "padded"])
def test_function_item_sizes_count_the_function_entry_as_written(entry):
    """A function item is its body with the body's size LEB plus its function-section
    entry; a type index may be written in more bytes than it needs (a valid LEB128).
    Module and sizes written out by hand: body 00 0b (2 bytes) after a one-byte size."""
    from auditor.wasm.analysis.items import Kind
    from auditor.wasm.analysis.monos import function_item_sizes
    from auditor.wasm.graph import item_graph

    def section(sid: int, payload: bytes) -> bytes:
        return bytes([sid, len(payload)]) + payload

    wasm = (b"\0asm\1\0\0\0" + section(1, b"\x01\x60\x00\x00")
            + section(3, b"\x02\x00" + entry) + section(10, b"\x02\x02\x00\x0b\x02\x00\x0b"))
    mod = parse_module(wasm)
    expected = [1 + 2 + 1, 1 + 2 + len(entry)]
    assert function_item_sizes(mod) == expected
    g = item_graph(mod, full=True)  # the item graph's own count
    f0 = g.first[Kind.FUNCTION]
    assert [g.sizes[f0 + f.index] for f in mod.functions] == expected
