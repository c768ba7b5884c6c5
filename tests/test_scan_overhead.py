"""What a cold scan runs besides the user's own builds (issue 16: scan <= 1.1x the builds).

- The toolchain's test build is deferred: the scan's first real build stands in for it,
  and only a failure runs it, so a broken toolchain still gets the same one-line error
  (exit 2) as when the test build ran first, and a crate that does not compile is still
  a failed variant.
- cargo's rustc info cache (`.rustc_info.json`) is shared between the scan's target dirs
  (one per profile), so rustc's target-info queries run as often as in the user's own
  builds in one target dir.

Counts come from wrappers that log every cargo / rustc call, never from auditor alone.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from test_scan_support import auditor, copy_crate, counting_cargo

from auditor.build import toolchain as tc_mod
from auditor.errors import AuditorError

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

TEST_BUILD = "build --offline --release --target wasm32-unknown-unknown"  # the toolchain's test build
ONE = ("--profiles", "release", "--allocators", "default", "--no-runtime", "--compression", "none", "--jobs", "1")


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _counted(stderr: str) -> int:
    m = re.search(r"(\d+) cargo invocations?", stderr)
    assert m, stderr
    return int(m.group(1))


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


def test_cold_scan_has_no_separate_toolchain_build_and_records_the_verdict(tmp_path):
    crate = copy_crate("minimal", tmp_path / "src")
    env, log = counting_cargo(tmp_path)
    p = auditor("scan", crate, *ONE, "--cache-dir", tmp_path / "c", env=env)
    assert p.returncode in (0, 1), p.stderr
    calls = _calls(log)
    assert not [c for c in calls if TEST_BUILD in c], calls  # the test build was not run
    assert _counted(p.stderr) == len(calls)  # every cargo call counted, none hidden
    assert "toolchain check" not in p.stderr
    notices = [l for l in p.stderr.splitlines() if "toolchain:" in l]
    assert notices == ["auditor: toolchain: rustc 1.63.0 (/usr/bin, cargo in "
                       f"{Path(env['CARGO']).parent}) from CARGO/RUSTC"], p.stderr
    # The build's success is the verdict, cached as the test build's would be: doctor
    # reads it and builds nothing for this pair.
    before = len(_calls(log))
    d = auditor("doctor", "--format", "json", "--cache-dir", tmp_path / "c", env=env)
    data = json.loads(d.stdout)
    sel = data["toolchains"][data["selected"]]
    assert sel["cargo"] == env["CARGO"] and sel["can_build"] is True
    assert not [c for c in _calls(log)[before:] if TEST_BUILD in c]
    # A warm re-scan: no cargo at all.
    before = len(_calls(log))
    w = auditor("scan", crate, *ONE, "--cache-dir", tmp_path / "c", env=env)
    assert "0 cargo invocations" in w.stderr and len(_calls(log)) == before


@pytest.mark.parametrize("fails", ["builds", "everything but -V"])
def test_broken_toolchain_gets_the_same_one_line_error_as_with_the_test_build_first(tmp_path, monkeypatch, fails):
    # A cargo that cannot drive its rustc passes every static check (wasm32 std, linker);
    # only a build shows it. Either its builds fail (cargo metadata works), or everything.
    log = tmp_path / "calls.log"
    err = ("error: failed to run `rustc` to learn about target-specific information\n\nCaused by:\n"
           "  error: unknown print request `split-debuginfo`")
    fail = f"printf '%s\\n' {shlex.quote(err)} >&2; exit 101"
    passthrough = "-V|metadata" if fails == "builds" else "-V"
    cargo = _script(tmp_path / "bin" / "cargo", f"""echo "$@" >> {log}
case "$1" in
  {passthrough}) exec /usr/bin/cargo "$@" ;;
  *) {fail} ;;
esac
""")
    # What the toolchain check said when it ran before anything else (in-process, fresh cache).
    monkeypatch.setenv("CARGO", str(cargo))
    monkeypatch.setenv("RUSTC", "/usr/bin/rustc")
    with pytest.raises(AuditorError) as e:
        tc_mod.select(None, tmp_path / "c-reference")
    expected = e.value.line()
    assert "cannot drive rustc 1.63.0" in expected
    log.unlink()

    crate = copy_crate("minimal", tmp_path / "src")
    env = dict(os.environ, CARGO=str(cargo), RUSTC="/usr/bin/rustc")
    p = auditor("scan", crate, *ONE, "--cache-dir", tmp_path / "c", env=env)
    assert p.returncode == 2 and p.stdout == "", p.stderr
    assert p.stderr.splitlines() == [f"auditor: {expected}"] and "Traceback" not in p.stderr
    calls = _calls(log)
    assert len([c for c in calls if TEST_BUILD in c]) == 1, calls  # run once, after the failure, not again
    variant_builds = [c for c in calls if " --lib " in f" {c} "]
    assert len(variant_builds) == (1 if fails == "builds" else 0), calls


def test_crate_that_does_not_compile_is_a_failed_variant_after_the_deferred_check(tmp_path):
    crate = copy_crate("minimal", tmp_path / "src")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\npub fn broken() -> u32 { \"not a number\" }\n")
    env, log = counting_cargo(tmp_path)
    p = auditor("scan", crate, *ONE, "--format", "json", "--cache-dir", tmp_path / "c", env=env)
    assert p.returncode == 1, p.stderr
    (v,) = json.loads(p.stdout)["variants"]
    assert v["status"] == "failed" and "mismatched types" in v["error"]
    calls = _calls(log)
    assert len([c for c in calls if TEST_BUILD in c]) == 1  # the failure ran the test build: it passed
    assert "1 toolchain check" in p.stderr and _counted(p.stderr) == len(calls)
    assert len([l for l in p.stderr.splitlines() if "toolchain:" in l]) == 1


def test_target_info_queries_run_as_often_as_in_the_users_own_builds(tmp_path):
    """rustc's target-info queries (`--print=file-names`, cargo's `.rustc_info.json`): the
    scan (one target dir per profile) runs them as often as the user's cargo builds of
    the same commands in one target dir."""
    rustc_log = tmp_path / "rustc.log"
    rustc = _script(tmp_path / "rbin" / "rustc", f'echo "$@" >> {rustc_log}\nexec /usr/bin/rustc "$@"\n')
    env = dict(os.environ, CARGO="/usr/bin/cargo", RUSTC=str(rustc))
    profiles = ("--profiles", "release,opt-z,cgu1")
    args = (*profiles, "--allocators", "default", "--no-runtime", "--compression", "none", "--jobs", "1")
    scan_crate = copy_crate("minimal", tmp_path / "scan")
    p = auditor("scan", scan_crate, *args, "--format", "json", "--cache-dir", tmp_path / "c", env=env)
    assert p.returncode in (0, 1), p.stderr
    assert all(v["status"] == "ok" for v in json.loads(p.stdout)["variants"])
    scan_queries = [l for l in _calls(rustc_log) if "--print=file-names" in l]

    user = copy_crate("minimal", tmp_path / "user")
    printed = auditor("scan", user, *args, "--print-commands", "--format", "json", "--cache-dir", tmp_path / "c2",
                      env=env)
    rustc_log.unlink()
    uenv = dict(os.environ, RUSTC=str(rustc), CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(tmp_path / "user-target"))
    for row in json.loads(printed.stdout)["variants"]:
        subprocess.run(["/usr/bin/cargo", *shlex.split(row["command"])[1:]], cwd=user, env=uenv, check=True,
                       capture_output=True)
    user_queries = [l for l in _calls(rustc_log) if "--print=file-names" in l]
    assert user_queries and len(scan_queries) == len(user_queries), (scan_queries, user_queries)
