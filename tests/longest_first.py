"""The order in which xdist hands test modules to the workers: the longest first.

WHY: `--dist loadscope` (pyproject) gives each worker whole modules, so module fixtures
are made once, and xdist queues the modules by their number of tests. The longest
modules of the quick subset have few tests (the fuzz campaign, the HTML report in
Chromium, the npm modules read both ways, the spec corpus), so they were queued last
and one worker could still be in a 20 s module while the other had nothing left. Handed
out longest first, each worker takes the next module when it is free, and the short
ones fill the end (the longest-processing-time rule): the two workers finish within
about one short module of each other.

A module's cost is the sum of its selected tests' durations in the last session that
ran them (setup + call + teardown, as pytest reports them), kept per test id in the
file $AUDITOR_TEST_DURATIONS (tests/conftest.py: ~/.cache/auditor/test-durations.json;
any session with workers updates the entries of the tests it ran). A module none of
whose tests has a recorded duration takes its figure from SEED (seconds measured for the
quick subset, README Development), else DEFAULT_TEST_SECONDS per test, which keeps
xdist's own order (by number of tests) among them. Only the order changes: which tests
run, and where each module's fixtures are made, do not.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

ENV = "AUDITOR_TEST_DURATIONS"
#: A test without a recorded duration, in a module not in SEED.
DEFAULT_TEST_SECONDS = 0.02
#: About the seconds per module on one worker of a quiet 2-core machine (-m "not cargo"; from
#: CPU-s measured under load, 2026-12-03, after the second round);
#: only the order they give matters. Refresh from a run's --durations if it drifts.
SEED = {
    "tests/test_fuzz.py": 18,  # 3 targets x (5 s campaign + ~1 s start-up)
    "tests/test_html_report.py": 10, "tests/test_runtime_sandbox.py": 10, "tests/test_parsed_refs.py": 6,
    "tests/test_text_adversarial.py": 6, "tests/test_native_reader.py": 6, "tests/test_native_graph.py": 6, "tests/test_manifest_toml.py": 4, "tests/test_spec_corpus.py": 4,
    "tests/test_wasm_fuzz.py": 4, "tests/test_cli_errors.py": 4, "tests/test_demangle.py": 3,
    "tests/test_source_paths.py": 3, "tests/test_install.py": 3, "tests/test_runtime_wat.py": 2,
    "tests/test_gate_examples.py": 2, "tests/test_fixturelib.py": 2, "tests/test_analysis_graph.py": 2,
    "tests/test_inspect.py": 1, "tests/test_architecture.py": 1, "tests/test_runtime_speed.py": 1,
    "tests/test_runtime_entry.py": 1, "tests/test_runtime_harness.py": 1, "tests/test_escaping.py": 1,
    "tests/test_analysis_data.py": 1, "tests/test_analysis_refs.py": 1, "tests/test_rules_engine.py": 1,
    "tests/test_demangle_native.py": 12,
}


def _path() -> Path | None:
    value = os.environ.get(ENV, "")
    return Path(value) if value and value != "off" else None


def load() -> dict[str, float]:
    path = _path()
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def save(measured: dict[str, float]) -> None:
    """Merges this session's durations into the file (atomically; the last writer wins)."""
    path = _path()
    if path is None or not measured:
        return
    merged = {**load(), **{k: round(v, 3) for k, v in measured.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-durations-")
        with os.fdopen(fd, "w") as f:
            json.dump(merged, f, sort_keys=True, indent=0)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only loses the ordering hint


def scope_of(nodeid: str) -> str:
    """xdist loadscope's unit: the module, or the class of a method. Parameter ids are
    cut off first: xdist's own split (`rsplit("::", 1)`) took `test_v0[a::b]` for a
    method of a class `test_v0[a`, and spread one module over both workers."""
    return nodeid.split("[", 1)[0].rsplit("::", 1)[0]


def costs(collection: Iterable[str], known: dict[str, float]) -> dict[str, float]:
    """Scope -> expected seconds."""
    tests: dict[str, list[str]] = {}
    for nodeid in collection:
        tests.setdefault(scope_of(nodeid), []).append(nodeid)
    out = {}
    for scope, ids in tests.items():
        recorded = [known[i] for i in ids if i in known]
        if recorded:  # the unrecorded ones (new tests) at the mean of the recorded
            out[scope] = sum(recorded) * len(ids) / len(recorded)
        else:
            out[scope] = SEED.get(scope.split("::", 1)[0], DEFAULT_TEST_SECONDS * len(ids))
    return out


def longest_first(scopes: Sequence[str], cost: dict[str, float]) -> list[str]:
    """The scopes in decreasing cost (ties keep their order)."""
    return sorted(scopes, key=lambda s: -cost[s])


def make_scheduler(config: pytest.Config, log) -> Any:
    """A LoadScopeScheduling that queues the scopes longest first (see the module doc)."""
    from xdist.scheduler import LoadScopeScheduling

    if not all(hasattr(LoadScopeScheduling, a) for a in ("_assign_work_unit", "_split_scope")):
        return None  # an xdist whose internals moved: its own order, still correct

    class LongestFirst(LoadScopeScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The first call sees the whole queue (schedule() built it). Only the queue is
            # reordered: the collection's indices are what the workers run tests by.
            if not self.ordered and self.collection is not None:
                self.ordered = True
                cost = costs(self.collection, load())
                queue = [(scope, self.workqueue[scope]) for scope in longest_first(list(self.workqueue), cost)]
                self.workqueue.clear()
                self.workqueue.update(queue)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


class Recorder:
    """Collects each test's duration in the controller (every phase's report) and saves
    them at the end of a session that ran with workers."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # only this suite's tests (not those of the sessions tests start in a temporary dir)
        if report.nodeid.startswith("tests/"):
            self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus in (0, 1):  # a finished run (not interrupted, not a usage error)
            save(self.seconds)
