"""build-std: a toolchain without a prebuilt wasm32 std is usable when build-std is
configured, and the nightly-min-size profile builds with it.

The toolchain here is rustc 1.96 (rustc-web) seen through a sysroot that has its host
libraries and std's sources (`lib/rustlib/src`) but no wasm32 std — what a rustup
toolchain with `rust-src` and without `rustup target add` looks like. cargo builds std
from those sources (RUSTC_BOOTSTRAP=1: 1.96 is stable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_scan_support import CRATES

import fixturelib

pytestmark = [pytest.mark.cargo, pytest.mark.toolchains("rust196")]


def _no_std_toolchain(tc: fixturelib.Toolchain, root: Path) -> tuple[str, str]:
    """(cargo, rustc) wrappers: rustc 1.96 with a sysroot lacking the wasm32 std."""
    prefix_sysroot = Path(subprocess.run([tc.rustc, "--print", "sysroot"], capture_output=True, text=True,
                                         check=True, env=tc.environ() | dict(os.environ)).stdout.strip())
    host = prefix_sysroot / "lib" / "rustlib" / "x86_64-unknown-linux-gnu"
    sysroot = root / "sysroot"
    mine = sysroot / "lib" / "rustlib" / "x86_64-unknown-linux-gnu"
    (mine / "bin").mkdir(parents=True)
    (mine / "lib").symlink_to(host / "lib")
    for tool in (host / "bin").iterdir():  # wrappers: the originals find their libraries relative to themselves
        wrapper = mine / "bin" / tool.name
        if tool.is_dir():
            wrapper.symlink_to(tool)
            continue
        wrapper.write_text(f'#!/bin/sh\nexec {tool} "$@"\n')
        wrapper.chmod(0o755)
    (sysroot / "lib" / "rustlib" / "src").symlink_to(prefix_sysroot / "lib" / "rustlib" / "src")
    bindir = root / "bin"
    bindir.mkdir()
    (bindir / "rustc").write_text(f'#!/bin/sh\nexec {tc.rustc} --sysroot {sysroot} "$@"\n')
    (bindir / "cargo").write_text(f'#!/bin/sh\nexec {tc.cargo} "$@"\n')
    for f in ("rustc", "cargo"):
        (bindir / f).chmod(0o755)
    return str(bindir / "cargo"), str(bindir / "rustc")


def _env(cargo: str, rustc: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_") and k not in ("RUSTFLAGS", "RUSTC_BOOTSTRAP")}
    env.update(CARGO=cargo, RUSTC=rustc)
    return env


def test_doctor_refuses_then_accepts_with_build_std(toolchain, tmp_path):
    cargo, rustc = _no_std_toolchain(toolchain, tmp_path)
    env = _env(cargo, rustc)
    crate = CRATES / "minimal"
    p = subprocess.run([sys.executable, "-m", "auditor", "doctor", str(crate), "--format", "json"], env=env,
                       capture_output=True, text=True)
    d = json.loads(p.stdout)
    assert p.returncode == 2 and d["selected"] is None
    mine = d["toolchains"][0]
    assert mine["problem"] == "no wasm32-unknown-unknown standard library" and mine["rust_src"] is True
    assert any("--build-std" in f for f in mine["fixes"])
    p = subprocess.run([sys.executable, "-m", "auditor", "doctor", str(crate), "--build-std", "--format", "json"],
                       env=env, capture_output=True, text=True)
    d = json.loads(p.stdout)
    assert p.returncode == 0 and d["selected"] == 0, p.stdout
    assert d["toolchains"][0]["build_std"] == ["std", "panic_abort"]
    assert "cargo builds std,panic_abort from source" in d["reason"] and "RUSTC_BOOTSTRAP=1" in d["reason"]


def test_crate_config_build_std_scans_nightly_min_size(toolchain, tmp_path):
    """`[unstable] build-std` in the crate's .cargo/config.toml (std's dependencies from
    the toolchain's vendor directory: offline) makes the scan use the toolchain, say so,
    and build nightly-min-size: immediate-abort, optimize_for_size; the module runs."""
    cargo, rustc = _no_std_toolchain(toolchain, tmp_path)
    crate = tmp_path / "minimal"
    subprocess.run(["cp", "-r", str(CRATES / "minimal"), str(crate)], check=True)
    vendor = Path(subprocess.run([toolchain.rustc, "--print", "sysroot"], capture_output=True, text=True, check=True,
                                 env=toolchain.environ() | dict(os.environ)).stdout.strip()) / "lib/rustlib/src/rust/library/vendor"
    (crate / ".cargo").mkdir()
    (crate / ".cargo" / "config.toml").write_text(
        '[unstable]\nbuild-std = ["std", "panic_abort"]\n\n[source.crates-io]\nreplace-with = "std-vendor"\n'
        f'[source.std-vendor]\ndirectory = "{vendor.resolve()}"\n')
    env = _env(cargo, rustc)
    cmd = [sys.executable, "-m", "auditor", "scan", str(crate), "--profiles", "nightly-min-size", "--allocators",
           "default", "--cache-dir", str(tmp_path / "cache"), "--compression", "none"]
    printed = subprocess.run(cmd + ["--print-commands", "--format", "json"], env=env, capture_output=True, text=True)
    (row,) = json.loads(printed.stdout)["variants"]
    assert row["env"]["RUSTC_BOOTSTRAP"] == "1" and row["shell"].startswith(f"CARGO={cargo} RUSTC={rustc} ")
    for flag in ("-Zbuild-std-features=optimize_for_size", "-Zpanic-immediate-abort", "-Zprofile-rustflags"):
        assert flag in row["command"], row["command"]
    assert row["command"].count("-Zbuild-std=") == 1  # the profile's own (the crate config's is not repeated)
    p = subprocess.run(cmd + ["--format", "json"], env=env, capture_output=True, text=True, timeout=1800)
    notice = [line for line in p.stderr.splitlines() if "toolchain:" in line]
    assert notice == [f"auditor: toolchain: rustc {toolchain.release} ({Path(rustc).parent}) from CARGO/RUSTC; std built "
                      "from source ([unstable] build-std in .cargo/config.toml, RUSTC_BOOTSTRAP=1: minutes on each "
                      "profile's first build); details: auditor doctor"], p.stderr
    (v,) = json.loads(p.stdout)["variants"]
    assert v["status"] == "ok", v["error"]
    assert v["wasm"]["allocator"]["name"] == "unknown"  # stripped
    # The twin (names kept) shows std's dlmalloc; with std built per target dir there are
    # no sysroot std symbols to tell it from the dlmalloc crate under LTO: ambiguous, not match.
    check = v["allocator_check"]
    assert check["method"] == "twin" and check["status"] == "ambiguous", check
    assert set(check["possible"]) == {"default", "dlmalloc"}
    assert v["runtime"]["churn"]["verdict"] == "plateau"
    assert 'profile.nightly-min-size.panic="immediate-abort"' in v["command"]
    # immediate-abort: no panic runtime (wasm-objdump: no rust_panic in the twin's names)
    names = subprocess.run(["wasm-objdump", "-x", "-j", "name", v["probes_path"]], capture_output=True, text=True,
                           check=True).stdout
    assert "Dlmalloc" in names and "rust_panic" not in names, names[-2000:]
