"""Text and markdown blocks for the speed probe's record and the allocator trade-off.

Shared by the run and scan renderers, so both say the same thing the same way: fuel is
the deterministic figure (what budgets and the recommendation use), wall clock is shown
but labelled as noisy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.report.table import human_bytes, table

ROLES = (("smallest", "smallest"), ("fastest", "fastest"), ("most_efficient", "most heap-efficient"),
         ("balanced", "balanced"))


def _num(v, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def outcome_cell(w: dict) -> str:
    """A workload that did not finish: what stopped it and where."""
    if w.get("outcome") == "ok":
        return "ok"
    return f"{w.get('outcome')} at {w.get('completed', 0):,} of {w.get('actions', 0):,}"


def speed_lines(speed: dict | None) -> list[str]:
    """The run report's "Allocator speed" block (empty when the probe did not run)."""
    if not speed:
        return []
    out = ["", ("Allocator speed (workloads replayed inside the module; fuel per action is deterministic, "
                "actions/µs is CPU time, noisy)")]
    if speed.get("reason") and not speed.get("workloads"):
        out.append(f"  not probed: {speed['reason']}")
    rows = []
    for name, w in (speed.get("workloads") or {}).items():
        mark = " (headline)" if name == speed.get("headline") else ""
        rows.append([name + mark, f"{w['completed']:,}", _num(w.get("fuel_per_action"), "{:,.1f}"),
                     _num(w.get("actions_per_us"), "{:.2f}"), _num(w.get("peak_to_live"), "{:.3f}"),
                     outcome_cell(w)])
    if rows:
        out.append(table(["workload", "actions", "fuel/action", "actions/µs", "peak/live", "outcome"], rows,
                         align="lrrrrl"))
    notes = [f"  {n}: {w['timing_note']}" for n, w in (speed.get("workloads") or {}).items() if w.get("timing_note")]
    out.extend(notes)
    fill = speed.get("fill")
    if fill:
        trials = fill.get("trials") or []
        if fill.get("efficiency") is not None:
            out.append(f"  heap efficiency: {fill['efficiency']:.1%} of the heap live when the first request was "
                       f"refused ({len(trials)} trial{'s' if len(trials) != 1 else ''}; "
                       f"{fill['memory_efficiency']:.1%} of all linear memory)")
        else:
            out.append(f"  heap efficiency: - ({fill.get('reason')})")
    return out


def allocator_code_lines(code: dict | None) -> list[str]:
    """One line: the bytes of code the allocator costs (its functions + what only they reach)."""
    if not code:
        return []
    if code.get("method") == "none":
        return [f"  allocator code ({code.get('allocator')}): not attributed: {code.get('reason')}"]
    share = f", {code['share']:.1%} of the code" if code.get("share") is not None else ""
    return [f"  allocator code ({code.get('allocator')}): {code['bytes']:,} bytes ({len(code.get('items') or [])} "
            f"functions by name + {len(code.get('only_through') or [])} reached only through them{share}; "
            "a lower bound after inlining)"]


def tradeoff_lines(t: dict | None) -> list[str]:
    """The scan report's trade-off block: the front and what each named choice costs."""
    if not t or not t.get("front") or list(t.get("axes") or []) == ["size"]:
        return []  # size alone: the recommendation line already names the smallest
    out = ["", "Allocator trade-off (Pareto front over " + ", ".join(
        {"size": "shipped bytes", "speed": "fuel per allocator call", "heap": "heap efficiency"}[a]
        for a in t["axes"]) + ")"]
    named: dict[str, list[str]] = {}
    for role, label in ROLES:
        if t.get(role):
            named.setdefault(t[role]["variant"], []).append(label)
    rows = [[p["variant"], f"{p['bytes']:,}", _num(p.get("fuel_per_action"), "{:,.1f}"),
             _num(p.get("heap_efficiency"), "{:.1%}"), ", ".join(named.get(p["variant"], []))] for p in t["front"]]
    out.append(table(["variant", "bytes", "fuel/action", "heap eff.", "choice"], rows, align="lrrrl"))
    out.extend(f"  {n}" for n in t.get("notes") or [])
    out.extend(f"  excluded {x['variant']}: {x['reason']}" for x in t.get("excluded") or [])
    return out


def speed_cells(runtime: Mapping[str, Any] | None) -> list[str]:
    """Fuel per action, heap efficiency: the two scan-table columns of one variant."""
    s = (runtime or {}).get("speed") or {}
    return [_num(s.get("fuel_per_action"), "{:,.0f}"), _num(s.get("heap_efficiency"), "{:.1%}")]


def tradeoff_markdown(t: dict | None) -> list[str]:
    """Markdown version of `tradeoff_lines` (a table and the cost sentences)."""
    if not t or not t.get("front") or list(t.get("axes") or []) == ["size"]:
        return []  # size alone: the recommendation line already names the smallest
    out = ["", "| variant | bytes | fuel/action | heap efficiency | choice |", "|---|---:|---:|---:|---|"]
    for p in t["front"]:
        roles = [label for r, label in ROLES if (t.get(r) or {}).get("variant") == p["variant"]]
        out.append(f"| `{p['variant']}` | {p['bytes']:,} ({human_bytes(p['bytes'])}) | "
                   f"{_num(p.get('fuel_per_action'), '{:,.1f}')} | {_num(p.get('heap_efficiency'), '{:.1%}')} | "
                   f"{', '.join(roles)} |")
    out.append("")
    out.extend(f"- {n}" for n in t.get("notes") or [])
    out.extend(f"- excluded `{x['variant']}`: {x['reason']}" for x in t.get("excluded") or [])
    return out


def speed_markdown(speed: dict | None, code: dict | None = None) -> list[str]:
    """Markdown of the run report's speed block (empty when the probe did not run)."""
    if not speed:
        return []
    out = ["", "### Allocator speed", ""]
    if speed.get("reason") and not speed.get("workloads"):
        out.append(f"Not probed: {speed['reason']}")
    rows = []
    for name, w in (speed.get("workloads") or {}).items():
        mark = " (headline)" if name == speed.get("headline") else ""
        rows.append(f"| `{name}`{mark} | {w['completed']:,} | {_num(w.get('fuel_per_action'), '{:,.1f}')} | "
                    f"{_num(w.get('actions_per_us'), '{:.2f}')} | {_num(w.get('peak_to_live'), '{:.3f}')} | "
                    f"{outcome_cell(w)} |")
    if rows:
        out += ["| workload | actions | fuel/action | actions/µs (CPU, noisy) | peak/live | outcome |",
                "|---|---:|---:|---:|---:|---|", *rows]
    out.append("")
    if speed.get("heap_efficiency") is not None:
        out.append(f"- heap efficiency: {speed['heap_efficiency']:.1%} of the heap live when the first request "
                   "was refused")
    if code and code.get("method") != "none":
        out.append(f"- allocator code ({code.get('allocator')}): {code['bytes']:,} bytes "
                   f"({human_bytes(code['bytes'])}, a lower bound after inlining)")
    return out
