#!/usr/bin/env python3
"""How fast and how lean `auditor inspect` is, next to wasm-objdump and wasm-tools on the
same inputs (issue 16).

Two kinds of input:

- synthetic modules of --sizes megabytes (default 2, 5, 10, 20, 40), written directly
  as binary: Rust-style legacy and v0 mangled names in a name section, bodies mixing
  arithmetic, loads, calls, blocks and a rare memory.grow, and a data segment with
  panic-location paths. Cost must be linear: seconds per MB is printed at each size;
- the real npm modules of scripts/real_modules.sh (--real), @biomejs/wasm-nodejs
  (45.6 MB, 35,823 named functions) first.

Each command runs in a fresh process, --repeat times; the best wall time is printed
with its CPU time (user + sys of the child, from wait4: steadier than wall on a shared
machine) and peak RSS. Goals: a 45.6 MB module in <= 5 s and <= 5x its size in RSS;
10 MB in <= 1 s with `--compression fast`; never more than 3x `wasm-objdump -x`.
`--phases` also times inspect's stages in-process (parse, item graph, demangling,
crates, allocator detection, source paths, record + rules, JSON), so a regression
names its stage.

`CPU x obj` is auditor's CPU over wasm-objdump's, measured back to back in the same run
(steadier than wall on a shared machine).

`--reader both` times auditor with the compiled code reader off (AUDITOR_NATIVE_READER=off:
the Python pass, as before it) and on (auto), side by side.

`--compare DIR` runs each auditor command alternately with this checkout and DIR's tree
(both without site), so the before/after pair sees the same load.
`--pin 1` runs every measured command on CPU 1 only (taskset): the "10 MB in 1 s also when
only one core is free" case, where the compression threads share the parsing core.

    python benchmarks/inspect_speed.py [--sizes 2,5,10,20,40] [--real] [--phases] [--repeat 3] [--reader both]
        [--pin CPUS] [--compare DIR]
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


# -- synthetic modules ---------------------------------------------------------------

def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        done = (n == 0 and not b & 0x40) or (n == -1 and b & 0x40)
        out.append(b | (0 if done else 0x80))
        if done:
            return bytes(out)


def section(sid: int, body: bytes) -> bytes:
    return bytes([sid]) + leb(len(body)) + body


def vec(items: list[bytes]) -> bytes:
    return leb(len(items)) + b"".join(items)


def name_bytes(s: str) -> bytes:
    b = s.encode()
    return leb(len(b)) + b


def synthetic_module(target_bytes: int, seed: int = 1) -> bytes:
    """A valid module of about target_bytes: (i32, i32) -> i32 functions with mangled names."""
    rnd = random.Random(seed)
    crates = ["core", "alloc", "std", "serde_json", "regex_syntax", "myapp", "hashbrown", "dlmalloc"]
    bodies: list[bytes] = []
    names: list[bytes] = []
    size = 0
    i = 0
    while size < target_bytes:
        crate = rnd.choice(crates)
        mod = "".join(rnd.choice("abcdefghijklmnop") for _ in range(rnd.randint(4, 12)))
        fn = "".join(rnd.choice("qrstuvwxyz_") for _ in range(rnd.randint(3, 14)))
        if i % 2:
            name = f"_ZN{len(crate)}{crate}{len(mod)}{mod}{len(fn)}{fn}17h{rnd.getrandbits(64):016x}E"
        else:
            name = f"_RNvNtCs{rnd.getrandbits(40):x}_{len(crate)}{crate}{len(mod)}{mod}{len(fn)}{fn}"
        code = bytearray(b"\x02\x40")  # block
        for _ in range(rnd.randint(5, 120)):
            k = rnd.random()
            if k < 0.3:  # local.get 0 i32.const N i32.add local.set 1
                code += b"\x20\x00\x41" + sleb(rnd.randint(-70000, 70000)) + b"\x6a\x21\x01"
            elif k < 0.5:  # local.get 1 i32.load offset=N local.set 0
                code += b"\x20\x01\x28\x02" + leb(rnd.randint(0, 4000)) + b"\x21\x00"
            elif k < 0.65 and i:  # local.get 0 local.get 1 call N local.set 1
                code += b"\x20\x00\x20\x01\x10" + leb(rnd.randint(0, i - 1)) + b"\x21\x01"
            elif k < 0.8:  # block local.get 0 br_if 0 local.get 1 i32.const 1 i32.shl local.set 1 end
                code += b"\x02\x40\x20\x00\x0d\x00\x20\x01\x41\x01\x74\x21\x01\x0b"
            elif k < 0.99999:  # local.get 1 i64.extend_i32_u i64.const N i64.mul i32.wrap_i64 local.set 0
                code += b"\x20\x01\xad\x42" + sleb(rnd.getrandbits(40)) + b"\x7e\xa7\x21\x00"
            else:  # i32.const 1 memory.grow local.tee 1 i32.const -1 i32.eq br_if 0
                code += b"\x41\x01\x40\x00\x22\x01\x41\x7f\x46\x0d\x00"
        code += b"\x0b\x20\x00\x0b"  # end, local.get 0, end
        body = b"\x01\x01\x7f" + code  # one local i32
        bodies.append(leb(len(body)) + body)
        names.append(leb(i) + name_bytes(name))
        size += len(body) + len(name) + 6
        i += 1
    functype = b"\x60\x02\x7f\x7f\x01\x7f"
    data = b"\0".join([b"src/lib.rs", b"/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/fmt/mod.rs",
                       b"attempt to add with overflow", b"static data for the benchmark"])
    out = b"\0asm\x01\x00\x00\x00"
    out += section(1, vec([functype]))
    out += section(3, vec([b"\x00"] * i))
    out += section(5, b"\x01\x01\x11\x80\x08")  # memory 17..1024
    out += section(6, vec([b"\x7f\x01\x41" + sleb(1 << 20) + b"\x0b"]))  # mutable i32 stack pointer
    out += section(7, vec([name_bytes("memory") + b"\x02\x00"]))
    out += section(10, vec(bodies))
    out += section(11, vec([b"\x00\x41" + sleb(1 << 20) + b"\x0b" + leb(len(data)) + data]))
    out += section(0, name_bytes("name") + bytes([1]) + leb(len(vec(names))) + vec(names))
    return out


# -- measuring -------------------------------------------------------------------------

# Bytecode is cached as an installed package has it (pip compiles it): with
# PYTHONDONTWRITEBYTECODE=1 (set on the machines this runs on) every run would compile
# all of auditor's sources first, ~0.25 s CPU that a user never pays. The cache goes to
# a temporary prefix, never into the repository; the first run fills it.
PYCACHE = tempfile.mkdtemp(prefix="auditor-bench-pycache-")
atexit.register(shutil.rmtree, PYCACHE, True)  # importing this module (tests do) leaves nothing
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": PYCACHE}


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of one fresh process, measured by GNU time: a
    process's peak RSS starts as its parent's (Linux keeps the high-water mark across
    fork and exec), and this script's grows with the modules it generates."""
    with tempfile.NamedTemporaryFile("r") as out:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%e %U %S %M", "-o", out.name, *PIN, *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env or ENV, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):  # inspect exits 1 when a rule reports an error
            raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.decode()[-500:]}")
        fields = out.read().split()[-4:]
    _, user, system, rss_kb = fields
    return wall, float(user) + float(system), int(rss_kb) * 1024


TIME = shutil.which("time") or "/usr/bin/time"
PIN: list[str] = []  # --pin: `taskset -c CPUS` before every measured command


def best(cmd: list[str], repeat: int) -> tuple[float, float, int]:
    if not Path(PYCACHE, "done").exists():  # fill the bytecode cache once
        measure(cmd)
        Path(PYCACHE, "done").touch()
    runs = [measure(cmd) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


AUDITOR = [sys.executable, "-m", "auditor"]


def use_source(src: str, env: dict[str, str] | None = None) -> None:
    """Run the auditor of another source tree (`git archive REV auditor rules | tar -x -C
    DIR`), for before/after figures on the same inputs: no site (so this checkout's
    editable install is not found), the tree and this venv's site-packages on the path.
    `env`: the environment to set it in (ENV by default)."""
    import site

    global AUDITOR
    env = ENV if env is None else env
    env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), *site.getsitepackages()])
    env["AUDITOR_RULES_DIR"] = str(Path(src).resolve() / "rules")
    AUDITOR = [sys.executable, "-P", "-S", "-m", "auditor"]  # -P: not the current directory's auditor either


OTHER: dict[str, str] = {}  # --compare DIR: the environment that runs DIR's auditor


def compare_table(path: Path, repeat: int, text: bool = True) -> None:
    """Each auditor command run alternately by this checkout and by --compare's tree
    (both without site, as `--auditor-src` runs one), `repeat` times each, so both see
    the same load; best wall and best CPU of each, objdump's in the same table."""
    size = path.stat().st_size
    print(f"\n{path.name}: {size:,} bytes ({size / 1e6:.1f} MB); best of {repeat} alternating runs")
    print(f"  {'command':<52} {'wall s':>7} {'CPU s':>6} {'RSS MB':>7} {'x obj':>6}   {'other: wall':>11} {'CPU':>6} "
          f"{'RSS MB':>7}  {'CPU this/other':>14}")
    rows: list[tuple[str, tuple, tuple | None]] = []
    for label, cmd in commands(path, text):
        if not label.startswith("auditor"):
            rows.append((label, _best_of([measure(cmd) for _ in range(repeat)]), None))
            continue
        best(cmd, 1)  # the bytecode cache, once
        measure(cmd, OTHER)
        runs: tuple[list, list] = ([], [])
        for _ in range(repeat):
            runs[0].append(measure(cmd))
            runs[1].append(measure(cmd, OTHER))
        rows.append((label, _best_of(runs[0]), _best_of(runs[1])))
    ref = next(r for label, r, _ in rows if label == "wasm-objdump -x")
    for label, (wall, cpu, rss), other in rows:
        line = f"  {label:<52} {wall:>7.2f} {cpu:>6.2f} {rss / 1e6:>7.1f} {wall / ref[0]:>6.2f}"
        if other is not None:
            line += f"   {other[0]:>11.2f} {other[1]:>6.2f} {other[2] / 1e6:>7.1f}  {cpu / other[1]:>14.2f}"
        print(line)


def _best_of(runs: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    """Best wall, best CPU, and the peak RSS of the best-wall run."""
    fastest = min(runs, key=lambda r: r[0])
    return fastest[0], min(r[1] for r in runs), fastest[2]


READERS = ["auto"]  # AUDITOR_NATIVE_READER values to time auditor with (--reader)


def commands(path: Path, text: bool) -> list[tuple[str, list[str]]]:
    out = []
    for reader in READERS:
        auditor = ["env", f"AUDITOR_NATIVE_READER={reader}", *AUDITOR, "inspect", str(path)]
        tag = "" if READERS == ["auto"] else f" [reader {reader}]"
        out += [
            ("auditor inspect --format json --compression none" + tag,
             auditor + ["--format", "json", "--compression", "none"]),
            ("auditor inspect --format json --compression fast" + tag,
             auditor + ["--format", "json", "--compression", "fast"]),
        ]
        if text:
            out.append(("auditor inspect (text, default compression)" + tag, auditor))
    out.append(("wasm-objdump -x", ["wasm-objdump", "-x", str(path)]))
    wasm_tools = shutil.which("wasm-tools", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if wasm_tools:
        out.append(("wasm-tools objdump", [wasm_tools, "objdump", str(path)]))
    return out


def table(path: Path, repeat: int, text: bool = True) -> dict[str, tuple[float, float, int]]:
    size = path.stat().st_size
    print(f"\n{path.name}: {size:,} bytes ({size / 1e6:.1f} MB)")
    print(f"  {'command':<62} {'wall s':>8} {'CPU s':>7} {'s/MB':>6} {'RSS MB':>7} {'RSS/size':>8} {'x objdump':>9} "
          f"{'CPU x obj':>9}")
    results: dict[str, tuple[float, float, int]] = {}
    for label, cmd in commands(path, text):
        results[label] = best(cmd, repeat)
    ref, ref_cpu = results["wasm-objdump -x"][:2]
    for label, (wall, cpu, rss) in results.items():
        print(f"  {label:<62} {wall:>8.2f} {cpu:>7.2f} {wall / (size / 1e6):>6.3f} {rss / 1e6:>7.1f} {rss / size:>8.1f} "
              f"{wall / ref:>9.2f} {f'{cpu / ref_cpu:.2f}' if ref_cpu >= 0.05 else '-':>9}")  # GNU time: 10 ms steps
    return results


def phases(path: Path) -> None:
    """inspect's stages timed in this process (CPU seconds), as inspect_bytes runs them."""
    from auditor.report import render
    from auditor.rules.audit import audit
    from auditor.wasm.allocator import detect
    from auditor.wasm.crates import crate_of, rollup
    from auditor.wasm.demangle import demangle_all
    from auditor.wasm.grow import find_grow_sites
    from auditor.wasm.inspect import FunctionInfo, InspectResult, exported_functions
    from auditor.wasm.parse import parse_module

    data = path.read_bytes()
    spent: dict[str, float] = {}
    clock = [time.process_time()]

    def tick(stage: str) -> None:
        now = time.process_time()
        spent[stage] = now - clock[0]
        clock[0] = now

    parse_module(data, str(path), native=False)
    tick("parse + validate bodies (Python pass)")
    mod = parse_module(data, str(path))
    tick("parse + validate bodies (as inspect: auto)")
    exported = exported_functions(mod)  # inspect builds no item graph (issue 16, round 4)
    tick("exports")
    dem = demangle_all([f.name for f in mod.functions], strip=True)
    tick("demangle (each name once)")
    functions = [FunctionInfo(f.index, f.name, d, f.body_size, crate_of(d), tuple(exported.get(f.index, ())))
                 for f, d in zip(mod.functions, dem.names)]
    crates = rollup((f.demangled, f.size) for f in functions)
    tick("crate attribution")
    grow = find_grow_sites(mod)
    allocator = detect([(f.name, f.demangled, f.size) for f in functions], grow)
    tick("allocator detection (allocator.py)")
    result = InspectResult(mod, None, None, "none", functions, crates, allocator, grow)
    result.source_paths()
    tick("source paths")
    audited = audit(result)
    tick("record + rules")
    text = render(audited, "json")
    tick("JSON")
    print(f"\n{path.name}: stages in-process (CPU s)")
    for stage, s in spent.items():
        print(f"  {stage:<44} {s:>7.3f}")
    print(f"  {'total (inspect: the auto parse on)':<44} {sum(spent.values()) - next(iter(spent.values())):>7.3f}   ({len(text):,} bytes of JSON)")


_PARSE_ONCE = """
import sys, time
from auditor.wasm.parse import parse_module
data = open(sys.argv[2], "rb").read()
parse_module(b"\\0asm\\1\\0\\0\\0")  # the opcode tables loaded, as in any inspect
if sys.argv[1] == "loaded":
    import wasmtime  # noqa: F401  (as in a scan that ran runtime probes)
t = time.process_time()
mod = parse_module(data, native=sys.argv[1] != "python")
print(time.process_time() - t, mod.section("code").size)
"""


def threshold(repeat: int) -> None:
    """Where the compiled code reader starts to pay (rules/wasm_opcodes.toml [native]):
    parse_module's CPU time in a fresh process with the Python pass, with the compiled
    reader from cold (importing wasmtime, loading the reader) and with wasmtime already
    imported, on synthetic modules of growing size."""
    print(f"\nparse_module CPU s in a fresh process (best of {repeat}): code bytes, Python pass, compiled reader "
          "cold, compiled reader with wasmtime imported")
    with tempfile.TemporaryDirectory() as d:
        for mb in (0.125, 0.25, 0.5, 1, 2, 4):
            path = Path(d) / f"t{mb}.wasm"
            path.write_bytes(synthetic_module(int(mb * 1_000_000)))
            row = []
            code = 0
            for mode in ("python", "cold", "loaded"):
                runs = []
                for _ in range(repeat):
                    out = subprocess.run([*AUDITOR[:-2], "-c", _PARSE_ONCE, mode, str(path)], capture_output=True,
                                         text=True, env=ENV, check=True).stdout.split()
                    runs.append(float(out[0]))
                    code = int(out[1])
                row.append(min(runs))
            print(f"  {code:>10,} {row[0]:>8.4f} {row[1]:>8.4f} {row[2]:>8.4f}")


def real_modules() -> list[Path]:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "real_modules.sh")], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"scripts/real_modules.sh failed: {proc.stderr[-500:]}")
    return [Path(p) for p in proc.stdout.split()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2,5,10,20,40", help="synthetic module sizes in MB, comma-separated ('' for none)")
    ap.add_argument("--real", action="store_true", help="also the npm modules of scripts/real_modules.sh")
    ap.add_argument("--phases", action="store_true", help="also time inspect's stages in-process")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="save the synthetic modules in this directory")
    ap.add_argument("--auditor-src", help="time the auditor in this source tree instead (before/after figures)")
    ap.add_argument("--threshold", action="store_true",
                    help="only measure where the compiled code reader starts to pay (rules/wasm_opcodes.toml [native])")
    ap.add_argument("--reader", choices=["auto", "on", "off", "both"], default="auto",
                    help="AUDITOR_NATIVE_READER for auditor's runs; both: off and auto side by side (the compiled "
                         "code reader's before/after)")
    ap.add_argument("--compare", metavar="DIR",
                    help="run each auditor command alternately with this checkout and the auditor in DIR (`git "
                         "archive REV auditor rules | tar -x -C DIR`), both without site: before/after figures "
                         "under the same load")
    ap.add_argument("--pin", metavar="CPUS",
                    help="run every measured command on these CPUs only (taskset -c CPUS; e.g. 1: issue 16's "
                         "\"when only one core is free\", the compression threads then share the parsing core)")
    args = ap.parse_args()
    if args.pin:
        PIN[:] = [shutil.which("taskset") or "taskset", "-c", args.pin]
    READERS[:] = ["off", "auto"] if args.reader == "both" else [args.reader]
    if args.threshold:
        threshold(args.repeat)
        return
    if args.auditor_src:
        use_source(args.auditor_src)
        args.phases = False  # the stages are timed in this process, with this checkout's code
    measure_table = table
    if args.compare:
        OTHER.update(ENV)
        use_source(args.compare, OTHER)
        use_source(str(REPO))  # this checkout the same way (no site), for a fair comparison
        measure_table = compare_table
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on "
          f"{os.cpu_count()} cores; best wall of {args.repeat} runs each, with that run's CPU and peak RSS"
          + (f"; every command pinned to CPU {args.pin}" if args.pin else ""))
    linear: list[tuple[float, dict]] = []
    with tempfile.TemporaryDirectory() as d:
        for mb in [float(x) for x in args.sizes.split(",") if x.strip()]:
            path = Path(args.keep or d) / f"synthetic-{mb:g}mb.wasm"
            path.write_bytes(synthetic_module(int(mb * 1_000_000)))
            if args.compare:
                compare_table(path, args.repeat, text=False)
                continue
            results = table(path, args.repeat, text=False)
            linear.append((path.stat().st_size / 1e6, results))
            if args.phases:
                phases(path)
    if linear:
        labels = list(linear[0][1])
        print("\nseconds per MB (wall) by size:")
        print(f"  {'command':<62} " + " ".join(f"{mb:>7.1f}" for mb, _ in linear))
        for label in labels:
            print(f"  {label:<62} " + " ".join(f"{r[label][0] / mb:>7.3f}" for mb, r in linear))
        print("CPU seconds per MB by size:")
        for label in labels:
            print(f"  {label:<62} " + " ".join(f"{r[label][1] / mb:>7.3f}" for mb, r in linear))
    if args.real:
        for path in real_modules():
            measure_table(path, args.repeat)
            if args.phases:
                phases(path)
    load = os.getloadavg()
    print(f"\nend {time.strftime('%H:%M %Z')}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
