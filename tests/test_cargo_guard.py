"""The `cargo` marker's guard (cargo_guard.py, cargo_watch.py) really fails unmarked
tests that run cargo, however they run it, and leaves the others alone.

A throwaway pytest session (a subprocess, so it has its own log and hooks) runs tests
that start a fake `cargo` (a shell script: the watch goes by program name, so no Rust is
built and this file stays in the fast subset) directly, through a Python grandchild,
through `sh -c`, and through a module fixture two tests share.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cargo_watch

TESTS = Path(__file__).resolve().parent

INNER = '''
import subprocess, sys
import pytest

CARGO = {cargo!r}
RUSTC = {rustc!r}


def test_unmarked_direct():
    subprocess.run([CARGO, "build"], check=True)


@pytest.mark.cargo
def test_marked_direct():
    subprocess.run([CARGO, "build"], check=True)


def test_unmarked_grandchild():
    code = f"import subprocess; subprocess.run([{{CARGO!r}}, 'build'], check=True)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unmarked_shell():
    subprocess.run(["sh", "-c", f"cd / && {{CARGO}} build"], check=True)


def test_unmarked_without_cargo():
    subprocess.run(["true"], check=True)
    subprocess.run([RUSTC, "-vV"], check=True)  # a version query builds nothing


@pytest.fixture(scope="module")
def built():
    subprocess.run([CARGO, "build"], check=True)


@pytest.mark.cargo
def test_first_user_of_a_building_fixture(built):
    pass


def test_later_unmarked_user_of_that_fixture(built):
    pass


@pytest.mark.cargo
def test_marked_failure_keeps_its_own_message():
    subprocess.run([CARGO, "build"], check=True)
    assert False, "the test's own failure"
'''


def _fake(bin_dir: Path, name: str) -> str:
    path = bin_dir / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


def test_guard_fails_exactly_the_unmarked_tests_that_run_cargo(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    session = tmp_path / "session"
    session.mkdir()
    (session / "pytest.ini").write_text("[pytest]\nmarkers =\n    cargo: runs cargo\n")
    (session / "conftest.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import cargo_guard

        def pytest_configure(config):
            cargo_guard.register(config)
        """))
    (session / "test_inner.py").write_text(INNER.format(cargo=_fake(bin_dir, "cargo"),
                                                        rustc=_fake(bin_dir, "rustc")))
    outer_log = os.environ[cargo_watch.ENV_LOG]
    before = cargo_watch.log_size(outer_log)
    # no installed plugins (hypothesis, xdist: ~0.3 CPU-s a start): the session needs only the conftest
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(session)],
                          cwd=session, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    outcomes = dict((name, state) for state, name in
                    re.findall(r"^(PASSED|FAILED) test_inner\.py::(\w+)", proc.stdout, re.M))
    assert outcomes == {
        "test_unmarked_direct": "FAILED",
        "test_marked_direct": "PASSED",
        "test_unmarked_grandchild": "FAILED",
        "test_unmarked_shell": "FAILED",
        "test_unmarked_without_cargo": "PASSED",
        "test_first_user_of_a_building_fixture": "PASSED",
        "test_later_unmarked_user_of_that_fixture": "FAILED",
        "test_marked_failure_keeps_its_own_message": "FAILED",
    }, proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "test_unmarked_direct runs cargo but is not marked `@pytest.mark.cargo`" in proc.stdout
    assert "fixture 'built'" in proc.stdout  # the later user is caught through the fixture
    assert "the test's own failure" in proc.stdout
    # the inner session kept its cargo runs to itself: this test is not a cargo test
    assert cargo_watch.read_from(outer_log, before) == []


def test_watch_tells_builds_from_questions():
    assert cargo_watch.cargo_argv(None, ["/usr/bin/cargo", "build"])
    assert cargo_watch.cargo_argv("/usr/bin/cargo", ["anything"])
    assert cargo_watch.cargo_argv(None, ["/x/wrapbin/cargo", "metadata", "--no-deps"])
    assert cargo_watch.cargo_argv(None, ["/usr/bin/cargo"])
    assert not cargo_watch.cargo_argv(None, ["/x/wrapbin/cargo", "-V"])
    assert cargo_watch.cargo_argv(None, ["rustc", "--crate-type", "cdylib", "lib.rs"])
    assert not cargo_watch.cargo_argv(None, ["/usr/bin/rustc", "-vV"])
    assert not cargo_watch.cargo_argv(None, ["rustc", "--print", "sysroot"])
    assert cargo_watch.cargo_argv(None, ["bash", "-e", "-c", "cd x\ncargo build --release"])
    assert cargo_watch.cargo_argv(None, "CARGO_TARGET_DIR=t /usr/bin/cargo build")
    assert not cargo_watch.cargo_argv(None, ["sh", "-c", "echo cargo-calls.log"])
    assert not cargo_watch.cargo_argv(None, ["wasm-objdump", "-x", "cargo.wasm"])
