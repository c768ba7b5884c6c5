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
`cargo install twiggy`), compares our figures with twiggy's, item by item, for every
analysis both have (top, top --retained, dominators, paths, garbage, monos): each
difference is printed with both figures, so a disagreement is read, not assumed to be
one of the differences by design the closing note names.

A third group times the DWARF analyses (`sources`, `crates`), which on swc and biome
only answer "no DWARF": on the repo's fixture crate built with `debug = true` and std
built from source with full debug info (`build_dwarf`), next to llvm-dwarfdump reading
the same sections.

    python benchmarks/deep_analysis.py [--repeat 2] [--only swc|biome|dwarf] [--no-twiggy]
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
from typing import BinaryIO

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


def measure(cmd: list[str], output: bool = False) -> tuple[float, float, int, str]:
    """(wall s, CPU s, peak RSS bytes, stdout if `output` else "") of one fresh process,
    under an address-space cap of LIMIT_GB and a TIMEOUT; raises Failed saying which
    stopped it. stdout is read only when asked: the next child's peak RSS (wait4) starts
    at this process's, and `llvm-dwarfdump --debug-info`'s ~150 MB of text read here made
    the `top` after it show 98 MB instead of 29."""
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
        out, err = out_f.read() if output else b"", err_f.read(1 << 16).decode(errors="replace")
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


Row = tuple[str, list[str], list[str] | None]  # label, auditor command, the reference tool's


def twiggy_rows(path: Path, twiggy: str | None) -> list[Row]:
    name, tname = biggest_function(path, twiggy)

    def tw(*args: str) -> list[str] | None:
        return [twiggy, *args] if twiggy else None

    return [
        ("top -n 20", auditor("top", "-n", "20", str(path)), tw("top", "-n", "20", str(path))),
        ("top --retained -n 20", auditor("top", "--retained", "-n", "20", str(path)),
         tw("top", "--retained", "-n", "20", str(path))),
        ("dominators (depth 3, 100 rows)", auditor("dominators", "--depth", "3", "--rows", "100", str(path)),
         tw("dominators", "-d", "3", "-r", "100", str(path))),
        ("paths <largest function>", auditor("paths", str(path), name), tw("paths", str(path), tname)),
        ("garbage", auditor("garbage", str(path)), tw("garbage", str(path))),
        ("monos", auditor("monos", str(path)), tw("monos", str(path))),
        ("crates (both views)", auditor("crates", str(path)), None),
        ("sources (DWARF)", auditor("sources", str(path)), None),
        ("data attribution", auditor("data", str(path)), None),
    ]


def dwarfdump_bin() -> str | None:
    return shutil.which("llvm-dwarfdump-16") or shutil.which("llvm-dwarfdump")


def dwarf_rows(path: Path) -> list[Row]:
    """The DWARF analyses next to llvm-dwarfdump reading the same sections: `sources`
    answers from the line tables (--debug-line), `crates` from the DWARF namespaces of
    .debug_info (--debug-info) — an independent reader doing the parsing part of each
    question, not the attribution."""
    dd = dwarfdump_bin()

    def ref(flag: str) -> list[str] | None:
        return [dd, flag, str(path)] if dd else None

    return [
        ("sources | dwarfdump --debug-line", auditor("sources", str(path)), ref("--debug-line")),
        ("crates | dwarfdump --debug-info", auditor("crates", str(path)), ref("--debug-info")),
        ("top -n 20", auditor("top", "-n", "20", str(path)), None),
    ]


def bench(path: Path, repeat: int, rows: list[Row], other: str, count: bool = False) -> None:
    size = path.stat().st_size
    print(f"\n{path.name}: {size:,} bytes ({size / 1e6:.1f} MB)")
    debug = {k: v for k, v in custom_sections(path).items() if k.startswith(".debug_")}
    if debug:
        print("  " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(debug.items(), key=lambda kv: -kv[1])))
    head = f"{other} wall/CPU s"
    print(f"{'analysis':<32} {'auditor wall/CPU s':>19} {'RSS MB':>7} {'RSS/size':>8} "
          f"{head:>18} {'RSS MB':>7} {'CPU ratio':>9}" + (f" {'instr. G (ratio)':>22}" if count else ""))
    for label, ours, theirs in rows:
        w, c, rss, _ = best(ours, repeat)
        line = f"{label:<32} {w:>9.2f}/{c:<9.2f} {rss / 1e6:>7.0f} {rss / size:>8.1f}"
        if theirs:
            try:
                tw, tc, trss, _ = best(theirs, repeat)
                line += f" {tw:>8.2f}/{tc:<9.2f} {trss / 1e6:>7.0f} {c / tc:>9.2f}"
                if count:
                    ai, ti = instructions(ours), instructions(theirs)
                    if ai is not None and ti is not None:
                        line += f" {ai:>7.2f} / {ti:<6.2f} ({ai / ti:.2f})"
            except Failed as e:
                line += f"  {other}: {e}"
        elif count:
            ai = instructions(ours)
            line += f" {'':>36} {ai:>7.2f}" if ai is not None else ""
        print(line, flush=True)
    load = os.getloadavg()
    print(f"({time.strftime('%H:%M')}, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", flush=True)


def custom_sections(path: Path) -> dict[str, int]:
    """Custom section sizes by name, read from the section headers alone (so that this
    process never holds a parsed module: see `biggest_function`)."""
    out: dict[str, int] = {}
    with open(path, "rb") as f:
        f.seek(8)
        while sid := f.read(1):
            size = _leb(f)
            end = f.tell() + size
            if sid == b"\0":
                name = f.read(_leb(f)).decode(errors="replace")
                out[name] = out.get(name, 0) + size
            f.seek(end)
    return out


def _leb(f: BinaryIO) -> int:
    value = shift = 0
    while True:
        b = f.read(1)[0]
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value


# --------------------------------------------------------------------------- DWARF module

DWARF_CRATE = "heavy"  # fixtures/crates/heavy: fmt, panics and collections, so std's DWARF dominates


def build_dwarf() -> Path | None:
    """A module whose DWARF is several MB, built once into OUT/dwarf: swc and biome ship
    no .debug_* sections, so on them `sources` and `crates` time only the no-DWARF
    answer. The repo's fixture crate, copied to a temporary directory (fixtures/ is never
    written), built in release with `debug = true` by the repo's rustc 1.96 with
    -Zbuild-std, so that std is compiled with full debug info too (the packaged std has
    line tables at most): 6.6 MB, 2.6 MB of it .debug_info. None without that toolchain
    (`bash scripts/setup.sh` makes it)."""
    root = Path(__file__).resolve().parent.parent
    tc = (root / ".toolchains" / "rust-1.96").resolve()
    src = root / "fixtures" / "crates" / DWARF_CRATE
    target = OUT / "dwarf" / f"{DWARF_CRATE}.wasm"
    recipe = json.dumps([str(tc), *(p.read_text() for p in sorted(src.rglob("*")) if p.is_file()
                                    and "target" not in p.parts)])
    stamp = target.with_suffix(".recipe")
    if target.exists() and stamp.exists() and stamp.read_text() == recipe:
        return target
    cargo, config = tc / "bin" / "cargo", tc / "build-std.toml"
    if not (cargo.exists() and config.exists()):
        print(f"\nDWARF module: not built: no rust-1.96 toolchain with build-std at {tc} (bash scripts/setup.sh)")
        return None
    print(f"\nDWARF module: building fixtures/crates/{DWARF_CRATE} with debug = true and -Zbuild-std "
          "(once, ~50 s)...", flush=True)
    with tempfile.TemporaryDirectory(prefix="auditor-bench-dwarf-") as tmp:
        crate = Path(tmp) / DWARF_CRATE
        shutil.copytree(src, crate, ignore=shutil.ignore_patterns("target"))
        manifest = crate / "Cargo.toml"
        text = manifest.read_text()
        text = (text.replace("[profile.release]\n", "[profile.release]\ndebug = true\n") if "[profile.release]" in text
                else text + "\n[profile.release]\ndebug = true\n")
        manifest.write_text(text)
        env = os.environ | {"CARGO": str(cargo), "RUSTC": str(tc / "bin" / "rustc"), "RUSTC_BOOTSTRAP": "1"}
        r = subprocess.run([str(cargo), "--config", str(config), "build", "--offline", "--release",
                            "--target", "wasm32-unknown-unknown", "-Zbuild-std=std,panic_abort"],
                           cwd=crate, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode:
            print(f"DWARF module: build failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(crate / "target" / "wasm32-unknown-unknown" / "release" / f"{DWARF_CRATE}.wasm", target)
    stamp.write_text(recipe)
    return target


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


def our_name(name: str) -> str | None:
    """auditor's name for twiggy's item, or None where auditor has no such item: the two
    tools spell a few items differently (element segments, the preamble, section
    headers), and twiggy splits the name section and the type section into items that
    auditor counts whole, so a figure is only compared between items that are the same
    bytes."""
    if name.startswith(("type[", '"function names" subsection', '"local names" subsection',
                        "custom section 'name' headers")):
        return None
    if m := re.fullmatch(r"elem\[(\d+)\]", name):
        return f"element[{m.group(1)}]"
    if name == "wasm magic bytes":
        return "preamble"
    return re.sub(r"^(\w+) section headers$", r"\1 section header", name)


def short(name: str, width: int = 64) -> str:
    return name if len(name) <= width else f"{name[:width // 2 - 1]}…{name[-(width // 2):]}"


class Tally:
    """One comparison's equal / different / no-counterpart rows, printed as they are
    found, so a difference is read with both figures rather than inferred from a count."""

    def __init__(self, label: str) -> None:
        self.label, self.equal, self.different, self.unnamed = label, 0, 0, []  # type: list[str]

    def check(self, name: str, theirs: object, ours: object) -> None:
        if ours is None:
            self.unnamed.append(f"{short(name, 48)} ({theirs})")
        elif ours == theirs:
            self.equal += 1
        else:
            self.different += 1
            print(f"  {self.label}: {short(name)}: twiggy {theirs}, auditor {ours}")

    def report(self, extra: str = "") -> None:
        if self.unnamed:
            print(f"  {self.label}: no item of that name here: {'; '.join(self.unnamed)}")
        total = self.equal + self.different + len(self.unnamed)
        print(f"  {self.label}: {self.equal} equal, {self.different} different, {len(self.unnamed)} named "
              f"differently, of {total}{extra}")


def ours_json(*args: str) -> dict:
    return json.loads(measure(auditor(*args, "--format", "json"), output=True)[3])


def compare_top(tests: Path) -> None:
    """twiggy `top -n 10 [--retained] wee_alloc.wasm` against `auditor top`, row by row."""
    wasm = tests / "fixtures" / "wee_alloc.wasm"
    by_name: dict[str, dict] = {}
    for it in ours_json("top", "-n", "0", str(wasm))["items"]:
        by_name.setdefault(it["name"], it)
    for exp, field in (("top_wee_alloc", "shallow"), ("top_retained_wee_alloc", "retained")):
        tally = Tally(f"{exp} ({wasm.name})")
        for name, value in expectation_rows(tests / "expectations" / exp).items():
            ours = our_name(name)
            it = by_name.get(ours) if ours else None
            tally.check(name, value, it[field] if it else None)
        tally.report(" rows")


def compare_dominators(tests: Path) -> None:
    """twiggy `dominators wee_alloc.wasm -f json` against `auditor dominators --rows 0`:
    each item's retained size and its immediate dominator."""
    wasm = tests / "fixtures" / "wee_alloc.wasm"
    ours: dict[str, tuple[int, str]] = {}
    stack: list[str] = []
    for it in ours_json("dominators", "--rows", "0", str(wasm))["items"]:
        del stack[it["depth"]:]
        ours[it["name"]] = (it["retained"], stack[-1] if stack else "(root)")
        stack.append(it["name"])
    theirs = json.loads((tests / "expectations" / "dominators_wee_alloc_json").read_text())
    retained, parent = Tally("dominators_wee_alloc_json retained"), Tally("dominators_wee_alloc_json dominator")

    def walk(node: dict, up: str) -> None:
        name = our_name(node["name"])
        mine = ours.get(name) if name else None
        retained.check(node["name"], node["retained_size"], mine[0] if mine else None)
        if mine:
            parent.check(node["name"], short(up, 40), short(mine[1], 40))
        for child in node.get("children", []):
            walk(child, (our_name(node["name"]) or node["name"]))

    for top in theirs["items"]:  # one "<meta root>", the roots its children
        for child in top.get("children", []):
            walk(child, "(root)")
    retained.report(" items")
    parent.report(" items named alike")
    unreachable = sum(s["retained_size"] for s in theirs.get("summary", []))
    print(f"  dominators unreachable: twiggy {unreachable} B, auditor "
          f"{ours_json('dominators', '--rows', '1', str(wasm))['unreachable']['bytes']} B")


def _chains(node: dict, depth: int) -> list[tuple[str, ...]]:
    """twiggy's caller tree of one item as root-first chains, `depth` callers deep."""
    name = our_name(node["name"]) or node["name"]
    callers = node.get("callers", [])
    if not callers or depth == 0:
        return [(name,)]
    return [(*chain, name) for c in callers for chain in _chains(c, depth - 1)]


def compare_paths(tests: Path) -> None:
    """twiggy `paths FILE NAME… [-d D] -f json` against `auditor paths --paths 0`: the
    item's size, its direct referrers, and whether each auditor path (one shortest path
    per referrer) is one of twiggy's (which lists every path up to -d callers, -r paths)."""
    cases = [("paths_test_called_once_json", "paths_test.wasm", ["calledOnce"], 10),
             ("paths_test_called_twice_json", "paths_test.wasm", ["calledTwice"], 10),
             ("paths_wee_alloc_json", "wee_alloc.wasm",
              ["wee_alloc::alloc_first_fit::h9a72de3af77ef93f", "hello", "goodbye"], 3),
             ("paths_error_test_no_max_paths_json", "mappings.wasm",
              ["std::io::error::Error::new::h8c006d5367bc92ed"], 10)]
    size, referrers = Tally("paths shallow"), Tally("paths direct referrers")
    found = total = 0
    for exp, fixture, queries, depth in cases:
        theirs = {n["name"]: n for n in json.loads((tests / "expectations" / exp).read_text())}
        for q in queries:
            mine = ours_json("paths", "--paths", "0", str(tests / "fixtures" / fixture), q)["items"][0]
            node = theirs[q]
            size.check(f"{exp} {q}", node["shallow_size"], mine["shallow"])
            refs = sorted({our_name(c["name"]) or c["name"] for c in node["callers"]})
            ours_refs = sorted({p[-2] for p in mine["paths"] if len(p) > 1})
            referrers.check(f"{exp} {q}", ", ".join(map(short, refs)) or "none",
                            ", ".join(map(short, ours_refs)) or f"none ({mine['referrers']} referrers, unreachable)")
            chains = set(_chains(node, depth))
            for p in mine["paths"]:
                total += 1
                found += tuple(p[-(depth + 1):]) in chains
    size.report(" items")
    referrers.report(" items")
    print(f"  paths: {found} of auditor's {total} paths are among twiggy's (cut to twiggy's depth)")


def compare_garbage(tests: Path) -> None:
    """twiggy `garbage garbage.wasm -f json` and `garbage wee_alloc.wasm -a
    --show-data-segments -f json` against `auditor garbage`."""
    exp_dir = tests / "expectations"
    for exp, fixture in (("garbage_json", "garbage.wasm"),
                         ("garbage_wee_alloc_show_data_segments_json", "wee_alloc.wasm")):
        mine = ours_json("garbage", str(tests / "fixtures" / fixture))
        by_name = {it["name"]: it["shallow"] for it in mine["items"]}
        tally = Tally(f"{exp} ({fixture})")
        rows = [r for r in json.loads((exp_dir / exp).read_text()) if not r["name"].startswith("Σ")]
        for r in rows:
            name = our_name(r["name"])
            tally.check(r["name"], r["bytes"], (by_name.get(name, "reached") if name else None))
        tally.report(" rows")
        print(f"  {exp}: auditor: {len(mine['items'])} items, {mine['bytes']} B, data segments apart "
              f"{mine['data_segments']['items']} ({mine['data_segments']['bytes']} B)")
    summary = json.loads((exp_dir / "garbage_wee_alloc_all_json").read_text())
    print("  garbage_wee_alloc_all_json: twiggy " + "; ".join(f"{r['name']}: {r['bytes']} B" for r in summary))


def monos_rows(path: Path) -> list[tuple[str, int, int, list[str]]]:
    """(generic, bytes, bloat, copies) of twiggy's monos text table."""
    out: list[tuple[str, int, int, list[str]]] = []
    for line in path.read_text().splitlines()[2:]:
        cells = [c.strip() for c in line.split("┊")]
        if len(cells) != 5 or cells[4].startswith(("Σ", "...")):
            continue
        if cells[0]:
            out.append((cells[4], int(cells[2]), int(cells[0]), []))
        elif out:
            out[-1][3].append(cells[4])
    return out


def compare_monos(tests: Path) -> None:
    """twiggy `monos -a monos.wasm` and `monos cpp-monos.wasm` against `auditor monos -n 0`,
    generic by generic, each twiggy generic matched to auditor's by its copies' symbols
    (the generic's own spelling differs: auditor drops generic arguments)."""
    for exp, fixture in (("monos_all", "monos.wasm"), ("cpp_monos", "cpp-monos.wasm")):
        mine = ours_json("monos", "-n", "0", "--instances", "1000000", str(tests / "fixtures" / fixture))
        of_copy = {i["name"]: g for g in mine["generics"] for i in g["instances"]}
        tally, single, spelled, seen = Tally(f"{exp} ({fixture})"), 0, 0, set()
        for generic, size, bloat, copies in monos_rows(tests / "expectations" / exp):
            if len(copies) < 2:
                single += 1
                continue
            groups = {id(of_copy[c]): of_copy[c] for c in copies if c in of_copy}
            alone = [c for c in copies if c not in of_copy]
            for g in groups.values():
                seen.add(g["name"])
                spelled += g["name"] != generic
            ours = " + ".join(f"{g['bytes']} B, {g['savings']} B saved, {g['copies']} copies"
                              for g in groups.values())
            if alone:
                ours += f"{'; ' if ours else ''}not grouped: {', '.join(short(c, 40) for c in alone)}"
            tally.check(generic, f"{size} B, {bloat} B saved, {len(copies)} copies", ours)
        extra = [g for g in mine["generics"] if g["name"] not in seen]
        tally.report(f" generics of 2+ copies ({spelled} spelled differently; twiggy's "
                     f"{single} single-copy rows not compared)")
        for g in extra:
            print(f"  {exp}: auditor only: {short(g['name'])} ({g['bytes']} B, {g['savings']} B saved, "
                  f"{g['copies']} copies)")
        print(f"  {exp}: auditor: {mine['bytes']} B in generics of 2+ copies, {mine['savings']} B saved")


NOTES = """\
  Where the tools define things differently (README "Deep analysis speed"): twiggy splits the
  name section into subsections and headers and lists each type, auditor counts both sections
  whole; twiggy makes every table a root and reaches no data segment, auditor reaches a table
  through call_indirect, a segment through the addresses code names, and makes memory a root
  (retained sizes, dominators, paths and garbage differ with it); auditor's paths are one
  shortest path per referrer, twiggy's every path to -d callers; auditor's monos list generics
  of 2+ copies."""


def compare_expectations() -> None:
    tests = twiggy_tests()
    if tests is None:
        print("\ntwiggy's published expectations: not found (run `cargo install twiggy`)")
        return
    print(f"\ntwiggy's published expectations ({tests.parent.parent.name}), compared item by item")
    compare_top(tests)
    compare_dominators(tests)
    compare_paths(tests)
    compare_garbage(tests)
    compare_monos(tests)
    print(NOTES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", choices=[*sorted(MODULES), "dwarf"])
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
    for key in ([args.only] if args.only else [*MODULES, "dwarf"]):
        if key == "dwarf":
            path = build_dwarf()
            if path:
                bench(path, args.repeat, dwarf_rows(path), "dwarfdump", args.instructions)
        else:
            path = fetch(key)
            bench(path, args.repeat, twiggy_rows(path, twiggy), "twiggy", args.instructions)
    if not args.no_expectations:
        compare_expectations()


if __name__ == "__main__":
    main()
