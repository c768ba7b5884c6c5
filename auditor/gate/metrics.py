"""What a budget can limit, and how each figure is read from a scan variant record.

One table of metrics shared by budgets, the markdown tables and `diff`, so a figure is
never computed two ways. Byte figures come from the variant's `auditor.inspect/1`
record, runtime figures from its `runtime` object (issue 4 contract).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.units import parse_bytes, parse_pages

CODE, DATA, CUSTOM = 10, 11, 0


class Unmeasured(Exception):
    """The figure is not in the report (runtime not run, module not probed, ...)."""


def section_bytes(wasm: Mapping[str, Any], section_id: int) -> int:
    """Bytes of every section with this id, each counted with its id and length bytes."""
    return sum(s["size"] for s in wasm["sections"] if s["id"] == section_id)


def crate_bytes(wasm: Mapping[str, Any], name: str) -> int:
    """Code bytes the inspect rollup attributes to a crate; a crate not linked has 0."""
    return sum(c["size"] for c in wasm["crates"] if c["name"] == name)


def _compressed(wasm: Mapping[str, Any], key: str) -> int:
    if wasm.get(key) is None:
        raise Unmeasured(f"{key} size not in the report (scanned without compression)")
    size: int = wasm[key]
    return size


def _memory(wasm: Mapping[str, Any]) -> Mapping[str, Any]:
    if not wasm["memories"]:
        raise Unmeasured("module has no memory")
    memory: Mapping[str, Any] = wasm["memories"][0]
    return memory


def _runtime(variant: Mapping[str, Any], part: str, field: str) -> int | float:
    rt = variant.get("runtime")
    if not rt:
        raise Unmeasured("no runtime results in the report (scan with runtime probes on)")
    section = rt.get(part)
    if not isinstance(section, dict):
        raise Unmeasured(f"runtime.{part} missing from the report")
    if section.get("outcome") == "not-probed" or section.get("verdict") == "not-probed":
        raise Unmeasured(f"runtime.{part}: module not probed (no allocation exports)")
    value: int | float | None = section.get(field)
    if value is None:
        raise Unmeasured(f"runtime.{part}.{field} missing from the report")
    return value


@dataclass(frozen=True)
class Metric:
    key: str  # config key in a [[budget]] table
    label: str
    unit: str  # "bytes" | "pages" | "pages/1k rounds"
    read: Callable[[Mapping[str, Any]], int | float | None]  # variant record -> value (None = unbounded)
    parse: Callable[[Any], int | float]  # config limit -> value in `unit`


def _non_negative(key: str) -> Callable[[Any], float]:
    def parse(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{key}: expected a non-negative number, got {v!r}")
        return float(v)
    return parse


_slope = _non_negative("churn-slope")


METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("raw", "raw", "bytes", lambda v: v["wasm"]["bytes"], parse_bytes),
    Metric("gzip", "gzip", "bytes", lambda v: _compressed(v["wasm"], "gzip"), parse_bytes),
    Metric("brotli", "brotli", "bytes", lambda v: _compressed(v["wasm"], "brotli"), parse_bytes),
    Metric("code", "code section", "bytes", lambda v: section_bytes(v["wasm"], CODE), parse_bytes),
    Metric("data", "data section", "bytes", lambda v: section_bytes(v["wasm"], DATA), parse_bytes),
    Metric("custom", "custom sections", "bytes", lambda v: section_bytes(v["wasm"], CUSTOM), parse_bytes),
    Metric("initial-pages", "initial memory", "pages", lambda v: _memory(v["wasm"])["initial_pages"], parse_pages),
    Metric("max-pages", "maximum memory", "pages", lambda v: _memory(v["wasm"])["max_pages"], parse_pages),
    Metric("pages-at-cap", "pages at OOM", "pages", lambda v: _runtime(v, "oom", "pages"), parse_pages),
    Metric("churn-slope", "churn slope", "pages/1k rounds", lambda v: _runtime(v, "churn", "slope"), _slope),
    # the speed probe's deterministic figure (fuel per action of its headline workload)
    Metric("fuel-per-action", "fuel per action", "instructions/action",
           lambda v: _runtime(v, "speed", "fuel_per_action"), _non_negative("fuel-per-action")),
)}


def crate_metric(name: str) -> Metric:
    return Metric(f"crate.{name}", f"crate {name}", "bytes",
                  lambda v: crate_bytes(v["wasm"], name), parse_bytes)


def figure(metric: Metric, variant: Mapping[str, Any] | None) -> int | float | None:
    """The metric of a variant, or None when the variant is absent, failed or unmeasured."""
    if variant is None or variant.get("status") != "ok":
        return None
    try:
        return metric.read(variant)
    except Unmeasured:
        return None
