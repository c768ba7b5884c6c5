"""How much time `auditor scan` adds on top of the cargo builds it runs (issue 16 goals).

For a fixture crate, the built-in profiles and std's allocator (so the user's own
builds need no injection), side by side in one run:
1. the sum of the same cargo builds run directly (the commands `scan --print-commands`
   prints, one after another in one target dir, as a user would run them) next to a
   cold `auditor scan --jobs 1` without and with the runtime stage (goal <= 1.1x: N
   builds, not 2N — the probe modules are linked from the measured builds' link inputs,
   one per allocator and behaviour setting, counted on stderr as probe links);
2. a warm re-scan with nothing changed (goal <= 1 s, 0 cargo invocations);
3. a one-line source edit that changes the module (an exported function; twice), then a
   comment-only edit that does not: the same N cargo builds again in the user's warm
   target dir next to the re-scan (goal <= 1.5x);
4. with --jobs, cold scans of 27 variants (3 allocators) with --jobs 1 and --jobs 2.

Cold runs are repeated twice, alternating user builds and scans (the machine's load
drifts); each figure is wall and CPU seconds (CPU of every process waited for: cargo,
rustc, auditor), CPU being the steadier one on a loaded machine.
Every cargo invocation is counted twice: by auditor (its stderr line) and by a wrapper
script given as CARGO that logs each call (an independent count).

Usage: python benchmarks/scan_overhead.py [--jobs] [--reps=N] [CRATE] (default fixtures/crates/guarded)
Uses the toolchain auditor picks (CARGO/RUSTC honoured). --reps: cold rounds (default 2);
with more than one, a row per mode sums every round (CPU of the 9 builds swings +-20 %
between identical rounds here, so the sum is the steadier ratio). auditor runs with its
bytecode cached, as installed (PYTHONDONTWRITEBYTECODE in the caller's environment is
dropped for it: recompiling ~80 modules costs ~0.2-0.3 s CPU in every run).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = "release,opt-s,opt-z,lto,cgu1,panic-abort,strip,min-size-s,min-size-z"
# A one-line edit that changes the module (an exported function), and one that does not.
EDIT = '\n#[no_mangle] pub extern "C" fn auditor_bench_edit{n}() -> u32 {{ {n} }}\n'
COMMENT = "\n// auditor benchmark: a comment-only edit {n}\n"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# auditor as installed: its bytecode compiled once (pip does it at install time). A
# PYTHONDONTWRITEBYTECODE in the caller's environment would recompile ~80 modules in
# every run (~0.2-0.3 s CPU of each scan here); the cache goes in the run's temp dir.
PYC: dict[str, str] = {}


def _with_bytecode(env: dict | None) -> dict:
    e = dict(os.environ if env is None else env)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e.update(PYC)
    return e


def auditor(*args, env=None) -> tuple[float, subprocess.CompletedProcess, float]:
    """Wall seconds, the process, and CPU seconds of auditor and every process it waited for."""
    t, c = time.perf_counter(), _children_cpu()
    p = subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, env=_with_bytecode(env))
    return time.perf_counter() - t, p, _children_cpu() - c


def summary(p: subprocess.CompletedProcess) -> str:
    lines = [l for l in p.stderr.splitlines() if "cargo invocation" in l]
    return lines[-1].removeprefix("auditor: ") if lines else p.stderr.strip()[-300:]


def counted(p: subprocess.CompletedProcess) -> int:
    m = re.search(r"(\d+) cargo invocations?", summary(p))
    return int(m.group(1)) if m else -1


def lib_name(crate: Path) -> str:
    import tomllib

    manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    return str(manifest.get("lib", {}).get("name") or manifest["package"]["name"]).replace("-", "_")


def ship_tools(crate: Path, tc: dict) -> tuple | None:
    """(wasm-bindgen CLI, wasm-opt) for a crate that locks wasm-bindgen, found the way the
    scan finds them (never installed here: run one scan first); None otherwise."""
    sys.path.insert(0, str(REPO))
    from auditor.build import ship as B

    version = B.locked_version(crate / "Cargo.lock", B.ship_rules()["bindgen"]["crate"])
    if not version:
        return None
    bindgen = B.find_wasm_bindgen(version, cargo=tc["cargo"], rustc=tc["rustc"], install=False)
    return bindgen, B.find_wasm_opt(install=False)


def ship_by_hand(tools: tuple, module: Path, out: Path) -> None:
    from auditor.build import ship as B
    from auditor.wasm.features import file_features

    bindgen, opt = tools
    res = B.run_bindgen(bindgen, module, out, module.stem)
    if opt is not None:
        B.run_wasm_opt(opt, res.wasm, out / "opt.wasm", "-O", file_features(str(res.wasm)))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    jobs_compare = "--jobs" in sys.argv[1:]
    reps = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--reps=")), 2)
    crate_src = Path(args[0] if args else REPO / "fixtures" / "crates" / "guarded").resolve()
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    PYC["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    try:
        crate = work / "scan" / crate_src.name
        user = work / "user" / crate_src.name
        for d in (crate, user):
            shutil.copytree(crate_src, d, ignore=shutil.ignore_patterns("target"))
        _, p, _ = auditor("scan", crate, "--profiles", PROFILES, "--allocators", "default", "--cache-dir", work / "c0",
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

        def user_env(target: Path) -> dict:
            return dict(os.environ, RUSTC=tc["rustc"], CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(target))

        ship = ship_tools(crate_src, tc)

        def direct(target: Path) -> tuple[float, float]:
            """The user's builds; for a wasm-bindgen crate also what `wasm-pack build` runs
            after cargo on each (the wasm-bindgen CLI, then wasm-opt -O: the same tools the
            scan found), as the scan does."""
            wall, c0 = 0.0, _children_cpu()
            for c in cmds:
                argv = [tc["cargo"], *shlex.split(c["command"])[1:]]
                t = time.perf_counter()
                subprocess.run(argv, cwd=user, env=user_env(target), check=True, capture_output=True)
                if ship is not None:
                    profile = re.search(r"--profile (\S+)", c["command"]).group(1)
                    built = target / "wasm32-unknown-unknown" / profile / f"{lib_name(crate_src)}.wasm"
                    ship_by_hand(ship, built, target / "pkg" / profile)
                wall += time.perf_counter() - t
            return wall, _children_cpu() - c0

        base = ["--profiles", PROFILES, "--allocators", "default", "--compression", "none", "--jobs", "1"]
        rows: list[tuple[str, str, str, str, str]] = []

        def row(label: str, wall: float, cpu: float, ref: tuple[float, float] | None, goal: str, note: str) -> None:
            ratio = f"{wall / ref[0]:.2f}x / {cpu / ref[1]:.2f}x" if ref else ""
            rows.append((label, f"{wall:.2f} / {cpu:.2f}", ratio, goal, note))

        def scan(label: str, ref: tuple[float, float] | None, goal: str, *extra: str,
                 cache_dir: Path) -> tuple[float, float]:
            before = logged()
            t, p, cpu = auditor("scan", crate, *base, *extra, "--cache-dir", cache_dir, env=env)
            assert p.returncode in (0, 1), p.stderr
            n = logged() - before
            check = "" if counted(p) == n else f"  MISMATCH: wrapper saw {n}"
            row(label, t, cpu, ref, goal, summary(p) + check)
            return t, cpu

        # Cold, twice, alternating (the machine's load drifts): the user's builds in a fresh
        # target dir, then the scan with a fresh cache.
        totals = {"direct": [0.0, 0.0], "no-runtime": [0.0, 0.0], "runtime": [0.0, 0.0]}

        def add(key: str, figures: tuple[float, float]) -> None:
            totals[key][0] += figures[0]
            totals[key][1] += figures[1]

        for rep in range(1, reps + 1):
            ref = direct(work / f"direct{rep}")
            add("direct", ref)
            row(f"direct cargo builds, {len(cmds)} variants (sum), cold #{rep}", *ref, None, "", "")
            add("no-runtime", scan(f"scan cold, --no-runtime #{rep}", ref, "<= 1.1x", "--no-runtime",
                                   cache_dir=work / f"n{rep}"))
            add("runtime", scan(f"scan cold, with runtime #{rep}", ref, "<= 1.1x", cache_dir=work / f"c{rep}"))
        if reps > 1:
            d = (totals["direct"][0], totals["direct"][1])
            for key, label in (("no-runtime", "--no-runtime"), ("runtime", "with runtime")):
                row(f"scan cold, {label}, all {reps} rounds (sums)", totals[key][0], totals[key][1], d, "<= 1.1x",
                    f"against the {reps} rounds of direct builds: {d[0]:.2f} / {d[1]:.2f}")
        cache = work / f"c{reps}"
        scan("scan warm, nothing changed", None, "<= 1 s, 0 cargo", cache_dir=cache)
        # the user's warm target dir is the last cold round's (not a fresh one)
        for n, (kind, text) in enumerate((("one-line edit", EDIT), ("one-line edit", EDIT),
                                          ("comment-only edit (module unchanged)", COMMENT)), 1):
            for d in (crate, user):
                lib = d / "src" / "lib.rs"
                lib.write_text(lib.read_text() + text.format(n=n))
            ref = direct(work / f"direct{reps}")
            row(f"direct cargo builds after {kind} #{n} (sum, warm target dir)", *ref, None, "", "")
            scan(f"scan after {kind} #{n}, with runtime", ref, "<= 1.5x", cache_dir=cache)

        if jobs_compare:
            allocs = "default,fixture_bump,fixture_freelist"
            for j in ("1", "2"):
                t, p, cpu = auditor("scan", crate, "--profiles", PROFILES, "--allocators", allocs, "--no-runtime",
                                    "--compression", "none", "--jobs", j, "--cache-dir", work / f"j{j}", env=env)
                row(f"27 variants, cold, --no-runtime --jobs {j}", t, cpu, None, "", summary(p))

        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; uptime: {load}")
        print(f"# crate {crate_src.relative_to(REPO) if crate_src.is_relative_to(REPO) else crate_src}, "
              f"{tc['rustc_version']} + {tc['cargo_version']}, {os.cpu_count()} cores, --compression none, --jobs 1")
        if ship is not None:
            print(f"# a wasm-bindgen crate: every 'direct' row is cargo + wasm-bindgen {ship[0].version} + "
                  f"wasm-opt {ship[1].version if ship[1] else '(none)'} -O per variant (what wasm-pack build runs; "
                  "the scan runs the same stages)")
        print("| measurement | wall / CPU s | ratio wall / CPU | goal | auditor's stderr (count checked against a logging CARGO wrapper) |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
