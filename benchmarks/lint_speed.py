"""`auditor lint` wall time (the pre-commit hook's cost) next to independent floors.

Goal: <= 250 ms wall on a crate. Figures: median and max of N runs, peak RSS, for
  - python -c pass                      (the interpreter's own start-up: the floor)
  - auditor lint via the console script and via python -m auditor
  - cargo metadata --offline --no-deps  (cargo reading the same manifests; independent)
  - taplo check                         (a TOML linter, when installed)
on the `workspace` fixture and on a generated 60-member workspace.

Run: python benchmarks/lint_speed.py [-n RUNS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "manifests" / "workspace"


def measure(cmd: list[str], cwd: Path, runs: int) -> tuple[float, float, float]:
    """(median ms, max ms, peak RSS MiB) over `runs` runs, after one warm-up."""
    times, rss = [], 0
    env = {**os.environ, "NO_COLOR": "1"}
    for i in range(runs + 1):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        dt = (time.perf_counter() - t0) * 1000
        if i:
            times.append(dt)
            rss = max(rss, usage.ru_maxrss)
    return statistics.median(times), max(times), rss / 1024


def big_workspace(root: Path, members: int = 60) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/*"]\n\n[profile.release]\nopt-level = "z"\nlto = true\n')
    for i in range(members):
        d = root / "crates" / f"m{i:02d}"
        (d / "src").mkdir(parents=True, exist_ok=True)
        deps = "\n".join(f'm{j:02d} = {{ path = "../m{j:02d}" }}' for j in range(max(0, i - 3), i))
        (d / "Cargo.toml").write_text(
            f'[package]\nname = "m{i:02d}"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f'[lib]\ncrate-type = ["cdylib", "rlib"]\n\n[dependencies]\n{deps}\n')
        (d / "src" / "lib.rs").write_text("pub fn f() {}\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=15)
    runs = ap.parse_args().runs
    script = Path(sysconfig.get_path("scripts")) / "auditor"
    cargo = "/usr/bin/cargo" if Path("/usr/bin/cargo").exists() else shutil.which("cargo")
    taplo = shutil.which("taplo")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(FIXTURE, ws)
        big = big_workspace(Path(tmp) / "big")
        for label, where in (("fixtures/manifests/workspace (2 members)", ws), ("generated workspace (60 members)", big)):
            print(f"\n{label}, {runs} runs each")
            rows = [("python -c pass", [sys.executable, "-c", "pass"])]
            if script.exists():
                rows.append(("auditor lint (console script)", [str(script), "lint"]))
            rows.append(("python -m auditor lint", [sys.executable, "-m", "auditor", "lint"]))
            rows.append(("python -m auditor lint --format sarif", [sys.executable, "-m", "auditor", "lint", "--format", "sarif"]))
            if cargo:
                rows.append(("cargo metadata --offline --no-deps", [cargo, "metadata", "--offline", "--no-deps",
                                                                    "--format-version", "1"]))
            if taplo:
                rows.append(("taplo check", [taplo, "check"]))
            print(f"  {'command':<40} {'median':>9} {'max':>9} {'peak RSS':>9}")
            for name, cmd in rows:
                med, mx, rss = measure(cmd, where, runs)
                print(f"  {name:<40} {med:>6.0f} ms {mx:>6.0f} ms {rss:>5.1f} MiB")
    if not taplo:
        print("\n(taplo not installed: skipped)")


if __name__ == "__main__":
    main()
