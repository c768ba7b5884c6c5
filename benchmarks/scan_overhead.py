"""How much time `auditor scan` adds on top of the cargo builds it runs.

Prints, for a fixture crate and the built-in profiles:
1. the sum of the same cargo builds run directly (the commands `scan --print-commands`
   prints, one after another in one target dir, as a user would run them) next to the
   wall time of a cold `auditor scan --no-runtime --compression none` (goal <= 1.05x);
2. a warm re-scan with nothing changed (goal <= 1 s; zero cargo builds);
3. cold scans with --jobs 1 and --jobs 2 (the default is chosen from this);
4. with --full, for information, a cold full scan (probe builds, runtime, exact gzip/brotli).

Usage: python benchmarks/scan_overhead.py [--full] [CRATE] (default fixtures/crates/guarded)
Uses the toolchain auditor picks (CARGO/RUSTC honoured).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = "release,opt-s,opt-z,lto,cgu1,panic-abort,strip,min-size-s,min-size-z"


def auditor(*args, env=None) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, env=env)
    return time.perf_counter() - t, p


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--full"]
    full_scan = "--full" in sys.argv[1:]
    crate_src = Path(args[0] if args else REPO / "fixtures" / "crates" / "guarded").resolve()
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    try:
        crate = work / crate_src.name
        shutil.copytree(crate_src, crate, ignore=shutil.ignore_patterns("target"))
        cache = work / "cache"
        base = ["--profiles", PROFILES, "--allocators", "default", "--cache-dir", cache, "-q"]

        _, p = auditor("scan", crate, *base, "--print-commands", "--format", "json")
        if p.returncode != 0:
            sys.exit(p.stderr)
        cmds = json.loads(p.stdout)["variants"]
        doctor = json.loads(auditor("doctor", "--format", "json", "--cache-dir", cache)[1].stdout)
        tc = doctor["toolchains"][doctor["selected"]]
        env = dict(os.environ, RUSTC=tc["rustc"], CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(work / "direct"))
        direct = 0.0
        for c in cmds:
            argv = [tc["cargo"], *shlex.split(c["command"])[1:]]
            t = time.perf_counter()
            subprocess.run(argv, cwd=crate, env=env, check=True, capture_output=True)
            direct += time.perf_counter() - t

        cold, p = auditor("scan", crate, *base, "--no-runtime", "--compression", "none", "--no-cache", "--jobs", "1")
        assert p.returncode in (0, 1), p.stderr
        warm, p = auditor("scan", crate, *base, "--no-runtime", "--compression", "none")
        _, p2 = auditor("scan", crate, "--profiles", PROFILES, "--allocators", "default", "--cache-dir", cache,
                        "--no-runtime", "--compression", "none")
        print(f"crate: {crate_src.relative_to(REPO) if crate_src.is_relative_to(REPO) else crate_src}, "
              f"{len(cmds)} variants, toolchain {tc['rustc_version']} + {tc['cargo_version']}, {os.cpu_count()} cores")
        print(f"direct cargo builds (sum)          {direct:7.2f} s")
        print(f"auditor scan, cold, --jobs 1       {cold:7.2f} s   ratio {cold / direct:.3f} (goal <= 1.05)")
        print(f"auditor scan, warm re-scan         {warm:7.2f} s   (goal <= 1 s; stderr: "
              f"{p2.stderr.strip().splitlines()[-1].removeprefix('auditor: ')})")

        allocs = "default,fixture_bump,fixture_freelist"
        wide = ["--profiles", PROFILES, "--allocators", allocs, "--no-runtime", "--compression", "none", "--no-cache",
                "-q"]
        j1, _ = auditor("scan", crate, *wide, "--jobs", "1", "--cache-dir", work / "c1")
        j2, _ = auditor("scan", crate, *wide, "--jobs", "2", "--cache-dir", work / "c2")
        print(f"27 variants (3 allocators), cold:  --jobs 1 {j1:6.2f} s   --jobs 2 {j2:6.2f} s")
        if full_scan:
            full, p = auditor("scan", crate, "--profiles", PROFILES, "--allocators", allocs, "--no-cache", "-q",
                              "--cache-dir", work / "c3")
            print(f"27 variants, full scan (probe builds, runtime, exact gzip/brotli): {full:6.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
