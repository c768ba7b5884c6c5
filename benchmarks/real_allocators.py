#!/usr/bin/env python3
"""The README's allocator table: every real allocator on both toolchains, scanned by
auditor, with V8 (Node) re-running the churn workload on the same probe modules.

For each toolchain (rustc 1.63 from /usr/bin, rustc 1.96 from scripts/setup.sh's
prefix) it scans fixtures/real/rust-<v> with every allocator that builds there, in each
--profiles profile, and prints one markdown row per variant: the crate version locked
for that toolchain, code and module bytes, auditor's allocator check, churn verdict and
pages (after warm-up -> end), the same pages from V8 (and whether the whole per-round
curve is equal), and the OOM outcome. crates.io must be reachable (or the crates be in
cargo's cache).

    python benchmarks/real_allocators.py [--toolchains 1.63,1.96] [--profiles release,min-size-z]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    import realcrates
    import v8replay

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--toolchains", default="1.63,1.96")
    ap.add_argument("--profiles", default="release,min-size-z")
    args = ap.parse_args()
    print("| allocator | rustc | crate | profile | code B | module B | allocator check | churn "
          "| pages (auditor) | pages (V8) | OOM |")
    print("|---|---|---|---|---:|---:|---|---|---|---|---|")
    for tc_name in args.toolchains.split(","):
        locked = realcrates.locked_versions(tc_name)
        names = realcrates.ALLOCATORS_ON[tc_name]
        t = time.perf_counter()
        report = realcrates.scan(tc_name, args.profiles, ",".join(names))
        print(f"<!-- rustc {tc_name}: {len(report['variants'])} variants scanned in "
              f"{time.perf_counter() - t:.0f} s -->", file=sys.stderr)
        rows = {v["id"]: v for v in report["variants"]}
        for name in names:
            crate = realcrates.CRATE_OF.get(name)
            version = "std"
            if crate:  # talc is locked twice on 1.96: 5.x for `talc`, 4.x for `talc4`
                versions = sorted(locked[crate], key=lambda s: tuple(map(int, s.split("."))))
                version = f"{crate} {versions[0] if name == 'talc4' else versions[-1]}"
            for profile in args.profiles.split(","):
                v = rows[f"{profile}/{name}"]
                if v["status"] != "ok":
                    print(f"| {name} | {tc_name} | {version} | {profile} | | | failed: "
                          f"{(v['error'] or '').splitlines()[0][:80]} | | | | |")
                    continue
                rt, check = v["runtime"], v.get("allocator_check") or {}
                churn = rt["churn"]
                node = v8replay.replay(v["probes_path"], v8replay.churn_plan(
                    rt["options"]["seed"], rt["options"]["churn_rounds"], rt["oom"]["cap_pages"]))
                w = churn["warmup"]
                same = "same curve" if node["curve"] == churn["curve"] else "DIFFERENT curve"
                method = f" ({check['method']})" if check.get("method") else ""
                print(f"| {name} | {tc_name} | {version} | {profile} | {v['wasm']['section_totals']['code']:,} "
                      f"| {v['wasm']['bytes']:,} | {check.get('status')}{method} | {churn['verdict']} "
                      f"| {churn['pages_after_warmup']} → {churn['pages_end']} "
                      f"| {node['curve'][w]} → {node['curve'][-1]}, {same} | {rt['oom']['outcome']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
