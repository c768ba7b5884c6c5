"""Every key auditor's configuration accepts, and the check of each value.

A node is a dict (fixed keys), MapOf (any names), ArrayOf (array of tables), RULES (the
rule catalogue decides) or a leaf check: a function value -> error text or None. Checks
that a stage also needs for values given through its Python API live here too
(`RUNTIME_CHECKS`, used by `auditor.runtime.options`) or in the manifest stage (cargo's
profile keys), so a value is judged by one function wherever it comes from. Stages may
import this module (it imports only the manifest's value checks and units); the loader
that applies it is the pipeline's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.manifest import schema
from auditor.manifest.schema import boolean as _bool
from auditor.manifest.schema import choice as _choice
from auditor.manifest.schema import is_int as _is_int
from auditor.manifest.schema import pos_int as _pos_int
from auditor.manifest.schema import string as _str
from auditor.units import MAX_FUEL, PAGE, parse_bytes, parse_pages, parse_percent_or_bytes

RULE_LEVELS = ("error", "warning", "note", "off")
UNKNOWN_IMPORTS = ("trap", "default")
Leaf = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class MapOf:
    node: Any
    what: str = "name"


@dataclass(frozen=True)
class ArrayOf:
    node: Any
    rule: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None  # between a table's keys


RULES = "RULES"  # validated against the rule catalogue


# --------------------------------------------------------------------------- runtime keys
# The runtime stage's own keys (auditor.runtime.options applies them to RuntimeOptions).
# Each returns the problem with a value (None: fine); messages read after "KEY: ".


def memory_limit_problem(value: object) -> str | None:
    """A memory cap: a size (bytes, "4 MiB", "64 pages") of at least one page."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f'expected a size like "150 KiB" or bytes, got {value!r}'
    try:
        n = parse_bytes(value, what="")
    except ValueError as e:
        return str(e).removeprefix(": ")
    if n < PAGE:
        bare = str(value).strip().isdigit() and n > 0
        return f"{value!r} is below one 64 KiB page" + (f' (a bare number is bytes: "{value} pages" is pages)'
                                                        if bare else "")
    return None


def fuel_problem(value: object) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return f"fuel must be a positive integer, got {value!r}"
    if value > MAX_FUEL:
        return f"fuel must be at most {MAX_FUEL} (wasmtime counts it in 64 bits)"
    return None


def _positive(key: str) -> Leaf:
    def check(value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"{key} must be a positive integer, got {value!r}"
    return check


def timeout_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"timeout must be a number of seconds, got {value!r}"
    try:
        t = float(value)
    except ValueError:
        return f"timeout must be a number of seconds, got {value!r}"
    if not math.isfinite(t) or t < 0:
        return f"timeout must be a finite number of seconds >= 0 (0 turns it off), got {value!r}"
    return None


def _unknown_imports(value: object) -> str | None:
    return None if isinstance(value, str) and value in UNKNOWN_IMPORTS else \
        f"unknown-imports must be \"trap\" or \"default\", got {value!r}"


def _seed(value: object) -> str | None:
    return None if _is_int(value) else f"expected an integer, got {value!r}"


def _flag(key: str) -> Leaf:
    def check(value: object) -> str | None:
        return None if isinstance(value, bool) else f"{key} must be true or false, got {value!r}"
    return check


def _count(key: str) -> Leaf:
    def check(value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else f"{key} must be an integer >= 0, got {value!r}"
    return check


def _fraction(key: str) -> Leaf:
    """A share 0..1, written 0.9 or "90%"."""
    def check(value: object) -> str | None:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                value = float(value.strip()[:-1]) / 100
            except ValueError:
                return f'{key} must be a share like 0.9 or "90%", got {value!r}'
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        return None if ok else f'{key} must be a share from 0 to 1 (0.9 or "90%"), got {value!r}'
    return check


def fraction(value: object) -> float:
    """The value of a `_fraction`-checked key (0.9 or "90%") as 0..1."""
    if isinstance(value, str):
        return float(value.strip().removesuffix("%")) / 100
    return float(value)  # type: ignore[arg-type]


# runtime.* key -> its check, for config files, the command line and the Python API alike
RUNTIME_CHECKS: dict[str, Leaf] = {
    "memory-limit": memory_limit_problem,
    "fuel": fuel_problem,
    "timeout": timeout_problem,
    "unknown-imports": _unknown_imports,
    "churn-rounds": _positive("churn-rounds"),
    "hold-cycles": _positive("hold-cycles"),
    "seed": _seed,
    # the speed probe (auditor/runtime/speed.py): on/off, records per workload, timed
    # iterations (0: no wall-clock figure), heap-fill trials (0: no heap efficiency)
    "speed": _flag("speed"),
    "speed-actions": _positive("speed-actions"),
    "speed-runs": _count("speed-runs"),
    "speed-trials": _count("speed-trials"),
}





def _number(v: Any) -> str | None:
    return None if (_is_int(v) or isinstance(v, float)) and v >= 0 else "expected a non-negative number"


def _str_list(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(x, str) for x in v) else "expected a list of strings"


def _num_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(_is_int(x) or isinstance(x, float) for x in v)
    return None if ok else "expected a list of numbers"


def _quantity(parse: Callable[..., Any], example: str, types: tuple[type, ...]) -> Leaf:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, types):
            return f"expected {example}, got {v!r}"
        try:
            parse(v, what="")
        except ValueError as e:
            return str(e).removeprefix(": ")
        return None
    return check


_size = _quantity(parse_bytes, 'a size like "150 KiB" or bytes', (int, str))
_pages = _quantity(parse_pages, 'pages like 17 or "20 pages"', (int, str))
_increase = _quantity(parse_percent_or_bytes, '"5%" or a size', (int, float, str))

# --------------------------------------------------------------------------- scenarios
# A [[scenario]] table (auditor.runtime.options.Scenario): the loader checks a config
# file's tables key by key with SCENARIO (and `scenario_rule` between keys), and
# Scenario.from_dict runs `scenario_problem` (the same checks) on tables from
# --scenario and the Python API, so every source is judged by the same functions.
SCENARIO_EXPECTS = ("ok", "graceful-error", "trap", "none", "some", "err")  # the last three: runtime/bindgen.py
MAX_BYTES_ARG = 1 << 30  # { bytes = N }: the largest slice a scenario copies in


def _export(v: object) -> str | None:
    return None if isinstance(v, str) and v else "expected the name of an exported function"


def bytes_arg(a: object) -> bool:
    """A `&[u8]` argument of a wasm-bindgen export: { bytes = N } or { data = [ints] }."""
    if not isinstance(a, dict) or len(a) != 1:
        return False
    if "bytes" in a:
        n = a["bytes"]
        return isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_BYTES_ARG
    return "data" in a and isinstance(a["data"], list) and all(_is_int(x) for x in a["data"])


def _scenario_args(v: object) -> str | None:
    """Numbers, or byte slices for wasm-bindgen exports: { bytes = N } / { data = [ints] }."""
    ok = isinstance(v, list) and all(_is_int(x) or isinstance(x, float) or bytes_arg(x) for x in v)
    return None if ok else (f"expected a list of numbers or byte slices ({{ bytes = N }} with N from 0 to "
                            f"{MAX_BYTES_ARG}, {{ data = [integers] }}), got {v!r}")


def _scenario_fuel(v: object) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_FUEL
    return None if ok else f"expected an integer from 1 to {MAX_FUEL} (wasmtime counts fuel in 64 bits), got {v!r}"


SCENARIO: dict[str, Leaf] = {
    "name": _str, "export": _export, "args": _scenario_args, "memory-limit": memory_limit_problem,
    "expect": _choice(*SCENARIO_EXPECTS), "error-value": schema.integer, "fuel": _scenario_fuel,
}


def scenario_rule(d: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, problem) of a rule between a scenario's keys (each key's own check: SCENARIO)."""
    if d.get("expect") == "graceful-error" and d.get("error-value") is None:
        return "expect", ('expect = "graceful-error" needs `error-value`, the value the export returns '
                          "when it refuses")
    return None


def scenario_problem(d: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, problem) of the first thing wrong with a [[scenario]] table, None when it is
    fine: an unknown key, a bad value, no `export`, or a rule between keys."""
    for k, v in d.items():
        check = SCENARIO.get(k)
        if check is None:
            return k, f"unknown scenario key {k!r} (known: {', '.join(SCENARIO)})"
        problem = check(v)
        if problem is not None:
            return k, problem
    if "export" not in d:
        return "export", "'export' is required (the name of an exported function)"
    return scenario_rule(d)


# scan profiles are cargo profiles plus auditor's own description (shown in reports)
CARGO_PROFILE = {**schema.CARGO_PROFILE, "description": _str, "cargo-unstable": _str_list,
                 "requires-unstable": _bool, "immediate-abort": _bool}

ALLOCATOR = {
    "description": _str, "crate": _str, "version": _str, "path": _str, "git": _str,
    "branch": _str, "rev": _str, "tag": _str, "features": _str_list,
    "default-features": _bool, "type": _str, "item": _str, "inject": _bool,
    "matrix": _bool, "patterns": _str_list, "requires-any": _str_list, "crate-patterns": _str_list,
    "crates": _str_list, "std-copy": _str,
    "exclusive-of": _str_list, "class": _choice("plateau", "leak", "page-per-alloc", "fixed-arena"),
    "notes": _str,
}

BUDGET = {
    "name": _str, "variant": _str, "raw": _size, "gzip": _size, "brotli": _size,
    "code": _size, "data": _size, "custom": _size, "crate": MapOf(_size, "crate"),
    "initial-pages": _pages, "max-pages": _pages, "pages-at-cap": _pages,
    "churn-slope": _number, "fuel-per-action": _number, "message": _str, "max-increase": _increase,
}

# [recommend]: how a scan's allocator trade-off is drawn (auditor/rules/tradeoff.py).
# Weights of the balanced choice (>= 0; default 1 each, from rules/runtime.toml);
# minimums exclude a variant before the Pareto front is drawn.
RECOMMEND = {
    "weight-size": _number, "weight-speed": _number,
    "weight-heap": _number,
    "min-speed": _fraction("min-speed"),  # share of the fastest variant's speed (0.5: at most 2x its fuel)
    "min-heap-efficiency": _fraction("min-heap-efficiency"),  # heap efficiency, 0.9 or "90%"
}

SCHEMA: dict[str, Any] = {
    "scan": {
        "profiles": _str_list, "allocators": _str_list, "jobs": _pos_int,
        "runtime": _bool, "default-variant": _str, "build-std": _bool, "registry-allocators": _str_list,
    },
    "profile": MapOf(CARGO_PROFILE, "profile"),
    "allocator": MapOf(ALLOCATOR, "allocator"),
    "runtime": RUNTIME_CHECKS,
    "recommend": RECOMMEND,
    "scenario": ArrayOf(SCENARIO, rule=scenario_rule),
    "budget": ArrayOf(BUDGET),
    "ship": {  # shipping stages after cargo (auditor/build/ship.py, README "Shipping stages")
        "bindgen": _bool, "bindgen-target": _choice("web", "bundler", "nodejs", "no-modules", "deno",
                                                    "experimental-nodejs-module"),
        "bindgen-args": _str_list, "wasm-opt": _bool, "wasm-opt-level": _choice("-O", "-O0", "-O1", "-O2", "-O3",
                                                                               "-O4", "-Os", "-Oz"),
        "wasm-opt-args": _str_list, "install": _bool, "stage": _choice("cargo", "bindgen", "wasm-opt", "shipped"),
    },
    "gate": {"baseline": _str, "max-increase": _increase},
    "rules": RULES,
}

REQUIRED: dict[tuple[str, ...], tuple[str, ...]] = {("scenario",): ("export",)}
