"""The fixture library's own promises: toolchains are found (or refused with a reason),
builds are keyed by everything they read and made once, target dirs are shared where
that is sound, and a kept cache serves later and concurrent sessions.

Build counts come from the cargo watch (cargo_watch.py: every cargo process the session
starts), cargo's own `fresh` flags (build_record) and the bytes of the modules, not from
the library's bookkeeping alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cargo_watch
import fixturelib

TESTS = Path(__file__).resolve().parent


def cargo_runs(since: int) -> list[str]:
    """cargo processes started (by anyone in this session) since log offset `since`."""
    return [line for line in cargo_watch.read_from(os.environ[cargo_watch.ENV_LOG], since)
            if line.startswith("exec ")]


def log_offset() -> int:
    return cargo_watch.log_size(os.environ[cargo_watch.ENV_LOG])


@pytest.fixture
def fresh_toolchains(monkeypatch):
    """Forget cached toolchain lookups before and after a test that changes the env."""
    fixturelib._toolchain.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    fixturelib._toolchain.cache_clear()


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cold fixture cache of the test's own: its cargo runs can be counted, and nothing
    it builds lands in the session's (or a kept AUDITOR_FIXTURE_CACHE) cache."""
    root = tmp_path / "fixture-cache"
    monkeypatch.setenv("AUDITOR_FIXTURE_CACHE", str(root))
    monkeypatch.setattr(fixturelib, "_memo", {})
    fixturelib.cache_dir.cache_clear()
    fixturelib.fixture_tree.cache_clear()
    yield root
    monkeypatch.undo()
    fixturelib.cache_dir.cache_clear()
    fixturelib.fixture_tree.cache_clear()


# ------------------------------------------------------------------ toolchains

def test_toolchain_selection_from_the_environment(monkeypatch):
    monkeypatch.delenv(fixturelib.TOOLCHAINS_ENV, raising=False)
    assert fixturelib.selected_toolchains() == fixturelib.REQUIRED_TOOLCHAINS
    monkeypatch.setenv(fixturelib.TOOLCHAINS_ENV, "1.96, 1.63")
    assert fixturelib.selected_toolchains() == ("rust163", "rust196")
    monkeypatch.setenv(fixturelib.TOOLCHAINS_ENV, "rust163")
    assert fixturelib.selected_toolchains() == ("rust163",)
    monkeypatch.setenv(fixturelib.TOOLCHAINS_ENV, "1.63,1.70")
    with pytest.raises(fixturelib.FixtureError, match=r"AUDITOR_TOOLCHAINS=1\.63,1\.70: unknown toolchain\(s\) 1\.70"):
        fixturelib.selected_toolchains()


def test_rust163_is_debians_toolchain_with_a_wasm32_std():
    tc = fixturelib.toolchain("rust163")
    assert fixturelib.toolchain("1.63") is tc
    version = subprocess.run(["/usr/bin/rustc", "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split()[:2] == ["rustc", tc.release] and tc.release.startswith("1.63.")
    assert (tc.cargo, tc.rustc) == (fixturelib.CARGO, fixturelib.RUSTC)
    assert tc.has_target(fixturelib.WASM32)
    assert Path("/usr/lib/rustlib/wasm32-unknown-unknown/lib").is_dir() and tc.sysroot == Path("/usr")
    assert not tc.has_target("no-such-target")


def test_a_missing_rust196_fails_with_the_reason_and_the_way_out(fresh_toolchains, tmp_path):
    fresh_toolchains.delenv(fixturelib.RUST196_PREFIX_ENV, raising=False)
    fresh_toolchains.setattr(fixturelib, "RUST196_DEFAULT_PREFIX", tmp_path / ".toolchains" / "rust-1.96")
    with pytest.raises(fixturelib.FixtureError) as unset:
        fixturelib.toolchain("rust196")
    assert f"AUDITOR_RUST196_PREFIX unset, so {tmp_path}/.toolchains/rust-1.96" in str(unset.value)
    assert "run scripts/setup.sh" in str(unset.value) and "AUDITOR_TOOLCHAINS=1.63" in str(unset.value)
    fresh_toolchains.setenv(fixturelib.RUST196_PREFIX_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(fixturelib.FixtureError, match=r"nowhere/bin/cargo is missing"):
        fixturelib.toolchain("1.96")
    with pytest.raises(fixturelib.FixtureError, match=r"unknown toolchain 'rust170'"):
        fixturelib.toolchain("rust170")


def test_a_toolchain_without_wasm32_std_is_refused(fresh_toolchains, tmp_path):
    """A prefix whose rustc has no wasm32 std in its sysroot (rustup's 1.95 here is like that)."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    for tool, answer in (("cargo", "cargo 1.96.0"), ("rustc", "rustc 1.96.0\nrelease: 1.96.0")):
        script = prefix / "bin" / tool
        script.write_text(f'#!/bin/sh\nif [ "$1" = --print ]; then echo {prefix}; else printf "{answer}\\n"; fi\n')
        script.chmod(0o755)
    fresh_toolchains.setenv(fixturelib.RUST196_PREFIX_ENV, str(prefix))
    with pytest.raises(fixturelib.FixtureError, match=r"toolchain rust196: no wasm32-unknown-unknown std under"):
        fixturelib.toolchain("rust196")


def test_every_selected_toolchain_is_a_parameter(request, toolchain):
    """The `toolchain` fixture: one test instance per selected toolchain, named after it."""
    assert request.node.name.endswith(f"[{toolchain.name}]")
    assert toolchain.name in fixturelib.selected_toolchains()
    assert toolchain.has_target(fixturelib.WASM32)


# ------------------------------------------------------------------ the build cache

@pytest.mark.cargo
def test_identical_builds_run_cargo_once(private_cache, toolchain):
    before = log_offset()
    first = fixturelib.build_crate("probe", features=["freelist"], toolchain=toolchain)
    assert first.is_relative_to(private_cache)
    # the same build, spelt differently: a path instead of a name, the toolchain by name
    again = fixturelib.build_crate(fixturelib.CRATES / "probe", features=("freelist", "freelist"),
                                   env={}, toolchain=toolchain.name)
    assert again == first
    assert len(cargo_runs(before)) == 1
    record = fixturelib.build_record(first)
    assert record["toolchain"] == toolchain.name and "probe" in record["compiled"]


@pytest.mark.cargo
def test_different_crates_share_compiled_dependencies(private_cache, toolchain):
    probe = fixturelib.build_record(fixturelib.build_crate("probe", features=["freelist"], toolchain=toolchain))
    pinned = fixturelib.build_record(fixturelib.build_crate("pinned", toolchain=toolchain))
    assert probe["target_dir"] == pinned["target_dir"]
    assert "auditor_fixture_freelist" in probe["compiled"]
    # cargo itself reports the allocator crate as reused when it links `pinned`
    assert "auditor_fixture_freelist" in pinned["fresh"] and "pinned" in pinned["compiled"]
    # different settings (here: profile) never share a target dir
    dev = fixturelib.build_record(fixturelib.build_crate("pinned", profile="dev", toolchain=toolchain))
    assert dev["target_dir"] != pinned["target_dir"]


@pytest.mark.cargo
def test_feature_builds_in_a_shared_target_dir_never_return_each_others_module(private_cache):
    """cargo names a cdylib without a hash: two feature sets of one crate write one file."""
    bump = fixturelib.build_crate("probe", features=["bump"])
    bump_bytes = bump.read_bytes()
    freelist = fixturelib.build_crate("probe", features=["freelist"])
    assert fixturelib.build_record(bump)["target_dir"] == fixturelib.build_record(freelist)["target_dir"]
    assert bump_bytes != freelist.read_bytes()
    # forget the bump build: the next request runs cargo again in the same target dir,
    # right after the freelist build wrote the same cdylib path there
    record_dir = bump.parent.parent
    for key in [k for k, v in fixturelib._memo.items() if v == bump]:
        del fixturelib._memo[key]
    bump.chmod(0o644)
    for path in sorted(record_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    before = log_offset()
    rebuilt = fixturelib.build_crate("probe", features=["bump"])
    assert len(cargo_runs(before)) == 1
    assert rebuilt.read_bytes() == bump_bytes
    assert "probe" in fixturelib.build_record(rebuilt)["compiled"]


@pytest.mark.cargo
def test_the_toolchain_is_part_of_the_key(private_cache):
    base = fixturelib.toolchain("rust163")
    # same binaries, one more variable in the build environment: another toolchain
    other = fixturelib.Toolchain("rust163", base.cargo, base.rustc, env=(("AUDITOR_FIXTURE_TEST_NONCE", "tc"),))
    assert other.fingerprint != base.fingerprint
    one = fixturelib.build_crate("minimal", toolchain=base)
    before = log_offset()
    two = fixturelib.build_crate("minimal", toolchain=other)
    assert len(cargo_runs(before)) == 1
    assert two != one and two.read_bytes() == one.read_bytes()
    assert fixturelib.build_record(two)["target_dir"] != fixturelib.build_record(one)["target_dir"]


SESSION = textwrap.dedent("""\
    import sys
    sys.path.insert(0, {tests!r})
    import fixturelib
    print(fixturelib.build_crate("minimal", env={{"AUDITOR_FIXTURE_TEST_NONCE": "kept"}}))
    """)


@pytest.mark.cargo
def test_a_kept_cache_serves_later_and_concurrent_sessions(tmp_path):
    """AUDITOR_FIXTURE_CACHE: three sessions at once build once; a later one builds nothing."""
    log = tmp_path / "cargo.log"
    env = dict(os.environ, AUDITOR_FIXTURE_CACHE=str(tmp_path / "kept"))
    env[cargo_watch.ENV_LOG] = str(log)  # the sessions' own log: their cargo runs, counted
    env.pop(fixturelib.SESSION_DIR_ENV, None)
    code = SESSION.format(tests=str(TESTS))
    sessions = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=600) for p in sessions]
    assert all(p.returncode == 0 for p in sessions), outputs
    paths = {out for out, _ in outputs}
    assert len(paths) == 1 and Path(paths.pop().strip()).is_file()
    assert len([l for l in cargo_watch.read_from(str(log), 0) if l.startswith("exec ")]) == 1
    before = cargo_watch.log_size(str(log))
    later = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert later.stdout == outputs[0][0]
    assert [l for l in cargo_watch.read_from(str(log), before) if l.startswith("exec ")] == []
    result = json.loads((Path(later.stdout.strip()).parent.parent / "result.json").read_text())
    assert result["toolchain"] == "rust163"


INNER = '''
import pytest

def test_each(toolchain):
    assert toolchain.has_target("wasm32-unknown-unknown")

@pytest.mark.toolchains("rust196")
def test_only_196(toolchain):
    pass
'''


def _inner_session(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A pytest session with this suite's conftest and two toolchain-parametrised tests."""
    tmp_path.mkdir(parents=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    cargo: x\n    toolchains(*names): x\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""\
        import importlib.util, sys
        sys.path.insert(0, {str(TESTS)!r})
        spec = importlib.util.spec_from_file_location("suite_conftest", {str(TESTS / "conftest.py")!r})
        suite = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(suite)
        pytest_configure, pytest_generate_tests, toolchain = (
            suite.pytest_configure, suite.pytest_generate_tests, suite.toolchain)
        """))
    (tmp_path / "test_inner.py").write_text(INNER)
    # no installed plugins (hypothesis, xdist: ~0.3 CPU-s a start): the session needs only the conftest
    full_env = {k: v for k, v in os.environ.items() if k != fixturelib.TOOLCHAINS_ENV} | env | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=full_env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_toolchain_parameters_fail_when_missing_and_skip_only_on_request(tmp_path):
    missing = str(tmp_path / "no-1.96-here")
    default = _inner_session(tmp_path / "a", **{fixturelib.RUST196_PREFIX_ENV: missing})
    assert "PASSED test_inner.py::test_each[rust163]" in default.stdout, default.stdout
    if "rust196" in fixturelib.REQUIRED_TOOLCHAINS:  # required, and missing here: a failure, not a skip
        assert "ERROR test_inner.py::test_each[rust196]" in default.stdout, default.stdout
    # marked for rust196, not opted out: it runs there, and a missing 1.96 is a failure
    assert "ERROR test_inner.py::test_only_196[rust196]" in default.stdout, default.stdout
    assert "AUDITOR_RUST196_PREFIX" in default.stdout and "no-1.96-here" in default.stdout
    assert default.returncode == 1
    opted_out = _inner_session(tmp_path / "b", **{fixturelib.TOOLCHAINS_ENV: "1.63",
                                                  fixturelib.RUST196_PREFIX_ENV: missing})
    assert "PASSED test_inner.py::test_each[rust163]" in opted_out.stdout
    assert "test_each[rust196]" not in opted_out.stdout
    assert re.search(r"SKIPPED \[1\] .*for rust196; AUDITOR_TOOLCHAINS selects rust163", opted_out.stdout), \
        opted_out.stdout
    assert opted_out.returncode == 0
    required = _inner_session(tmp_path / "c", **{fixturelib.TOOLCHAINS_ENV: "1.63,1.96",
                                                 fixturelib.RUST196_PREFIX_ENV: missing})
    assert "ERROR test_inner.py::test_each[rust196]" in required.stdout, required.stdout
    assert required.returncode == 1


# ------------------------------------------------------------------ scans

@pytest.mark.cargo
def test_scan_runs_once_per_arguments_on_the_pinned_toolchain(toolchain):
    # A variant no other test scans through fixturelib: the session's scan cache is shared,
    # and a build another test made first would leave nothing for cargo to do here.
    args = ("--profiles", "cgu1", "--allocators", "default", "--no-runtime", "--compression", "none")
    before = log_offset()
    report = fixturelib.scan_report("minimal", *args, toolchain=toolchain)
    assert any(line.startswith("exec ") for line in cargo_watch.read_from(os.environ[cargo_watch.ENV_LOG], before))
    version = subprocess.run([toolchain.rustc, "-V"], capture_output=True, text=True, check=True,
                             env={**os.environ, **toolchain.environ()}).stdout.split()[:2]
    assert report["toolchain"]["rustc"] == " ".join(version)
    assert [v["id"] for v in report["variants"]] == ["cgu1/default"]
    again_from = log_offset()
    assert fixturelib.scan_report(fixturelib.CRATES / "minimal", *args, toolchain=toolchain.name) == report
    assert cargo_runs(again_from) == []
    with pytest.raises(fixturelib.FixtureError, match=r"auditor scan of .*minimal \(.*\) exited 2"):
        fixturelib.scan("minimal", "--profiles", "no-such-profile", toolchain=toolchain)


ONCE = textwrap.dedent("""\
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import fixturelib

    def make(d):
        with open({log!r}, "a") as fh:
            fh.write(f"{{os.getpid()}}\\n")
        time.sleep(0.5)  # long enough for the other sessions to arrive and wait
        (d / "data").write_text("made")

    print(fixturelib.cached_dir("once-test", {{"v": 1}}, make))
    """)


def test_cached_dir_is_made_once_by_concurrent_sessions(tmp_path):
    log = tmp_path / "makers.log"
    env = dict(os.environ, AUDITOR_FIXTURE_CACHE=str(tmp_path / "kept"))
    code = ONCE.format(tests=str(TESTS), log=str(log))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1 and (Path(outs.pop()) / "data").read_text() == "made"
    assert len(log.read_text().splitlines()) == 1
