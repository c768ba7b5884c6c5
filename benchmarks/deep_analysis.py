#!/usr/bin/env python3
"""Every deep size analysis on the largest real Rust modules we know, next to twiggy.

Downloads (npm registry, `npm pack`, into benchmarks/out/deep/, gitignored) two real
Rust-built modules: @swc/wasm (18 MB, no function names) and @biomejs/wasm-nodejs
(45.6 MB, 35,823 named functions), runs each `auditor` analysis and the twiggy command
that answers the same question in a fresh process, and prints wall time, CPU and peak
RSS (from wait4) side by side, the run with the least CPU of --repeat, and auditor's CPU
over twiggy's. Goal (README "Deep size analysis"): every analysis of a 10 MB module in
<= 5 s and <= 10x its size in RSS, never slower than twiggy.

Then, where twiggy publishes expectations for a public module (the fixtures and
expectation files shipped in the twiggy crate, found in cargo's registry after
`cargo install twiggy`), compares our figures with twiggy's, item by item.

    python benchmarks/deep_analysis.py [--repeat 2] [--only swc|biome] [--no-twiggy]
        [--auditor-src DIR] [--wheel] [--instructions] [--no-expectations]

`--auditor-src DIR` times the auditor of another tree (`git archive REV auditor rules |
tar -x -C DIR`) on the same inputs, for before/after figures. `--wheel` times auditor as
`pip install` gives it to users: built into a wheel and installed in a fresh venv (this
checkout's editable install adds a path finder to every start-up). `--instructions` adds
each process's instruction count (valgrind's cachegrind, one run each): on a shared VM
whose CPU speed moves within the hour, the figure that repeats.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "deep"
MODULES = {
    "swc": ("@swc/wasm", "1.16.21", "package/wasm_bg.wasm"),
    "biome": ("@biomejs/wasm-nodejs", "2.5.14", "package/biome_wasm_bg.wasm"),
}


def fetch(key: str) -> Path:
    """The module of an npm package, downloaded once with `npm pack`."""
    name, version, member = MODULES[key]
    target = OUT / key / Path(member).name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=target.parent, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = next(target.parent.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        f = tar.extractfile(member)
        if f is None:
            raise SystemExit(f"{tgz}: no {member}")
        target.write_bytes(f.read())
    tgz.unlink()
    return target


LIMIT_GB = 4.0  # address-space cap per measured twiggy process (twiggy paths passed 10 GB on an 18 MB module)
# auditor's cap: its compiled code reader runs in wasmtime, which reserves ~8 GB of address
# space (not memory) per linear memory; under a 4 GB cap it would fall back to the Python
# pass (+1.3 s CPU on biome). Peak RSS, the memory that counts, is measured either way.
AUDITOR_LIMIT_GB = 64.0
TIMEOUT = 300.0


class Failed(Exception):
    """The process was stopped by the memory cap or the time limit, or failed."""


def measure(cmd: list[str]) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS bytes, stdout) of one fresh process, under an address-space
    cap of LIMIT_GB and a TIMEOUT; raises Failed saying which stopped it."""
    import resource

    ours = cmd[:len(AUDITOR)] == AUDITOR
    gb = AUDITOR_LIMIT_GB if ours else LIMIT_GB

    def cap() -> None:
        limit = int(gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, preexec_fn=cap, env=ENV if ours else None)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > TIMEOUT:
                p.kill()
                timed_out = True
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read().decode(errors="replace")
    if timed_out:
        raise Failed(f"stopped after {TIMEOUT:.0f} s")
    if p.returncode not in (0, 1):
        if "memory allocation" in err or "MemoryError" in err or p.returncode in (-6, -9, 134, 137):
            raise Failed(f"out of memory at the {gb:g} GB cap after {wall:.1f} s")
        raise Failed(f"exit {p.returncode}: {err.strip().splitlines()[-1][:80] if err.strip() else ''}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.decode(errors="replace")


def best(cmd: list[str], repeat: int) -> tuple[float, float, int, str]:
    """The run with the least CPU of `repeat` (CPU is the figure compared: wall moves
    with the other engineers' load on this 2-core machine far more)."""
    if cmd[:len(AUDITOR)] == AUDITOR and not Path(PYCACHE, "done").exists():
        measure(cmd)  # fill the bytecode cache once
        Path(PYCACHE, "done").touch()
    return min((measure(cmd) for _ in range(repeat)), key=lambda r: r[1])


AUDITOR = [sys.executable, "-m", "auditor"]
# The measured auditor processes cache their bytecode in a temporary directory, as an
# installed package has it (a machine with PYTHONDONTWRITEBYTECODE=1 would otherwise
# charge every process ~0.25 s of compiling); `best` fills the cache with one untimed run.
PYCACHE = tempfile.mkdtemp(prefix="auditor-bench-pycache-")
atexit.register(shutil.rmtree, PYCACHE, True)  # importing this module (tests do) leaves nothing
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": PYCACHE}


def auditor(*args: str) -> list[str]:
    return [*AUDITOR, *args]


def use_source(src: str) -> None:
    """Run the auditor of another source tree (`git archive REV auditor rules | tar -x -C
    DIR`) for before/after figures on the same inputs: no site (so this checkout's
    editable install is not found), that tree and this venv's site-packages on the path."""
    import site

    global AUDITOR, ENV
    root = Path(src).resolve()
    ENV = ENV | {"PYTHONPATH": os.pathsep.join([str(root), *site.getsitepackages()]),
                 "AUDITOR_RULES_DIR": str(root / "rules")}
    AUDITOR = [sys.executable, "-P", "-S", "-m", "auditor"]  # -P: not the current directory's auditor either


def use_wheel() -> None:
    """Run auditor installed from a wheel of this checkout in a fresh venv, as `pip
    install` gives it to users (tests/wheel_venv.py, shared with tests/test_install.py)."""
    global AUDITOR
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tests"))
    from wheel_venv import wheel_venv

    venv, _ = wheel_venv(root, Path(tempfile.mkdtemp(prefix="auditor-bench-wheel-")))
    AUDITOR = [str(venv / "bin" / "python"), "-P", "-m", "auditor"]  # -P: not the checkout's auditor


def instructions(cmd: list[str]) -> float | None:
    """Instructions executed by `cmd` (and its threads), in G, by valgrind's cachegrind
    without cache simulation; None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    ours = cmd[:len(AUDITOR)] == AUDITOR
    r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV if ours else None)
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    return int(m.group(1).replace(",", "")) / 1e9 if m else None


def twiggy_bin() -> str | None:
    return shutil.which("twiggy") or (str(Path.home() / ".cargo/bin/twiggy")
                                       if (Path.home() / ".cargo/bin/twiggy").exists() else None)


def biggest_function(path: Path, twiggy: str | None) -> tuple[str, str]:
    """(auditor's query, twiggy's query) for the same function: twiggy's largest named
    function as twiggy prints it (auditor accepts v0 crate disambiguators and legacy
    hashes); in a module without names, the largest body (twiggy calls body i `code[i]`,
    auditor `function[imports + i]`)."""
    if twiggy:
        out = subprocess.run([twiggy, "top", "-n", "40", "-f", "json", str(path)], capture_output=True,
                             text=True).stdout
        for item in json.loads(out or "[]"):
            name = item.get("name", "")
            if "::" in name and not name.startswith(("custom section", "data", "export", "import", "type")):
                return name, name
    # In a child process: a forked child's peak RSS (wait4) starts at its parent's, so
    # this script must never hold a parsed module while it measures others.
    out = subprocess.run([sys.executable, "-c", _BIGGEST, str(Path(__file__).resolve().parent.parent), str(path)],
                         capture_output=True, text=True, check=True).stdout
    ours, theirs = json.loads(out)
    return ours, theirs


_BIGGEST = """
import json, sys
sys.path.insert(0, sys.argv[1])
from auditor.wasm.parse import parse_module
mod = parse_module(open(sys.argv[2], "rb").read(), sys.argv[2])
f = max(mod.functions, key=lambda f: (f.body_size, -f.index))
name = mod.function_names.get(f.index)
print(json.dumps([name or f"function[{f.index}]", name or f"code[{f.index - mod.num_imported_funcs}]"]))
"""


def bench(path: Path, repeat: int, twiggy: str | None, count: bool = False) -> None:
    size = path.stat().st_size
    print(f"\n{path.name}: {size:,} bytes ({size / 1e6:.1f} MB)")
    name, tname = biggest_function(path, twiggy)
    rows = [
        ("top -n 20", auditor("top", "-n", "20", str(path)), ["top", "-n", "20", str(path)]),
        ("top --retained -n 20", auditor("top", "--retained", "-n", "20", str(path)),
         ["top", "--retained", "-n", "20", str(path)]),
        ("dominators (depth 3, 100 rows)", auditor("dominators", "--depth", "3", "--rows", "100", str(path)),
         ["dominators", "-d", "3", "-r", "100", str(path)]),
        ("paths <largest function>", auditor("paths", str(path), name), ["paths", str(path), tname]),
        ("garbage", auditor("garbage", str(path)), ["garbage", str(path)]),
        ("monos", auditor("monos", str(path)), ["monos", str(path)]),
        ("crates (both views)", auditor("crates", str(path)), None),
        ("sources (DWARF)", auditor("sources", str(path)), None),
        ("data attribution", auditor("data", str(path)), None),
    ]
    print(f"{'analysis':<32} {'auditor wall/CPU s':>19} {'RSS MB':>7} {'RSS/size':>8} "
          f"{'twiggy wall/CPU s':>18} {'RSS MB':>7} {'CPU ratio':>9}" + (f" {'instr. G (ratio)':>22}" if count else ""))
    for label, ours, theirs in rows:
        w, c, rss, _ = best(ours, repeat)
        line = f"{label:<32} {w:>9.2f}/{c:<9.2f} {rss / 1e6:>7.0f} {rss / size:>8.1f}"
        if theirs and twiggy:
            try:
                tw, tc, trss, _ = best([twiggy, *theirs], repeat)
                line += f" {tw:>8.2f}/{tc:<9.2f} {trss / 1e6:>7.0f} {c / tc:>9.2f}"
                if count:
                    ai, ti = instructions(ours), instructions([twiggy, *theirs])
                    if ai is not None and ti is not None:
                        line += f" {ai:>7.2f} / {ti:<6.2f} ({ai / ti:.2f})"
            except Failed as e:
                line += f"  twiggy: {e}"
        elif count:
            ai = instructions(ours)
            line += f" {'':>36} {ai:>7.2f}" if ai is not None else ""
        print(line, flush=True)
    load = os.getloadavg()
    print(f"({time.strftime('%H:%M')}, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", flush=True)


# --------------------------------------------------------------------------- expectations

def twiggy_tests() -> Path | None:
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = sorted(glob.glob(str(home / "registry/src/*/twiggy-*/tests/all")))
    return Path(found[-1]) if found else None


_ROW = re.compile(r"^\s*(\d+) ┊\s+[\d.]+% ┊ (.+)$")


def expectation_rows(path: Path) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        m = _ROW.match(line)
        if m and not m.group(2).startswith(("...", "Σ")):
            out[m.group(2).strip()] = int(m.group(1))
    return out


def compare_expectations() -> None:
    tests = twiggy_tests()
    if tests is None:
        print("\ntwiggy's published expectations: not found (run `cargo install twiggy`)")
        return
    wasm = tests / "fixtures" / "wee_alloc.wasm"
    print(f"\ntwiggy's published expectations ({tests.parent.parent.name}): {wasm.name}")
    ours = json.loads(measure(auditor("top", "--format", "json", "-n", "0", str(wasm)))[3])["items"]
    by_name = {}
    for it in ours:
        by_name.setdefault(it["name"], it)
    for exp, field in (("top_wee_alloc", "shallow"), ("top_retained_wee_alloc", "retained")):
        rows = expectation_rows(tests / "expectations" / exp)
        same = diff = missing = 0
        for name, value in rows.items():
            ourname = re.sub(r"^data\[(\d+)\]$", r"data[\1]", name)
            it = by_name.get(ourname)
            if it is None:
                missing += 1
                print(f"  {exp}: {name!r} ({value}): no item of that name here")
            elif it[field] == value:
                same += 1
            else:
                diff += 1
                print(f"  {exp}: {name!r}: twiggy {value}, auditor {it[field]}")
        print(f"  {exp}: {same} equal, {diff} different, {missing} named differently, of {len(rows)} rows")
    garbage = json.loads(measure(auditor("garbage", "--format", "json", str(wasm)))[3])
    print(f"  garbage: twiggy expects 0 items + 3 'potential false-positive data segments' (1084 B); "
          f"auditor: {len(garbage['items'])} items, {garbage['bytes']} B")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", choices=sorted(MODULES))
    ap.add_argument("--no-twiggy", action="store_true")
    ap.add_argument("--limit-gb", type=float, default=LIMIT_GB, help="address-space cap per twiggy process")
    ap.add_argument("--auditor-limit-gb", type=float, default=AUDITOR_LIMIT_GB,
                    help="address-space cap per auditor process (wasmtime reserves ~8 GB per memory)")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per process")
    ap.add_argument("--auditor-src", help="time the auditor in this source tree instead (before/after figures)")
    ap.add_argument("--wheel", action="store_true", help="time auditor installed from a wheel, as users have it")
    ap.add_argument("--instructions", action="store_true", help="also count instructions (valgrind cachegrind)")
    ap.add_argument("--no-expectations", action="store_true", help="skip the comparison with twiggy's expectations")
    args = ap.parse_args()
    if args.auditor_src and args.wheel:
        ap.error("--auditor-src and --wheel are exclusive")
    if args.auditor_src:
        use_source(args.auditor_src)
    if args.wheel:
        use_wheel()
    globals().update(LIMIT_GB=args.limit_gb, AUDITOR_LIMIT_GB=args.auditor_limit_gb, TIMEOUT=args.timeout)
    twiggy = None if args.no_twiggy else twiggy_bin()
    load = os.getloadavg()
    version = subprocess.run([twiggy, "--version"], capture_output=True, text=True).stdout.strip() if twiggy else "none"
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}; twiggy: {version}; address space per process: twiggy {LIMIT_GB:g} GB, auditor "
          f"{AUDITOR_LIMIT_GB:g} GB; {TIMEOUT:.0f} s")
    for key in ([args.only] if args.only else list(MODULES)):
        bench(fetch(key), args.repeat, twiggy, args.instructions)
    if not args.no_expectations:
        compare_expectations()


if __name__ == "__main__":
    main()
