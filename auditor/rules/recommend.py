"""Which variant a scan recommends shipping: the policy, read from rules/runtime.toml.

`[[recommend.pass-over]]` tables name what rules a built variant out (a leak under churn,
an out-of-bounds OOM, a failed scenario, the wrong allocator linked, ...), each as
conditions of the rule check language over the variant's record; the recommendation
is the smallest variant none of them rules out. A scan (auditor.pipeline.scanner) and a
merge of shard reports (auditor.gate.merge) both call `recommended` on the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.records.scan import (
    ExcludedRecord,
    ProfileRecord,
    RecommendedRecord,
    SkippedRecord,
    TradeoffRecord,
    VariantRecord,
    built,
    join_id,
    smallest,
    variant_id,
)
from auditor.rules.engine import Ctx, fill, matching, select
from auditor.rules.tradeoff import AXES, Point, tradeoff


@lru_cache(maxsize=1)
def pass_over_rules() -> tuple[dict[str, Any], ...]:
    entries = (load_rules_file("runtime.toml").get("recommend") or {}).get("pass-over") or []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("reason"), str) or not isinstance(e.get("when"), list):
            raise AuditorError(f"recommend.pass-over #{n + 1} needs `reason` (text) and `when` (conditions)",
                               "rules/runtime.toml")
    return tuple(entries)


def runtime_problems(variant: VariantRecord | dict[str, Any]) -> list[str]:
    """Why a variant should not ship, from its runtime probes and allocator check (empty:
    none seen). A fact the variant's record lacks (no runtime results) rules nothing out."""
    out = []
    for entry in pass_over_rules():
        ctx = matching(variant, entry["when"], entry.get("compute"))
        if ctx is not None:
            out.append(fill(entry["reason"], ctx))
    return out


def passed_over(variants: Sequence[VariantRecord]) -> list[SkippedRecord]:
    """Built variants grouped by each problem that rules them out: `reason`, `variants`."""
    skipped: dict[str, list[str]] = {}
    for v in built(variants):
        for why in runtime_problems(v):
            skipped.setdefault(why, []).append(variant_id(v))
    return [{"reason": r, "variants": ids} for r, ids in skipped.items()]


def recommended(variants: Sequence[VariantRecord], matrix: Sequence[str],
                profiles: Sequence[ProfileRecord] | Sequence[Mapping[str, Any]],
                settings: Mapping[str, Any] | None = None) -> RecommendedRecord | None:
    """The smallest variant whose runtime probes found nothing wrong, and the trade-off
    among all such variants (`tradeoff`: the Pareto front over size, speed and heap
    efficiency with the smallest, fastest and balanced choices; `settings` from
    `tradeoff_settings`).

    Without runtime results it is the smallest, and says the probes did not run. None
    when every built variant has a problem (`passed_over` says which)."""
    ok = built(variants)
    good = [v for v in ok if not runtime_problems(v)]
    trade = tradeoff_record(good, settings)
    # a configured minimum (min-speed, min-heap-efficiency) rules a variant out of the pick too
    below = {x["variant"]: x["reason"] for x in (trade["excluded"] if trade else []) if x.get("by")}
    pick = smallest([v for v in good if variant_id(v) not in below], matrix, profiles)
    if pick is None:
        return None
    probed = any(v.get("runtime") for v in ok)
    skipped = passed_over(ok) + [{"reason": why, "variants": [vid]} for vid, why in below.items()]
    rec: RecommendedRecord = {**pick, "runtime_checked": probed, "skipped": skipped, "tradeoff": trade}
    return rec


# --------------------------------------------------------------------------- the trade-off


@lru_cache(maxsize=1)
def tradeoff_policy() -> dict[str, Any]:
    """`[recommend.tradeoff]` of rules/runtime.toml, checked once."""
    t = (load_rules_file("runtime.toml").get("recommend") or {}).get("tradeoff") or {}
    if not all(isinstance(t.get(k), str) for k in ("size", "speed", "heap", "missing")) or \
            not isinstance(t.get("weights"), dict):
        raise AuditorError("recommend.tradeoff needs `size`, `speed`, `heap` (paths), `missing` (text) and "
                           "`weights`", "rules/runtime.toml")
    return t


def tradeoff_settings(config: Any = None) -> dict[str, Any]:
    """Weights and minimums: rules/runtime.toml's defaults, then config `[recommend]`
    (`weight-size`, `weight-speed`, `weight-heap`, `min-speed`, `min-heap-efficiency`)."""
    from auditor.config.schema import fraction

    weights = {k: float(v) for k, v in tradeoff_policy()["weights"].items()}
    out: dict[str, Any] = {"weights": weights, "min_speed": None, "min_heap_efficiency": None}
    if config is None:
        return out
    for axis in AXES:
        v = config.get(f"recommend.weight-{axis}", None)
        if v is not None:
            weights[axis] = float(v)
    for key, name in (("min-speed", "min_speed"), ("min-heap-efficiency", "min_heap_efficiency")):
        v = config.get(f"recommend.{key}", None)
        if v is not None:
            out[name] = fraction(v)
    return out


def tradeoff_settings_of(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The weights and minimums saved scan reports were made with (a merge redraws the
    trade-off with them), else the defaults."""
    for r in reports:
        t = (r.get("recommended") or {}).get("tradeoff")
        if t and isinstance(t.get("weights"), dict):
            return {"weights": t["weights"], "min_speed": t.get("min_speed"),
                    "min_heap_efficiency": t.get("min_heap_efficiency")}
    return tradeoff_settings()


def _figure(v: VariantRecord | dict[str, Any], path: str) -> Any:
    got = select(v, path)
    return got[0] if got else None


def _why_missing(v: VariantRecord | dict[str, Any]) -> str:
    rt = v.get("runtime") or {}
    speed = rt.get("speed")
    if not rt:
        return v.get("runtime_error") or "no runtime results"
    if not speed:
        return "speed probe off"
    if speed.get("reason"):
        return str(speed["reason"])
    head = (speed.get("workloads") or {}).get(speed.get("headline") or "") or {}
    if head and head.get("outcome") != "ok":
        return f"{speed.get('headline')}: {head.get('outcome')} at action {head.get('completed', 0):,}"
    fill = speed.get("fill") or {}
    return str(fill.get("reason") or "not measured")


def tradeoff_record(variants: Sequence[VariantRecord] | Sequence[dict[str, Any]], settings: Mapping[str, Any] | None = None
                    ) -> TradeoffRecord | None:
    """`Tradeoff.to_json()` over `variants` (those with no runtime fault), None when
    there are none. Variants lacking a figure on an axis some variant has are excluded."""
    if not variants:
        return None
    policy = tradeoff_policy()
    s = dict(settings or tradeoff_settings())
    figures = {variant_id(v): {a: _figure(v, policy[a]) for a in AXES} for v in variants}
    measured = [a for a in ("speed", "heap") if any(f[a] is not None for f in figures.values())]
    points: list[Point] = []
    excluded: list[ExcludedRecord] = []
    for v in variants:
        vid, f = variant_id(v), figures[variant_id(v)]
        lacking = [a for a in measured if f[a] is None]
        if lacking or not isinstance(f["size"], int):
            axis = " and ".join(lacking) or "size"
            excluded.append({"variant": vid, "reason": fill(policy["missing"], _ctx(axis, _why_missing(v))),
                             "by": None})
            continue
        points.append(Point(vid, f["size"], f["speed"], f["heap"]))
    t = tradeoff(points, weights=s.get("weights"), min_speed=s.get("min_speed"),
                 min_heap=s.get("min_heap_efficiency"))
    out = t.to_json()
    # which module the speed figures came from: the variant's probe build, which a scan may
    # share between the variants of one allocator (`probe_build`), else the variant's own
    origin = {variant_id(v): _probed(v) for v in variants}
    for p in [*out["front"], *(out[k] for k in ("smallest", "fastest", "most_efficient", "balanced"))]:
        if p is not None:
            p["speed_from"] = origin.get(p["variant"])
    out["excluded"] = excluded + out["excluded"]
    out["min_speed"], out["min_heap_efficiency"] = s.get("min_speed"), s.get("min_heap_efficiency")
    out["candidates"] = len(variants)
    return out


def _probed(v: VariantRecord | dict[str, Any]) -> str:
    pb = v.get("probe_build")
    if isinstance(pb, dict) and pb.get("profile") and pb.get("allocator"):
        return f"{join_id(pb['profile'], pb['allocator'])} probe build"
    return f"{variant_id(v)} probe build"


def _ctx(axis: str, why: str) -> Ctx:
    item = {"axis": axis, "why": why}
    return Ctx(item, item, {}, {})

