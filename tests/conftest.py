"""Session-scoped access to the project's fixtures (see tests/fixturelib.py).

Every factory memoises by its arguments, so a Rust fixture is built once per session
no matter how many tests ask for it. Tests may also import fixturelib directly.

The session also: fails unmarked tests that run cargo (cargo_guard.py), gives auditor a
private $XDG_CACHE_HOME, makes one fixture directory for the session (shared by xdist
workers), exports CARGO/RUSTC = rust163's pair (so no test depends on what toolchain
discovery would pick on this machine), and parametrises tests that take a `toolchain` argument over the toolchains
AUDITOR_TOOLCHAINS selects (all that CI requires by default).
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

import cargo_guard
import fixturelib
import longest_first
import quick


def pytest_configure(config: pytest.Config) -> None:
    gc.set_threshold(*GC_THRESHOLDS)  # (collection too: ~0.1 CPU-s of its GC per process)
    cargo_guard.register(config)
    _private_user_cache(config)
    _session_fixture_cache(config)
    _pin_toolchain(config)
    _sigint_not_ignored()
    if not hasattr(config, "workerinput"):  # the controller (or a run without workers)
        config.pluginmanager.register(longest_first.Recorder(), "auditor-test-durations")


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadscope` hands out the longest modules first (tests/longest_first.py)."""
    if config.getvalue("dist") == "loadscope":
        return longest_first.make_scheduler(config, log)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick subset's smaller Hypothesis budgets (tests/quick.py)."""
    quick.scale_examples(items, quick.examples_scale(config))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Moves everything alive after collection (pytest's, hypothesis's, auditor's modules
    and the test items) out of the cycle collector's sight (`gc.freeze()`).

    WHY: every full collection walked those ~10^6 long-lived objects again, each time a
    test allocated enough: 7-12 % of the CPU of the allocation-heavy modules
    (test_text_adversarial, test_demangle, test_spec_corpus, test_wasm_fuzz). Frozen
    objects are still freed by reference counting; only cycles among them would stay.

    The collector also runs less often (GC_THRESHOLDS, from pytest_configure on): tests
    keep large structures alive for a whole module (the npm modules parsed, biome's 35,823
    names and their caches), and each full collection walked them again. With the
    defaults (700, 10, 10) the collector took 3.2-4.6 CPU-s of ~35-50 over six to eight
    heavy in-process modules (gc.callbacks), with these ~1.0-1.4 s, for ~130 MB more peak
    RSS. Only when it runs changes, not what it frees.
    """
    gc.collect()
    gc.freeze()


#: The collector's thresholds in the test processes from pytest_configure on (the
#: defaults are 700, 10, 10): a young collection every 5,000 net allocations, a full one
#: after 100 middle ones (and, as always, only when the objects it would walk grew by 25 %).
GC_THRESHOLDS = (5000, 20, 100)


def _sigint_not_ignored() -> None:
    """Gives SIGINT a handler when the suite was started with it ignored.

    WHY: a shell without job control starts `cmd &` with SIGINT ignored, children
    inherit an ignored signal across exec, and Python then installs no KeyboardInterrupt
    handler: every test that sends SIGINT to `auditor` (exit 130 expected) saw it ignored
    and the command finish with 0. A handled signal resets to the default at exec, so the
    children start as they do from a terminal. Runs in every xdist worker too.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _pin_toolchain(config: pytest.Config) -> None:
    """Exports CARGO/RUSTC = rust163's pair for the session.

    WHY: `auditor scan` would otherwise pick whatever toolchain discovery finds first on
    this machine (a rustup toolchain that gained a wasm32 std, say), and tests that
    expect rustc 1.63 would change meaning. Tests of discovery itself remove the two
    (test_build_toolchain.py); tests of another toolchain use fixturelib.scan_env().
    """
    saved = {k: os.environ.get(k) for k in ("CARGO", "RUSTC")}
    os.environ.update(CARGO=fixturelib.CARGO, RUSTC=fixturelib.RUSTC)

    def restore() -> None:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    config.add_cleanup(restore)


def _session_fixture_cache(config: pytest.Config) -> None:
    """One directory per session for fixture builds (unless AUDITOR_FIXTURE_CACHE keeps
    them elsewhere) and fixturelib's scan cache, named in the environment, so xdist
    workers (started later, inheriting it) share it and build each fixture once."""
    if os.environ.get(fixturelib.SESSION_DIR_ENV):
        return  # a worker of a session that made one
    root = tempfile.mkdtemp(prefix="auditor-fixtures-")
    os.environ[fixturelib.SESSION_DIR_ENV] = root

    def remove() -> None:
        os.environ.pop(fixturelib.SESSION_DIR_ENV, None)
        shutil.rmtree(root, ignore_errors=True)

    config.add_cleanup(remove)


def _private_user_cache(config: pytest.Config) -> None:
    """Points $XDG_CACHE_HOME (auditor's default cache and toolchain verdicts) at a
    directory of this session, removed at its end.

    WHY: a test that scans without --cache-dir would otherwise read and write the
    developer's ~/.cache/auditor, so whether it builds (and its `cargo` marker) would
    depend on earlier sessions.
    """
    saved = os.environ.get("XDG_CACHE_HOME")
    _keep_machine_caches(Path(saved or Path.home() / ".cache"))
    root = tempfile.mkdtemp(prefix="auditor-test-xdg-")
    os.environ["XDG_CACHE_HOME"] = root

    def restore() -> None:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
        shutil.rmtree(root, ignore_errors=True)

    config.add_cleanup(restore)


#: What the session keeps in the user's cache between sessions: environment variable ->
#: directory (or file) under it. The spec testsuite and the npm modules (scripts/spec_corpus.sh,
#: scripts/real_modules.sh: keyed by version, stamped, checked), the independent
#: tools' output keyed by tool binary and input bytes (tests/toolcache.py), the answers
#: of slow reference code keyed by auditor's sources and the input bytes (tests/refcache.py),
#: the .wat and C fixtures' builds keyed by the tool's binary and the sources (fixturelib.TOOL_BUILDS_ENV),
#: and each test's last duration, which orders the modules for the workers (tests/longest_first.py).
MACHINE_CACHES = {"AUDITOR_SPEC_CORPUS": "auditor/spec-corpus", "AUDITOR_NPM_CACHE": "auditor/npm",
                  "AUDITOR_TOOL_OUTPUT_CACHE": "auditor/test-tool-output",
                  "AUDITOR_TEST_DURATIONS": "auditor/test-durations.json",
                  "AUDITOR_TEST_REFERENCE_CACHE": "auditor/test-reference-results",
                  "AUDITOR_TEST_TOOL_BUILDS": "auditor/test-tool-builds"}


def _keep_machine_caches(user_cache: Path) -> None:
    """Points the scripts and tests/toolcache.py at the user's cache, unless set.

    WHY: the scripts default to $XDG_CACHE_HOME, which the session makes private, so
    every session fetched the spec testsuite again and converted its ~1,000 .wast files
    (about 15 CPU-s) and downloaded 93 MB of npm modules. Every entry is keyed by what
    it was made from, so a kept copy is never stale (the durations only order the
    work); auditor's own cache stays private.
    """
    for var, sub in MACHINE_CACHES.items():
        os.environ.setdefault(var, str(user_cache / sub))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `toolchain` runs once per selected toolchain (see `toolchain`)."""
    if "toolchain" not in metafunc.fixturenames:
        return
    selected = fixturelib.selected_toolchains()
    only = metafunc.definition.get_closest_marker("toolchains")
    wanted = [fixturelib.toolchain_name(n) for n in only.args] if only else list(selected)
    # Only an explicit AUDITOR_TOOLCHAINS leaves a toolchain out; by default a test
    # marked for one runs on it (and fails if it is missing).
    explicit = bool(os.environ.get(fixturelib.TOOLCHAINS_ENV))
    names = [n for n in wanted if n in selected or not explicit]
    if names:
        metafunc.parametrize("toolchain", names, indirect=True, ids=names, scope="session")
    else:  # every toolchain it is for was left out explicitly: say so, do not pretend
        reason = f"for {', '.join(wanted)}; {fixturelib.TOOLCHAINS_ENV} selects {', '.join(selected)}"
        metafunc.parametrize("toolchain", [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
                             indirect=True, ids=["none-selected"], scope="session")


@pytest.fixture(scope="session")
def toolchain(request: pytest.FixtureRequest) -> fixturelib.Toolchain:
    """The fixturelib.Toolchain this instance of the test runs on (rust163, rust196, ...).

    A test that takes it runs on every toolchain AUDITOR_TOOLCHAINS selects (default:
    fixturelib.REQUIRED_TOOLCHAINS); `@pytest.mark.toolchains("rust196")` names its
    own list instead, which only an explicit AUDITOR_TOOLCHAINS narrows. A toolchain
    that is missing fails the test with the reason.
    """
    try:
        return fixturelib.toolchain(request.param)
    except fixturelib.FixtureError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def fixture_wasm():
    """fixture_wasm("heavy", profile=..., config=..., mangling="v0", ...) -> .wasm Path.

    Same arguments as fixturelib.build_crate (a bare name means fixtures/crates/NAME).
    """
    return fixturelib.build_crate


@pytest.fixture(scope="session")
def allocator_wasm():
    """allocator_wasm("bump" | "freelist" | "arena" | "default", **build_crate kwargs).

    The `probe` crate (auditor's __auditor_* probe exports) linked with that allocator.
    """
    return fixturelib.build_with_allocator


@pytest.fixture(scope="session")
def wat_module():
    """wat_module("segments") -> .wasm Path of fixtures/wat/segments.wat."""
    return fixturelib.wat


@pytest.fixture(scope="session")
def wat_facts():
    """wat_facts("segments") -> the hand-computed `;; @fact` values of that file."""
    return fixturelib.wat_facts


@pytest.fixture(scope="session")
def c_module():
    """c_module("bulk_simd", flags=()) -> .wasm Path of fixtures/c/bulk_simd.c."""
    return fixturelib.clang_module


@pytest.fixture(scope="session")
def malformed_cases(tmp_path_factory) -> list[tuple[Path, str]]:
    """(module.wasm, expected reason) for every binary assert_malformed case."""
    return fixturelib.malformed_corpus(tmp_path_factory.mktemp("malformed"))
