"""`auditor diff` on real v0-mangled modules: two rustc builds whose crate disambiguator
differs (`-C metadata`, as a version bump or another dependency graph does in cargo), so
every Rust symbol of the crate changes. The grouping is checked against llvm-cxxfilt,
an independent v0 demangler that prints names without disambiguators."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from auditor.pipeline.reports import diff as diff_reports  # loads each side, then gate.diff compares

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

SOURCE = """
#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }

pub struct S<T>(pub T);
impl<T: Copy + core::ops::Mul<Output = T>> S<T> {
    #[inline(never)]
    pub fn sq(&self) -> T { self.0 * self.0 }
}
pub trait Area { fn area(&self) -> u32; }
impl Area for S<u32> {
    #[inline(never)]
    fn area(&self) -> u32 { GROW }
}
#[inline(never)]
pub fn dynamic(a: &dyn Area) -> u32 { a.area() }
#[inline(never)]
pub fn only_in(x: u32) -> u32 { ONLY }

#[no_mangle]
pub extern "C" fn entry(a: u32, b: u64) -> u64 {
    S(b).sq() + dynamic(&S(a)) as u64 + S(a).sq() as u64 + only_in(a) as u64
}
"""
V1 = {"GROW": "self.sq() + 1", "ONLY": "x.rotate_left(3) ^ 0x55", "only_in": "only_in"}
V2 = {"GROW": "self.sq().wrapping_mul(self.0 ^ 0x9e37_79b9).rotate_left(7) + self.0 / 3",
      "ONLY": "x.count_ones() * 5 + x / 7", "only_in": "added_in"}


def cxxfilt() -> str:
    tool = shutil.which("llvm-cxxfilt-16") or shutil.which("llvm-cxxfilt")
    assert tool, "llvm-cxxfilt (LLVM's demangler, with Rust v0 support) is needed as the independent reader"
    return tool


def build(tmp, name: str, subst: dict, metadata: str):
    src = SOURCE
    for key, value in subst.items():
        src = src.replace(key, value)
    rs = tmp / f"{name}.rs"
    rs.write_text(src)
    out = tmp / f"{name}.wasm"
    subprocess.run(["/usr/bin/rustc", "--crate-type", "cdylib", "--crate-name", "demo", "--edition", "2021",
                    "--target", "wasm32-unknown-unknown", "-C", "opt-level=1", "-C", "symbol-mangling-version=v0",
                    "-C", f"metadata={metadata}", str(rs), "-o", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v0")
    return build(tmp, "old", V1, "one"), build(tmp, "new", V2, "two")


def objdump_groups(path) -> dict[str, int]:
    """Demangled name (llvm-cxxfilt) -> code bytes, from wasm-objdump's listing."""
    listing = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(path)], capture_output=True, text=True,
                             check=True).stdout
    found = re.findall(r"func\[\d+\] size=(\d+) <(.*)>", listing)
    names = subprocess.run([cxxfilt()], input="\n".join(n for _, n in found), capture_output=True, text=True,
                           check=True).stdout.splitlines()
    groups: dict[str, int] = {}
    for (size, _), name in zip(found, names, strict=True):
        groups[name] = groups.get(name, 0) + int(size)
    return groups


def test_v0_builds_really_differ_in_every_crate_symbol(modules):
    old, new = (subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(m)], capture_output=True, text=True,
                               check=True).stdout for m in modules)
    disambiguators = [set(re.findall(r"<_R\w*?Cs(\w+?)_4demo", listing)) for listing in (old, new)]
    assert all(len(d) == 1 for d in disambiguators) and disambiguators[0] != disambiguators[1]


def test_v0_disambiguators_stripped_matches_llvm_cxxfilt(modules):
    old, new = objdump_groups(modules[0]), objdump_groups(modules[1])
    expected = {name: (old.get(name), new.get(name)) for name in old.keys() | new.keys()
                if old.get(name) != new.get(name)}
    [module] = diff_reports(str(modules[0]), str(modules[1]), top=0).modules
    got = {r.name: (r.old, r.new) for r in module.functions.rows}
    assert got == expected
    # the monomorphised copies stay apart (v0 names carry their type arguments) and the
    # unchanged ones are counted, not listed
    assert "<demo::S<u64>>::sq" in old and old["<demo::S<u64>>::sq"] == new["<demo::S<u64>>::sq"]
    assert module.functions.unchanged == len([n for n in old.keys() & new.keys() if old[n] == new[n]]) >= 3
    status = {r.name: r.status for r in module.functions.rows}
    assert status == {"<demo::S<u32> as demo::Area>::area": "changed", "demo::only_in": "removed",
                      "demo::added_in": "added"}
    deltas = [abs(r.delta) for r in module.functions.rows]
    assert deltas == sorted(deltas, reverse=True)
