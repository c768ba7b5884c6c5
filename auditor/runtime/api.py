"""The runtime stage's public API: options, `run_module`, and the `auditor.run/1` record.

`auditor run FILE.wasm` prints this record; `auditor scan` stores it as each variant's
`runtime`. Only this module and its imports touch wasmtime, and nothing imports it at
start-up, so `auditor lint` stays fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from auditor.records.run import (
    SCHEMA,
    AllocatorCodeRecord,
    EntryRecord,
    FragmentationRecord,
    GrowthRecord,
    HostErrorRecord,
    InstantiateRecord,
    ModuleRecord,
    OomRecord,
    ReallocRecord,
    RunRecord,
    SandboxRecord,
    ScenarioRecord,
    SpeedRecord,
    StaticRecord,
    WasiRecord,
    WorkloadRecord,
)
from auditor.runtime import scenarios as sc_mod
from auditor.runtime import workloads as wl
from auditor.runtime.entry import Entry, detect
from auditor.runtime.harness import Harness, InstantiateError
from auditor.runtime.options import REPORT_KEYS, WORKLOADS, RuntimeOptions, Scenario
from auditor.runtime.sandbox import Limits, SandboxStop, default_limits
from auditor.runtime.static import static_facts
from auditor.wasm.model import WASM_BINDGEN_MODULES, Module

__all__ = ["SCHEMA", "WORKLOADS", "RunResult", "RuntimeOptions", "run_module", "workload_cap"]


# --------------------------------------------------------------------------- result


def _not_probed(reason: str, kind: str) -> WorkloadRecord:
    if kind == "oom":
        oom: OomRecord = {"outcome": "not-probed", "reason": reason, "pages": None, "try_reserve": None}
        return oom
    if kind in ("churn", "hold_release"):
        growth: GrowthRecord = {"verdict": "not-probed", "reason": reason, "pages_after_warmup": None,
                                "pages_end": None, "slope": None}
        return growth
    other: FragmentationRecord | ReallocRecord = {"verdict": "not-probed", "reason": reason}
    return other


@dataclass
class RunResult:
    KIND: ClassVar[str] = "run"
    file: str
    bytes: int
    options: RuntimeOptions
    module: ModuleRecord
    instantiate: InstantiateRecord
    entry: EntryRecord
    oom: OomRecord
    churn: GrowthRecord
    hold_release: GrowthRecord
    fragmentation: FragmentationRecord
    realloc: ReallocRecord
    static: StaticRecord
    wasi: WasiRecord | None
    scenarios: list[ScenarioRecord]
    timings: dict[str, float | int]
    sandbox: SandboxRecord | None = None
    speed: SpeedRecord | None = None
    allocator_code: AllocatorCodeRecord | None = None

    def exit_code(self) -> int:
        """1 when a scenario failed, else 0 (the rules' findings add theirs:
        `auditor.rules.engine.Audited.exit_code`)."""
        return 1 if any(not s["passed"] for s in self.scenarios) else 0

    def to_json(self) -> RunRecord:
        return {
            "schema": SCHEMA,
            "file": self.file,
            "bytes": self.bytes,
            "options": self.options.to_json(),
            "module": self.module,
            "instantiate": self.instantiate,
            "entry": self.entry,
            "oom": self.oom,
            "churn": self.churn,
            "hold_release": self.hold_release,
            "fragmentation": self.fragmentation,
            "realloc": self.realloc,
            "static": self.static,
            "wasi": self.wasi,
            "scenarios": self.scenarios,
            "sandbox": self.sandbox or sandbox_record(default_limits(), self.options.memory_limit_pages),
            "speed": self.speed,
            "allocator_code": self.allocator_code,
            "findings": [],  # filled by the rules stage (auditor.rules.engine.audit)
            "checks": [],
            "timings": self.timings,
        }


def sandbox_record(limits: Limits, memory_pages: int, host_errors: list[HostErrorRecord] | None = None,
                   compiled_in: str = "child") -> SandboxRecord:
    lim = limits.to_json()
    return {"limits": {"memory_pages": memory_pages, "table_elements": lim["table_elements"],
                       "instances": lim["instances"], "tables": lim["tables"], "memories": lim["memories"],
                       "compile_seconds": lim["compile_seconds"],
                       "compile_memory_bytes": lim["compile_memory_bytes"], "max_nesting": lim["max_nesting"]},
            "host_errors": list(host_errors or []), "compiled_in": compiled_in}


def _compile_timings(seconds: float | None, peak: int | None) -> dict[str, float | int]:
    """The compile child's wall clock and peak RSS (bytes), when it ran."""
    out: dict[str, float | int] = {}
    if seconds is not None:
        out["compile_child"] = round(seconds, 4)
    if peak is not None:
        out["compile_peak_rss"] = peak
    return out


def _stopped(path: Path, options: RuntimeOptions, scenarios: tuple[Scenario, ...] | list[Scenario], stop: SandboxStop, limits: Limits,
             t0: float) -> RunResult:
    """The report of a module the sandbox would not compile: what our own reader says
    about it, every probe `not-probed` with the bound that stopped it."""
    from auditor.runtime.static import static_facts

    ir = stop.ir
    mem = ir.memories[0].limits if ir is not None and ir.memories else None
    module: ModuleRecord = {
        "initial_pages": mem.initial if mem else None, "max_pages": mem.maximum if mem else None,
        "wasi": bool(ir and any(i.module == "wasi_snapshot_preview1" for i in ir.imports)),
        "wasm_bindgen": bool(ir and any(i.module in WASM_BINDGEN_MODULES for i in ir.imports)),
        "imports": [], "exports": sorted(e.name for e in ir.exports if e.kind == "func") if ir else []}
    reason = f"not compiled: {stop.message}"
    results: dict[str, Any] = {kind: _not_probed(reason, kind) for kind in REPORT_KEYS}
    scen: list[ScenarioRecord] = [
        {"name": sc.label(), "export": sc.export, "args": list(sc.args), "expected": sc.expect,
         "error_value": sc.error_value, "memory_limit_pages": sc.memory_limit_pages or options.memory_limit_pages,
         "observed": "instantiate-failed", "passed": False, "value": None, "pages_before": None, "pages_after": None,
         "trap": None, "message": f"{stop.outcome}: {stop.message}", "stdout": None, "stderr": None,
         "origin": sc.origin} for sc in scenarios]
    instantiate: InstantiateRecord = {"outcome": stop.outcome, "message": stop.message}
    entry: EntryRecord = {"family": None, "alloc": None, "free": None, "realloc": None, "try_reserve": None,
                          "shapes": {}, "ptr_type": None, "rejected": []}
    return RunResult(file=str(path), bytes=path.stat().st_size, options=options, module=module,
                     instantiate=instantiate, entry=entry, oom=results["oom"], churn=results["churn"],
                     hold_release=results["hold_release"], fragmentation=results["fragmentation"],
                     realloc=results["realloc"], static=static_facts(ir if ir is not None else (stop.ir_error or reason),
                                                               table_cap=limits.table_elements),
                     wasi=None, scenarios=scen,
                     timings={"compile": round(time.perf_counter() - t0, 4), **_compile_timings(stop.seconds, stop.peak_rss),
                              "total": round(time.perf_counter() - t0, 4), "calls": 0, "sessions": 0},
                     sandbox=sandbox_record(limits, options.memory_limit_pages))


def _module_facts(h: Harness) -> ModuleRecord:
    init, mx = h.memory_limits()
    plan = h.import_plan()
    return {
        "initial_pages": init,
        "max_pages": mx,
        "wasi": h.wasi,
        "wasm_bindgen": any(i.module in WASM_BINDGEN_MODULES for i in plan),
        "imports": [i.to_json() for i in plan],
        "exports": sorted(n for n in h.export_types if h.func_signature(n) is not None),
    }


def _wasi_run(h: Harness, cap: int) -> WasiRecord:
    """Run a WASI command's `_start` once: outcome, exit code, captured output."""
    rec: WasiRecord = {"entry": "_start", "outcome": None, "exit_code": None, "stdout": None, "stderr": None,
           "truncated": False, "pages": None, "trap": None}
    try:
        s = h.session(cap)
    except InstantiateError as e:
        rec["outcome"] = e.outcome
        rec["trap"] = e.to_json()
        return rec
    with s:
        r = s.call("_start")
        rec["pages"] = s.pages()
        rec["stdout"], rec["stderr"], rec["truncated"] = s.output()
    if r.outcome == "exit":
        rec["outcome"], rec["exit_code"] = "ok" if r.exit_code == 0 else "exit", r.exit_code
    elif r.ok:
        rec["outcome"], rec["exit_code"] = "ok", 0
    else:
        rec["outcome"], rec["trap"] = r.outcome, r.trap_json()
    return rec


def workload_cap(limit_pages: int, module_max: int | None) -> int:
    """The page count memory can really reach: the store's cap, or the module's declared
    maximum when that is lower (a `--max-memory` build). Verdicts ("ran up to the cap"),
    the realloc target and "at N of M pages" are measured against this, not a cap the
    module can never touch."""
    return limit_pages if module_max is None else min(limit_pages, module_max)


def _workload(kind: str, h: Harness, entry: Entry, options: RuntimeOptions, grow_sites: int | None
              ) -> WorkloadRecord:
    cap = workload_cap(options.memory_limit_pages, h.memory_limits()[1])
    if kind == "oom":
        rec = wl.ramp(h, entry, cap).to_json()
        rec["try_reserve"] = wl.ramp(h, entry, cap, fallible=True).to_json() if entry.try_reserve else None
        rec["reason"] = None
        return rec
    if kind == "churn":
        return wl.churn(h, entry, cap, rounds=options.churn_rounds, seed=options.seed,
                        grow_sites=grow_sites).to_json()
    if kind == "hold_release":
        return wl.hold_release(h, entry, cap, cycles=options.hold_cycles, seed=options.seed,
                               grow_sites=grow_sites).to_json()
    if kind == "fragmentation":
        return wl.fragmentation(h, entry, cap).to_json()
    return wl.realloc_growth(h, entry, cap).to_json()


def run_module(path: str | Path, options: RuntimeOptions | None = None,
               scenarios: tuple[Scenario, ...] | list[Scenario] = (), limits: Limits | None = None,
               trusted: bool = False, parsed: Module | None = None) -> RunResult:
    """Run every workload and scenario on one module; same module + options = same numbers.
    `limits`: the sandbox's bounds (default: `[sandbox]` in rules/runtime.toml). `trusted`:
    a module auditor built from the user's crate (a scan's probe build), which may be
    compiled in-process (`Limits.trusted_in_process`). `parsed`: the wasm stage's parse of
    the file at `path`, when the caller has made one (a scan hands it over): its bytes
    are run and it is the harness's reading, not parsed again."""
    options = options or RuntimeOptions()
    limits = limits or default_limits()
    path = Path(path)
    t0 = time.perf_counter()
    timings: dict[str, float | int] = {}
    cap = options.memory_limit_pages
    try:
        harness = Harness(path, fuel=options.fuel, timeout=options.timeout, unknown_imports=options.unknown_imports,
                          capture_bytes=options.capture_bytes, limits=limits, trusted=trusted, parsed=parsed)
    except SandboxStop as stop:
        return _stopped(path, options, scenarios, stop, limits, t0)
    with harness as h:
        timings["compile"] = round(time.perf_counter() - t0, 4)
        if h.compiled_in == "child":
            timings.update(_compile_timings(h.compile_seconds, h.compile_peak_rss))
        module = _module_facts(h)
        t = time.perf_counter()
        static = static_facts(h.ir if h.ir is not None else h.ir_error, table_cap=limits.table_elements)
        timings["static"] = round(time.perf_counter() - t, 4)
        entry = detect(h.func_signature)
        try:
            with h.session(cap) as s:
                instantiate: InstantiateRecord = {"outcome": "ok", "message": None, "pages": s.pages()}
        except InstantiateError as e:
            instantiate = e.to_json()
        if instantiate["outcome"] != "ok":
            reason = f"instantiation failed: {instantiate['message']}"
        elif not entry.found:
            reason = "no allocation exports"
        else:
            reason = h.unmeasurable_memory()
        grow_sites = static["memory_grow_sites"] if static.get("available") else None
        results: dict[str, Any] = {}
        for kind, (wname, needs_free) in REPORT_KEYS.items():
            why = reason or ("workload not selected" if wname not in options.workloads else None) or \
                (f"no free export next to {entry.alloc}" if needs_free and entry.free is None else None)
            if why:
                results[kind] = _not_probed(why, kind)
                continue
            t = time.perf_counter()
            results[kind] = _workload(kind, h, entry, options, grow_sites)
            timings[wname] = round(time.perf_counter() - t, 4)
        wasi: WasiRecord | None = None
        if h.wasi and "_start" in h.export_types:
            t = time.perf_counter()
            wasi = _wasi_run(h, cap)
            timings["wasi"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        scen = [sc_mod.run_scenario(h, s, cap) for s in scenarios]
        if scen:
            timings["scenarios"] = round(time.perf_counter() - t, 4)
        speed = _speed(h, entry, options, reason, timings)
    timings["total"] = round(time.perf_counter() - t0, 4)
    timings["calls"] = h.calls
    timings["sessions"] = h.sessions
    return RunResult(file=str(path), bytes=len(h.data), options=options, module=module, instantiate=instantiate,
                     entry=entry.to_json(), oom=results["oom"], churn=results["churn"],
                     hold_release=results["hold_release"], fragmentation=results["fragmentation"],
                     realloc=results["realloc"], static=static, wasi=wasi, scenarios=scen, timings=timings,
                     sandbox=sandbox_record(limits, cap, h.host_errors, h.compiled_in),
                     speed=speed, allocator_code=_allocator_code(h))


def _speed(h: Harness, entry: Entry, options: RuntimeOptions, reason: str | None,
           timings: dict[str, float | int]) -> SpeedRecord | None:
    """The speed probe's record (auditor/runtime/speed.py), None when turned off."""
    if not options.speed:
        return None
    from auditor.runtime.speed import SpeedOptions, SpeedResult, speed_probe

    sopts = SpeedOptions(actions=options.speed_actions, runs=options.speed_runs, trials=options.speed_trials,
                         seed=options.seed)
    if reason is not None:
        return SpeedResult(reason=reason, options=sopts.to_json()).to_json()
    t = time.perf_counter()
    rec = speed_probe(h, entry, workload_cap(options.memory_limit_pages, h.memory_limits()[1]), sopts).to_json()
    timings["speed"] = round(time.perf_counter() - t, 4)
    return rec


def _allocator_code(h: Harness) -> AllocatorCodeRecord | None:
    """What the module's allocator costs in code bytes (auditor/wasm/allocator_cost.py)."""
    if h.ir is None:
        return None
    from auditor.wasm.allocator_cost import allocator_code_json

    return allocator_code_json(h.ir)
