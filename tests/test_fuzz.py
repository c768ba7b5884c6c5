"""Coverage-guided fuzzing in the suite, and every crasher it ever found as a regression.

test_fuzz_target runs fuzz/fuzz_wasm.py (atheris, libFuzzer) on each target for a bounded
time, marked `fuzz` — AUDITOR_FUZZ_SECONDS per target; by default 30 (90 s in all) in a run
that includes the cargo tests (the whole suite), 5 in a run that deselects them
(`-m "not cargo"`, the quick subset, whose 60 s budget the full campaign alone would
exceed) — from the committed seeds in fuzz/seeds/<target>, into a temporary corpus
(nothing is written into the repository). A long campaign:
`AUDITOR_FUZZ_SECONDS=600 pytest -m fuzz -s tests/test_fuzz.py` (README Fuzzing).
It fails, naming the input libFuzzer saved, if anything but auditor's one-line error escapes, an input takes over 2 s (of CPU: a wall-clock timeout is
replayed to confirm it), or the process exceeds 500 MB.

test_regressions replays fuzz/regressions/<target>/* in-process: the inputs that once
crashed a target (copy a new crash-*/timeout-*/oom-* file there and commit it).
"""

from __future__ import annotations

import cProfile
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import quick

REPO = Path(__file__).resolve().parent.parent
FUZZ = REPO / "fuzz"
TARGETS = ("module", "dwarf", "names")
#: Seconds per target: the whole suite's campaign, and the quick subset's (README: Development).
FULL_SECONDS, QUICK_SECONDS = 30, 2


def budget(config: pytest.Config) -> int:
    """AUDITOR_FUZZ_SECONDS, else QUICK_SECONDS when the run's -m deselects `cargo`, else FULL_SECONDS."""
    if os.environ.get("AUDITOR_FUZZ_SECONDS"):
        return int(os.environ["AUDITOR_FUZZ_SECONDS"])
    return QUICK_SECONDS if quick.is_quick(config) else FULL_SECONDS
LIMITS = ["-timeout=2", "-rss_limit_mb=500", "-max_len=1048576"]


@pytest.mark.fuzz
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target(target, tmp_path, pytestconfig):
    seconds = budget(pytestconfig)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    dictionary = [f"-dict={FUZZ / 'wasm.dict'}"] if target != "names" else []
    # Through a backgrounded `sh` job: Linux carries a process's peak RSS (what libFuzzer's
    # -rss_limit_mb reads) across exec, so a fuzzer exec'd straight from a pytest that has
    # grown to 500 MB would start "out of memory"; a child forked by a small shell starts fresh.
    proc = subprocess.run(
        ["sh", "-c", '"$0" "$@" & wait $!', sys.executable, str(FUZZ / "fuzz_wasm.py"), target, f"-max_total_time={seconds}", *LIMITS, *dictionary,
         f"-artifact_prefix={artifacts}/", "-print_final_stats=1", str(corpus), str(FUZZ / "seeds" / target)],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=seconds + 120,
    )
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", proc.stderr, re.MULTILINE))
    found = sorted(p.name for p in artifacts.iterdir())
    # libFuzzer's -timeout is wall-clock: on a loaded machine a descheduled process can
    # pass 2 s on a 20 ms input. The property is 2 s of CPU, so a timeout is confirmed
    # by replaying the input in a fresh process; one that replays in under 2 s of CPU is
    # reported and dropped (no crash, oom or confirmed timeout may be).
    spurious = [n for n in found if n.startswith("timeout-") and _cpu_seconds(target, artifacts / n) < 2.0]
    if spurious:
        print(f"\nfuzz {target}: wall-clock timeouts that replay in under 2 s of CPU (machine load): {spurious}")
        found = [n for n in found if n not in spurious]
        if not found:
            return
    print(f"\nfuzz {target}: {stats.get('number_of_executed_units', '?')} inputs in {seconds} s "
          f"({stats.get('average_exec_per_sec', '?')}/s), {stats.get('new_units_added', '?')} new coverage units, "
          f"peak RSS {stats.get('peak_rss_mb', '?')} MB, crashers: {found or 'none'}")
    assert proc.returncode == 0 and not found, (
        f"fuzzer found {found} in {artifacts} — copy it to fuzz/regressions/{target}/ and fix:\n{proc.stderr[-4000:]}")
    assert int(stats.get("number_of_executed_units", 0)) > 100


def _cpu_seconds(target: str, path: Path) -> float:
    """CPU seconds one run of the target on `path` takes, in a fresh uninstrumented process."""
    code = ("import resource, sys; sys.path.insert(0, sys.argv[1]); from targets import TARGETS; "
            "TARGETS[sys.argv[2]](open(sys.argv[3], 'rb').read()); "
            "u = resource.getrusage(resource.RUSAGE_SELF); print(u.ru_utime + u.ru_stime)")
    proc = subprocess.run([sys.executable, "-c", code, str(FUZZ), target, str(path)], capture_output=True, text=True,
                          check=False, timeout=120)
    return float(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else float("inf")


def _regressions() -> list[tuple[str, Path]]:
    return [(t, p) for t in TARGETS for p in sorted((FUZZ / "regressions" / t).glob("*")) if p.is_file()]


@pytest.mark.parametrize("target, path", _regressions(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_regressions(target, path):
    """Every saved crasher: only the tool's own one-line error, in under 2 s CPU."""
    sys.path.insert(0, str(FUZZ))
    try:
        from targets import TARGETS as FUNCS
    finally:
        sys.path.remove(str(FUZZ))
    data = path.read_bytes()
    assert len(data) < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    FUNCS[target](data)
    assert time.process_time() - start < 2.0
    # ru_maxrss is the process's peak (KB): the input may not push it past 500 MB more.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024


def test_instrumented_modules_cover_what_each_target_runs():
    """fuzz_wasm.py instruments only INSTRUMENT[target] and what those import: every
    auditor module the target runs on its seeds must be among them, or libFuzzer would
    be blind to its branches (a module imported lazily inside a function is not)."""
    sys.path.insert(0, str(FUZZ))
    try:
        from fuzz_wasm import INSTRUMENT, _modules
        from targets import TARGETS as FUNCS
    finally:
        sys.path.remove(str(FUZZ))
    assert set(INSTRUMENT) == set(TARGETS) == set(FUNCS)
    for target in TARGETS:
        profile = cProfile.Profile()  # the C profiler: the functions that ran, at a fifth of a Python hook's cost
        profile.enable()
        try:
            for seed in sorted((FUZZ / "seeds" / target).iterdir()):
                FUNCS[target](seed.read_bytes())
        finally:
            profile.disable()
        ran = {os.path.realpath(e.code.co_filename) for e in profile.getstats()
               if not isinstance(e.code, str) and "/auditor/" in e.code.co_filename}
        code = ("import importlib, os, sys\n"
                f"for m in {_modules(INSTRUMENT[target])!r}: importlib.import_module(m)\n"
                "print('\\n'.join(os.path.realpath(m.__file__) for n, m in list(sys.modules.items())\n"
                "                 if n == 'auditor' or n.startswith('auditor.')))")
        imported = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      cwd=REPO).stdout.split())
        assert ran and ran <= imported, (target, sorted(ran - imported))


def test_seed_corpora_are_committed_and_small():
    for target in TARGETS:
        seeds = list((FUZZ / "seeds" / target).iterdir())
        assert len(seeds) >= 5, target
        assert all(p.stat().st_size <= 64 * 1024 for p in seeds)
