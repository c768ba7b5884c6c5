#!/usr/bin/env python3
"""How long the full runtime probe set takes for one variant, next to raw wasmtime-py.

Builds the `probe` fixture crate (std's dlmalloc, or --allocator bump|freelist|arena)
with the Debian toolchain, or takes --wasm FILE, then times `run_module` (compile, static
facts, ramp + try_reserve ramp, churn, hold/release, fragmentation, realloc) over
--repeat runs. The independent figure is a bare wasmtime-py loop doing the same work
the harness does at the wasm boundary: one compile with fuel and epoch interruption, the
same number of fresh capped stores + instances, and the same number of alloc/dealloc
calls (fresh fuel and deadline each) followed by memory.size, with none of auditor's
bookkeeping. The wasmtime CLI is reported when it is on PATH
(it is not installed here). Goal: the full probe set <= 2 s.

    python benchmarks/runtime_probe.py [--allocator default] [--wasm FILE] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def raw_wasmtime(path: Path, sessions: int, calls: int, cap_pages: int) -> float:
    """Seconds for: compile, `sessions` fresh capped stores + instances, `calls` calls + memory.size."""
    import wasmtime

    t = time.perf_counter()
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True  # the harness's wall-clock backstop costs the same here
    engine = wasmtime.Engine(cfg)
    module = wasmtime.Module(engine, path.read_bytes())
    per = max(1, calls // (2 * sessions))
    for _ in range(sessions):
        store = wasmtime.Store(engine)
        store.set_limits(memory_size=cap_pages * 65536)
        store.set_epoch_deadline(1000)
        linker = wasmtime.Linker(engine)
        linker.define_unknown_imports_as_traps(module)  # a wasm-bindgen module's placeholders
        inst = linker.instantiate(store, module)
        # three exports by name (Instance.exports would read all of them: see naive_exports)
        linker.define_instance(store, "self", inst)
        alloc, free, mem = (linker.get(store, "self", n) for n in ("__auditor_alloc", "__auditor_dealloc", "memory"))
        for i in range(per):
            store.set_fuel(2_000_000_000)
            store.set_epoch_deadline(1000)
            p = alloc(store, 64 + (i & 1023), 8)
            mem.size(store)
            store.set_fuel(2_000_000_000)
            store.set_epoch_deadline(1000)
            free(store, p, 64 + (i & 1023), 8)
            mem.size(store)
    return time.perf_counter() - t


def wasmtime_module_exports(path: Path) -> list:
    import wasmtime

    return list(wasmtime.Module(wasmtime.Engine(), path.read_bytes()).exports)


def naive_exports(path: Path, sessions: int) -> float:
    """Seconds for `sessions` instances whose exports are read with wasmtime-py's
    `Instance.exports` (what the harness did before: export_nth walks the list from its
    start on every call, so this is quadratic in the number of exports)."""
    import wasmtime

    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, path.read_bytes())
    t = time.perf_counter()
    for _ in range(sessions):
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_unknown_imports_as_traps(module)
        linker.instantiate(store, module).exports(store)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--allocator", default="default", choices=["default", "bump", "freelist", "arena"])
    ap.add_argument("--wasm", type=Path, help="a module with the __auditor_* probe exports")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from auditor.runtime.api import RuntimeOptions, run_module

    if args.wasm:
        path = args.wasm
    else:
        import fixturelib

        t = time.perf_counter()
        path = fixturelib.build_with_allocator(args.allocator)
        print(f"built {path.name} ({args.allocator}) in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    # the speed probe (on by default in `auditor run`) is timed separately below: its replay
    # runs in a second, unmetered engine, which the raw wasmtime-py comparison does not model
    opts = RuntimeOptions(speed=False)
    totals, last = [], None
    for _ in range(args.repeat):
        t = time.perf_counter()
        last = run_module(path, opts)
        totals.append(time.perf_counter() - t)
    tm = last.timings
    print(f"module: {path} ({path.stat().st_size:,} bytes)")
    print(f"auditor run_module, full probe set: median {statistics.median(totals):.3f} s, "
          f"min {min(totals):.3f} s over {args.repeat} runs (goal <= 2 s)")
    workloads = [k for k in ("ramp", "churn", "hold_release", "fragmentation", "realloc") if k in tm]
    parts = ", ".join(f"{k} {tm[k]:.3f}" for k in ["compile", "static", *workloads])
    print(f"  per stage (s): {parts}")
    per_call = 1e6 * sum(tm[k] for k in workloads) / tm["calls"]
    print(f"  {tm['calls']:,} calls into the module, {tm['sessions']} fresh stores; "
          f"{per_call:.1f} us per call incl. bookkeeping")
    raws = [raw_wasmtime(path, tm["sessions"], tm["calls"], opts.memory_limit_pages) for _ in range(args.repeat)]
    print(f"raw wasmtime-py, same compile + {tm['sessions']} instances + {tm['calls']:,} calls with memory.size: "
          f"median {statistics.median(raws):.3f} s")
    n_exports = len(wasmtime_module_exports(path))
    print(f"{n_exports:,} exports: {tm['sessions']} instances with Instance.exports would add "
          f"{naive_exports(path, tm['sessions']):.3f} s (the harness looks exports up by name)")
    sped = run_module(path, RuntimeOptions()).timings
    print(f"speed probe (default options, one run): {sped.get('speed', 0):.3f} s on top, "
          f"{sped['total']:.3f} s in all")
    cli = shutil.which("wasmtime")
    print(f"wasmtime CLI: {cli if cli else 'not installed here (no figure)'}")
    print(f"verdicts: oom {last.oom.get('outcome')}, churn {last.churn.get('verdict')}, "
          f"hold/release {last.hold_release.get('verdict')}, fragmentation {last.fragmentation.get('verdict')}, "
          f"realloc {last.realloc.get('verdict')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
