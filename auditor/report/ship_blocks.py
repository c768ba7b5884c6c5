"""Text lines for the shipping stages of a scan (issue 11): which stage the table shows,
and every stage's size per variant (the figures are in the JSON's `variants[].stages`)."""

from __future__ import annotations

from typing import Any

from auditor.units import human_bytes


def stage_lines(variants: list[Any]) -> list[str]:
    """`stages (table: wasm-opt): release/default  cargo 389.4 KiB -> bindgen 57.7 KiB + JS 8.8 KiB -> wasm-opt 43.3 KiB`."""
    rows = [v for v in variants if getattr(v, "stages", None)]
    if not rows:
        return []
    shown = sorted({v.stage for v in rows if v.stage})
    out = [f"shipping stages (the table shows: {', '.join(shown)}; --stage picks another)"]
    for v in rows:
        parts = []
        for s in v.stages:
            text = f"{s['name']} {human_bytes(s['bytes'])}"
            if s.get("tool"):
                text += f" [{s['tool']['name']} {s['tool']['version']}]"
            if s.get("js"):
                text += f" + JS {human_bytes(s['js']['bytes'])}"
            parts.append(text)
        out.append(f"  {v.id}: " + " -> ".join(parts))
    return out + [""]
