"""Which allocator variant to ship when size, speed and heap use pull different ways.

Why a Pareto front and not one score: "smallest" alone (the old recommendation) never
tells a user that 800 bytes saved cost a 3x slower allocator. A variant is on the front
when no other variant is at least as good on all three axes — shipped bytes (fewer is
better), fuel per allocator call (fewer), heap efficiency (more) — and better on one.
From the front three choices are named, each with what it costs against the others:
the smallest, the fastest, and the balanced one (the best weighted geometric mean of
each axis relative to the best value on it; weights come from config, default 1 each).

Pure functions over plain numbers; which record fields feed the axes and the default
weights are data (rules/runtime.toml, `[recommend.tradeoff]`), read by the caller.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from auditor.records.scan import ExcludedRecord, TradeoffPointRecord, TradeoffRecord
from auditor.units import human_bytes

AXES = ("size", "speed", "heap")


@dataclass(frozen=True)
class Point:
    id: str
    bytes: int
    fuel: float | None = None  # fuel per allocator call (deterministic)
    heap: float | None = None  # live / heap bytes at the first refused request, 0..1


@dataclass
class Tradeoff:
    axes: tuple[str, ...]  # the axes every candidate had a figure for
    front: list[Point]
    smallest: Point | None
    fastest: Point | None
    most_efficient: Point | None
    balanced: Point | None
    excluded: list[ExcludedRecord] = field(default_factory=list)  # below a minimum
    notes: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> TradeoffRecord:
        def point(x: Point) -> TradeoffPointRecord:
            return {"variant": x.id, "bytes": x.bytes, "fuel_per_action": x.fuel, "heap_efficiency": x.heap}

        def p(x: Point | None) -> TradeoffPointRecord | None:
            return None if x is None else point(x)

        return {"axes": list(self.axes), "weights": self.weights, "front": [point(x) for x in self.front],
                "smallest": p(self.smallest), "fastest": p(self.fastest),
                "most_efficient": p(self.most_efficient), "balanced": p(self.balanced),
                "excluded": self.excluded, "notes": self.notes}


def _key(p: Point, axis: str) -> float:
    """Smaller is better on every axis (heap efficiency negated)."""
    if axis == "size":
        return p.bytes
    if axis == "speed":
        return p.fuel if p.fuel is not None else math.inf
    return -(p.heap if p.heap is not None else 0.0)


def dominates(a: Point, b: Point, axes: Iterable[str]) -> bool:
    ka = [_key(a, x) for x in axes]
    kb = [_key(b, x) for x in axes]
    return all(x <= y for x, y in zip(ka, kb)) and any(x < y for x, y in zip(ka, kb))


def pareto_front(points: list[Point], axes: tuple[str, ...] = AXES) -> list[Point]:
    """The points no other point dominates, in input order (quadratic: a scan has tens)."""
    return [p for p in points if not any(dominates(q, p, axes) for q in points if q is not p)]


def _ratios(p: Point, best: Mapping[str, float], axes: tuple[str, ...]) -> dict[str, float]:
    """Each axis relative to the best value on it: 1.0 is the best, lower is worse."""
    out = {}
    if "size" in axes:
        out["size"] = best["size"] / p.bytes if p.bytes else 1.0
    if "speed" in axes:
        out["speed"] = best["speed"] / p.fuel if p.fuel else 0.0
    if "heap" in axes:
        out["heap"] = (p.heap or 0.0) / best["heap"] if best["heap"] else 1.0
    return out


def score(p: Point, best: Mapping[str, float], axes: tuple[str, ...], weights: Mapping[str, float]) -> float:
    """Weighted geometric mean of the ratios (log scale: 2x slower costs what 2x bigger does)."""
    r = _ratios(p, best, axes)
    total = sum(weights.get(a, 0.0) for a in axes)
    if total <= 0:
        return 0.0
    return sum(weights.get(a, 0.0) * math.log(max(r[a], 1e-12)) for a in axes) / total


def tradeoff(points: list[Point], *, weights: Mapping[str, float] | None = None,
             min_speed: float | None = None, min_heap: float | None = None) -> Tradeoff:
    """The front, the three named choices and their costs.

    `min_speed` is a fraction of the fastest candidate's speed (0.5: at most twice its
    fuel per call); `min_heap` an absolute heap efficiency (0.9). Candidates below either
    are excluded before the front is drawn. An axis some candidate has no figure for (no
    speed probe) is left out, so without runtime figures this is "the smallest"."""
    w = {a: 1.0 for a in AXES} | dict(weights or {})
    axes = tuple(a for a in AXES if a == "size" or (points and all(
        (p.fuel if a == "speed" else p.heap) is not None for p in points)))
    excluded: list[ExcludedRecord] = []
    cands = list(points)
    if min_speed is not None and "speed" in axes and cands:
        least = min(_key(p, "speed") for p in cands)
        rel = {p.id: least / _key(p, "speed") for p in cands}
        keep = [p for p in cands if rel[p.id] >= min_speed - 1e-9]
        excluded += [{"variant": p.id, "reason": f"slower than min-speed {min_speed:.0%} of the fastest "
                      f"({rel[p.id]:.0%})", "by": "min-speed"} for p in cands if p not in keep]
        cands = keep
    if min_heap is not None and "heap" in axes:
        keep = [p for p in cands if p.heap is not None and p.heap >= min_heap - 1e-9]
        excluded += [{"variant": p.id, "reason": f"heap efficiency {p.heap:.1%} below min-heap-efficiency "
                      f"{min_heap:.0%}", "by": "min-heap-efficiency"} for p in cands if p not in keep]
        cands = keep
    if not cands:
        return Tradeoff(axes, [], None, None, None, None, excluded, weights=w)
    front = pareto_front(cands, axes)
    best = {"size": min(p.bytes for p in front),
            "speed": min((p.fuel for p in front if p.fuel), default=0.0),
            "heap": max((p.heap for p in front if p.heap is not None), default=0.0)}
    smallest = min(front, key=lambda p: (p.bytes, _key(p, "speed"), _key(p, "heap")))
    fastest: Point | None = min(front, key=lambda p: (_key(p, "speed"), p.bytes)) if "speed" in axes else None
    efficient: Point | None = min(front, key=lambda p: (_key(p, "heap"), p.bytes)) if "heap" in axes else None
    balanced = max(front, key=lambda p: (score(p, best, axes, w), -p.bytes))
    t = Tradeoff(axes, front, smallest, fastest, efficient, balanced, excluded, weights=w)
    t.notes = cost_notes(t)
    return t


def versus(a: Point, b: Point, axes: tuple[str, ...]) -> str | None:
    """What choosing `a` over `b` gains and costs, in one sentence ("x saves 4.6 KiB
    against y but needs 2.4x the instructions per allocator call")."""
    gains, costs = [], []
    if a.bytes < b.bytes:
        gains.append(f"saves {human_bytes(b.bytes - a.bytes)}")
    elif a.bytes > b.bytes:
        costs.append(f"is {human_bytes(a.bytes - b.bytes)} larger")
    if "speed" in axes and a.fuel and b.fuel and a.fuel != b.fuel:
        if a.fuel < b.fuel:
            gains.append(f"needs {b.fuel / a.fuel:.1f}x fewer instructions per allocator call")
        else:
            costs.append(f"needs {a.fuel / b.fuel:.1f}x the instructions per allocator call")
    if "heap" in axes and a.heap is not None and b.heap is not None and abs(a.heap - b.heap) >= 0.0005:
        if a.heap > b.heap:
            gains.append(f"uses {a.heap:.1%} of its heap before refusing a request (vs {b.heap:.1%})")
        else:
            costs.append(f"uses only {a.heap:.1%} of its heap before refusing a request (vs {b.heap:.1%})")
    if not gains and not costs:
        return None
    if gains and costs:
        return f"{a.id} {' and '.join(gains)} against {b.id} but {' and '.join(costs)}"
    return f"{a.id} {' and '.join(gains or costs)} (against {b.id})"


def cost_notes(t: Tradeoff) -> list[str]:
    """One line per distinct pair of named choices (smallest, fastest, most heap-efficient,
    balanced)."""
    named = [p for p in (t.smallest, t.fastest, t.most_efficient, t.balanced) if p is not None]
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for a in named:
        for b in named:
            if a.id == b.id or (b.id, a.id) in seen or (a.id, b.id) in seen:
                continue
            seen.add((a.id, b.id))
            line = versus(a, b, t.axes)
            if line:
                out.append(line)
    return out
