#!/usr/bin/env python3
"""Allocator speed, heap efficiency and code size of real crates, next to talc's figures.

For std's built-in dlmalloc and the crates.io allocators dlmalloc, talc, rlsf, lol_alloc
and wee_alloc this builds (with rustc 1.96, whose wasm32 std is prebuilt) two scratch
cdylibs per allocator OUTSIDE the repository (in --work, default
~/.cache/auditor/allocator-bench):

- a speed crate: the allocator as #[global_allocator] plus auditor's probe exports
  (auditor/runtime/probe_exports.rs, included verbatim), with talc's wasm-perf profile
  (opt-level "z", codegen-units 1, panic = "abort", no LTO). auditor's speed probe
  (auditor/runtime/speed.py) measures fuel per action and wasmtime actions/us on talc's
  random-actions workload with and without realloc, plus the heap fill under a 128 MiB
  cap (talc's heap_efficiency arena is 128 MiB). The same replay export is timed in V8
  (node) as the independent runtime: talc's published speeds come from V8 (deno).
- a size crate: talc's wasm-size model (#![no_std], exports alloc/dealloc/realloc with
  alignment 8, fat LTO, opt-level "z"), measured after `wasm-opt -Oz` minus the same crate
  with an allocator that always returns null (talc's "No Allocator" column), next to
  auditor's name-based attribution on the module before wasm-opt.

Published anchors (SFBdragon/talc): wasm-perf results/wasm-perf.csv at 8ed60c3
(2025-04-15; its "DLMalloc" is std's built-in allocator), heap_efficiency
results/heap-efficiency.csv and wasm-size results/wasm-size.csv at c478204 (2026-03-19).

    python benchmarks/allocator_speed.py [--actions 100000] [--runs 11] [--trials 5]
                                         [--allocators std,dlmalloc,talc,rlsf,lol_alloc,wee_alloc]
                                         [--work DIR] [--no-node] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBES = ROOT / "auditor" / "runtime" / "probe_exports.rs"
FILL_CAP_PAGES = 2048  # 128 MiB, the size of talc's heap_efficiency arena

# name -> (dependency line, #[global_allocator] type and initialiser, talc's column)
ALLOCATORS = {
    "std": (None, None, "DLMalloc"),
    "dlmalloc": ('dlmalloc = { version = "=0.2.14", features = ["global"] }',
                 ("dlmalloc::GlobalDlmalloc", "dlmalloc::GlobalDlmalloc"), "DLMalloc"),
    "talc": ('talc = "=5.1.1"',
             ("talc::wasm::WasmDynamicTalc", "talc::wasm::new_wasm_dynamic_allocator()"), "Talc (Dynamic)"),
    "rlsf": ('rlsf = "=0.2.3"', ("rlsf::GlobalTlsf", "rlsf::GlobalTlsf::new()"), "RLSF (Normal)"),
    "lol_alloc": ('lol_alloc = "=0.4.1"',
                  ("lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator>",
                   "unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) }"),
                  "lol_alloc"),
    "wee_alloc": ('wee_alloc = "=0.4.5"', ("wee_alloc::WeeAlloc", "wee_alloc::WeeAlloc::INIT"), None),
}

# talc's published figures (see the module docstring for the commits)
TALC_SPEED = {  # actions per microsecond: (alloc + dealloc, alloc + dealloc + realloc)
    "Talc (Dynamic)": (21.26, 17.74), "RLSF (Normal)": (17.04, 14.10), "DLMalloc": (12.33, 9.66),
    "lol_alloc": (6.00, 5.00),
}
TALC_HEAP = {"DLMalloc": 97.74, "Talc (Dynamic)": 95.24, "RLSF (Normal)": 97.26}  # % of the heap used at OOM
TALC_SIZE = {"No Allocator": 337, "Talc (Dynamic)": 1663, "RLSF (Normal)": 2259, "DLMalloc": 5500, "lol_alloc": 858}
TALC_ORDER = ("talc", "rlsf", "std", "lol_alloc")  # fastest first, in talc's wasm-perf

NO_ALLOC = """
mod no_alloc {
    use core::alloc::{GlobalAlloc, Layout};
    struct NoAlloc;
    unsafe impl GlobalAlloc for NoAlloc {
        unsafe fn alloc(&self, _: Layout) -> *mut u8 { core::ptr::null_mut() }
        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    }
    #[global_allocator]
    static A: NoAlloc = NoAlloc;
}
"""

PANIC = """
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
"""

SIZE_EXPORTS = """
#[no_mangle]
pub unsafe extern "C" fn alloc(size: usize) -> *mut u8 {
    alloc::alloc::alloc(core::alloc::Layout::from_size_align_unchecked(size, 8))
}
#[no_mangle]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, size: usize) {
    alloc::alloc::dealloc(ptr, core::alloc::Layout::from_size_align_unchecked(size, 8))
}
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
    alloc::alloc::realloc(ptr, core::alloc::Layout::from_size_align_unchecked(old, 8), new)
}
"""

NODE_TIMER = r"""
const fs = require('fs');
const [wasmPath, scriptPath, slotsN, chunkN, runsN] = process.argv.slice(2);
const mod = new WebAssembly.Module(fs.readFileSync(wasmPath));
const imports = {};
for (const imp of WebAssembly.Module.imports(mod)) {
  if (imp.kind !== 'function') continue;
  (imports[imp.module] = imports[imp.module] || {})[imp.name] = () => { throw new Error('import called'); };
}
const e = new WebAssembly.Instance(mod, imports).exports;
const data = fs.readFileSync(scriptPath);
const n = data.length / 16, chunk = Math.min(n, +chunkN);
const sp = e.__auditor_alloc(chunk * 16, 16) >>> 0, slots = e.__auditor_alloc(+slotsN * 12, 16) >>> 0;
const times = [];
for (let it = 0; it <= +runsN; it++) {
  let elapsed = 0;
  for (let a = 0; a < n; a += chunk) {
    const b = Math.min(a + chunk, n);
    new Uint8Array(e.memory.buffer, sp, (b - a) * 16).set(data.subarray(a * 16, b * 16));
    const t0 = process.cpuUsage();  // CPU time, as auditor's wasmtime figure
    const done = e.__auditor_replay(sp, b - a, slots) >>> 0;
    const t1 = process.cpuUsage(t0);
    elapsed += (t1.user + t1.system) / 1000;
    if (done !== b - a) { console.log(JSON.stringify({error: `null at action ${a + done}`})); process.exit(0); }
  }
  if (it) times.push(elapsed * 1000);
}
console.log(JSON.stringify({times}));
"""


def toolchain() -> Path:
    p = Path(os.environ.get("AUDITOR_RUST196_PREFIX") or ROOT / ".toolchains" / "rust-1.96")
    if not (p / "bin" / "cargo").exists():
        p = Path.home() / ".cache" / "auditor" / "toolchains" / "rust-1.96"
    if not (p / "bin" / "cargo").exists():
        sys.exit("allocator_speed: rustc 1.96 not found (set AUDITOR_RUST196_PREFIX or run scripts/setup.sh); "
                 "talc 5 does not build with rustc 1.63")
    return p


def write_crate(d: Path, name: str, alloc: str, kind: str) -> None:
    dep, item, _ = ALLOCATORS.get(alloc, (None, None, None))
    (d / "src").mkdir(parents=True, exist_ok=True)
    profile = ('[profile.release]\nopt-level = "z"\ncodegen-units = 1\npanic = "abort"\n'
               + ('lto = true\n' if kind == "size" else ""))
    (d / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f'[lib]\ncrate-type = ["cdylib"]\n\n[dependencies]\n{dep or ""}\n\n{profile}\n[workspace]\n')
    static = f"#[global_allocator]\nstatic ALLOC: {item[0]} = {item[1]};\n" if item else ""
    if kind == "speed":
        src = static + f'include!("{PROBES}");\n'
    else:
        # std's own allocator comes with std (and its panic handler); the others are no_std
        head = "extern crate alloc;\n" if alloc == "std" else "#![no_std]\nextern crate alloc;\n" + PANIC
        src = head + (NO_ALLOC if alloc == "none" else static) + SIZE_EXPORTS
    (d / "src" / "lib.rs").write_text(src)


def build(prefix: Path, d: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO_", "RUSTFLAGS", "RUSTUP"))}
    env.update(CARGO=str(prefix / "bin" / "cargo"), RUSTC=str(prefix / "bin" / "rustc"), CARGO_INCREMENTAL="0")
    p = subprocess.run([str(prefix / "bin" / "cargo"), "build", "--release", "--target", "wasm32-unknown-unknown",
                        "--message-format=json-render-diagnostics", "-q"], cwd=d, env=env, capture_output=True,
                       text=True, check=False)
    if p.returncode:
        sys.exit(f"allocator_speed: build of {d} failed:\n{p.stderr[-3000:]}")
    wasm = [f for line in p.stdout.splitlines() if line.startswith("{")
            for f in json.loads(line).get("filenames", []) if f.endswith(".wasm")]
    return Path(wasm[-1])


def node_times(wasm: Path, script, runs: int, work: Path) -> list[float] | str:
    js = work / "timer.js"
    js.write_text(NODE_TIMER)
    data = work / f"{wasm.stem}-{script.name}.bin"
    data.write_bytes(script.packed(0, script.actions, 4))
    # --no-liftoff: compile with TurboFan up front. V8 otherwise starts in its baseline tier
    # and one long replay call never tiers up (wasm has no on-stack replacement).
    p = subprocess.run(["node", "--no-liftoff", str(js), str(wasm), str(data), str(script.slots),
                        str(script.actions), str(runs)],
                       capture_output=True, text=True, check=False)
    if p.returncode:
        return f"node failed: {p.stderr.strip().splitlines()[-1:]}"
    out = json.loads(p.stdout)
    return out.get("error") or out["times"]


def wasm_opt(wasm: Path, work: Path, level: str) -> Path | None:
    """binaryen's optimiser over a copy (None when wasm-opt is missing or fails)."""
    if not shutil.which("wasm-opt"):
        return None
    out = work / f"{wasm.stem}{level}.wasm"
    p = subprocess.run(["wasm-opt", level, "--all-features", str(wasm), "-o", str(out)], capture_output=True,
                       check=False)
    return out if p.returncode == 0 else None


def wasm_opt_size(wasm: Path, work: Path) -> int | None:
    out = wasm_opt(wasm, work, "-Oz")
    return out.stat().st_size if out else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--allocators", default=",".join(ALLOCATORS))
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "auditor" / "allocator-bench")
    ap.add_argument("--no-node", action="store_true")
    ap.add_argument("--no-wasm-opt", action="store_true",
                    help="time the speed crate as rustc left it (talc's wasm-pack build runs wasm-opt -O)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    names = [a.strip() for a in args.allocators.split(",") if a.strip()]
    for n in names:
        if n not in ALLOCATORS:
            sys.exit(f"allocator_speed: unknown allocator {n!r} (known: {', '.join(ALLOCATORS)})")

    from auditor.runtime import speed_workloads as sw
    from auditor.runtime.entry import detect
    from auditor.runtime.harness import Harness
    from auditor.runtime.speed import SpeedOptions, heap_fill, speed_probe
    from auditor.wasm.allocator_cost import module_allocator_code
    from auditor.wasm.inspect import inspect_file

    prefix = toolchain()
    args.work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="allocbench-"))
    load0 = os.getloadavg()
    results: dict[str, dict] = {}
    t_all = time.perf_counter()
    for name in names + ["none"]:
        row: dict = {}
        if name != "none":
            d = args.work / f"speed-{name}"
            write_crate(d, f"speed_{name}", name, "speed")
            wasm = build(prefix, d)
            if not args.no_wasm_opt:
                wasm = wasm_opt(wasm, tmp, "-O") or wasm
            print(f"{name}: speed crate built ({wasm.stat().st_size:,} bytes)", file=sys.stderr)
            opts = SpeedOptions(actions=args.actions, runs=args.runs, trials=0)
            with Harness(wasm, fuel=20_000_000_000, timeout=60, unknown_imports="trap") as h:
                entry = detect(h.func_signature)
                row["speed"] = speed_probe(h, entry, 256, opts).to_json()
                row["fill"] = heap_fill(h, entry, FILL_CAP_PAGES, trials=args.trials, seed=1)
            if not args.no_node and shutil.which("node"):
                row["v8"] = {}
                for wl in ("random", "random_realloc"):
                    if row["speed"]["workloads"][wl]["outcome"] != "ok":
                        row["v8"][wl] = "not run: failed in wasmtime"
                        continue
                    t = node_times(wasm, sw.script(wl, args.actions, 1), args.runs, tmp)
                    row["v8"][wl] = (round(sw.script(wl, args.actions, 1).actions / statistics.median(t), 3)
                                     if isinstance(t, list) else t)
        d = args.work / f"size-{name}"
        write_crate(d, f"size_{name}", name, "size")
        wasm = build(prefix, d)
        info = inspect_file(wasm, compression="none")
        row["size"] = {"module": wasm.stat().st_size, "opt": wasm_opt_size(wasm, tmp),
                       "attributed": module_allocator_code(info.module, info.allocator).to_json()["bytes"]}
        results[name] = row
        print(f"{name}: measured ({time.perf_counter() - t_all:.0f} s so far)", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    report(results, names, args, load0)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _f(v, fmt="{:.2f}") -> str:
    return "-" if v is None else v if isinstance(v, str) else fmt.format(v)


def _speed(w: dict) -> str:
    """A workload's wasmtime actions/us, or where it stopped."""
    return _f(w["actions_per_us"]) if w["outcome"] == "ok" else f"{w['outcome']} at {w['completed']:,}"


def report(results: dict, names: list[str], args, load0) -> None:
    from auditor.runtime import speed_workloads as sw

    base = results["none"]["size"]
    print(f"# allocator benchmark: {args.actions:,} actions, median CPU time of {args.runs} runs, heap fill "
          f"{args.trials} trials at {FILL_CAP_PAGES} pages; speed crates "
          f"{'as rustc left them' if args.no_wasm_opt else 'after wasm-opt -O (as wasm-pack)'}; "
          f"load average {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d')}")
    print()
    print("## speed: talc's random actions (alloc+dealloc | +realloc)")
    print("| allocator | fuel/action | wasmtime actions/us | V8 actions/us | talc's (V8, 2025-04) |")
    print("|---|---:|---:|---:|---:|")
    for n in names:
        r = results[n]
        w = r["speed"]["workloads"]
        fuel = " \\| ".join(_f(w[k]["fuel_per_action"], "{:.0f}") for k in ("random", "random_realloc"))
        wt = " \\| ".join(_speed(w[k]) for k in ("random", "random_realloc"))
        v8 = " \\| ".join(_f(r.get("v8", {}).get(k)) if not isinstance(r.get("v8", {}).get(k), str) else "-"
                           for k in ("random", "random_realloc"))
        talc = TALC_SPEED.get(ALLOCATORS[n][2] or "")
        published = " \\| ".join(map(str, talc)) if talc else "-"
        print(f"| {n} | {fuel} | {wt} | {v8} | {published} |")
    print()
    print("## fuel per action and wasmtime actions/us on every workload (seed_vectors: the seed note's pattern)")
    print("| allocator | " + " | ".join(sw.WORKLOADS) + " |")
    print("|---|" + "---:|" * len(sw.WORKLOADS))
    for n in names:
        w = results[n]["speed"]["workloads"]
        cells = [f"{_f(w[k]['fuel_per_action'], '{:.0f}')} / {_speed(w[k])}" for k in sw.WORKLOADS]
        print(f"| {n} | " + " | ".join(cells) + " |")
    print()
    print("## heap efficiency: live / heap bytes at the first failure (talc's heap_efficiency model)")
    print("| allocator | ours (wasm, 128 MiB cap) | talc's (native 128 MiB arena) | peak/live under churn (ours) |")
    print("|---|---:|---:|---:|")
    for n in names:
        r = results[n]
        eff = r["fill"]["efficiency"]
        talc = TALC_HEAP.get(ALLOCATORS[n][2] or "") if n != "std" else None
        p2l = r["speed"]["workloads"]["random_realloc"]["peak_to_live"]
        print(f"| {n} | {_f(eff * 100 if eff is not None else None, '{:.1f} %')} | "
              f"{_f(talc, '{:.1f} %')} | {_f(p2l, '{:.3f}')} |")
    print()
    print("## size: allocator-only cdylib (talc's wasm-size model), bytes")
    print("| allocator | module | after wasm-opt -Oz | minus no-allocator | talc's (-Oz) | talc's minus no-alloc |"
          " auditor's attribution (names, before wasm-opt) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in names + ["none"]:
        s = results[n]["size"]
        talc = TALC_SIZE.get(ALLOCATORS[n][2] or "") if n not in ("std", "none") else (
            TALC_SIZE["No Allocator"] if n == "none" else None)
        delta = s["opt"] - base["opt"] if s["opt"] and base["opt"] else None
        tdelta = talc - TALC_SIZE["No Allocator"] if talc and n != "none" else None
        print(f"| {n} | {s['module']:,} | {_f(s['opt'], '{:,}')} | {_f(delta, '{:,}')} | {_f(talc, '{:,}')} | "
              f"{_f(tdelta, '{:,}')} | {s['attributed']:,} |")
    print()
    ranked = [n for n in TALC_ORDER if n in names]
    for label, key in (("fuel/action", "fuel_per_action"), ("wasmtime actions/us", "actions_per_us")):
        for wl in ("random", "random_realloc"):
            vals = {n: results[n]["speed"]["workloads"][wl][key] for n in ranked}
            if any(v is None for v in vals.values()):
                continue
            order = sorted(ranked, key=lambda n: vals[n], reverse=(key == "actions_per_us"))
            verdict = "agrees" if order == ranked else "DIFFERS"
            print(f"order by {label} ({wl}): {' > '.join(order)} — {verdict} with talc's {' > '.join(ranked)}")


if __name__ == "__main__":
    raise SystemExit(main())
