"""Runtime stage on hand-written modules whose behaviour can be computed by hand.

The .wat files live in fixtures/runtime/ and say in their header what must happen.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.runtime.api import RuntimeOptions
from auditor.runtime.scenarios import Scenario, parse_spec

import clirun
import fixturelib
from inprocess_run import run_module

RUNTIME_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"


@pytest.fixture(scope="session")
def wat(tmp_path_factory):
    out = tmp_path_factory.mktemp("runtime-wat")

    def build(name: str) -> Path:
        src = RUNTIME_FIXTURES / f"{name}.wat"
        dest = out / f"{name}.wasm"
        if not dest.exists():
            flags = [f for line in src.read_text().splitlines() if line.startswith(";; wat2wasm:")
                     for f in line.split(":", 1)[1].split()]
            subprocess.run(["wat2wasm", *flags, str(src), "-o", str(dest)], check=True)
        return dest

    return build


def cli(*args, cwd=None):
    """`auditor run ARGS` in-process (tests/clirun.py; the compile child is still a process)."""
    return clirun.run(["run", *args], cwd=cwd)


def _strip_timings(j: dict) -> dict:
    j = dict(j)
    j.pop("timings")
    return j


# --------------------------------------------------------------------------- growth classes


def test_page_per_alloc_ramp_pages_match_hand_computation(wat):
    # page_alloc.wat: each malloc grows max(1, ceil(size / 64 KiB)) pages, starting from 1.
    # Ramp 1 KiB, 2 KiB, ... 64 KiB: 7 x 1 page; 128 KiB..4 MiB: 2+4+8+16+32+64 pages.
    # 1 + 7 + 126 = 134 pages held; 8 MiB needs 128 more > 256 - 134, so malloc returns 0.
    r = run_module(wat("page_alloc"), RuntimeOptions()).to_json()
    oom = r["oom"]
    assert oom["outcome"] == "null"
    assert oom["pages"] == 134
    assert oom["request"] == 8 << 20
    assert oom["live_bytes"] == (8 << 20) - 1024
    assert oom["grew_on_failure"] is False
    assert oom["recovered"] is True
    expected, pages = [1], 1
    for k in range(14):
        size = 1024 << k
        pages += max(1, -(-size // 65536))
        expected.append(pages)
    assert oom["curve"] == expected[:-1] + [134]  # the failing 8 MiB call leaves 134
    assert r["churn"]["verdict"] == "page-per-alloc"
    assert r["hold_release"]["verdict"] == "page-per-alloc"
    # 255 one-page allocations fill the 256-page cap, the next returns null
    assert r["churn"]["outcome"] == "null" and r["churn"]["pages_end"] == 256


def test_unchecked_grow_traps_out_of_bounds_and_is_flagged_statically(wat):
    r = run_module(wat("unchecked_grow"), RuntimeOptions()).to_json()
    assert r["oom"]["outcome"] == "out-of-bounds"
    assert r["oom"]["trap"]["code"] == "MEMORY_OUT_OF_BOUNDS"
    # the .wat has exactly one memory.grow and uses its result unchecked
    assert r["static"]["memory_grow_sites"] == 1
    assert r["static"]["unchecked_grow_sites"] == 1
    # page_alloc compares with -1
    r2 = run_module(wat("page_alloc"), RuntimeOptions()).to_json()
    assert (r2["static"]["memory_grow_sites"], r2["static"]["unchecked_grow_sites"]) == (1, 0)


def test_memory_limit_units(wat):
    r = run_module(wat("page_alloc"), RuntimeOptions.from_config(None, {"memory-limit": "64 pages"})).to_json()
    assert r["options"]["memory_limit_pages"] == 64
    assert r["oom"]["cap_pages"] == 64 and r["oom"]["pages"] <= 64
    assert RuntimeOptions.from_config(None, {"memory-limit": "4 MiB"}).memory_limit_pages == 64
    assert RuntimeOptions.from_config(None, {"memory-limit": "4 MB"}).memory_limit_pages == 61  # 4e6 // 65536
    assert RuntimeOptions.from_config(None, {"memory_limit_pages": 9}).memory_limit_pages == 9


# A byte-granular bump allocator (free does nothing) in a module whose memory may grow to
# at most 40 pages: what a crate linked with --max-memory=2621440 looks like.
CAPPED_BUMP = """
(module
  (memory (export "memory") 1 40)
  (global $top (mut i32) (i32.const 65536))
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $need i32)
    (local.set $p (i32.and (i32.add (global.get $top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (local.set $need (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                              (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
        (then (return (i32.const 0))))))
    (global.set $top (local.get $end))
    (local.get $p))
  (func (export "free") (param $ptr i32)))
"""


def test_module_maximum_below_the_cap_is_the_ceiling(tmp_path):
    # The store cap is 256 pages but memory can never pass the module's maximum of 40.
    # Ramp by hand: 1 KiB .. 1 MiB held = 2,096,128 B -> 1 + 32 = 33 pages; 2 MiB more needs
    # 65 > 40 pages, so malloc returns null at 33 of 40 pages (not "of 256").
    src = tmp_path / "capped_bump.wat"
    src.write_text(CAPPED_BUMP)
    wasm = tmp_path / "capped_bump.wasm"
    subprocess.run(["wat2wasm", str(src), "-o", str(wasm)], check=True)
    r = run_module(wasm, RuntimeOptions()).to_json()
    assert r["options"]["memory_limit_pages"] == 256 and r["module"]["max_pages"] == 40
    assert (r["oom"]["outcome"], r["oom"]["pages"], r["oom"]["cap_pages"]) == ("null", 33, 40)
    # The bump never reuses: churn runs memory up to the module's maximum, which is the cap.
    assert r["churn"]["verdict"] == "leak"
    assert f"({r['churn']['pages_end']} of 40 pages)" in r["churn"]["reason"]
    # realloc doubles towards a quarter of the room under 40 pages: (40 - 1) * 64 KiB / 4
    # = 638,976 B -> 512 KiB, which fits; a target sized from 256 pages (2 MiB) could not.
    assert r["realloc"]["verdict"] != "failed" and r["realloc"]["live_bytes"] == 512 * 1024
    text = cli(wasm).stdout
    assert "null at 33 of 40 pages" in text


# SIMD in the interface: clang -msimd128 exports like add4, and a host import taking and
# returning v128. wasmtime-py aborts the process (SIGABRT) if asked a v128 type's kind.
V128 = """
(module
  (import "env" "vec" (func $vec (param v128) (result v128)))
  (memory (export "memory") 1)
  (func (export "add4") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
  (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0)))
  (func (export "first") (param v128) (result i32) (i32x4.extract_lane 0 (local.get 0)))
  (func (export "lane") (param i32) (result i32) (i32x4.extract_lane 1 (i32x4.splat (local.get 0)))))
"""


def test_v128_in_the_interface_is_reported_not_a_crash(tmp_path):
    src = tmp_path / "v128.wat"
    src.write_text(V128)
    wasm = tmp_path / "v128.wasm"
    subprocess.run(["wat2wasm", str(src), "-o", str(wasm)], check=True)
    p = cli(wasm, "--format", "json", "--scenario", "lane,args=[7]", "--scenario", "splat,args=[7]",
            "--scenario", "add4,args=[1 2]", "--scenario", "first,args=[1]")
    assert p.returncode == 1, p.stderr  # two scenarios cannot run; no SIGABRT (-6)
    j = json.loads(p.stdout)
    assert j["module"]["exports"] == ["add4", "first", "lane", "splat"]
    assert j["module"]["imports"] == [{"module": "env", "name": "vec", "kind": "func", "provided": "stub-trap"}]
    got = {sc["export"]: (sc["observed"], sc["value"], sc["message"]) for sc in j["scenarios"]}
    assert got["lane"] == ("ok", 7, None)
    assert got["splat"] == ("bad-arguments", None, "splat returns (v128): auditor cannot call a function returning v128")
    assert got["add4"][0] == "bad-arguments" and "returning v128" in got["add4"][2]
    assert got["first"] == ("bad-arguments", None, "cannot pass a number to a v128 parameter")


# --------------------------------------------------------------------------- entry points


def test_no_allocation_exports_is_not_probed(wat):
    r = run_module(wat("no_alloc"), RuntimeOptions()).to_json()
    assert r["oom"]["outcome"] == "not-probed"
    assert r["oom"]["reason"] == "no allocation exports"
    for k in ("churn", "hold_release", "fragmentation", "realloc"):
        assert r[k]["verdict"] == "not-probed"
    assert r["static"]["available"] is True


def test_shared_memory_is_not_measured(wat):
    r = run_module(wat("shared_alloc"), RuntimeOptions()).to_json()
    assert r["entry"]["family"] == "malloc"
    assert r["oom"]["outcome"] == "not-probed"
    assert r["oom"]["reason"].startswith("shared memory: wasmtime applies no store cap")
    assert "64 pages" in r["churn"]["reason"]


def test_wrong_signature_is_rejected_not_called(wat):
    r = run_module(wat("bad_signature"), RuntimeOptions()).to_json()
    assert r["entry"]["alloc"] is None
    assert r["entry"]["rejected"] == [{"name": "alloc", "signature": "(f32) -> i32",
                                       "reason": "expected (size) -> ptr or (size, align) -> ptr"}]
    assert r["oom"]["outcome"] == "not-probed"


# --------------------------------------------------------------------------- instantiation


def test_initial_memory_above_cap(wat):
    r = run_module(wat("big_initial"), RuntimeOptions()).to_json()
    assert r["instantiate"]["outcome"] == "memory-over-cap"
    assert "300 pages" in r["instantiate"]["message"] and "256" in r["instantiate"]["message"]
    assert r["oom"]["outcome"] == "not-probed"
    # with a higher cap the same module runs
    r = run_module(wat("big_initial"), RuntimeOptions(memory_limit_pages=400)).to_json()
    assert r["instantiate"]["outcome"] == "ok"


def test_start_function_trap():
    r = run_module(fixturelib.wat("start_trap"), RuntimeOptions()).to_json()
    assert r["instantiate"]["outcome"] == "start-trap"
    assert r["instantiate"]["trap"]["outcome"] == "unreachable"


def test_unsatisfiable_import(wat):
    r = run_module(wat("wasi_mismatch"), RuntimeOptions()).to_json()
    assert r["instantiate"]["outcome"] == "unsatisfied-imports"
    assert "wasi_snapshot_preview1::fd_write" in r["instantiate"]["message"]
    assert r["wasi"]["outcome"] == "unsatisfied-imports"


def test_unknown_imports_trap_or_default(wat):
    path = wat("host_calls")
    scen = [Scenario("call_host"), Scenario("get_g"), Scenario("wasi_bogus"), Scenario("describe"),
            Scenario("quit", expect="trap")]
    trap = run_module(path, RuntimeOptions(), scen).to_json()
    provided = {i["name"]: i["provided"] for i in trap["module"]["imports"]}
    # wasm-bindgen's describe import is stubbed by kind (issue 11: cargo's module calls it
    # on JsValue casts), whatever unknown-imports says
    assert provided == {"host_fn": "stub-trap", "__wbindgen_describe": "stub-js-noop", "no_such_call": "stub-trap",
                        "proc_exit": "wasi", "g": "default-value"}
    obs = {s["export"]: (s["observed"], s["value"], s["message"]) for s in trap["scenarios"]}
    assert obs["call_host"] == ("trap", None, "unknown import env::host_fn called")
    assert obs["wasi_bogus"] == ("trap", None, "unknown import wasi_snapshot_preview1::no_such_call called")
    assert obs["describe"][0] == "ok"
    assert obs["get_g"] == ("ok", 0, None)
    assert obs["quit"] == ("exit", 3, "proc_exit(3)")
    assert trap["module"]["wasm_bindgen"] is True and trap["module"]["wasi"] is True

    default = run_module(path, RuntimeOptions(unknown_imports="default"), scen).to_json()
    obs = {s["export"]: (s["observed"], s["value"]) for s in default["scenarios"]}
    assert obs["call_host"] == ("ok", 7)  # 0 from the stub + 7
    assert obs["wasi_bogus"] == ("ok", 0)
    assert obs["describe"] == ("ok", None)


# --------------------------------------------------------------------------- determinism + CLI


def test_same_module_same_numbers(wat):
    a = run_module(wat("page_alloc"), RuntimeOptions()).to_json()
    b = run_module(wat("page_alloc"), RuntimeOptions()).to_json()
    assert _strip_timings(a) == _strip_timings(b)


def test_cli_rejects_non_wasm_with_one_line(tmp_path):
    bad = tmp_path / "x.wasm"
    bad.write_bytes(b"hello world")
    p = cli(bad)
    assert p.returncode == 2
    assert p.stdout == ""
    assert p.stderr == f"auditor: {bad}: not a WebAssembly module: expected magic 00 61 73 6d at offset 0, got 68 65 6c 6c\n"
    trunc = tmp_path / "t.wasm"
    trunc.write_bytes(b"\0asm\1\0\0\0\1\5")
    p = cli(trunc)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "offset 0xa" in p.stderr and "Traceback" not in p.stderr
    empty = tmp_path / "e.wasm"
    empty.write_bytes(b"")
    p = cli(empty)
    assert p.returncode == 2 and "an empty file" in p.stderr


def test_cli_json_contract_and_exit_codes(wat, tmp_path):
    out = tmp_path / "r.json"
    p = cli(wat("page_alloc"), "--format", "json", "-o", out, "--memory-limit", "64 pages", "--churn-rounds", "300")
    assert p.returncode == 0, p.stderr
    j = json.loads(out.read_text())
    assert j["schema"] == "auditor.run/1"
    for key in ("oom", "churn", "hold_release", "fragmentation", "realloc", "scenarios", "static", "findings"):
        assert key in j
    assert {"outcome", "pages"} <= j["oom"].keys()
    assert {"verdict", "pages_after_warmup", "pages_end", "slope"} <= j["churn"].keys()
    assert j["options"]["churn_rounds"] == 300

    # a failing scenario exits 1, a passing one 0
    p = cli(wat("no_alloc"), "--scenario", "add,args=[2,3],expect=ok")
    assert p.returncode == 0 and "PASS add(2, 3)" in p.stdout
    p = cli(wat("no_alloc"), "--scenario", "add,args=[2,3],expect=graceful-error,error-value=5")
    assert p.returncode == 0  # returned 5 == error-value: graceful-error observed
    p = cli(wat("no_alloc"), "--scenario", "add,args=[2,3],expect=trap")
    assert p.returncode == 1 and "FAIL add(2, 3): expected trap, observed ok" in p.stdout
    p = cli(wat("no_alloc"), "--scenario", "missing,expect=ok")
    assert p.returncode == 1 and "no exported function 'missing'" in p.stdout


def test_cli_bad_options_exit_2(wat):
    p = cli(wat("no_alloc"), "--memory-limit", "3 bananas")
    assert p.returncode == 2 and "unknown unit 'bananas'" in p.stderr and p.stderr.count("\n") == 1
    p = cli(wat("no_alloc"), "--scenario", "add,expect=maybe")
    assert p.returncode == 2 and "expect" in p.stderr
    p = cli(wat("no_alloc"), "--scenario", "add,expect=graceful-error")
    assert p.returncode == 2 and "error-value" in p.stderr
    p = cli(wat("no_alloc"), "--workloads", "ramp,bogus")
    assert p.returncode == 2 and "unknown workload 'bogus'" in p.stderr


def test_config_file_scenarios_and_runtime_keys(wat, tmp_path):
    cfg = tmp_path / "auditor.toml"
    cfg.write_text('[runtime]\nmemory-limit = "2 MiB"\nchurn-rounds = 100\nseed = 7\n\n'
                   '[[scenario]]\nexport = "add"\nargs = [40, 2]\nexpect = "graceful-error"\nerror-value = 42\n')
    p = cli(wat("no_alloc"), "--config", cfg, "--format", "json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert (j["options"]["memory_limit_pages"], j["options"]["churn_rounds"], j["options"]["seed"]) == (32, 100, 7)
    assert [(s["export"], s["observed"], s["passed"]) for s in j["scenarios"]] == [("add", "graceful-error", True)]
    # the CLI wins over the file, and --scenario replaces the file's scenarios
    p = cli(wat("no_alloc"), "--config", cfg, "--format", "json", "--memory-limit", "3 MiB", "--scenario", "add,args=1 1")
    j = json.loads(p.stdout)
    assert j["options"]["memory_limit_pages"] == 48
    assert [(s["args"], s["value"]) for s in j["scenarios"]] == [([1, 1], 2)]
    # auditor.toml is also found walking up from --crate (default: the working directory)
    p = cli(wat("no_alloc"), "--format", "json", cwd=tmp_path)
    assert json.loads(p.stdout)["options"]["memory_limit_pages"] == 32
    bad = tmp_path / "bad.toml"
    bad.write_text('[[scenario]]\nexport = "add"\nexpect = "graceful-error"\n')
    p = cli(wat("no_alloc"), "--config", bad)
    assert p.returncode == 2 and "bad.toml:3:1: " in p.stderr and "error-value" in p.stderr  # the expect line


@pytest.mark.parametrize("line, message", [
    ("args = 5", "scenario.0.args: expected a list of numbers"),  # Scenario.from_dict used to take it as (5,)
    ("fuel = 18446744073709551616", "scenario.0.fuel: expected an integer from 1 to 18446744073709551615"),
])
def test_config_file_scenario_errors_are_one_line_naming_file_and_key(wat, tmp_path, line, message):
    """The config file and Scenario.from_dict check a scenario alike (the stricter rule of
    the two), so a bad one stops `run` at the file's key, before anything runs."""
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[scenario]]\nexport = "add"\n{line}\n')
    p = cli(wat("no_alloc"), "--config", bad)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("auditor: ") and p.stderr.count("\n") == 1, p.stderr
    assert f"bad.toml:3:1: {message}" in p.stderr


# --------------------------------------------------------------------------- options / scenarios API


class FakeConfig:
    """What RuntimeOptions.from_config needs: `.get(key, default)`."""

    def __init__(self, values: dict):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


def test_options_from_any_config_object():
    cfg = FakeConfig({"runtime.memory-limit": "8 MiB", "runtime.fuel": 1000, "runtime.unknown-imports": "default",
                      "runtime.churn-rounds": 10, "runtime.seed": 3, "runtime.timeout": 0,
                      "scenario": [{"export": "f", "args": [1], "expect": "trap"}]})
    o = RuntimeOptions.from_config(cfg, {"fuel": 5000, "seed": None})
    assert (o.memory_limit_pages, o.fuel, o.unknown_imports, o.churn_rounds, o.seed, o.timeout) == \
        (128, 5000, "default", 10, 3, None)
    from auditor.runtime.scenarios import from_config
    [s] = from_config(cfg)
    assert (s.export, s.args, s.expect, s.origin) == ("f", (1,), "trap", "scenario #1")
    with pytest.raises(AuditorError, match="unknown-imports"):
        RuntimeOptions.from_config(FakeConfig({"runtime.unknown-imports": "ignore"}))
    with pytest.raises(AuditorError, match="below one 64 KiB page"):
        RuntimeOptions.from_config(None, {"memory-limit": "1 KiB"})


def test_scenario_spec_parsing():
    s = parse_spec("export=safe_allocation,args=[200000000],memory-limit=4 MiB,expect=graceful-error,error-value=0")
    assert (s.export, s.args, s.memory_limit_pages, s.expect, s.error_value) == \
        ("safe_allocation", (200000000,), 64, "graceful-error", 0)
    s = parse_spec("f,args=1 2 3,fuel=100,name=three")
    assert (s.export, s.args, s.fuel, s.label()) == ("f", (1, 2, 3), 100, "three")
    assert parse_spec("f,args=[0x10, -1]").args == (16, -1)
    for bad in ("args=[1]", "f,what=1", "f,args=[x]", "f,expect=ok,3"):
        with pytest.raises(AuditorError):
            parse_spec(bad)


def test_text_report_of_a_probed_module(wat):
    p = cli(wat("page_alloc"), "--churn-rounds", "300")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert "allocation entry points (malloc): malloc / free" in text
    assert "  alloc       malloc                 null at 134 of 256 pages requesting 8.0 MiB" in text
    assert "instance still works" in text
    assert re.search(r"churn\s+page-per-alloc\s+1\s+\d+\s+256\s+256", text)
    assert "(emulated: no realloc export)" in text
    assert "memory.grow sites: 1, all compared with -1: func 0" in text
    assert "aborts on OOM: unknown (no function names)" in text


def test_text_of_scenarios_that_never_called_the_export(wat):
    # big_initial.wat starts with 300 pages: a 256-page cap cannot instantiate it, and "nope"
    # is not exported; neither ran, so there are no page counts to print (not "None -> None").
    p = cli(wat("big_initial"), "--scenario", "malloc,args=[8]", "--scenario", "nope")
    assert p.returncode == 1, p.stderr
    assert "None" not in p.stdout
    assert "  FAIL malloc(8): expected ok, observed instantiate-failed; cap 256 pages\n" in p.stdout
    assert "  FAIL nope(): expected ok, observed missing-export; cap 256 pages\n" in p.stdout


def test_docs_carry_the_exact_probe_exports_source():
    root = Path(__file__).resolve().parents[1]
    doc = (root / "README.md").read_text()
    block = next(b.split("```", 1)[0] for b in doc.split("```rust\n")[1:] if "__auditor_alloc" in b)
    assert block == (root / "auditor" / "runtime" / "probe_exports.rs").read_text()


def test_cli_applies_the_runtime_rules(wat):
    p = cli(wat("unchecked_grow"), "--format", "json", "--churn-rounds", "100")
    assert p.returncode == 1, p.stderr  # AUD505 (out-of-bounds at the cap) is an error
    j = json.loads(p.stdout)
    rules = {f["rule"]: f["level"] for f in j["findings"]}
    assert rules["AUD505"] == "error" and rules["AUD501"] == "warning"
    # By hand: the header makes each request grow ceil((size + 4) / 64 KiB) pages; 1..32 KiB
    # take 1 each, 64 KiB..4 MiB take 2+3+5+9+17+33+65: 1 + 6 + 134 = 141 pages, and 8 MiB
    # (129 more) cannot fit under 256. The cap is 256 pages, not the 141 reached.
    assert [f["message"] for f in j["findings"] if f["rule"] == "AUD505"] == [
        "allocation of 8.0 MiB at 141 of 256 pages (the cap) trapped out of bounds instead of failing cleanly"]
    assert {c["rule"]: c["status"] for c in j["checks"]}["AUD505"] == "fail"
    p = cli(wat("page_alloc"), "--format", "sarif", "--churn-rounds", "100")
    assert p.returncode == 0  # page-per-alloc is a warning by default
    sarif = json.loads(p.stdout)
    assert sorted(r["ruleId"] for r in sarif["runs"][0]["results"]) == ["AUD501", "AUD502", "AUD506"]
