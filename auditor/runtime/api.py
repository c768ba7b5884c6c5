"""The runtime stage's public API: options, `run_module`, and the `auditor.run/1` record.

`auditor run FILE.wasm` prints this record; `auditor scan` stores it as each variant's
`runtime`. Only this module and its imports touch wasmtime, and nothing imports it at
start-up, so `auditor lint` stays fast.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from auditor.errors import AuditorError
from auditor.findings import Check, Finding
from auditor.runtime import scenarios as sc_mod
from auditor.runtime import workloads as wl
from auditor.runtime.entry import detect
from auditor.runtime.harness import MAX_FUEL, Harness, InstantiateError
from auditor.runtime.static import static_facts

SCHEMA = "auditor.run/1"
# report key -> (workload name, needs a free export)
_REPORT_KEYS = {"oom": ("ramp", False), "churn": ("churn", True), "hold_release": ("hold_release", True),
                "fragmentation": ("fragmentation", True), "realloc": ("realloc", False)}
WORKLOADS = tuple(name for name, _ in _REPORT_KEYS.values())
WASM_BINDGEN_MODULES = ("__wbindgen_placeholder__", "wbg", "__wbindgen_externref_xform__")

# runtime.* config key -> RuntimeOptions field
_CONFIG_KEYS = {
    "memory-limit": "memory_limit_pages",
    "fuel": "fuel",
    "timeout": "timeout",
    "unknown-imports": "unknown_imports",
    "churn-rounds": "churn_rounds",
    "hold-cycles": "hold_cycles",
    "seed": "seed",
}


def _pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


@dataclass
class RuntimeOptions:
    memory_limit_pages: int = 256  # 16 MiB
    fuel: int = 2_000_000_000  # per call into the module
    timeout: float | None = 10.0  # wall-clock seconds per call (epoch backstop); None = off
    unknown_imports: str = "trap"  # trap | default
    churn_rounds: int = 2000
    hold_cycles: int = 48  # 6 periods of the 8 hold/release patterns
    seed: int = 1
    workloads: tuple[str, ...] = WORKLOADS
    capture_bytes: int = 65536  # WASI stdout/stderr kept per stream

    @classmethod
    def from_config(cls, config=None, cli_overrides: dict | None = None) -> "RuntimeOptions":
        """`runtime.*` keys of a Config (anything with `.get(key, default)`), then CLI values.

        CLI keys may be written as config keys (`memory-limit`, `runtime.memory-limit`) or
        field names (`memory_limit_pages` takes pages); None means "not given".
        """
        opts = cls()
        for key in _CONFIG_KEYS if config is not None else ():
            value = config.get(f"runtime.{key}", None)
            if value is not None:
                opts._set(key, value, _where(config, key))
        for key, value in (cli_overrides or {}).items():
            if value is None:
                continue
            k = key.removeprefix("runtime.").replace("_", "-")
            if k == "memory-limit-pages":
                if not _pos_int(value):
                    raise AuditorError("memory limit must be a positive number of pages", "--memory-limit")
                opts.memory_limit_pages = value
            elif k == "workloads":
                opts.workloads = _workloads(value)
            elif k in _CONFIG_KEYS:
                opts._set(k, value, f"--{k}")
            else:
                raise AuditorError(f"unknown runtime option {key!r}")
        return opts

    def _set(self, key: str, value, where: str) -> None:
        if key == "memory-limit":
            self.memory_limit_pages = sc_mod.limit_pages(value, what="memory limit", where=where)
        elif key in ("fuel", "churn-rounds", "hold-cycles"):
            value = _coerce_int(value, where)
            if value <= 0:
                raise AuditorError(f"{key} must be a positive integer, got {value}", where)
            if key == "fuel" and value > MAX_FUEL:
                raise AuditorError(f"fuel must be at most {MAX_FUEL} (wasmtime counts it in 64 bits)", where)
            setattr(self, _CONFIG_KEYS[key], value)
        elif key == "seed":
            self.seed = _coerce_int(value, where)
        elif key == "timeout":
            try:
                t = float(value)
            except (TypeError, ValueError):
                raise AuditorError(f"timeout must be a number of seconds, got {value!r}", where) from None
            if not math.isfinite(t) or t < 0:
                raise AuditorError(f"timeout must be a finite number of seconds >= 0 (0 turns it off), got {value!r}",
                                   where)
            self.timeout = t or None
        elif key == "unknown-imports":
            if value not in ("trap", "default"):
                raise AuditorError(f"unknown-imports must be \"trap\" or \"default\", got {value!r}", where)
            self.unknown_imports = value

    def to_json(self) -> dict:
        d = asdict(self)
        d["workloads"] = list(self.workloads)
        return d


def _where(config, key: str) -> str:
    """file:line:col of a runtime key, or its flag when it came from the command line."""
    where = config.where(f"runtime.{key}") if hasattr(config, "where") else None
    if where is None:
        return f"runtime.{key}"
    return f"--{key}" if where.startswith("command line") else where


def _coerce_int(value, where: str) -> int:
    if isinstance(value, bool):
        raise AuditorError(f"expected an integer, got {value!r}", where)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).replace("_", ""), 0)
    except ValueError:
        raise AuditorError(f"expected an integer, got {value!r}", where) from None


def _workloads(value) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().replace("-", "_") for n in names if n.strip()]
    for n in names:
        if n not in WORKLOADS:
            raise AuditorError(f"unknown workload {n!r} (known: {', '.join(WORKLOADS)})", "--workloads")
    return tuple(n for n in WORKLOADS if n in names)


# --------------------------------------------------------------------------- result


def _not_probed(reason: str, kind: str) -> dict:
    if kind == "oom":
        return {"outcome": "not-probed", "reason": reason, "pages": None, "try_reserve": None}
    if kind in ("churn", "hold_release"):
        return {"verdict": "not-probed", "reason": reason, "pages_after_warmup": None, "pages_end": None,
                "slope": None}
    return {"verdict": "not-probed", "reason": reason}


@dataclass
class RunResult:
    KIND: ClassVar[str] = "run"
    file: str
    bytes: int
    options: RuntimeOptions
    module: dict
    instantiate: dict
    entry: dict
    oom: dict
    churn: dict
    hold_release: dict
    fragmentation: dict
    realloc: dict
    static: dict
    wasi: dict | None
    scenarios: list[dict]
    timings: dict
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def exit_code(self) -> int:
        """1 when a scenario failed or an error-level finding exists, else 0."""
        failed = any(not s["passed"] for s in self.scenarios)
        return 1 if failed or any(f.level == "error" for f in self.findings) else 0

    def to_json(self) -> dict:
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
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
            "timings": self.timings,
        }


def _module_facts(h: Harness) -> dict:
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


def _wasi_run(h: Harness, cap: int) -> dict:
    """Run a WASI command's `_start` once: outcome, exit code, captured output."""
    rec = {"entry": "_start", "outcome": None, "exit_code": None, "stdout": None, "stderr": None,
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


def _workload(kind: str, h: Harness, entry, options: RuntimeOptions, grow_sites: int | None) -> dict:
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


def run_module(path, options: RuntimeOptions | None = None, scenarios=()) -> RunResult:
    """Run every workload and scenario on one module; same module + options = same numbers."""
    options = options or RuntimeOptions()
    path = Path(path)
    t0 = time.perf_counter()
    timings: dict = {}
    cap = options.memory_limit_pages
    with Harness(path, fuel=options.fuel, timeout=options.timeout, unknown_imports=options.unknown_imports,
                 capture_bytes=options.capture_bytes) as h:
        timings["compile"] = round(time.perf_counter() - t0, 4)
        module = _module_facts(h)
        t = time.perf_counter()
        static = static_facts(path, h.data)
        timings["static"] = round(time.perf_counter() - t, 4)
        entry = detect(h.func_signature)
        try:
            with h.session(cap) as s:
                instantiate = {"outcome": "ok", "message": None, "pages": s.pages()}
        except InstantiateError as e:
            instantiate = e.to_json()
        if instantiate["outcome"] != "ok":
            reason = f"instantiation failed: {instantiate['message']}"
        elif not entry.found:
            reason = "no allocation exports"
        else:
            reason = h.unmeasurable_memory()
        grow_sites = static["memory_grow_sites"] if static.get("available") else None
        results = {}
        for kind, (wname, needs_free) in _REPORT_KEYS.items():
            why = reason or ("workload not selected" if wname not in options.workloads else None) or \
                (f"no free export next to {entry.alloc}" if needs_free and entry.free is None else None)
            if why:
                results[kind] = _not_probed(why, kind)
                continue
            t = time.perf_counter()
            results[kind] = _workload(kind, h, entry, options, grow_sites)
            timings[wname] = round(time.perf_counter() - t, 4)
        wasi = None
        if h.wasi and "_start" in h.export_types:
            t = time.perf_counter()
            wasi = _wasi_run(h, cap)
            timings["wasi"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        scen = [sc_mod.run_scenario(h, s, cap) for s in scenarios]
        if scen:
            timings["scenarios"] = round(time.perf_counter() - t, 4)
    timings["total"] = round(time.perf_counter() - t0, 4)
    timings["calls"] = h.calls
    timings["sessions"] = h.sessions
    return RunResult(file=str(path), bytes=len(h.data), options=options, module=module, instantiate=instantiate,
                     entry=entry.to_json(), static=static, wasi=wasi, scenarios=scen, timings=timings, **results)
