"""The speed probe (auditor/runtime/speed.py) against hand counts and independent models.

- fixtures/runtime/speed_counted.wat: a bump allocator and replay loop whose fuel per
  record is counted by hand in its header (wasmtime's own fuel rules), so the fuel per
  action of every workload is known exactly, and where it runs out of memory too.
- fixtures/crates/alloc_log: the seed note's loop compiled by rustc under a logging
  global allocator: the allocator calls Rust really makes, against the `seed_vectors`
  script.
- the `probe` fixture crate (real rustc output, std's dlmalloc): determinism, and the
  replay's figure against fuel measured one host call at a time.
"""

from __future__ import annotations

import math
import re
import struct
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
import wasmtime

from auditor.runtime import speed_workloads as sw
from auditor.runtime.entry import detect
from auditor.runtime.speed import CHUNK, SpeedOptions, speed_probe

import clirun
import fixturelib
from inprocess_run import Harness

RUNTIME_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"
PAGE = 65536


@pytest.fixture(scope="session")
def counted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("speed") / "speed_counted.wasm"
    subprocess.run(["wat2wasm", str(RUNTIME_FIXTURES / "speed_counted.wat"), "-o", str(out)], check=True)
    return out


def facts() -> dict[str, int]:
    """The `;; @fact` lines of speed_counted.wat (hand-computed)."""
    out = {}
    for line in (RUNTIME_FIXTURES / "speed_counted.wat").read_text().splitlines():
        if line.startswith(";; @fact "):
            k, _, v = line.removeprefix(";; @fact ").partition("=")
            out[k.strip()] = int(v)
    return out


def probe(path: Path, cap: int = 256, **opts) -> dict:
    with Harness(path, fuel=2_000_000_000, timeout=10, unknown_imports="trap") as h:
        return speed_probe(h, detect(h.func_signature), cap, SpeedOptions(**opts)).to_json()


@cache
def counted_report(path: Path) -> dict:
    return probe(path, actions=2000, runs=1, trials=2)


# --------------------------------------------------------------------------- fuel by hand


def test_fuel_per_action_equals_the_hand_count_on_every_workload(counted):
    f = facts()
    r = counted_report(counted)
    assert set(r["workloads"]) == set(sw.WORKLOADS)
    for name, w in r["workloads"].items():
        assert w["outcome"] == "ok", name
        assert w["completed"] == w["actions"] == w["allocs"] + w["frees"] + w["reallocs"]
        expected = (f["alloc_fuel"] * w["allocs"] + f["free_fuel"] * w["frees"]
                    + f["realloc_fuel"] * w["reallocs"]) / w["actions"]
        assert w["fuel_per_action"] == round(expected, 2), name
        # the calibration replay: 28 per do-nothing record, plus 6 per call (the last loop
        # test 4, `local.get $n` 1, the invocation 1); 2,000-odd records fit one call
        assert w["loop_fuel"] == f["nop_fuel"] * w["actions"] + 6, name


def test_headline_is_the_random_realloc_workload(counted):
    r = counted_report(counted)
    assert r["headline"] == "random_realloc"
    assert r["fuel_per_action"] == r["workloads"]["random_realloc"]["fuel_per_action"]
    assert r["method"] == "replay" and r["entry"] == "__auditor_replay"


def _bump(top: int, size: int, align: int) -> tuple[int, int]:
    p = (top + align - 1) & -align
    return p, p + size


def test_a_workload_that_runs_out_of_memory_stops_at_the_record_a_bump_model_predicts(counted):
    f = facts()
    actions = 20_000
    r = probe(counted, actions=actions, runs=0, trials=0, workloads=("random",))
    w = r["workloads"]["random"]
    script = sw.script("random", actions, 1)
    # The probe first allocates its script buffer (CHUNK records of 4 words) and the slot
    # table (3 words per slot), 16-aligned; then the records, in order.
    top = f["heap_base"]
    for size in (min(actions, CHUNK) * 16, script.slots * 12):
        _, top = _bump(top, size, 16)
    expected = None
    for i in range(script.actions):
        op, _, size, align = script.words[i * 4: i * 4 + 4]
        if op == sw.FREE:
            continue
        # realloc keeps the slot's alignment: the random workload reallocs nothing
        _, end = _bump(top, size, align)
        if end > f["memory_end"]:
            expected = i
            break
        top = end
    assert expected is not None
    assert w["outcome"] == "null"
    assert w["completed"] == expected
    assert w["peak_to_live"] is None and w["actions_per_us"] is None


def test_heap_fill_matches_a_bump_model_of_talcs_heap_efficiency_workload(counted):
    f = facts()
    r = counted_report(counted)
    fill = r["fill"]
    heap = f["memory_end"] - f["heap_base"]
    live_total = 0
    for trial, got in enumerate(fill["trials"]):
        rng = sw.fill_rng(1, trial)
        top, live, n = f["heap_base"], [], 0
        while True:
            op, a, b = sw.fill_action(rng, len(live))
            if op == sw.NOP:
                continue
            n += 1
            if op == sw.FREE:
                live[a], live[-1] = live[-1], live[a]
                live.pop()
                continue
            size, align = (a, b) if op == sw.ALLOC else (b, live[a][1])
            _, end = _bump(top, size, align)
            if end > f["memory_end"]:
                break
            top = end
            if op == sw.ALLOC:
                live.append((size, align))
            else:
                live[a] = (size, align)
        assert got["outcome"] == "null"
        assert got["actions"] == n
        assert got["failed_op"] == ("alloc" if op == sw.ALLOC else "realloc")
        assert got["live_bytes"] == sum(s for s, _ in live)
        assert got["live_blocks"] == len(live)
        assert got["pages"] == f["memory_end"] // PAGE
        assert got["heap_bytes"] == heap
        live_total += got["live_bytes"]
    assert fill["efficiency"] == round(live_total / (heap * len(fill["trials"])), 4)
    assert r["heap_base"] == f["heap_base"] and r["heap_base_source"] == "__heap_base"


def test_a_module_without_the_replay_export_still_gets_the_heap_fill(counted, tmp_path):
    src = (RUNTIME_FIXTURES / "speed_counted.wat").read_text().replace('(export "__auditor_replay")', "")
    (tmp_path / "m.wat").write_text(src)
    subprocess.run(["wat2wasm", str(tmp_path / "m.wat"), "-o", str(tmp_path / "m.wasm")], check=True)
    r = probe(tmp_path / "m.wasm", actions=500, runs=0, trials=1)
    assert r["workloads"] == {} and r["fuel_per_action"] is None
    assert "no __auditor_replay export" in r["reason"]
    assert r["fill"]["trials"][0]["outcome"] == "null"


def test_an_allocator_that_never_fails_stops_once_live_bytes_exceed_memory(tmp_path):
    # malloc hands out one address forever: no allocation fails, so without a stop the fill
    # would run its 1,000,000 host calls (46 s here). Live bytes past what the memory cap
    # can hold prove the blocks overlap. The cap: 1 page initial, no maximum, so the
    # default --memory-limit of 256 pages (16 MiB); one fill request is at most 100,000 bytes.
    (tmp_path / "m.wat").write_text("""(module (memory (export "memory") 1)
      (func (export "malloc") (param i32) (result i32) (i32.const 16))
      (func (export "free") (param i32)))""")
    subprocess.run(["wat2wasm", str(tmp_path / "m.wat"), "-o", str(tmp_path / "m.wasm")], check=True)
    r = probe(tmp_path / "m.wasm", actions=500, runs=0, trials=1)
    trial = r["fill"]["trials"][0]
    assert trial["outcome"] == "overlapping"
    assert 256 * 65536 < trial["live_bytes"] <= 256 * 65536 + 100_000
    assert trial["actions"] < 10_000 and r["fill"]["efficiency"] is None


# --------------------------------------------------------------------------- the scripts


def test_talc_alignment_follows_the_trailing_zeros_formula():
    # 8 << (tz(u16) / 2): P(tz = k) = 2^-(k+1) for k < 16, so P(8) = 3/4, P(16) = 3/16, ...
    rng = sw._rng(7, "align-test")
    n = 200_000
    got = Counter(sw.talc_align(rng) for _ in range(n))
    assert set(got) <= {8 << k for k in range(9)}
    for k, p in ((0, 3 / 4), (1, 3 / 16), (2, 3 / 64)):
        assert abs(got[8 << k] / n - p) < 4 * math.sqrt(p * (1 - p) / n), (8 << k, got[8 << k])


def test_random_actions_follow_talcs_model():
    s = sw.talc_random(30_000, 3, realloc=True)
    live = 0
    sizes = []
    ops = Counter()
    for i in range(s.actions):
        op, _, size, align = s.words[i * 4: i * 4 + 4]
        if op == sw.FREE:
            assert live >= sw.TALC_MIN_LIVE or i >= 30_000  # the final frees empty the set
            live -= 1
        elif op == sw.ALLOC:
            live += 1
            sizes.append(size)
            assert align >= 8 and align & (align - 1) == 0
        else:
            sizes.append(size)
        if i < 30_000 and live > sw.TALC_MIN_LIVE:
            ops[op] += 1
    assert live == 0
    assert min(sizes) >= 1 and max(sizes) <= 10_000
    # with 50+ live blocks: 2 of 5 actions allocate, 2 free, 1 reallocates
    total = sum(ops.values())
    for op, p in ((sw.ALLOC, 0.4), (sw.FREE, 0.4), (sw.REALLOC, 0.2)):
        assert abs(ops[op] / total - p) < 0.02
    assert s.counts[0] == s.counts[1]  # everything allocated is freed


@pytest.mark.cargo
def test_seed_vectors_script_is_the_allocator_calls_rustc_really_makes():
    wasm = fixturelib.build_crate("alloc_log")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    ex = wasmtime.Linker(engine).instantiate(store, wasmtime.Module.from_file(engine, str(wasm))).exports(store)
    ex["log_reset"](store)
    assert ex["measure_allocation_performance"](store) == 1000
    n, p = ex["log_len"](store), ex["log_ptr"](store)
    raw = ex["memory"].read(store, p, p + n * 16)
    log = [struct.unpack_from("<4I", raw, i * 16) for i in range(n)]
    script = sw.seed_vectors(1)
    assert script.actions == n == 2010
    slot_align: dict[int, int] = {}
    slot_size: dict[int, int] = {}
    for i, (lop, lsize, lalign, lold) in enumerate(log):
        op, slot, size, align = script.words[i * 4: i * 4 + 4]
        if op == sw.ALLOC:
            slot_align[slot], slot_size[slot] = align, size
            # `vec![0; 1000]` (i = 0) is alloc_zeroed; the script treats it as alloc
            assert (lop if lop != 3 else 0, lsize, lalign) == (0, size, align), i
        elif op == sw.FREE:
            assert (lop, lsize, lalign) == (1, slot_size[slot], slot_align[slot]), i
        else:
            assert (lop, lsize, lalign, lold) == (2, size, slot_align[slot], slot_size[slot]), i
            slot_size[slot] = size
    assert sum(1 for r in log if r[0] == 3) == 1


def test_vec_growth_is_mostly_reallocs_that_double():
    s = sw.vec_growth(10_000, 1)
    sizes: dict[int, int] = {}
    for i in range(s.actions):
        op, slot, size, align = s.words[i * 4: i * 4 + 4]
        if op == sw.ALLOC:
            assert (size, align) == (8, 1)
        elif op == sw.REALLOC:
            assert size == 2 * sizes[slot] and size <= 2 * sw.GROWTH_MAX_TARGET
        sizes[slot] = size
    assert s.counts[2] / s.actions > 0.7


# --------------------------------------------------------------------------- real rustc output


@cache
def default_probe() -> Path:
    return fixturelib.build_with_allocator("default")


@pytest.mark.cargo
def test_fuel_is_identical_on_two_runs_of_a_real_module():
    a = probe(default_probe(), actions=3000, runs=0, trials=1)
    b = probe(default_probe(), actions=3000, runs=0, trials=1)
    for name in sw.WORKLOADS:
        wa, wb = a["workloads"][name], b["workloads"][name]
        assert wa["outcome"] == "ok"
        assert (wa["fuel"], wa["loop_fuel"], wa["fuel_per_action"]) == (wb["fuel"], wb["loop_fuel"],
                                                                         wb["fuel_per_action"])
        assert wa["fuel_per_action"] > 50  # dlmalloc does real work per call
    assert a["fill"] == b["fill"]


@pytest.mark.cargo
def test_replay_fuel_agrees_with_fuel_measured_one_host_call_at_a_time():
    """The replay subtracts its own loop; calling the probe exports one at a time counts
    their argument checks instead. Both must describe the same allocator work within
    those few dozen instructions."""
    path = default_probe()
    actions = 1500
    r = probe(path, actions=actions, runs=0, trials=0, workloads=("random_realloc",))
    script = sw.script("random_realloc", actions, 1)
    with Harness(path, fuel=10**9, timeout=10, unknown_imports="trap") as h:
        s = h.session(256)
        ptrs: dict[int, tuple[int, int, int]] = {}
        total = 0

        def call(name, *args):
            nonlocal total
            res = s.call(name, *args)
            assert res.ok
            total += 10**9 - s.store.get_fuel()
            return res.value

        call("__auditor_alloc", min(actions, CHUNK) * 16, 16)  # the replay's two buffers first
        call("__auditor_alloc", script.slots * 12, 16)
        total = 0
        for i in range(script.actions):
            op, slot, size, align = script.words[i * 4: i * 4 + 4]
            if op == sw.ALLOC:
                ptrs[slot] = (call("__auditor_alloc", size, align), size, align)
            elif op == sw.FREE:
                call("__auditor_dealloc", *ptrs.pop(slot))
            else:
                p, old, al = ptrs[slot]
                ptrs[slot] = (call("__auditor_realloc", p, old, al, size), size, al)
        s.close()
    per_call = total / script.actions
    replay = r["workloads"]["random_realloc"]["fuel_per_action"]
    assert abs(per_call - replay) <= 40, (per_call, replay)


def test_wall_clock_is_one_call_per_iteration_and_absent_when_memory_is_not_reused(counted):
    r = counted_report(counted)
    seed = r["workloads"]["seed_vectors"]
    # 2,010 records x 16 bytes fit one buffer: one replay call per timed iteration
    assert seed["timing_calls"] == 1 and seed["actions_per_us"] > 0
    assert seed["time_us"]["min"] <= seed["time_us"]["median"] <= seed["time_us"]["max"]
    # the bump allocator never frees: ~5 MB per iteration of `random` in its 12.4 MiB, so
    # the fuel run and two iterations fit, a fourth cannot
    rnd = probe(counted, actions=2000, runs=3, trials=0, workloads=("random",))["workloads"]["random"]
    assert rnd["outcome"] == "ok" and rnd["actions_per_us"] is None
    assert re.match(r"iteration [34]: an allocation failed at action \d+", rnd["timing_note"])


def test_speed_text_block_names_the_headline_and_a_failed_workload():
    from auditor.report.speed_blocks import speed_lines

    rec = {"headline": "random_realloc", "reason": None, "fill": {"efficiency": 0.5, "memory_efficiency": 0.25,
                                                                   "trials": [{}], "reason": None},
           "workloads": {"random_realloc": {"completed": 20_238, "actions": 20_238, "outcome": "ok",
                                            "fuel_per_action": 837.2, "actions_per_us": 11.85, "peak_to_live": 1.15},
                         "random": {"completed": 6_872, "actions": 20_216, "outcome": "null",
                                    "fuel_per_action": 192.0, "actions_per_us": None, "peak_to_live": None,
                                    "timing_note": None}}}
    text = "\n".join(speed_lines(rec))
    assert "random_realloc (headline)" in text and "837.2" in text and "11.85" in text
    assert "null at 6,872 of 20,216" in text
    assert "heap efficiency: 50.0% of the heap live" in text and "25.0% of all linear memory" in text


# --------------------------------------------------------------------------- `auditor run`


def _run_json(path: Path, *args: str, cwd: Path | None = None) -> dict:
    import json

    r = clirun.run(["run", path, "--format", "json", *args], cwd=cwd)  # in-process (tests/clirun.py)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_auditor_run_reports_the_hand_counted_fuel_and_is_identical_twice(counted, tmp_path):
    f = facts()
    first = _run_json(counted, "--speed-actions", "2000", "--workloads", "ramp", cwd=tmp_path)
    second = _run_json(counted, "--speed-actions", "2000", "--workloads", "ramp", cwd=tmp_path)
    speed = first["speed"]
    assert first["options"]["speed"] is True and first["options"]["speed_actions"] == 2000
    assert speed["headline"] == "random_realloc" and set(speed["workloads"]) == set(sw.WORKLOADS)
    for name, w in speed["workloads"].items():
        expected = (f["alloc_fuel"] * w["allocs"] + f["free_fuel"] * w["frees"]
                    + f["realloc_fuel"] * w["reallocs"]) / w["actions"]
        assert w["fuel_per_action"] == round(expected, 2), name
        again = second["speed"]["workloads"][name]
        assert (w["fuel"], w["loop_fuel"], w["fuel_per_action"]) == (again["fuel"], again["loop_fuel"],
                                                                    again["fuel_per_action"]), name
    assert speed["fuel_per_action"] == speed["workloads"]["random_realloc"]["fuel_per_action"]
    # a bump allocator in 200 fixed pages: the fill ends at the first null; the live bytes
    # are all it handed out, the heap is memory above __heap_base
    fill = speed["fill"]["trials"][0]
    assert fill["outcome"] == "null" and fill["heap_bytes"] == f["memory_end"] - f["heap_base"]
    assert speed["heap_efficiency"] == round(fill["live_bytes"] / fill["heap_bytes"], 4)


def test_speed_can_be_turned_off_by_flag_and_by_config(counted, tmp_path):
    assert _run_json(counted, "--no-speed", "--workloads", "ramp", cwd=tmp_path)["speed"] is None
    (tmp_path / "auditor.toml").write_text("[runtime]\nspeed = false\n")
    assert _run_json(counted, "--workloads", "ramp", "--crate", str(tmp_path), cwd=tmp_path)["speed"] is None
    (tmp_path / "auditor.toml").write_text("[runtime]\nspeed = \"yes\"\n")
    r = clirun.run(["run", counted, "--crate", tmp_path])
    assert r.returncode == 2 and "speed must be true or false" in r.stderr and "Traceback" not in r.stderr


def test_auditor_run_text_shows_speed_heap_efficiency_and_allocator_code(counted, tmp_path):
    r = clirun.run(["run", counted, "--speed-actions", "2000", "--workloads", "ramp"], cwd=tmp_path)
    assert "random_realloc (headline)" in r.stdout and "heap efficiency:" in r.stdout
    # speed_counted.wat has no name section: the allocator's code cannot be attributed
    assert "allocator code (" in r.stdout and "not attributed" in r.stdout


def test_auditor_run_markdown_has_the_speed_table(counted, tmp_path):
    r = clirun.run(["run", counted, "--speed-actions", "2000", "--workloads", "ramp", "--format", "markdown"],
                   cwd=tmp_path)
    f = facts()
    js = _run_json(counted, "--speed-actions", "2000", "--workloads", "ramp", cwd=tmp_path)["speed"]
    w = js["workloads"]["random_realloc"]
    hand = (f["alloc_fuel"] * w["allocs"] + f["free_fuel"] * w["frees"] + f["realloc_fuel"] * w["reallocs"]) / w["actions"]
    row = next(line for line in r.stdout.splitlines() if line.startswith("| `random_realloc` (headline)"))
    assert f"| {hand:,.1f} |" in row
    assert "### Allocator speed" in r.stdout and "no findings" in r.stdout
