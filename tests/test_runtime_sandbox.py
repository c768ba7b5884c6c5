"""The sandbox bounds everything `auditor run` does: one small generated module per
resource (table elements, table/memory/instance counts, the start function's fuel,
compilation's depth, time and memory, wasmtime-py's own errors), each run in a fresh
process whose peak RSS (with its compile child's) and wall time are measured from the
kernel's /proc figures, never by auditor.

Each module's behaviour is in its text; what a refused `table.grow` returns (-1) is the
spec's, checked by the module itself (it traps `unreachable` unless it saw -1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_RSS = 300 << 20  # bytes: every case must stay under this, compile child included
MAX_SECONDS = 20.0  # "in seconds" with both cores busy; the uncapped cases took minutes


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + leb(len(payload)) + payload


def nested_ifs(depth: int) -> bytes:
    """A valid module of one exported function nesting `depth` ifs (the compile bomb:
    5 bytes a level, 100k levels = 500 KB)."""
    body = b"\x00" + b"\x41\x00\x04\x40" * depth + b"\x0b" * depth + b"\x0b"
    return (b"\0asm\1\0\0\0" + section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00")
            + section(7, b"\x01\x01f\x00\x00") + section(10, b"\x01" + leb(len(body)) + body))


@pytest.fixture
def wat(tmp_path):
    def make(text: str, name: str = "m") -> Path:
        src, dest = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
        src.write_text(text)
        subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(dest)], check=True)
        return dest

    return make


def _status(pid: int | str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """pid and its live descendants (the compile child)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        todo += [int(k) for k in kids]
    return out


def run_measured(argv: list[str], tmpdir: Path | None = None) -> tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr, seconds, peak RSS bytes of the process or any of its
    children), the peak read by the kernel: VmHWM in /proc/PID/status, polled every 5 ms
    (not wait4's ru_maxrss, which Linux seeds with the forking parent's own peak: a
    600 MB pytest worker would be charged to every child)."""
    env = dict(os.environ)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    t0 = time.monotonic()
    out_path = (tmpdir or Path("/tmp")) / f".out-{os.getpid()}-{time.monotonic_ns()}"
    err_path = out_path.with_suffix(".err")
    peak = 0
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe, open(os.devnull, "rb") as devnull:
        p = subprocess.Popen(argv, cwd=REPO, env=env, stdin=devnull, stdout=fo, stderr=fe)
        deadline = t0 + 240
        while p.poll() is None:
            for pid in _tree(p.pid):
                peak = max(peak, _status(pid, "VmHWM:"))
            if time.monotonic() > deadline:
                p.kill()
                raise AssertionError(f"{argv} still running after 240 s")
            time.sleep(0.005)
    seconds = time.monotonic() - t0
    out, err = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    return p.returncode, out, err, seconds, peak


def audit(path: Path, *args: str, limits: dict | None = None, tmpdir: Path | None = None) -> tuple[dict, str, float]:
    """`auditor run PATH --format json` (or run_module with sandbox limits replaced), in a
    fresh process: (report, stderr, seconds), after asserting the bounds on time and RSS."""
    if limits is None:
        argv = [sys.executable, "-m", "auditor", "run", str(path), "--format", "json", *args]
    else:
        code = ("import json, sys\n"
                "from auditor.runtime.api import RuntimeOptions, run_module\n"
                "from auditor.runtime.sandbox import default_limits\n"
                "from auditor.rules.audit import audit\n"
                f"r = run_module(sys.argv[1], RuntimeOptions(fuel=10_000_000), limits=default_limits().replace(**{limits!r}))\n"
                "print(json.dumps(audit(r, None).to_json()))\n")
        argv = [sys.executable, "-c", code, str(path)]
    rc, out, err, seconds, rss = run_measured(argv, tmpdir)
    assert rc in (0, 1), err
    assert seconds < MAX_SECONDS, f"{path.name}: {seconds:.1f} s"
    assert rss < MAX_RSS, f"{path.name}: peak RSS {rss >> 20} MiB"
    return json.loads(out), err, seconds


def rules(report: dict) -> list[str]:
    return sorted(f["rule"] for f in report["findings"])


# --------------------------------------------------------------------------- tables


GROW_IN_START = """(module
  (table 0 funcref)
  (func $s
    ;; traps unless the grow was refused: a refused table.grow returns -1 (spec)
    (if (i32.ne (table.grow 0 (ref.null func) (i32.const DELTA)) (i32.const -1)) (then unreachable)))
  (start $s))"""


@pytest.mark.parametrize("delta", [100_000_000, 0x7FFFFFFF])
def test_table_grow_in_start_is_refused_at_the_element_cap(wat, delta):
    # Uncapped: 100 M elements took 817 MB, 0x7fffffff 16.4 GB (issue 15).
    path = wat(GROW_IN_START.replace("DELTA", str(delta)))
    r, _, _ = audit(path)
    assert r["instantiate"]["outcome"] == "ok"  # the start function saw -1 and returned
    assert r["sandbox"]["limits"]["table_elements"] == 1_000_000
    # The refusal is invisible at run time (wasmtime-py has no limiter callback): the
    # request is found in the code, at the offset wasm-objdump disassembles it.
    assert r["static"]["table_grow_sites"] == 1
    assert r["static"]["table_grow_over_cap"] == [{"function": 0, "name": None, "offset": objdump_offset(path, "table.grow"),
                                                    "table": 0, "delta": delta, "cap": 1_000_000}]
    assert rules(r) == ["AUD524"]


def objdump_offset(path: Path, mnemonic: str) -> int:
    out = subprocess.run(["wasm-objdump", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(l for l in out.splitlines() if f"| {mnemonic}" in l).split(":")[0], 16)


def test_table_grow_under_the_cap_is_allowed(wat):
    # The same start function traps when the grow succeeds: the cap is not "refuse all".
    r, _, _ = audit(wat(GROW_IN_START.replace("DELTA", "1000")))
    assert r["instantiate"]["outcome"] == "start-trap"
    assert r["instantiate"]["trap"]["outcome"] == "unreachable"
    assert r["static"]["table_grow_sites"] == 1 and r["static"]["table_grow_over_cap"] == []


def test_exported_malloc_growing_a_table_per_call_is_bounded(wat):
    # Uncapped, the ramp's calls took the process to 19.6 GB before it was killed.
    path = wat("""(module
      (table (export "t") 0 funcref)
      (memory (export "memory") 1)
      (func (export "malloc") (param i32) (result i32)
        (drop (table.grow 0 (ref.null func) (i32.const 10000000))) (i32.const 16))
      (func (export "free") (param i32))
      (func (export "grow") (result i32) (table.grow 0 (ref.null func) (i32.const 10000000))))""")
    r, _, _ = audit(path, "--scenario", "grow,expect=graceful-error,error-value=-1")
    assert r["instantiate"]["outcome"] == "ok"
    assert r["scenarios"][0]["observed"] == "graceful-error" and r["scenarios"][0]["passed"]
    assert [(g["delta"], g["function"]) for g in r["static"]["table_grow_over_cap"]] == [(10_000_000, 0), (10_000_000, 2)]
    assert rules(r) == ["AUD524", "AUD524"]


def test_table_minimum_over_the_cap_is_its_own_outcome(wat):
    r, _, _ = audit(wat("(module (table 2000000 funcref) (memory (export \"memory\") 1))"))
    assert r["instantiate"]["outcome"] == "table-over-cap"
    assert "2000000 elements" in r["instantiate"]["message"] and "1,000,000" in r["instantiate"]["message"]
    assert r["oom"]["outcome"] == "not-probed"
    assert rules(r) == ["AUD521"]


def test_imported_table_over_the_cap_is_a_limit_not_an_import_error(wat):
    r, _, _ = audit(wat('(module (import "env" "t" (table 2000000 funcref)))'))
    assert r["instantiate"]["outcome"] == "table-over-cap"


@pytest.mark.parametrize("kind,outcome", [("table", "tables-over-cap"), ("memory", "memories-over-cap")])
def test_table_and_memory_counts_are_capped(wat, kind, outcome):
    decl = "(table 1 funcref)" if kind == "table" else "(memory 1)"
    r, _, _ = audit(wat(f"(module {decl * 17})"))  # the cap is 16 per store
    assert r["instantiate"]["outcome"] == outcome
    assert rules(r) == ["AUD521"]
    ok, _, _ = audit(wat(f"(module {decl * 16})", "sixteen"))
    assert ok["instantiate"]["outcome"] == "ok"


def test_shared_memory_above_the_cap_is_refused(wat):
    r, _, _ = audit(wat('(module (memory (export "memory") 1 65536 shared))'))
    assert r["instantiate"]["outcome"] == "shared-memory-over-cap"
    assert "65,536 pages" in r["instantiate"]["message"]
    ok, _, _ = audit(wat('(module (memory (export "memory") 1 200 shared))', "small"))
    assert ok["instantiate"]["outcome"] == "ok"


# --------------------------------------------------------------------------- start function


def test_start_function_loop_is_stopped_by_fuel(wat):
    r, _, _ = audit(wat('(module (memory (export "memory") 1) (func $s (loop $l (br $l))) (start $s))'),
                    "--fuel", "10000000")
    assert r["instantiate"]["outcome"] == "start-timeout"
    assert r["instantiate"]["trap"]["code"] == "OUT_OF_FUEL"
    assert rules(r) == ["AUD522"]


def test_start_function_loop_is_stopped_by_the_wall_clock_without_fuel_limit(wat):
    # The most fuel wasmtime counts: only the epoch deadline (1 s) can stop it.
    r, _, seconds = audit(wat('(module (func $s (loop $l (br $l))) (start $s))'),
                          "--fuel", str(2**64 - 1), "--timeout", "1")
    assert r["instantiate"]["outcome"] == "start-timeout"
    assert r["instantiate"]["trap"]["code"] == "INTERRUPT"


# --------------------------------------------------------------------------- wasmtime-py itself


def test_wasmtime_py_internal_error_is_reported_as_such(wat):
    r, _, _ = audit(wat("""(module
      (import "env" "f" (func $f (param v128)))
      (func $s (call $f (v128.const i32x4 0 0 0 0)))
      (start $s))"""))
    assert r["instantiate"]["outcome"] == "host-error"
    assert "wasmtime-py internal error" in r["instantiate"]["message"]
    assert "Unkown `ffi.wasmtime_valkind_t`: 4" in r["instantiate"]["message"]
    assert [h["where"] for h in r["sandbox"]["host_errors"]] == ["instantiate (the start function)"]
    assert rules(r) == ["AUD523"]


def test_wasmtime_py_internal_error_in_a_call_is_reported_once_as_such(wat):
    r, _, _ = audit(wat("""(module
      (import "env" "f" (func $f (param v128)))
      (memory (export "memory") 1)
      (func (export "g") (result i32) (call $f (v128.const i32x4 0 0 0 0)) (i32.const 1)))"""),
        "--scenario", "g,expect=ok", "--scenario", "g,expect=ok,name=again")
    assert r["instantiate"]["outcome"] == "ok"
    assert [s["observed"] for s in r["scenarios"]] == ["host-error", "host-error"]
    assert r["sandbox"]["host_errors"] == [{"where": "call g", "message": r["scenarios"][0]["message"]}]
    assert "Unkown `ffi.wasmtime_valkind_t`: 4" in r["scenarios"][0]["message"]
    assert rules(r) == ["AUD504", "AUD504", "AUD523"]  # the scenarios could not pass; the cause named once


# --------------------------------------------------------------------------- compilation


def test_deep_nesting_compile_bomb_is_refused_in_seconds(tmp_path):
    # 100k nested ifs, 500 KB, valid (wasm-validate): 188.6 s and 665 MB to compile uncapped.
    path = tmp_path / "bomb.wasm"
    path.write_bytes(nested_ifs(100_000))
    assert len(path.read_bytes()) > 500_000
    subprocess.run(["wasm-validate", str(path)], check=True)
    r, _, seconds = audit(path, tmpdir=tmp_path)
    assert r["instantiate"]["outcome"] == "compile-too-deep"
    assert "nests blocks more than 10,000 deep" in r["instantiate"]["message"]
    assert r["oom"]["outcome"] == "not-probed" and r["oom"]["reason"].startswith("not compiled: ")
    assert r["module"]["exports"] == ["f"]  # still read by auditor's own reader
    assert rules(r) == ["AUD520"]
    assert seconds < 10


def test_compile_child_wall_clock_limit(tmp_path):
    # 20k levels compile in about 4 s: with the depth check raised, a 1 s clock stops it.
    path = tmp_path / "deep.wasm"
    path.write_bytes(nested_ifs(20_000))
    r, _, seconds = audit(path, limits={"max_nesting": 1_000_000, "compile_seconds": 1.0}, tmpdir=tmp_path)
    assert r["instantiate"]["outcome"] == "compile-timeout"
    assert r["instantiate"]["message"].startswith("compiling took longer than 1 s")
    assert 1.0 <= r["timings"]["compile_child"] < 5
    assert rules(r) == ["AUD520"]
    assert os.listdir(tmp_path) == ["deep.wasm"]  # the compile child's temp dir is gone


def test_compile_child_memory_limit(tmp_path):
    path = tmp_path / "deep.wasm"
    path.write_bytes(nested_ifs(20_000))  # peaks near 120 MB compiling
    r, _, _ = audit(path, limits={"max_nesting": 1_000_000, "compile_memory": 64 << 20}, tmpdir=tmp_path)
    assert r["instantiate"]["outcome"] == "compile-memory"
    assert r["instantiate"]["message"].startswith("compiling used more than 64 MiB")
    assert r["timings"]["compile_peak_rss"] > 64 << 20
    assert os.listdir(tmp_path) == ["deep.wasm"]


def test_modules_under_the_limits_compile_in_the_child(wat):
    r, _, _ = audit(wat('(module (memory (export "memory") 1) (func (export "f") (result i32) (i32.const 7)))'),
                    "--scenario", "f,expect=ok")
    assert r["instantiate"]["outcome"] == "ok" and r["scenarios"][0]["value"] == 7
    assert r["timings"]["compile_child"] > 0 and 0 < r["timings"]["compile_peak_rss"] < MAX_RSS
    assert rules(r) == []


def test_invalid_module_is_still_one_line_exit_2(tmp_path):
    # Valid for auditor's reader (structure), invalid for wasmtime (an i32 function returns nothing).
    path = tmp_path / "bad.wasm"
    body = b"\x00\x0b"
    path.write_bytes(b"\0asm\1\0\0\0" + section(1, b"\x01\x60\x00\x01\x7f") + section(3, b"\x01\x00")
                     + section(10, b"\x01" + leb(len(body)) + body))
    rc, out, err, _, _ = run_measured([sys.executable, "-m", "auditor", "run", str(path)], tmp_path)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"auditor: {path}: not a valid module: "), err


# --------------------------------------------------------------------------- trusted modules

SMALL = '(module (memory (export "memory") 1) (func (export "f") (result i32) (i32.const 7)))'


def _no_child(monkeypatch):
    from auditor.runtime import sandbox

    def refuse(*a, **k):
        raise AssertionError("a compile child was started")

    monkeypatch.setattr(sandbox.subprocess, "Popen", refuse)


def test_a_module_the_scan_built_compiles_in_process_with_the_same_results(wat, monkeypatch):
    from auditor.runtime.api import run_module
    from auditor.runtime.options import parse_spec

    path = wat(SMALL)
    scen = [parse_spec("f,expect=ok")]
    child = run_module(path, scenarios=scen).to_json()
    _no_child(monkeypatch)
    here = run_module(path, scenarios=scen, trusted=True).to_json()
    assert child["sandbox"]["compiled_in"] == "child" and "compile_child" in child["timings"]
    assert here["sandbox"]["compiled_in"] == "process" and "compile_child" not in here["timings"]
    assert here["scenarios"][0]["value"] == 7
    for key in ("instantiate", "oom", "churn", "hold_release", "scenarios", "static", "module"):
        assert here[key] == child[key], key


def test_a_trusted_module_over_the_size_bound_still_compiles_in_the_child(wat):
    from auditor.runtime.api import run_module
    from auditor.runtime.sandbox import default_limits

    path = wat(SMALL)
    limits = default_limits().replace(trusted_in_process=path.stat().st_size - 1)
    r = run_module(path, limits=limits, trusted=True).to_json()
    assert r["sandbox"]["compiled_in"] == "child" and r["timings"]["compile_child"] > 0


def test_the_default_bound_is_the_rules_data_and_run_never_trusts(wat):
    from auditor.runtime.sandbox import default_limits

    assert default_limits().trusted_in_process == 16 << 20  # rules/runtime.toml [sandbox] trusted-in-process
    r, _, _ = audit(wat(SMALL))
    assert r["sandbox"]["compiled_in"] == "child"


def test_an_invalid_trusted_module_says_the_same_line_in_process(tmp_path, monkeypatch):
    from auditor.errors import AuditorError
    from auditor.runtime.api import run_module

    path = tmp_path / "bad.wasm"
    body = b"\x00\x0b"  # an i32 function that returns nothing: wasmtime refuses it
    path.write_bytes(b"\0asm\1\0\0\0" + section(1, b"\x01\x60\x00\x01\x7f") + section(3, b"\x01\x00")
                     + section(10, b"\x01" + leb(len(body)) + body))
    with pytest.raises(AuditorError) as child:
        run_module(path)
    _no_child(monkeypatch)
    with pytest.raises(AuditorError) as here:
        run_module(path, trusted=True)
    assert here.value.line() == child.value.line()
    assert "not a valid module: " in here.value.line()
