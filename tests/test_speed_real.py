"""Issue 13 item 5 on the real crates.io allocators (fixtures/real/, rustc 1.96): the
speed probe as `auditor scan` runs it on every variant, and `auditor run` on the same
probe module.

- Determinism: fuel per action is a count of executed wasm instructions, so two runs of
  `auditor run` on a scan's probe module give the scan's figures to the last digit.
- Ordering: lol_alloc's first-fit free list needs more instructions per action than
  std's dlmalloc on talc's random-actions workloads (talc's wasm-perf ranks them
  dlmalloc 12.3 > lol_alloc 6.0 actions/µs).
- The allocator's own code in the shipped module: every function counted is checked
  against wasm-objdump's body sizes.

The scan is the one tests/test_real_allocators.py makes for rustc 1.96 (same arguments,
so the session and auditor's scan cache share it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from realcrates import ALLOCATORS_ON, scan

pytestmark = pytest.mark.cargo  # builds the real fixture with rustc 1.96

PROFILES = "release,min-size-z"
TALC_WORKLOADS = ("random", "random_realloc")


def _report() -> dict:
    return scan("1.96", PROFILES, ",".join(ALLOCATORS_ON["1.96"]))


def _variant(vid: str) -> dict:
    v = next(v for v in _report()["variants"] if v["id"] == vid)
    assert v["status"] == "ok", v["error"]
    return v


def _run(path: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "auditor", "run", path, "--format", "json", "--workloads", "ramp"],
                       capture_output=True, text=True, check=False)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["speed"]


@pytest.mark.parametrize("profile", PROFILES.split(","))
def test_lol_alloc_needs_more_fuel_per_action_than_stds_dlmalloc(profile):
    std = _variant(f"{profile}/default")["runtime"]["speed"]
    lol = _variant(f"{profile}/lol_alloc")["runtime"]["speed"]
    assert std["options"] == lol["options"]  # the same scripts: same actions, seed, workloads
    for name in TALC_WORKLOADS:
        a, b = std["workloads"][name], lol["workloads"][name]
        assert a["outcome"] == b["outcome"] == "ok", name
        assert (a["allocs"], a["frees"], a["reallocs"]) == (b["allocs"], b["frees"], b["reallocs"]), name
        assert b["fuel_per_action"] > a["fuel_per_action"], (name, a["fuel_per_action"], b["fuel_per_action"])
    assert lol["fuel_per_action"] > std["fuel_per_action"]  # the headline


@pytest.mark.parametrize("allocator", ["default", "lol_alloc"])
def test_fuel_is_the_same_on_two_runs(allocator):
    v = _variant(f"release/{allocator}")
    scanned = v["runtime"]["speed"]
    first, second = _run(v["probes_path"]), _run(v["probes_path"])
    for name, w in scanned["workloads"].items():
        figures = [(r["workloads"][name]["fuel"], r["workloads"][name]["loop_fuel"],
                    r["workloads"][name]["fuel_per_action"]) for r in (first, second)]
        assert figures[0] == figures[1] == (w["fuel"], w["loop_fuel"], w["fuel_per_action"]), name
    assert first["heap_efficiency"] == second["heap_efficiency"] == scanned["heap_efficiency"]


def _objdump_function_bytes(path: str) -> dict[int, int]:
    """twiggy's size of each defined function (body + size LEB + function-section entry),
    from wasm-objdump's code and function sections; keyed by function index."""
    def leb(n: int) -> int:
        return max(1, -(-n.bit_length() // 7))

    funcs = subprocess.run(["wasm-objdump", "-x", "-j", "Function", path], capture_output=True, text=True,
                           check=True).stdout
    code = subprocess.run(["wasm-objdump", "-x", "-j", "Code", path], capture_output=True, text=True,
                          check=True).stdout
    sigs = {int(m[1]): int(m[2]) for m in re.finditer(r"func\[(\d+)\] sig=(\d+)", funcs)}
    return {int(m[1]): int(m[2]) + leb(int(m[2])) + leb(sigs[int(m[1])])
            for m in re.finditer(r"func\[(\d+)\] size=(\d+)", code)}


def test_allocator_code_of_the_shipped_module_against_wasm_objdump():
    for alloc in ("default", "lol_alloc", "talc"):
        v = _variant(f"release/{alloc}")
        code = v["allocator_code"]
        assert code["method"] == "names" and code["allocator"] == v["wasm"]["allocator"]["name"], alloc
        sizes = _objdump_function_bytes(v["wasm_path"])
        rows = code["items"] + code["only_through"]
        assert rows and all(r["bytes"] == sizes[r["index"]] for r in rows), alloc
        assert code["bytes"] == sum(r["bytes"] for r in rows)
        assert code["code_bytes"] == sum(sizes.values())


def test_the_recommendation_is_a_tradeoff_among_variants_without_runtime_faults():
    report = _report()
    t = report["recommended"]["tradeoff"]
    by_id = {v["id"]: v for v in report["variants"]}
    faulty = {vid for s in report["recommended"]["skipped"] for vid in s["variants"]}
    # the leaking and fixed-arena allocators are passed over before the trade-off
    assert {f"{p}/{a}" for p in PROFILES.split(",") for a in ("wee_alloc", "lol_alloc_leaking", "mini_alloc",
                                                              "emballoc")} <= faulty
    front = {p["variant"] for p in t["front"]}
    assert front and not front & faulty and t["axes"] == ["size", "speed", "heap"]
    for p in t["front"]:  # the front's figures are the variants' own
        v = by_id[p["variant"]]
        assert (p["bytes"], p["fuel_per_action"], p["heap_efficiency"]) == (
            v["wasm"]["bytes"], v["runtime"]["speed"]["fuel_per_action"], v["runtime"]["speed"]["heap_efficiency"])
    # nothing among the candidates beats a front member on all three axes
    cands = [by_id[x] for x in by_id if x not in faulty and by_id[x]["status"] == "ok"
             and x not in {e["variant"] for e in t["excluded"]}]

    def axes(v: dict) -> tuple:
        s = v["runtime"]["speed"]
        return (v["wasm"]["bytes"], s["fuel_per_action"], -s["heap_efficiency"])

    for p in t["front"]:
        mine = axes(by_id[p["variant"]])
        assert not any(all(x <= y for x, y in zip(axes(c), mine)) and axes(c) != mine for c in cands)
    assert t["smallest"]["bytes"] == min(axes(c)[0] for c in cands)
    assert t["fastest"]["fuel_per_action"] == min(axes(c)[1] for c in cands)
