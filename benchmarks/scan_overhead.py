"""How much time `auditor scan` adds on top of the cargo builds it runs (issue 16 goals).

For a fixture crate, the built-in profiles and std's allocator (so the user's own
builds need no injection), side by side in one run:
1. the sum of the same cargo builds run directly (the commands `scan --print-commands`
   prints, one after another in one target dir, as a user would run them) next to a
   cold `auditor scan --jobs 1` without and with the runtime stage (goal <= 1.1x: N
   builds, not 2N — the probe builds are one per behaviour setting, incremental);
2. a warm re-scan with nothing changed (goal <= 1 s, 0 cargo invocations);
3. a one-line source edit: the same N cargo builds again in the user's warm target dir
   next to the re-scan (goal <= 1.5x);
4. with --jobs, cold scans of 27 variants (3 allocators) with --jobs 1 and --jobs 2.

Every cargo invocation is counted twice: by auditor (its stderr line) and by a wrapper
script given as CARGO that logs each call (an independent count).

Usage: python benchmarks/scan_overhead.py [--jobs] [CRATE] (default fixtures/crates/guarded)
Uses the toolchain auditor picks (CARGO/RUSTC honoured).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = "release,opt-s,opt-z,lto,cgu1,panic-abort,strip,min-size-s,min-size-z"
EDIT = "\npub const AUDITOR_BENCH_EDIT: u32 = {n};\n"


def auditor(*args, env=None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, env=env)
    return time.perf_counter() - t, p


def summary(p: subprocess.CompletedProcess) -> str:
    lines = [l for l in p.stderr.splitlines() if "cargo invocation" in l]
    return lines[-1].removeprefix("auditor: ") if lines else p.stderr.strip()[-300:]


def counted(p: subprocess.CompletedProcess) -> int:
    m = re.search(r"(\d+) cargo invocations?", summary(p))
    return int(m.group(1)) if m else -1


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    jobs_compare = "--jobs" in sys.argv[1:]
    crate_src = Path(args[0] if args else REPO / "fixtures" / "crates" / "guarded").resolve()
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    try:
        crate = work / "scan" / crate_src.name
        user = work / "user" / crate_src.name
        for d in (crate, user):
            shutil.copytree(crate_src, d, ignore=shutil.ignore_patterns("target"))
        cache = work / "cache"
        _, p = auditor("scan", crate, "--profiles", PROFILES, "--allocators", "default", "--cache-dir", work / "c0",
                       "--print-commands", "--format", "json", "-q")
        if p.returncode != 0:
            sys.exit(p.stderr)
        cmds = json.loads(p.stdout)["variants"]
        doctor = json.loads(auditor("doctor", "--format", "json", "--cache-dir", work / "c0")[1].stdout)
        tc = doctor["toolchains"][doctor["selected"]]

        # An independent count: CARGO is a script that logs every call, then runs the real one.
        log = work / "cargo-calls.log"
        wrapper = work / "bin" / "cargo"
        wrapper.parent.mkdir()
        wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {shlex.quote(tc["cargo"])} "$@"\n')
        wrapper.chmod(0o755)
        env = dict(os.environ, CARGO=str(wrapper), RUSTC=tc["rustc"])

        def logged() -> int:
            return len(log.read_text().splitlines()) if log.exists() else 0

        user_env = dict(os.environ, RUSTC=tc["rustc"], CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(work / "direct"))

        def direct() -> float:
            total = 0.0
            for c in cmds:
                argv = [tc["cargo"], *shlex.split(c["command"])[1:]]
                t = time.perf_counter()
                subprocess.run(argv, cwd=user, env=user_env, check=True, capture_output=True)
                total += time.perf_counter() - t
            return total

        base = ["--profiles", PROFILES, "--allocators", "default", "--compression", "none", "--jobs", "1"]
        rows: list[tuple[str, float, str, str]] = []

        cold_direct = direct()
        rows.append((f"direct cargo builds, {len(cmds)} variants (sum)", cold_direct, "", ""))

        def scan(label: str, ref: float | None, goal: str, *extra: str, cache_dir: Path) -> subprocess.CompletedProcess:
            before = logged()
            t, p = auditor("scan", crate, *base, *extra, "--cache-dir", cache_dir, env=env)
            assert p.returncode in (0, 1), p.stderr
            n = logged() - before
            ratio = f"{t / ref:.2f}x" if ref else ""
            check = "" if counted(p) == n else f"  MISMATCH: wrapper saw {n}"
            rows.append((label, t, ratio + (f" (goal {goal})" if goal else ""), summary(p) + check))
            return p

        scan("scan cold, --no-runtime", cold_direct, "<= 1.1x", "--no-runtime", cache_dir=work / "c1")
        scan("scan cold, with runtime", cold_direct, "<= 1.1x", cache_dir=cache)
        scan("scan warm, nothing changed", None, "<= 1 s, 0 cargo", cache_dir=cache)
        for d in (crate, user):
            lib = d / "src" / "lib.rs"
            lib.write_text(lib.read_text() + EDIT.format(n=1))
        edit_direct = direct()
        rows.append(("direct cargo builds after a one-line edit (sum)", edit_direct, "", ""))
        scan("scan after the edit, with runtime", edit_direct, "<= 1.5x", cache_dir=cache)
        for d in (crate,):
            lib = d / "src" / "lib.rs"
            lib.write_text(lib.read_text() + EDIT.format(n=2).replace("EDIT", "EDIT2"))
        scan("scan after a 2nd edit, --no-runtime", edit_direct, "<= 1.5x", "--no-runtime", cache_dir=cache)

        if jobs_compare:
            allocs = "default,fixture_bump,fixture_freelist"
            for j in ("1", "2"):
                t, p = auditor("scan", crate, "--profiles", PROFILES, "--allocators", allocs, "--no-runtime",
                               "--compression", "none", "--jobs", j, "--cache-dir", work / f"j{j}", env=env)
                rows.append((f"27 variants, cold, --no-runtime --jobs {j}", t, "", summary(p)))

        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; uptime: {load}")
        print(f"# crate {crate_src.relative_to(REPO) if crate_src.is_relative_to(REPO) else crate_src}, "
              f"{tc['rustc_version']} + {tc['cargo_version']}, {os.cpu_count()} cores, --compression none, --jobs 1")
        print("| measurement | wall s | ratio | auditor's count (checked against a logging CARGO wrapper) |")
        print("|---|---|---|---|")
        for label, t, ratio, note in rows:
            print(f"| {label} | {t:.2f} | {ratio} | {note} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
