"""Runtime stage on real rustc output: the fixture allocators, std's default, OOM guards.

Modules are built once per session with the Debian toolchain (tests/fixturelib.py): the
`probe` crate includes auditor/runtime/probe_exports.rs and picks its global allocator
by feature; fixtures/runtime/hazards holds exports that loop, bomb and recurse.
Figures are checked against independent sources: wasm-objdump (initial pages,
memory.grow count), a Python model of the bump allocator, and hand arithmetic.
"""

from __future__ import annotations

import re
import subprocess
import time
from functools import cache
from pathlib import Path

import pytest

from auditor.runtime.api import RuntimeOptions, run_module
from auditor.runtime.scenarios import Scenario
from auditor.runtime.workloads import LEAK_SLOPE, RAMP_START

import fixturelib

HAZARDS = Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "hazards"
PAGE = 65536
CAP = RuntimeOptions().memory_limit_pages


@cache
def report(allocator: str) -> dict:
    return run_module(fixturelib.build_with_allocator(allocator), RuntimeOptions()).to_json()


def objdump_initial_pages(path: Path) -> int:
    out = subprocess.run(["wasm-objdump", "-x", "-j", "Memory", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"pages: initial=(\d+)", out).group(1))


def objdump_grow_count(path: Path) -> int:
    out = subprocess.run(["wasm-objdump", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return len(re.findall(r"\| memory\.grow\b", out))


# --------------------------------------------------------------------------- growth verdicts


@pytest.mark.cargo
def test_bump_allocator_leaks_under_churn_and_hold_release():
    r = report("bump")
    c = r["churn"]
    assert c["verdict"] == "leak"
    assert c["outcome"] == "ok"
    assert c["pages_end"] > c["pages_after_warmup"] + 10
    assert c["slope"] >= 5 * LEAK_SLOPE
    # the slope is what the curve says: pages from warm-up to the end per 1,000 rounds
    rounds_after = c["steps"] - c["warmup"]
    assert c["slope"] == round((c["pages_end"] - c["pages_after_warmup"]) * 1000 / rounds_after, 3)
    assert r["hold_release"]["verdict"] == "leak"
    assert r["hold_release"]["pages_end"] > r["hold_release"]["pages_after_warmup"]


@pytest.mark.cargo
@pytest.mark.parametrize("allocator", ["default", "freelist"])
def test_reusing_allocators_plateau(allocator):
    r = report(allocator)
    for key in ("churn", "hold_release"):
        g = r[key]
        assert g["verdict"] == "plateau", g["reason"]
        assert g["pages_end"] - g["pages_after_warmup"] <= 1
        assert g["slope"] < LEAK_SLOPE
        assert g["curve"] == sorted(g["curve"])  # memory never shrinks
        assert len(g["curve"]) == g["steps"] + 1
    assert r["churn"]["steps"] == 1 + 2000  # the fill, then every round
    assert r["hold_release"]["steps"] == 48


@pytest.mark.cargo
def test_static_arena_never_grows_and_fails_at_capacity():
    path = fixturelib.build_with_allocator("arena")
    r = report("arena")
    initial = objdump_initial_pages(path)
    assert objdump_grow_count(path) == 0 == r["static"]["memory_grow_sites"]
    assert r["churn"]["verdict"] == "fixed-arena"
    assert r["churn"]["pages_max"] == initial
    oom = r["oom"]
    assert oom["outcome"] == "unreachable"
    assert oom["pages"] == oom["initial_pages"] == initial
    # 256 KiB arena, size classes up to 128 KiB: 1 KiB .. 128 KiB fit (255 KiB), 256 KiB cannot
    assert oom["live_bytes"] == 255 * 1024 and oom["request"] == 256 * 1024
    assert set(oom["curve"]) == {initial}
    assert oom["recovered"] is True


# --------------------------------------------------------------------------- OOM at the cap


def bump_model(initial_pages: int, cap: int, sizes, align: int = 8):
    """auditor_fixture_bump's algorithm in Python: pages after each request, or the failure."""
    pages, nxt, end, curve = initial_pages, 0, 0, []
    for size in sizes:
        for _ in range(2):
            aligned = (nxt + align - 1) & ~(align - 1)
            if nxt != 0 and aligned + size <= end:
                nxt = aligned + size
                break
            grow = -(-(size + align) // PAGE)
            if pages + grow > cap:
                return curve, size, pages
            start = pages * PAGE
            pages += grow
            if start != end:
                nxt = start
            end = start + grow * PAGE
        curve.append(pages)
    return curve, None, pages


@pytest.mark.cargo
def test_bump_ramp_matches_a_model_of_the_allocator():
    path = fixturelib.build_with_allocator("bump")
    oom = report("bump")["oom"]
    initial = objdump_initial_pages(path)
    sizes = [RAMP_START << k for k in range(20)]
    curve, failing, pages = bump_model(initial, CAP, sizes)
    assert oom["outcome"] == "unreachable"
    assert oom["request"] == failing
    assert oom["pages"] == pages
    assert oom["curve"][1:-1] == curve  # curve[0] is before the first request, the last is the failure


@pytest.mark.cargo
def test_infallible_allocation_at_the_cap_traps_unreachable_and_instance_survives():
    oom = report("default")["oom"]
    assert oom["outcome"] == "unreachable"
    assert oom["trap"]["code"] == "UNREACHABLE"
    assert oom["entry"] == "__auditor_alloc"
    assert oom["pages"] <= CAP
    # the request that failed would not have fit below the cap
    assert oom["pages"] * PAGE + oom["request"] > CAP * PAGE
    assert oom["grew_on_failure"] is False
    assert oom["recovered"] is True and oom["recovery"] == "ok"


@pytest.mark.cargo
@pytest.mark.parametrize("allocator", ["default", "bump", "freelist", "arena"])
def test_try_reserve_at_the_cap_returns_err_without_growth(allocator):
    tr = report(allocator)["oom"]["try_reserve"]
    assert tr["outcome"] == "err"
    assert tr["trap"] is None
    assert tr["grew_on_failure"] is False
    assert tr["curve"][-1] == tr["curve"][-2]  # pages before and after the failing call
    assert tr["pages"] <= CAP


# --------------------------------------------------------------------------- fragmentation, realloc


@pytest.mark.cargo
def test_fragmentation_reuse_or_grow():
    for allocator in ("default", "freelist"):
        f = report(allocator)["fragmentation"]
        assert f["verdict"] == "reuse", (allocator, f)
        assert f["request"] > f["block"] and f["request"] < f["freed_bytes"]
        assert f["pages_after"] == f["pages_before"]
    f = report("bump")["fragmentation"]
    assert f["verdict"] == "grow" and f["reused"] is False
    # a bump allocator never reuses: a 64 KiB request needs ceil((65536 + 8) / 65536) = 2 new pages
    assert f["pages_after"] - f["pages_before"] == 2


@pytest.mark.cargo
def test_realloc_doubling_overhead():
    r = report("default")["realloc"]
    initial = r["pages_initial"]
    room = (CAP - initial) * PAGE // 4
    assert r["live_bytes"] == 1 << (room.bit_length() - 1)  # a quarter of the room, as a power of two
    assert r["steps"] == (r["live_bytes"] // 64).bit_length() - 1  # 64 B doubled to the target
    assert r["overhead"] == round((r["pages_peak"] - initial) * PAGE / r["live_bytes"], 3)
    assert r["pages_peak"] >= initial + r["live_bytes"] // PAGE
    assert r["verdict"] == "copying"
    assert report("arena")["realloc"]["verdict"] == "failed"  # past the 128 KiB class


# --------------------------------------------------------------------------- scenarios


@pytest.mark.cargo
def test_seed_note_safe_allocation_guarded_vs_unguarded():
    guard = Scenario("safe_allocation", (200_000_000,), "graceful-error", 0, memory_limit_pages=64)
    unguarded_expect_error = Scenario("unguarded_allocation", (200_000_000,), "graceful-error", 0,
                                      memory_limit_pages=64)
    unguarded_expect_trap = Scenario("unguarded_allocation", (200_000_000,), "trap", memory_limit_pages=64)
    small = Scenario("safe_allocation", (1000,), "ok", 0, memory_limit_pages=64)
    result = run_module(fixturelib.build_crate(HAZARDS), RuntimeOptions(workloads=()),
                        [guard, unguarded_expect_error, unguarded_expect_trap, small])
    r = result.to_json()
    got = [(s["observed"], s["value"], s["passed"]) for s in r["scenarios"]]
    assert got == [("graceful-error", 0, True), ("unreachable", None, False), ("unreachable", None, True),
                   ("ok", 1, True)]
    assert r["scenarios"][0]["pages_after"] == r["scenarios"][0]["pages_before"]  # refused before allocating
    assert result.exit_code() == 1


@pytest.mark.cargo
def test_guarded_and_unguarded_fixture_crates_and_static_abort_path():
    guarded = fixturelib.build_crate("guarded")
    unguarded = fixturelib.build_crate("unguarded")
    g = run_module(guarded, RuntimeOptions(workloads=()), [
        Scenario("safe_allocation", (200_000_000,), "graceful-error", 0, memory_limit_pages=64),
        Scenario("try_reserve_bytes", (200_000_000,), "graceful-error", 0, memory_limit_pages=64),
    ]).to_json()
    assert [(s["observed"], s["passed"]) for s in g["scenarios"]] == [("graceful-error", True)] * 2
    u = run_module(unguarded, RuntimeOptions(workloads=()), [
        Scenario("unsafe_allocation", (200_000_000,), "trap", memory_limit_pages=64)]).to_json()
    assert u["scenarios"][0]["observed"] == "unreachable" and u["scenarios"][0]["passed"]
    # statically: only the infallible export reaches Rust's OOM handler; try_reserve does not
    assert g["static"]["aborts_on_oom"] is True
    assert g["static"]["exports_reaching_oom"] == ["safe_allocation"]
    assert g["static"]["oom_path_ends_in_unreachable"] is True
    assert g["static"]["memory_grow_sites"] == objdump_grow_count(guarded)
    assert sorted(u["static"]["exports_reaching_oom"]) == ["reserve_bytes", "unsafe_allocation"]


@pytest.mark.cargo
def test_infinite_loop_ends_as_timeout_within_the_fuel_bound():
    path = fixturelib.build_crate(HAZARDS)
    t = time.perf_counter()
    r = run_module(path, RuntimeOptions(workloads=(), fuel=100_000_000), [Scenario("spin", (), "trap")]).to_json()
    elapsed = time.perf_counter() - t
    s = r["scenarios"][0]
    assert s["observed"] == "timeout" and s["trap"]["code"] == "OUT_OF_FUEL"
    assert s["passed"] is False  # a timeout is not a trap the crate chose
    assert elapsed < 5


@pytest.mark.cargo
def test_wall_clock_backstop_when_fuel_is_huge():
    path = fixturelib.build_crate(HAZARDS)
    t = time.perf_counter()
    r = run_module(path, RuntimeOptions(workloads=(), fuel=10**18, timeout=0.3), [Scenario("spin")]).to_json()
    elapsed = time.perf_counter() - t
    assert r["scenarios"][0]["observed"] == "timeout"
    assert r["scenarios"][0]["trap"]["code"] == "INTERRUPT"
    assert 0.3 <= elapsed < 5


@pytest.mark.cargo
def test_memory_bomb_stops_at_the_cap():
    r = run_module(fixturelib.build_crate(HAZARDS), RuntimeOptions(workloads=()),
                   [Scenario("bomb", (), "trap", memory_limit_pages=64)]).to_json()
    s = r["scenarios"][0]
    assert s["observed"] == "unreachable" and s["passed"]
    # each push needs 64 KiB + dlmalloc overhead: it stops within two pages of the cap, never above
    assert 62 <= s["pages_after"] <= 64


@pytest.mark.cargo
def test_deep_recursion_is_stack_overflow():
    r = run_module(fixturelib.build_crate(HAZARDS), RuntimeOptions(workloads=()),
                   [Scenario("recurse", (10_000_000,), "trap"), Scenario("recurse", (10,), "ok")]).to_json()
    assert [s["observed"] for s in r["scenarios"]] == ["stack-overflow", "ok"]


# --------------------------------------------------------------------------- other module kinds


@pytest.mark.cargo
def test_wasi_stdout_and_stderr_are_captured():
    path = fixturelib.build_crate("wasi_hello", target=fixturelib.WASI)
    r = run_module(path, RuntimeOptions()).to_json()
    w = r["wasi"]
    assert w["outcome"] == "ok" and w["exit_code"] == 0
    assert w["stdout"] == "hello from wasi_hello\nargs=0 vars=0\n"  # empty sandbox: no args, no env
    assert w["stderr"] == "wasi_hello: this line goes to stderr\n"
    assert r["module"]["wasi"] is True
    assert r["oom"]["outcome"] == "not-probed"


@pytest.mark.cargo
def test_wasm_bindgen_like_module_is_probed_through_wbindgen_exports():
    r = run_module(fixturelib.build_crate("bindgen_like"), RuntimeOptions(),
                   [Scenario("greet", (1,), "ok")]).to_json()
    e = r["entry"]
    assert (e["family"], e["alloc"], e["free"], e["realloc"]) == \
        ("wasm-bindgen", "__wbindgen_malloc", "__wbindgen_free", "__wbindgen_realloc")
    assert e["shapes"] == {"alloc": "size,align", "free": "ptr,size,align", "realloc": "ptr,old,new,align"}
    assert r["module"]["wasm_bindgen"] is True
    assert r["churn"]["verdict"] == "plateau"
    assert r["fragmentation"]["verdict"] == "reuse"
    # __wbindgen_malloc returns null instead of aborting in this fixture
    assert r["oom"]["outcome"] == "null"
    s = r["scenarios"][0]
    # wbg's console.log is stubbed by kind (issue 11): the text it logs is captured, read
    # from the (pointer, length) the module passed
    assert s["observed"] == "ok" and s["value"] == len("hello from bindgen_like")
    assert s["stdout"] == "hello from bindgen_like\n"
    provided = {(i["module"], i["name"]): i["provided"] for i in r["module"]["imports"]}
    assert provided[("wbg", "__wbg_log_a1b2c3d4e5f60718")] == "stub-js-console"
    assert provided[("__wbindgen_placeholder__", "__wbindgen_describe")] == "stub-js-noop"


def without_clock(rec: dict) -> dict:
    """A run record without what measures the machine rather than the module: `timings`
    and the speed probe's CPU-time figures (README "JSON: auditor.run/1")."""
    rec = {k: v for k, v in rec.items() if k != "timings"}
    if rec.get("speed"):
        speed = rec["speed"] = dict(rec["speed"], actions_per_us=None)
        speed["workloads"] = {n: dict(w, actions_per_us=None, time_us=None) for n, w in speed["workloads"].items()}
    return rec


@pytest.mark.cargo
def test_rust_module_same_numbers_run_after_run():
    path = fixturelib.build_with_allocator("freelist")
    a = run_module(path, RuntimeOptions()).to_json()
    b = run_module(path, RuntimeOptions()).to_json()
    assert a["speed"]["fuel_per_action"] is not None  # the speed probe ran: its fuel is compared too
    assert without_clock(a) == without_clock(b)
    c = run_module(path, RuntimeOptions(seed=2)).to_json()
    assert c["churn"]["curve"] != a["churn"]["curve"] or c["hold_release"]["curve"] != a["hold_release"]["curve"]


@pytest.mark.cargo
def test_text_report_names_the_leak_and_the_abort_path():
    from auditor.report import render

    result = run_module(fixturelib.build_with_allocator("bump"), RuntimeOptions())
    text = render(result, "text")
    c = result.churn
    assert re.search(rf"churn\s+leak\s+{c['pages_initial']}\s+{c['pages_after_warmup']}\s+{c['pages_end']}", text)
    assert "trap in rust_oom <- __rg_oom" in text
    assert "auditor_fixture_bump::bump_grow" in text
    assert "try_reserve __auditor_try_reserve  err at" in text
    assert result.exit_code() == 0  # a leak is a fact; rules and budgets decide whether it fails


@pytest.mark.cargo
def test_same_numbers_across_processes():
    import json
    import os
    import sys

    path = fixturelib.build_with_allocator("default")
    outs = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        p = subprocess.run([sys.executable, "-m", "auditor", "run", str(path), "--format", "json"],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr
        outs.append(without_clock(json.loads(p.stdout)))
    assert outs[0] == outs[1]
