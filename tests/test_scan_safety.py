"""A scan never writes the user's tree, cleans its temp dirs, and caches per variant."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_scan_support import (
    REPO,
    auditor,
    copy_crate,
    counting_cargo,
    rust_processes_under,
    tree_digest,
    variant_builds,
    variants,
)

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)


def _workspace_copy(tmp: Path) -> Path:
    """The workspace fixture and the crate it reaches outside its root, without Cargo.lock."""
    copy_crate("shared_util", tmp)
    ws = copy_crate("workspace", tmp)
    (ws / "Cargo.lock").unlink()  # a scan must not create one here
    return ws


def test_tree_unchanged_after_success_and_failure(tmp_path):
    ws = _workspace_copy(tmp_path / "src")
    (ws / "members" / "tool" / ".cargo").mkdir()
    (ws / "members" / "tool" / ".cargo" / "config.toml").write_text('[build]\nincremental = false\n')
    before = tree_digest(tmp_path / "src")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    ok = auditor("scan", ws / "members" / "tool", "--profiles", "min-size-z", "--allocators", "default,fixture_bump",
                 "--compression", "none", "--cache-dir", tmp_path / "c", "--format", "json", tmpdir=tmpdir)
    assert ok.returncode in (0, 1), ok.stderr
    assert all(v["status"] == "ok" for v in json.loads(ok.stdout)["variants"])
    assert tree_digest(tmp_path / "src") == before
    assert os.listdir(tmpdir) == []
    (tmp_path / "bad.toml").write_text('[allocator.bad]\ncrate = "auditor_fixture_bump"\npath = "%s"\n'
                                       'type = "u8"\nitem = "0"\n' % (REPO / "fixtures/allocators/bump"))
    bad = auditor("scan", ws / "members" / "tool", "--config", tmp_path / "bad.toml", "--profiles", "min-size-z",
                  "--allocators", "bad", "--no-runtime", "--cache-dir", tmp_path / "c", "--format", "json",
                  tmpdir=tmpdir)
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout)["variants"][0]["status"] == "failed"
    assert tree_digest(tmp_path / "src") == before
    assert os.listdir(tmpdir) == []


def _rustc_temp_dirs(tmpdir: Path) -> list[Path]:
    """rustc's own temp dirs, in $TMPDIR itself or in a scan's private one."""
    found = [p for p in tmpdir.glob("rustc*")]
    found += [p for p in tmpdir.glob(f"auditor-{os.getuid()}/*/tmp/rustc*")]
    return found


@pytest.mark.parametrize("phase", ["toolchain-check", "build"])
@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_tree_unchanged_and_temp_removed_after_a_signal(tmp_path, sig, code, word, phase):
    # rustc's own temp dirs (rustcXXXXXX) included: cargo gets a TMPDIR inside the scan's.
    # With a cold cache the first rustc is cargo's first build with a toolchain not yet
    # verified (the scan defers the toolchain's test build to it); warm, a verified one.
    ws = _workspace_copy(tmp_path / "src")
    before = tree_digest(tmp_path / "src")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    if phase == "build":
        # A linker that takes a second: rustc's temp dir (made to link) then lives long
        # enough to be seen on a loaded machine too; a linker configured for wasm32 is the
        # user's, so the scan links with it (its own wrapper off: build/relink.py).
        real = shutil.which("rust-lld", path=env.get("PATH"))
        assert real, "rust-lld not on PATH"
        slow = tmp_path / "slow-linker" / "rust-lld"
        slow.parent.mkdir()
        slow.write_text(f"#!/bin/sh\nsleep 1\nexec {shlex.quote(real)} \"$@\"\n")
        slow.chmod(0o755)
        env["CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER"] = str(slow)
        warm = subprocess.run([sys.executable, "-m", "auditor", "doctor", str(ws), "--cache-dir", str(tmp_path / "c")],
                              cwd=REPO, env=env, capture_output=True, text=True)
        assert warm.returncode == 0, warm.stderr
        assert os.listdir(tmpdir) == []
    p = subprocess.Popen([sys.executable, "-m", "auditor", "scan", str(ws), "-p", "ws_app", "--no-cache",
                          "--profiles", "release,lto,cgu1,min-size-s,min-size-z", "--allocators", "default,fixture_bump",
                          "--cache-dir", str(tmp_path / "c"), "--compression", "none"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    where = tmpdir / f"auditor-{os.getuid()}" if phase == "build" else tmpdir
    while time.monotonic() < deadline and not any("rustc" in c for c in rust_processes_under(where)):
        time.sleep(0.05)
    assert rust_processes_under(where), "no cargo started"
    if phase == "build":
        # Signal while rustc holds a temp dir of its own (it makes one to link): wherever
        # it lives, nothing of it may survive.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _rustc_temp_dirs(tmpdir):
            time.sleep(0.002)
        assert _rustc_temp_dirs(tmpdir), "never saw a rustc temp dir"
    else:
        time.sleep(0.3)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert err.splitlines()[-1].startswith(f"auditor: {word}") and out == ""
    assert rust_processes_under(tmpdir) == []
    assert os.listdir(tmpdir) == []
    assert tree_digest(tmp_path / "src") == before


def test_warm_rescan_runs_zero_builds_and_prints_the_same_report(tmp_path):
    crate = copy_crate("minimal", tmp_path / "src")
    env, log = counting_cargo(tmp_path)
    args = ("scan", crate, "--profiles", "release,min-size-z", "--allocators", "default,fixture_bump",
            "--compression", "fast", "--cache-dir", tmp_path / "c")
    cold = auditor(*args, "--format", "json", env=env)
    assert cold.returncode in (0, 1), cold.stderr
    n_cold = len(variant_builds(log))
    assert n_cold == 4  # 4 measured builds; the 2 probe modules (one per allocator) are linked from them
    warm = auditor(*args, "--format", "json", env=env)
    assert len(variant_builds(log)) == n_cold  # zero new builds
    assert warm.stdout == cold.stdout
    assert "0 cargo builds, 4 from cache" in warm.stderr
    text1, text2 = auditor(*args, env=env), auditor(*args, env=env)
    assert text1.stdout == text2.stdout and len(variant_builds(log)) == n_cold
    # A source change rebuilds; --no-runtime needs no probe modules.
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n#[no_mangle]\npub extern \"C\" fn sub(a: i32, b: i32) -> i32 { a - b }\n")
    auditor(*args, "--no-runtime", env=env)
    assert len(variant_builds(log)) == n_cold + 4


def test_no_cache_rebuilds_and_reports_byte_identical(tmp_path):
    crate = copy_crate("minimal", tmp_path / "src")
    env, log = counting_cargo(tmp_path)
    args = ("scan", crate, "--profiles", "release,min-size-z", "--allocators", "default", "--no-runtime",
            "--compression", "none", "--cache-dir", tmp_path / "c", "--format", "json")
    first = json.loads(auditor(*args, env=env).stdout)
    assert all(v["reproducible"] is None for v in first["variants"])  # nothing to compare with yet
    again = json.loads(auditor(*args, "--no-cache", env=env).stdout)
    assert len(variant_builds(log)) == 4
    for v in again["variants"]:
        # Debug info included: the shadow location is the same from scan to scan.
        assert v["reproducible"] is True, v["id"]
    checked = json.loads(auditor(*args, "--no-cache", "--check-reproducible", env=env).stdout)
    assert len(variant_builds(log)) == 8  # each variant built twice more
    assert all(v["reproducible"] is True for v in checked["variants"])
    assert [v["sha256"] for v in checked["variants"]] == [v["sha256"] for v in first["variants"]]


def test_parallel_jobs_give_the_same_modules(tmp_path):
    crate = copy_crate("minimal", tmp_path / "src")
    args = ("--profiles", "release,opt-z,min-size-z", "--allocators", "default,fixture_bump", "--no-runtime",
            "--compression", "none", "--no-cache", "--format", "json")
    one = auditor("scan", crate, *args, "--jobs", "1", "--cache-dir", tmp_path / "c1")
    two = auditor("scan", crate, *args, "--jobs", "2", "--cache-dir", tmp_path / "c2")
    a, b = variants(json.loads(one.stdout)), variants(json.loads(two.stdout))
    assert list(a) == list(b)
    assert {k: v["sha256"] for k, v in a.items()} == {k: v["sha256"] for k, v in b.items()}
