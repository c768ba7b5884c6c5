#!/usr/bin/env python3
"""How fast and how lean `auditor inspect` is on a large module, next to wasm-objdump.

Generates a module of about --mb megabytes (default 10) with a name section of
Rust-style mangled names (wat2wasm --debug-names), then runs each tool in a fresh process
and prints wall time and peak RSS (from wait4). Goal: 10 MB in <= 1 s and <= 10x its size
in RSS for the reading itself (`--compression none`); the gzip -9 / brotli -q 11 figures
are timed separately because brotli -q 11 is slow on any reader.

    python benchmarks/inspect_speed.py [--mb 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate_wat(target_bytes: int, seed: int = 1):
    """Yields the module's WAT text line by line (the benchmark never holds it whole, so
    the measuring process stays small: a forked child's RSS starts as its parent's)."""
    rnd = random.Random(seed)
    crates = ["core", "alloc", "std", "serde_json", "regex_syntax", "myapp", "hashbrown", "dlmalloc"]
    yield from ["(module", '  (memory (export "memory") 17 1024)', "  (global $sp (mut i32) (i32.const 1048576))",
             "  (type $t (func (param i32 i32) (result i32)))"]
    size = 0
    i = 0
    while size < target_bytes:
        crate = rnd.choice(crates)
        mod = "".join(rnd.choice("abcdefghijklmnop") for _ in range(rnd.randint(4, 12)))
        fn = "".join(rnd.choice("qrstuvwxyz_") for _ in range(rnd.randint(3, 14)))
        name = f"_ZN{len(crate)}{crate}{len(mod)}{mod}{len(fn)}{fn}17h{rnd.getrandbits(64):016x}E"
        body = []
        for _ in range(rnd.randint(5, 120)):
            k = rnd.random()
            if k < 0.3:
                body.append(f"local.get 0 i32.const {rnd.randint(-70000, 70000)} i32.add local.set 1")
            elif k < 0.5:
                body.append(f"local.get 1 i32.load offset={rnd.randint(0, 4000)} local.set 0")
            elif k < 0.65 and i:
                body.append(f"local.get 0 local.get 1 call {rnd.randint(0, i - 1)} local.set 1")
            elif k < 0.8:
                body.append("block local.get 0 br_if 0 local.get 1 i32.const 1 i32.shl local.set 1 end")
            elif k < 0.99999:
                body.append(f"local.get 1 i64.extend_i32_u i64.const {rnd.getrandbits(40)} i64.mul i32.wrap_i64 local.set 0")
            else:
                body.append("i32.const 1 memory.grow local.tee 1 i32.const -1 i32.eq br_if 0")
        yield f'  (func ${name} (type $t) (local i32) block {" ".join(body)} end local.get 0)'

        size += 12 + len(body) * 7 + len(name)
        i += 1
    yield '  (data (i32.const 1048576) "static data for the benchmark")'
    yield ")"


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {p.stderr.read().decode()[:500]}")
    return wall, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="also save the generated module here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wat = Path(d) / "big.wat"
        wasm = Path(d) / "big.wasm"
        with wat.open("w") as f:
            for line in generate_wat(int(args.mb * 1_000_000)):
                f.write(line + "\n")
        subprocess.run(["wat2wasm", "--debug-names", str(wat), "-o", str(wasm)], check=True)
        if args.keep:
            shutil.copy(wasm, args.keep)
        size = wasm.stat().st_size
        print(f"module: {size:,} bytes ({size / 1e6:.1f} MB), "
              f"{subprocess.run(['wasm-objdump', '-h', str(wasm)], capture_output=True, text=True).stdout.count(chr(10))} objdump -h lines")
        auditor = [sys.executable, "-m", "auditor", "inspect", "--format", "json", str(wasm)]
        runs = [
            ("auditor inspect --compression none", auditor + ["--compression", "none"]),
            ("auditor inspect --compression fast", auditor + ["--compression", "fast"]),
            ("auditor inspect (default: auto = fast above 1 MiB)", auditor),
            ("auditor inspect --compression exact", auditor + ["--compression", "exact"]),
            ("wasm-objdump -h", ["wasm-objdump", "-h", str(wasm)]),
            ("wasm-objdump -x", ["wasm-objdump", "-x", str(wasm)]),
        ]
        if shutil.which("brotli"):
            runs.append(("brotli -q 11 -c (the CLI alone)", ["brotli", "-q", "11", "-c", str(wasm)]))
        runs.append(("gzip -9 -c (the CLI alone)", ["gzip", "-9", "-c", str(wasm)]))
        print(f"{'command':<48} {'wall s (best of ' + str(args.repeat) + ')':>20} {'peak RSS MB':>12} {'RSS/size':>9}")
        for label, cmd in runs:
            best = min((measure(cmd) for _ in range(args.repeat)), key=lambda x: x[0])
            print(f"{label:<48} {best[0]:>20.3f} {best[1] / 1e6:>12.1f} {best[1] / size:>9.1f}")


if __name__ == "__main__":
    main()
