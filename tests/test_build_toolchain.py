"""Toolchain discovery and `auditor doctor`: real toolchains plus fake ones that cannot build."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.build import toolchain as tc_mod
from auditor.errors import AuditorError

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

REPO = Path(__file__).resolve().parents[1]
TARGET = "wasm32-unknown-unknown"


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_toolchain(bindir: Path, sysroot: Path, version: str = "9.9.9", cargo_error: str | None = None) -> Path:
    """A rustc/cargo pair that answers version queries; its sysroot has no wasm32 std."""
    (sysroot / "lib" / "rustlib" / "x86_64-unknown-linux-gnu" / "lib").mkdir(parents=True, exist_ok=True)
    _script(bindir / "rustc", f"""case "$*" in
  -vV) printf 'rustc {version}\\nbinary: rustc\\nhost: x86_64-unknown-linux-gnu\\nrelease: {version}\\n' ;;
  "--print sysroot") echo '{sysroot}' ;;
  *) echo 'error: fake rustc' >&2; exit 1 ;;
esac
""")
    build = f"printf '%s\\n' '{cargo_error}' >&2; exit 101" if cargo_error else "exit 0"
    _script(bindir / "cargo", f"""case "$1" in
  -V) echo 'cargo {version}' ;;
  *) {build} ;;
esac
""")
    return bindir


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No CARGO/RUSTC, an empty RUSTUP_HOME, and a private cache dir."""
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.delenv("RUSTC", raising=False)
    monkeypatch.setenv("RUSTUP_HOME", str(tmp_path / "rustup-empty"))
    return tmp_path


def test_real_discovery_picks_first_pair_that_builds(monkeypatch, tmp_path):
    monkeypatch.delenv("CARGO", raising=False)
    monkeypatch.delenv("RUSTC", raising=False)
    found = tc_mod.discover(REPO, tmp_path / "cache")
    sel = found.selected
    assert sel is not None, found.reason
    # Independent check of the wasm32 std: the directory rustc's sysroot must hold.
    sysroot = subprocess.run([sel.rustc, "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
    assert (Path(sysroot) / "lib" / "rustlib" / TARGET / "lib").is_dir()
    assert sel.can_build is True
    before = found.toolchains[: found.toolchains.index(sel)]
    for tc in before:
        assert tc.problem and tc.fixes, tc
        if not tc.wasm32_std and tc.sysroot:
            assert not (Path(tc.sysroot) / "lib" / "rustlib" / TARGET / "lib").is_dir()
            assert tc.source in found.reason  # stderr says which were skipped and why
    if before:
        assert "has no wasm32-unknown-unknown standard library" in found.reason or "cannot" in found.reason


def test_default_without_wasm32_falls_back_to_usr_bin(clean_env, monkeypatch):
    fake = fake_toolchain(clean_env / "fakebin", clean_env / "fakesysroot")
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    found = tc_mod.discover(None, clean_env / "cache")
    first = found.toolchains[0]
    assert first.rustc == str(fake / "rustc") and first.source == "default (PATH)"
    assert first.wasm32_std is False and first.can_build is None
    assert first.problem == "no wasm32-unknown-unknown standard library"
    assert found.selected is not None and found.selected.rustc == "/usr/bin/rustc"
    assert found.reason.startswith("using /usr/bin/cargo + /usr/bin/rustc (rustc 1.63")
    assert "default (PATH) (rustc 9.9.9) has no wasm32-unknown-unknown standard library" in found.reason
    # What a scan prints on every run is one short line; the story above is for doctor.
    assert found.summary() == "toolchain: rustc 1.63.0 (/usr/bin); 1 skipped (no wasm32 std); details: auditor doctor"


def test_rustup_toolchain_without_target_gets_rustup_fix(clean_env, monkeypatch):
    home = clean_env / "rustup"
    tdir = home / "toolchains" / "stable-x86_64-unknown-linux-gnu"
    fake_toolchain(tdir / "bin", tdir)
    monkeypatch.setenv("RUSTUP_HOME", str(home))
    (clean_env / "emptybin").mkdir()
    monkeypatch.setenv("PATH", str(clean_env / "emptybin"))
    order, explicit = tc_mod.candidates(None)
    assert not explicit
    assert [tc.source for tc in order][:2] == ["rustup toolchain stable-x86_64-unknown-linux-gnu", "/usr/bin"]
    monkeypatch.setenv("PATH", f"{clean_env / 'emptybin'}:/usr/bin")  # rust-lld is found on PATH
    found = tc_mod.discover(None, clean_env / "cache", all_of_them=True)
    rustup = next(tc for tc in found.toolchains if tc.rustup_name == "stable-x86_64-unknown-linux-gnu")
    assert rustup.fixes == [f"rustup target add {TARGET} --toolchain stable-x86_64-unknown-linux-gnu"]
    assert found.selected is not None and found.selected.rustc == "/usr/bin/rustc"


def test_explicit_cargo_rustc_are_used(clean_env, monkeypatch):
    monkeypatch.setenv("CARGO", "/usr/bin/cargo")
    monkeypatch.setenv("RUSTC", "/usr/bin/rustc")
    found = tc_mod.select(None, clean_env / "cache")
    assert found.explicit and len(found.toolchains) == 1
    assert (found.selected.cargo, found.selected.rustc) == ("/usr/bin/cargo", "/usr/bin/rustc")
    assert found.reason.endswith("CARGO/RUSTC set in the environment")
    assert found.summary() == "toolchain: rustc 1.63.0 (/usr/bin) from CARGO/RUSTC"
    env = found.selected.env({})
    assert env["RUSTC"] == "/usr/bin/rustc" and env["CARGO_INCREMENTAL"] == "0"


def test_explicit_pair_that_cannot_build_is_an_error_not_a_fallback(clean_env, monkeypatch):
    fake = fake_toolchain(clean_env / "fakebin", clean_env / "fakesysroot")
    monkeypatch.setenv("CARGO", str(fake / "cargo"))  # RUSTC: the sibling fake rustc
    with pytest.raises(AuditorError) as e:
        tc_mod.select(None, clean_env / "cache")
    msg = e.value.line()
    assert msg.startswith("CARGO/RUSTC toolchain cannot build wasm32-unknown-unknown")
    assert "no wasm32-unknown-unknown standard library" in msg and "unset CARGO" in msg


def test_cargo_that_cannot_drive_rustc_is_explained(clean_env, monkeypatch):
    # A cargo newer than its rustc fails while asking rustc about the target.
    err = ("error: failed to run `rustc` to learn about target-specific information\\n\\nCaused by:\\n"
           "  error: unknown print request `split-debuginfo`")
    fake = fake_toolchain(clean_env / "newcargo", clean_env / "unused", version="1.95.0", cargo_error=err)
    monkeypatch.setenv("CARGO", str(fake / "cargo"))
    monkeypatch.setenv("RUSTC", "/usr/bin/rustc")
    found = tc_mod.discover(None, clean_env / "cache")
    tc = found.toolchains[0]
    assert found.selected is None and tc.wasm32_std and tc.can_build is False
    assert "cargo 1.95.0 cannot drive rustc 1.63.0" in tc.problem
    assert tc.fixes[0] == "CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc auditor scan ..."


def test_probe_verdict_is_cached(clean_env, monkeypatch):
    calls = clean_env / "calls.log"
    _script(clean_env / "wrap" / "cargo", f'echo "$@" >> {calls}\nexec /usr/bin/cargo "$@"\n')
    monkeypatch.setenv("CARGO", str(clean_env / "wrap" / "cargo"))
    monkeypatch.setenv("RUSTC", "/usr/bin/rustc")
    for _ in range(2):
        assert tc_mod.select(None, clean_env / "cache").selected.can_build
    builds = [l for l in calls.read_text().splitlines() if l.startswith("build")]
    assert len(builds) == 1


def _auditor(args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO)


def test_doctor_ready_here(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO", "RUSTC")}
    p = _auditor(["doctor", "--format", "json", "--cache-dir", str(tmp_path)], env=env)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["schema"] == "auditor.doctor/1" and data["scan_ready"] is True
    sel = data["toolchains"][data["selected"]]
    assert sel["wasm32_std"] and sel["can_build"] and sel["linker"]
    tools = {t["name"]: t for t in data["tools"]}
    for name in ("wasm-opt", "wasm-objdump", "wat2wasm"):
        assert tools[name]["found"] == (subprocess.run(["which", name], capture_output=True).returncode == 0)
    text = _auditor(["doctor", "--cache-dir", str(tmp_path)], env=env)
    assert text.returncode == 0 and "<- scan uses this" in text.stdout and "ready: auditor scan will use" in text.stdout


def test_doctor_not_ready_exit_2_with_fix(tmp_path):
    fake = fake_toolchain(tmp_path / "fakebin", tmp_path / "fakesysroot")
    env = dict(os.environ, CARGO=str(fake / "cargo"), RUSTC=str(fake / "rustc"))
    p = _auditor(["doctor", "--cache-dir", str(tmp_path / "c")], env=env)
    assert p.returncode == 2
    assert "CARGO/RUSTC set, only that pair is used" in p.stdout
    assert "fix:     or unset CARGO RUSTC and let auditor pick an installed toolchain" in p.stdout
    assert "not ready: CARGO/RUSTC toolchain cannot build" in p.stdout
    scan = _auditor(["scan", "fixtures/crates/minimal", "--cache-dir", str(tmp_path / "c")], env=env)
    assert scan.returncode == 2 and scan.stdout == ""
    assert len(scan.stderr.strip().splitlines()) == 1 and "Traceback" not in scan.stderr
