"""The runtime stage's inputs: options, scenarios and the one check of each `runtime.*` key.

No wasmtime here, so the config schema, `auditor config` and the scan's planning can use
these without paying for the engine. Each `runtime.*` key has exactly one check
(`FIELDS`): the config schema runs it when a config file or the command line sets
the key, and `RuntimeOptions.from_config` runs the same one on values given through the
Python API, so `auditor config`, `run` and `scan` accept and refuse the same values with
the same words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.config.schema import RUNTIME_CHECKS, memory_limit_problem, scenario_problem
from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.records.run import OptionsRecord
from auditor.units import PAGE, parse_bytes

# report key -> (workload name, needs a free export), in report order
REPORT_KEYS: dict[str, tuple[str, bool]] = {
    "oom": ("ramp", False), "churn": ("churn", True), "hold_release": ("hold_release", True),
    "fragmentation": ("fragmentation", True), "realloc": ("realloc", False)}
WORKLOADS: tuple[str, ...] = tuple(name for name, _ in REPORT_KEYS.values())


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def memory_limit_pages(value: object, *, what: str = "memory limit", where: str | None = None) -> int:
    """Whole pages (rounded down) of a memory cap; AuditorError naming `what` if it is bad."""
    problem = memory_limit_problem(value)
    if problem is not None or not isinstance(value, (int, float, str)):
        raise AuditorError(f"{what}: {problem}", where)
    return parse_bytes(value, what=what) // PAGE



# runtime.* config key -> RuntimeOptions field (each key's one check: RUNTIME_CHECKS)
FIELDS: dict[str, str] = {
    "memory-limit": "memory_limit_pages", "fuel": "fuel", "timeout": "timeout",
    "unknown-imports": "unknown_imports", "churn-rounds": "churn_rounds", "hold-cycles": "hold_cycles",
    "seed": "seed", "speed": "speed", "speed-actions": "speed_actions", "speed-runs": "speed_runs",
    "speed-trials": "speed_trials",
}


# --------------------------------------------------------------------------- options


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
    speed: bool = True  # the speed probe (fuel per action, heap efficiency, allocator code)
    speed_actions: int = 20_000  # records per speed workload (talc's wasm-perf: 100,000)
    speed_runs: int = 3  # timed iterations after the warm-up (0: no wall-clock figure)
    speed_trials: int = 1  # heap-fill trials (0: no heap efficiency)

    @classmethod
    def from_config(cls, config: ConfigView | None = None,
                    cli_overrides: Mapping[str, Any] | None = None) -> RuntimeOptions:
        """`runtime.*` keys of a Config (anything with `.get(key, default)`), then CLI values.

        CLI keys may be written as config keys (`memory-limit`, `runtime.memory-limit`) or
        field names (`memory_limit_pages` takes pages); None means "not given".
        """
        opts = cls()
        if config is not None:
            for key in FIELDS:
                value = config.get(f"runtime.{key}", None)
                if value is not None:
                    opts.set(key, value, _where(config, key))
        for key, value in (cli_overrides or {}).items():
            if value is None:
                continue
            k = key.removeprefix("runtime.").replace("_", "-")
            if k == "memory-limit-pages":
                if not _is_int(value) or value <= 0:
                    raise AuditorError("memory limit must be a positive number of pages", "--memory-limit")
                opts.memory_limit_pages = value
            elif k == "workloads":
                opts.workloads = parse_workloads(value)
            elif k in FIELDS:
                opts.set(k, value, f"--{k}")
            else:
                raise AuditorError(f"unknown runtime option {key!r}")
        return opts

    def set(self, key: str, value: object, where: str | None) -> None:
        """One `runtime.*` key, checked by its FIELDS check (AuditorError at `where`)."""
        name, check = FIELDS[key], RUNTIME_CHECKS[key]
        if key == "memory-limit":
            self.memory_limit_pages = memory_limit_pages(value, where=where)
            return
        problem = check(value)
        if problem is not None:
            raise AuditorError(problem, where)
        if key == "timeout" and isinstance(value, (int, float, str)):
            self.timeout = float(value) or None
        else:
            setattr(self, name, value)

    def to_json(self) -> OptionsRecord:
        return {"memory_limit_pages": self.memory_limit_pages, "fuel": self.fuel, "timeout": self.timeout,
                "unknown_imports": self.unknown_imports, "churn_rounds": self.churn_rounds,
                "hold_cycles": self.hold_cycles, "seed": self.seed, "workloads": list(self.workloads),
                "capture_bytes": self.capture_bytes, "speed": self.speed, "speed_actions": self.speed_actions,
                "speed_runs": self.speed_runs, "speed_trials": self.speed_trials}


def _where(config: ConfigView, key: str) -> str:
    """file:line:col of a runtime key, or its flag when it came from the command line."""
    where = config.where(f"runtime.{key}") if hasattr(config, "where") else None
    if where is None:
        return f"runtime.{key}"
    return f"--{key}" if where.startswith("command line") else where


def parse_workloads(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [n.strip().replace("-", "_") for n in names if n.strip()]
    for n in names:
        if n not in WORKLOADS:
            raise AuditorError(f"unknown workload {n!r} (known: {', '.join(WORKLOADS)})", "--workloads")
    return tuple(n for n in WORKLOADS if n in names)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    export: str
    args: tuple[Any, ...] = ()  # numbers; dicts are byte slices (runtime/bindgen.py)
    expect: str = "ok"
    error_value: int | None = None
    memory_limit_pages: int | None = None
    fuel: int | None = None
    name: str | None = None
    origin: str | None = None  # where it was defined, for messages

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: Callable[[str], str | None] = lambda key: None,
                  origin: str | None = None) -> Scenario:
        """A checked scenario table (config/schema.py's `scenario_problem`, the same checks a
        config file's [[scenario]] gets); `where(key)` locates a key for error messages
        (file:line:col or a flag name)."""
        broken = scenario_problem(d)
        if broken is not None:
            key, problem = broken
            raise AuditorError(f"scenario `{key}`: {problem}", where(key))
        cap = d.get("memory-limit")
        pages = None if cap is None else memory_limit_pages(cap, what="scenario memory-limit",
                                                            where=where("memory-limit"))
        export, args, expect = d["export"], d.get("args", []), d.get("expect", "ok")
        ev, fuel, name = d.get("error-value"), d.get("fuel"), d.get("name")
        return cls(export, tuple(args), expect, ev, pages, fuel, name, origin)

    def label(self) -> str:
        return self.name or f"{self.export}({', '.join(str(a) for a in self.args)})"


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _number(text: str, where: str) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise AuditorError(f"not a number: {text!r}", where) from None


def parse_spec(spec: str) -> Scenario:
    """`export=NAME,args=[1,2],memory-limit=4 MiB,expect=graceful-error,error-value=0`.

    The first item may be the bare export name; `args` takes `[a, b]`, one number, or
    numbers separated by spaces.
    """
    where = f"--scenario {spec!r}"
    d: dict[str, Any] = {}
    for i, item in enumerate(_split_top(spec)):
        if "=" not in item:
            if i == 0:
                d["export"] = item
                continue
            raise AuditorError(f"expected key=value, got {item!r}", where)
        k, v = (x.strip() for x in item.split("=", 1))
        if k == "args":
            body = v[1:-1] if v.startswith("[") and v.endswith("]") else v
            d[k] = [_number(a, where) for a in re.split(r"[\s,]+", body.strip()) if a]
        elif k in ("error-value", "fuel"):
            d[k] = _number(v, where)
        else:
            d[k] = v
    return Scenario.from_dict(d, where=lambda key: where, origin="--scenario")


def from_config(config: ConfigView) -> list[Scenario]:
    """Scenarios of a Config (anything with `.get`; `.where` used for locations)."""
    items = config.get("scenario", None) or []
    if isinstance(items, dict):
        items = [items]
    locate = getattr(config, "where", None)
    out = []
    for i, d in enumerate(items):
        def where(key: str, i: int = i) -> str:
            return (locate(f"scenario.{i}.{key}") if locate else None) or f"scenario #{i + 1}"
        if not isinstance(d, dict):
            raise AuditorError("each scenario must be a table", where("export"))
        out.append(Scenario.from_dict(d, where, origin=where("export")))
    return out
