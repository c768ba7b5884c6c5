"""DWARF reading speed: auditor's summary and full walk next to llvm-dwarfdump-16.

Usage: python benchmarks/dwarf_speed.py [FILE.wasm ...]  (default: the heavy fixture,
release, whose std carries 1.6 MB of .debug_info). Prints CPU times (user+sys, so
other load on the machine does not count); each figure is the best of 2-3 runs, the summary's first (cold) call separately since it imports
pyelftools' DW_LANG table.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def best(fn, n=3):
    """Least CPU seconds (this process + children) over n runs: steady on a busy machine."""
    times = []
    for _ in range(n):
        before = _cpu()
        fn()
        times.append(_cpu() - before)
    return min(times)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(paths: list[str]) -> None:
    if not paths:
        import fixturelib

        paths = [str(fixturelib.build_crate("heavy"))]
    for path in paths:
        cold = subprocess.run(
            [sys.executable, "-c",
             "import sys,time; from auditor.wasm.parse import parse_module;"
             "from auditor.wasm.dwarf import dwarf_summary;"
             f"m=parse_module(open({path!r},'rb').read());"
             "t=time.process_time(); dwarf_summary(m); print(time.process_time()-t)"],
            capture_output=True, text=True, check=True, cwd=REPO).stdout.strip()
        from auditor.wasm.dwarf import debug_sections, dwarf_summary, dwarf_walk
        from auditor.wasm.parse import parse_module

        mod = parse_module(Path(path).read_bytes(), path)
        info = debug_sections(mod)[".debug_info"]
        mb = (info.end - info.start) / 1e6
        summary = best(lambda mod=mod: dwarf_summary(mod))
        walk = best(lambda mod=mod: dwarf_walk(mod), n=2)
        result = dwarf_walk(mod)
        llvm = best(lambda path=path: subprocess.run(["llvm-dwarfdump-16", "--debug-info", path],
                                           stdout=subprocess.DEVNULL, check=True), n=2)
        llvm_top = best(lambda path=path: subprocess.run(
            ["llvm-dwarfdump-16", "--debug-info", "--recurse-depth=0", path],
            stdout=subprocess.DEVNULL, check=True))
        print(f"{Path(path).name}: {mod.size / 1e6:.1f} MB file, {mb:.2f} MB .debug_info, "
              f"{dwarf_summary(mod)['compile_units']} units")
        print(f"  auditor summary        {summary * 1000:7.1f} ms (first call {float(cold) * 1000:.1f} ms)")
        print(f"  llvm-dwarfdump -r 0    {llvm_top * 1000:7.1f} ms")
        print(f"  auditor full walk      {walk * 1000:7.1f} ms ({walk / mb:.2f} s/MB; "
              f"{result.matched}/{result.bodies} bodies matched)")
        print(f"  llvm-dwarfdump --debug-info {llvm * 1000:7.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
