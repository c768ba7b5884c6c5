"""Repository-wide pytest setup.

Tests run `auditor` and `pre-commit` as subprocesses; put the running interpreter's
bin directory (the venv that scripts/setup.sh made) first on PATH so they resolve to
the installed ones whether or not the venv is activated.

pyproject's `-n auto` (pytest-xdist) is resolved here: the whole suite (no test paths
given) runs on two workers, a run that names files or tests in one process, where
workers would only add their start-up. `-n N` on the command line, `--pdb` and
PYTEST_XDIST_AUTO_NUM_WORKERS decide as usual.
"""

import os
import re
import sys
from pathlib import Path

import pytest

_bin = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[:1] != [_bin]:
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

# Hundreds of tests start `auditor` in a child interpreter. With PYTHONDONTWRITEBYTECODE
# (set on some CI machines) each child compiles every module it imports again; let the
# children cache bytecode outside the repository (tests never write into it) instead.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None and "PYTHONPYCACHEPREFIX" not in os.environ:
    import tempfile

    os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), f"auditor-tests-pycache-{os.getuid()}")
    # and this process too (a run without workers): pytest rewrites the asserts of every
    # test module it imports, ~5 CPU-s for the quick subset's ~90 modules, and caches the
    # result only when bytecode may be written (the workers, started with this
    # environment, already did).
    sys.dont_write_bytecode = False
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]

#: Workers for a whole-suite run: the machines this suite is measured on have 2 cores,
#: and each worker's cargo builds use both (README: Development).
WORKERS = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return 0
    cores = len(os.sched_getaffinity(0))
    if re.search(r"\bnot\s+cargo\b", config.getoption("markexpr", "") or ""):
        # The quick subset builds nothing; a third of its wall time is tests that wait
        # (the sandbox's wall-clock limits, signals, Chromium, fixed-time fuzzing), which
        # one more worker than cores fills: 68 s against 78-80 s with 2, quiet, 2 cores.
        return cores + 1
    return min(WORKERS, cores)
