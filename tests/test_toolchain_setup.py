"""The second toolchain scripts/setup.sh installs (rustc 1.96 from Debian's rustc-web,
unpacked into a cache, wasm32 std built once) works like a rustup toolchain with the
target added, without touching Debian's rustc 1.63. Checked with independent tools: ar
and wasm-objdump for the rlibs and modules, V8 (Node) for running them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from realcrates import WASM32, rust196_prefix, toolchain

from fixturelib import REPO

pytestmark = pytest.mark.cargo  # builds Rust with both toolchains

STD_CRATES = ("std", "core", "alloc", "panic_abort", "compiler_builtins", "dlmalloc")


@pytest.fixture(scope="module")
def prefix() -> Path:
    toolchain("1.96")  # skips when setup.sh has not installed it
    return rust196_prefix().resolve()


def _wasm32_lib(prefix: Path) -> Path:
    return prefix / "usr" / "lib" / "rustlib" / WASM32 / "lib"


def test_rustc_196_has_a_wasm32_sysroot_and_leaves_163_alone(prefix):
    tc = toolchain("1.96")
    vv = subprocess.run([tc.rustc, "-vV"], capture_output=True, text=True, check=True).stdout
    assert "release: 1.96.0" in vv and "LLVM version: 22" in vv
    sysroot = subprocess.run([tc.rustc, "--print", "sysroot"], capture_output=True, text=True, check=True).stdout
    assert Path(sysroot.strip()).resolve() == prefix / "usr"
    for crate in STD_CRATES:
        assert len(list(_wasm32_lib(prefix).glob(f"lib{crate}-*.rlib"))) == 1, crate
    assert "wasm32-unknown-unknown" in subprocess.run([tc.rustc, "--print", "target-list"], capture_output=True,
                                                      text=True, check=True).stdout
    old = subprocess.run(["/usr/bin/rustc", "-V"], capture_output=True, text=True, check=True).stdout
    assert old.startswith("rustc 1.63."), old
    info = json.loads((prefix / "auditor-toolchain.json").read_text())
    assert info["target"] == WASM32 and len(info["packages"]) == 7


def test_std_rlibs_carry_bitcode(prefix, tmp_path):
    """LTO builds need bitcode in the prebuilt std (rustup's has it); wasm-objdump reads
    each object's custom sections."""
    for crate in ("core", "std"):
        rlib = next(_wasm32_lib(prefix).glob(f"lib{crate}-*.rlib"))
        d = tmp_path / crate
        d.mkdir()
        subprocess.run(["ar", "x", str(rlib)], cwd=d, check=True)
        objects = sorted(d.glob("*.o"))
        assert objects, rlib
        for obj in objects:
            h = subprocess.run(["wasm-objdump", "-h", str(obj)], capture_output=True, text=True, check=True).stdout
            assert '".llvmbc"' in h, obj


_LIB = """
use std::collections::BTreeMap;
#[no_mangle]
pub extern "C" fn work(n: u32) -> u32 {
    let mut m = BTreeMap::new();
    for i in 0..n { m.insert(i % 50, format!("{}", i)); }
    m.values().map(|s| s.len() as u32).sum::<u32>() + m.len() as u32
}
"""
_PROFILES = {
    "release": {},
    "opt-s": {"opt-level": '"s"'},
    "opt-z": {"opt-level": '"z"'},
    "lto": {"lto": "true"},
    "strip": {"strip": "true"},
    "panic-abort": {"panic": '"abort"'},
    "min-size-z": {"opt-level": '"z"', "lto": "true", "codegen-units": "1", "panic": '"abort"', "strip": "true"},
}


def _expected_work(n: int) -> int:
    last = {}
    for i in range(n):
        last[i % 50] = str(i)
    return sum(len(s) for s in last.values()) + len(last)


def test_every_size_profile_builds_and_runs_in_v8(prefix, tmp_path):
    tc = toolchain("1.96")
    crate = tmp_path / "c"
    (crate / "src").mkdir(parents=True)
    (crate / "src" / "lib.rs").write_text(_LIB)
    toml = '[package]\nname = "c"\nversion = "0.1.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\n[workspace]\n'
    for name, keys in _PROFILES.items():
        if name != "release":
            toml += f'[profile.{name}]\ninherits = "release"\n' + "".join(f"{k} = {v}\n" for k, v in keys.items())
    (crate / "Cargo.toml").write_text(toml)
    env = tc.env(CARGO_TARGET_DIR=str(tmp_path / "t"), CARGO_HOME=str(tmp_path / "home"))
    want = _expected_work(1000)
    for name, keys in _PROFILES.items():
        r = subprocess.run([tc.cargo, "build", "--offline", "--target", WASM32, "--profile", name], cwd=crate,
                           env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, (name, r.stderr[-2000:])
        wasm = tmp_path / "t" / WASM32 / name / "c.wasm"
        got = subprocess.run(["node", "-e", ("const fs=require('fs');console.log(new WebAssembly.Instance("
                              "new WebAssembly.Module(fs.readFileSync(process.argv[1])),{}).exports.work(1000))"),
                              str(wasm)], capture_output=True, text=True, check=True).stdout
        assert int(got) == want, name
        h = subprocess.run(["wasm-objdump", "-h", str(wasm)], capture_output=True, text=True, check=True).stdout
        assert ('"name"' in h) == ("strip" not in keys), name


def test_rust_web_script_reuses_the_shared_cache(prefix):
    """A second run is a cache hit keyed by package versions: same prefix, nothing rebuilt."""
    if os.environ.get("AUDITOR_RUST196_PREFIX"):
        pytest.skip("AUDITOR_RUST196_PREFIX points at a prefix setup.sh did not make")
    std = next(_wasm32_lib(prefix).glob("libstd-*.rlib"))
    before = std.stat().st_mtime_ns
    # the session gives tests a private XDG_CACHE_HOME: point the script at the cache setup.sh used
    env = {**os.environ, "AUDITOR_TOOLCHAIN_CACHE": str(prefix.parent)}
    r = subprocess.run(["bash", str(REPO / "scripts" / "rust_web.sh")], capture_output=True, text=True, timeout=300,
                       check=False, env=env)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve() == prefix
    assert "reusing" in r.stderr
    assert std.stat().st_mtime_ns == before
    assert json.loads((prefix / "auditor-toolchain.json").read_text())["key"] in prefix.name


def test_setup_plans_both_toolchains():
    r = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--dry-run"], capture_output=True, text=True,
                       cwd=REPO, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    for pkg in ("rustc-web", "cargo-web", "rust-web-src", "libstd-rust-web-1.96", "libstd-rust-web-dev",
                "libllvm22", "lld-22"):
        assert f"apt-get download {pkg}=" in r.stdout, pkg
    r = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--dry-run", "--no-rust-web"],
                       capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert r.returncode == 0 and "rustc-web" not in r.stdout
