"""The harness's promises: every ramp outcome class, bounded time, the WASI sandbox,
option bounds, config scenarios from Cargo.toml, and one-line errors for bad input.

Small modules are written inline as .wat (their behaviour is in the text); Rust modules
come from the session's fixture builds (tests/fixturelib.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.runtime import static
from auditor.runtime.api import RuntimeOptions
from auditor.runtime.scenarios import Scenario
from auditor.runtime.workloads import FRAG_PAIRS

import clirun
import fixturelib
from inprocess_run import run_module

RUNTIME = Path(__file__).resolve().parents[1] / "fixtures" / "runtime"
FAST = RuntimeOptions(fuel=1_000_000, churn_rounds=100, hold_cycles=8)

# malloc(size) that misbehaves from 64 KiB on, in the way named by the placeholder.
MISBEHAVING = """(module
  (memory (export "memory") 1)
  (global $top (mut i32) (i32.const 1024))
  (func $deep (param $n i32) (result i32) (i32.add (call $deep (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32)
    (if (i32.ge_u (local.get $size) (i32.const 65536)) (then MISBEHAVE))
    (local.set $p (global.get $top))
    (global.set $top (i32.add (local.get $p) (local.get $size)))
    (local.get $p))
  (func (export "free") (param i32)))"""
MISBEHAVIOURS = {
    "stack-overflow": "(drop (call $deep (i32.const 0)))",
    "timeout": "(loop $l (br $l))",
    "trap": "(drop (i32.div_u (i32.const 1) (i32.const 0)))",
    "unreachable": "unreachable",
    "null": "(return (i32.const 0))",
}


@pytest.fixture
def wat(tmp_path):
    def make(text: str, name: str = "m") -> Path:
        src, dest = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
        src.write_text(text)
        subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(dest)], check=True)
        return dest

    return make


def cli(*args, cwd=None):
    """`auditor run ARGS` in-process (tests/clirun.py; the compile child is still a process)."""
    return clirun.run(["run", *args], cwd=cwd)


# --------------------------------------------------------------------------- ramp outcomes, time bounds


@pytest.mark.parametrize("outcome", sorted(MISBEHAVIOURS))
def test_every_ramp_outcome_class(wat, outcome):
    j = run_module(wat(MISBEHAVING.replace("MISBEHAVE", MISBEHAVIOURS[outcome])), FAST).to_json()
    oom = j["oom"]
    assert oom["outcome"] == outcome
    # 1, 2, ..., 32 KiB were served (63 KiB live), the 64 KiB request misbehaved
    assert (oom["request"], oom["live_bytes"]) == (65536, 63 * 1024)
    assert oom["pages"] == 1 and set(oom["curve"]) == {1}  # 1024 + 63 KiB = 64 KiB: all in page 1, never grown
    # afterwards the instance still serves the first size again
    assert oom["recovered"] is True and oom["recovery"] == "ok"
    if outcome != "null":
        assert oom["trap"]["outcome"] == outcome


def test_infinite_loop_in_every_workload_ends_as_timeout(wat):
    t = time.perf_counter()
    always_loops = MISBEHAVING.replace("(if (i32.ge_u", "(loop $l (br $l)) (if (i32.ge_u")
    j = run_module(wat(always_loops.replace("MISBEHAVE", "")), FAST).to_json()
    assert time.perf_counter() - t < 5
    assert j["oom"]["outcome"] == "timeout" and j["oom"]["trap"]["code"] == "OUT_OF_FUEL"
    # nothing was allocated: no recovery call, no growth verdict drawn from zero allocations
    assert (j["oom"]["recovered"], j["oom"]["recovery"]) == (None, None)
    for key in ("churn", "hold_release"):
        assert j[key]["verdict"] == "not-probed"
        assert j[key]["reason"] == "no allocation succeeded: the first one ended in timeout"
        assert j[key]["outcome"] == "timeout" and j[key]["allocations"] == 0
    assert j["fragmentation"]["verdict"] == "failed" and j["realloc"]["verdict"] == "failed"


def test_start_function_timeout_is_its_own_outcome(wat):
    j = run_module(wat('(module (memory (export "memory") 1) (func $s (loop $l (br $l))) (start $s)'
                       ' (func (export "malloc") (param i32) (result i32) (i32.const 0)))'), FAST).to_json()
    assert j["instantiate"]["outcome"] == "start-timeout"
    assert j["instantiate"]["trap"]["outcome"] == "timeout"
    assert j["instantiate"]["message"].startswith("the start function trapped (timeout): ")
    assert j["oom"]["outcome"] == "not-probed"


@pytest.mark.cargo
def test_live_set_that_does_not_fit_gets_no_verdict():
    # std's dlmalloc needs 19 pages for the churn live set and 25 for hold/release: under
    # an 18-page cap the allocator's reuse cannot be judged (before: "leak").
    j = run_module(fixturelib.build_with_allocator("default"), RuntimeOptions(memory_limit_pages=18)).to_json()
    for key in ("churn", "hold_release"):
        assert j[key]["verdict"] == "not-probed", j[key]
        assert j[key]["reason"].startswith("the live set did not fit under the cap: unreachable at 18 of 18 pages")
    assert j["oom"]["outcome"] == "unreachable" and j["oom"]["pages"] == 18


@pytest.mark.cargo
def test_fragmentation_records_pages_after_every_call():
    f = run_module(fixturelib.build_with_allocator("bump"), RuntimeOptions(workloads=("fragmentation",))).fragmentation
    n = 2 * FRAG_PAIRS
    # before, n + 1 allocations, n/2 frees, the 8 KiB request, n/2 frees, the big request
    assert len(f["curve"]) == 1 + (n + 1) + n // 2 + 1 + n // 2 + 1
    assert f["curve"] == sorted(f["curve"])
    assert (f["pages_before"], f["pages_after"]) == (f["curve"][-2], f["curve"][-1])
    assert (f["holes"]["pages_before"], f["holes"]["pages_after"]) == (f["curve"][n + 1 + n // 2],
                                                                      f["curve"][n + 2 + n // 2])


# --------------------------------------------------------------------------- imports and memory


def test_imported_memory_is_created_under_the_cap_and_measured(wat):
    text = MISBEHAVING.replace('(memory (export "memory") 1)', '(import "env" "memory" (memory 3))') \
        .replace("MISBEHAVE", "(return (i32.const 0))")
    j = run_module(wat(text), FAST).to_json()
    assert j["module"]["imports"] == [{"module": "env", "name": "memory", "kind": "memory",
                                       "provided": "default-value"}]
    assert j["module"]["initial_pages"] == 3 and j["oom"]["initial_pages"] == 3
    big = run_module(wat(text.replace("(memory 3)", "(memory 300)"), "big"), FAST).to_json()
    assert big["instantiate"]["outcome"] == "memory-over-cap"
    assert big["instantiate"]["message"] == "initial memory 300 pages is above the cap of 256 pages"


@pytest.mark.cargo
def test_static_record_has_the_same_keys_when_unavailable():
    full = static.static_facts(fixturelib.build_with_allocator("default"))
    assert full["available"] is True
    assert static._unavailable("why").keys() == full.keys()


# --------------------------------------------------------------------------- WASI


@pytest.mark.cargo
def test_wasi_sandbox_is_empty():
    path = fixturelib.build_crate(RUNTIME / "wasi_sandbox", target=fixturelib.WASI)
    w = run_module(path, RuntimeOptions()).to_json()["wasi"]
    assert (w["outcome"], w["exit_code"], w["stderr"]) == ("ok", 0, "")
    assert w["stdout"] == ("args=0 vars=0 stdin=0\n"
                           "open / -> denied\n"
                           "open . -> denied\n"
                           "open /etc/passwd -> denied\n"
                           "create out.txt -> denied\n")


@pytest.mark.cargo
def test_wasi_output_of_the_ramp_is_captured():
    # Rust's OOM hook prints to stderr on wasm32-wasi before it aborts.
    path = fixturelib.build_crate(RUNTIME / "hazards", target=fixturelib.WASI)
    j = run_module(path, RuntimeOptions(workloads=("ramp",)), [Scenario("bomb", (), "trap")]).to_json()
    oom = j["oom"]
    assert oom["outcome"] == "unreachable"
    assert oom["stderr"] == f"memory allocation of {oom['request']} bytes failed\n"
    assert j["scenarios"][0]["stderr"] == "memory allocation of 65536 bytes failed\n"
    from auditor.report import render

    text = render(run_module(path, RuntimeOptions(workloads=("ramp",))), "text")
    assert f"    | memory allocation of {oom['request']} bytes failed" in text


@pytest.mark.cargo
def test_non_wasi_module_output_fields_are_null():
    oom = run_module(fixturelib.build_with_allocator("default"), RuntimeOptions(workloads=("ramp",))).oom
    assert (oom["stdout"], oom["stderr"]) == (None, None)


# --------------------------------------------------------------------------- options


def test_option_bounds():
    with pytest.raises(AuditorError, match="fuel must be at most 18446744073709551615"):
        RuntimeOptions.from_config(None, {"fuel": 1 << 64})  # would wrap to 0 fuel in wasmtime
    assert RuntimeOptions.from_config(None, {"fuel": (1 << 64) - 1}).fuel == (1 << 64) - 1
    for bad in ("inf", "nan", -1):
        with pytest.raises(AuditorError, match="timeout must be a finite number"):
            RuntimeOptions.from_config(None, {"timeout": bad})
    with pytest.raises(AuditorError, match='a bare number is bytes: "64 pages" is pages'):
        RuntimeOptions.from_config(None, {"memory-limit": "64"})
    with pytest.raises(AuditorError, match="scenario `fuel`: expected an integer from 1 to 18446744073709551615"):
        Scenario.from_dict({"export": "f", "fuel": 1 << 64})
    assert Scenario.from_dict({"export": "f", "fuel": (1 << 64) - 1}).fuel == (1 << 64) - 1
    # the config file's rule: `args` is a list (a bare number is refused, as in auditor.toml)
    with pytest.raises(AuditorError, match="scenario `args`: expected a list of numbers"):
        Scenario.from_dict({"export": "f", "args": 5})
    assert Scenario.from_dict({"export": "f", "args": [5]}).args == (5,)


def test_huge_timeout_and_fuel_still_run(wat):
    path = wat(MISBEHAVING.replace("MISBEHAVE", "(return (i32.const 0))"))
    j = run_module(path, RuntimeOptions(fuel=(1 << 64) - 1, timeout=1e300, churn_rounds=10)).to_json()
    assert j["oom"]["outcome"] == "null"


def test_cli_option_errors_name_the_flag(wat):
    path = wat(MISBEHAVING.replace("MISBEHAVE", "(return (i32.const 0))"))
    for args, line in (
        (("--memory-limit", "64"), "auditor: --memory-limit: '64' is below one 64 KiB page "
                                   "(a bare number is bytes: \"64 pages\" is pages)\n"),
        # (was "command line: runtime.memory-limit: runtime.memory-limit: cannot read ...")
        (("--memory-limit", "lots"), "auditor: --memory-limit: cannot read 'lots' as a size "
                                     "(try \"150 KiB\", \"1.5 MB\", \"20 pages\")\n"),
        (("--fuel", str(1 << 64)), "auditor: --fuel: fuel must be at most 18446744073709551615 "
                                   "(wasmtime counts it in 64 bits)\n"),
        (("--timeout", "inf"), "auditor: --timeout: timeout must be a finite number of seconds >= 0 "
                               "(0 turns it off), got inf\n"),
    ):
        p = cli(path, *args)
        assert (p.returncode, p.stdout, p.stderr) == (2, "", line)


def test_cli_hold_cycles_goes_through_the_config_layer(wat, tmp_path):
    path = wat(MISBEHAVING.replace("MISBEHAVE", "(return (i32.const 0))"))
    cfg = tmp_path / "a.toml"
    cfg.write_text("[runtime]\nhold-cycles = 5\n")
    p = cli(path, "--config", cfg, "--format", "json", "--workloads", "hold_release")
    assert json.loads(p.stdout)["hold_release"]["cycles"] == 5
    p = cli(path, "--config", cfg, "--format", "json", "--workloads", "hold_release", "--hold-cycles", "3")
    assert json.loads(p.stdout)["hold_release"]["cycles"] == 3


# --------------------------------------------------------------------------- scenarios from Cargo.toml


@pytest.mark.cargo
def test_seed_note_scenarios_from_cargo_metadata(tmp_path):
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "src" / "lib.rs").write_text("")
    scenario = ('\n[[package.metadata.auditor.scenario]]\nexport = "{}"\nargs = [200000000]\n'
                'memory-limit = "4 MiB"\nexpect = "graceful-error"\nerror-value = 0\n')
    (crate / "Cargo.toml").write_text('[package]\nname = "c"\nversion = "0.1.0"\n\n'
                                      '[package.metadata.auditor.runtime]\nmemory-limit = "8 MiB"\n'
                                      + scenario.format("safe_allocation") + scenario.format("unguarded_allocation"))
    p = cli(fixturelib.build_crate(RUNTIME / "hazards"), "--crate", crate, "--workloads", "ramp", "--format", "json",
            cwd=tmp_path)
    assert p.returncode == 1, p.stderr  # the unguarded scenario fails
    j = json.loads(p.stdout)
    assert j["options"]["memory_limit_pages"] == 128
    got = [(s["export"], s["memory_limit_pages"], s["observed"], s["value"], s["passed"], s["origin"])
           for s in j["scenarios"]]
    assert got == [("safe_allocation", 64, "graceful-error", 0, True, "crate/Cargo.toml:9:1"),
                   ("unguarded_allocation", 64, "unreachable", None, False, "crate/Cargo.toml:16:1")]
    assert {f["rule"] for f in j["findings"]} == {"AUD503"}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("content,message", [
    (None, "is a directory, not a .wasm file"),
    (b"(module)", "not a WebAssembly module: expected magic 00 61 73 6d at offset 0, got 28 6d 6f 64: "
                  "is a WebAssembly text file, not a WebAssembly binary — assemble it with wat2wasm"),
    (b"\0asm\x0d\x00\x01\x00", "not a valid module: expected a WebAssembly module but was given a "
                               "WebAssembly component"),
    (b"\0asm\x02\x00\x00\x00", "not a valid module: unknown binary version: 0x2 (at offset 0x4)"),
    (b"\0asm\x01\x00\x00\x00\x01\x05", "not a valid module: unexpected end-of-file (at offset 0xa)"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "x.wasm"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    p = cli(path)
    assert (p.returncode, p.stdout, p.stderr) == (2, "", f"auditor: {path}: {message}\n")


def test_module_without_memory_or_exports(wat):
    path = wat("(module)")
    p = cli(path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == f"{path}: 8 bytes; no memory"
    assert "Workloads: not probed: no allocation exports" in p.stdout
    j = json.loads(cli(path, "--format", "json").stdout)
    assert (j["module"]["initial_pages"], j["instantiate"]["outcome"], j["oom"]["outcome"]) == (None, "ok", "not-probed")
