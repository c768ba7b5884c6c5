"""Keeps the `cargo` marker true: a test that runs cargo without it fails.

WHY: `pytest -m "not cargo"` is the fast subset (no Rust builds). It is only worth
something if every test that builds is marked, and a marker list kept by hand goes
stale. So the session watches (cargo_watch.py) and, at the end of each test, fails an
unmarked test that

- started cargo (or a compiling rustc) itself, in its fixtures' setup, or in any Python
  process it started (`auditor scan`, pre-commit, ...);
- asked tests/fixturelib.py for a cargo build, even one answered from its cache;
- uses a fixture whose setup ran cargo earlier in the session (for a module- or
  session-scoped fixture only the first user would otherwise be caught).

Unmarked tests run before marked ones, so no marked test can have warmed a cache an
unmarked one then silently relies on.

A marked test that ran no cargo is not an error (a fixture may have been warm). With
AUDITOR_CARGO_GUARD_REPORT=FILE the session writes {nodeid: {"marked", "evidence"}} as
JSON there, which is how the markers were first found.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

import cargo_watch

MARKER = "cargo"
REPORT_ENV = "AUDITOR_CARGO_GUARD_REPORT"


class CargoGuard:
    def __init__(self) -> None:
        fd, self.log = tempfile.mkstemp(prefix="auditor-cargo-watch-", suffix=".log")
        os.close(fd)
        self._saved = {k: os.environ.get(k) for k in (cargo_watch.ENV_LOG, "PYTHONPATH")}
        self._start: dict[str, int] = {}
        self._phase_start: dict[str, int] = {}
        self.cargo_fixtures: dict[str, str] = {}
        self.classified: dict[str, dict] = {}

    # ----------------------------------------------------------------- session

    def pytest_configure(self, config: pytest.Config) -> None:
        os.environ[cargo_watch.ENV_LOG] = self.log
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if cargo_watch.SITE_DIR not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([cargo_watch.SITE_DIR, *paths])
        cargo_watch.install()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        report = os.environ.get(REPORT_ENV)
        if report and self.classified:
            Path(report).write_text(json.dumps(self.classified, indent=1, sort_keys=True))
        Path(self.log).unlink(missing_ok=True)

    # ----------------------------------------------------------------- tests

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Unmarked tests run first (in their usual order), then the cargo ones.

        WHY: a build that a marked test made and something memoised (a module-level
        functools.cache, a module fixture) would hide an unmarked test's need for it.
        Run before any marked test, every unmarked test meets the same cold state as in
        `pytest -m "not cargo"`, so the full run's guard is as strict as the fast
        subset's. It also gives the quick tests' verdicts first.
        """
        items.sort(key=lambda item: item.get_closest_marker(MARKER) is not None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self._start[nodeid] = self._phase_start[nodeid] = cargo_watch.log_size(self.log)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
        before = cargo_watch.log_size(self.log)
        yield
        lines = cargo_watch.read_from(self.log, before)
        if lines:
            self.cargo_fixtures.setdefault(fixturedef.argname, lines[0])

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        rep = outcome.get_result()
        # setup is judged with the call (a passing setup is followed by it)
        if call.when == "setup" and rep.passed:
            return
        start = self._phase_start.get(item.nodeid, 0)
        self._phase_start[item.nodeid] = cargo_watch.log_size(self.log)
        evidence = cargo_watch.read_from(self.log, start)
        if call.when != "teardown":
            evidence += [f"fixture {name!r}: {self.cargo_fixtures[name]}"
                         for name in getattr(item, "fixturenames", ()) if name in self.cargo_fixtures]
        marked = item.get_closest_marker(MARKER) is not None
        entry = self.classified.setdefault(item.nodeid, {"marked": marked, "evidence": []})
        entry["evidence"] += evidence[:5]
        if marked or not evidence or rep.skipped:
            return
        shown = "\n".join(f"  {line}" for line in evidence[:5])
        more = f"\n  ... and {len(evidence) - 5} more" if len(evidence) > 5 else ""
        message = (f"{item.nodeid} runs cargo but is not marked `@pytest.mark.{MARKER}` "
                   f"(so `pytest -m \"not {MARKER}\"` would build Rust). Add the marker "
                   f"(README: Notes for test writers). Seen during {call.when}:\n{shown}{more}")
        if rep.failed:
            rep.sections.append(("cargo guard", message))
        else:
            rep.outcome = "failed"
            rep.longrepr = message


def register(config: pytest.Config) -> None:
    """Called from tests/conftest.py's pytest_configure."""
    if not config.pluginmanager.has_plugin("auditor-cargo-guard"):
        config.pluginmanager.register(CargoGuard(), "auditor-cargo-guard")
