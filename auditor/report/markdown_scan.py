"""Markdown for `auditor scan`: the PR comment with every variant and its delta against
the report's reference variant (the crate's own release build), plus the budgets, the
change against the baseline and the top changed functions when `scan --gate` ran."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from auditor.gate.metrics import METRICS, figure
from auditor.records.scan import variant_id
from auditor.report.fmt_markdown import cell, code, table
from auditor.report.markdown_blocks import MARKER, change, size
from auditor.report.speed_blocks import tradeoff_markdown

if TYPE_CHECKING:
    from auditor.build.result import ScanResult


def _pages(wasm: Mapping[str, Any] | None) -> str:
    if not wasm or not wasm.get("memories"):
        return "—"
    m = wasm["memories"][0]
    return f"{m['initial_pages']} / {'∞' if m['max_pages'] is None else m['max_pages']}"


def render(result: ScanResult, *, color: bool = False) -> str:
    data: Mapping[str, Any] = result.to_json()  # as written (hand-made and merged reports too)
    crate = data.get("crate")
    name = crate.get("name") if isinstance(crate, dict) else crate
    variants = data["variants"]
    reference = data.get("baseline_variant")  # the scan's own pick, None when it failed or is absent
    ref = next((v for v in variants if variant_id(v) == reference and v["status"] == "ok"), None)
    smallest = (data.get("smallest") or {}).get("variant")
    check = getattr(result, "check", None)  # scan --gate's CheckResult
    base = {r["variant"]: r for r in check.variant_rows()} if check is not None and check.baseline else None
    failed = sum(v["status"] != "ok" for v in variants)
    out = [MARKER, f"## auditor scan — {name}" if name else "## auditor scan", ""]
    line = f"{len(variants)} variants, {failed} failed"
    if smallest is not None:
        line += f" · smallest: {code(smallest)} ({size(data['smallest']['bytes'])})"
    rec = data.get("recommended")
    if rec is not None and rec["variant"] != smallest:
        skipped = "; ".join(f"{s['reason']}" for s in rec.get("skipped") or [])
        line += f" · recommended: {code(rec['variant'])} ({size(rec['bytes'])})" + (f", passing over {skipped}" if skipped else "")
    elif rec is None and smallest is not None and "recommended" in data:
        skipped = "; ".join(s["reason"] for s in result.passed_over)
        line += f" · recommended: none, the runtime probes found a problem in every variant ({skipped})"
    out += [line, ""]
    rows = []
    for v in variants:
        vid = variant_id(v)
        w = v.get("wasm") if v["status"] == "ok" else None
        label = f"**{code(vid)}**" if vid == smallest else code(vid)
        vs_base = [change(base[vid]["baseline_raw"], base[vid]["raw"])] if base is not None else []
        if w is None:
            first = (v.get("error") or "").strip().splitlines()[:1]
            rows.append([label, "—", "—", "—", "—", "—", "—", *vs_base,
                         f"❌ failed{': ' + cell(first[0][:120]) if first else ''}"])
            continue
        raw = w["bytes"]
        delta = "—" if ref is None else ("reference" if v is ref else change(ref["wasm"]["bytes"], raw))
        allocator = (w.get("allocator") or {}).get("name") or "?"
        rows.append([label, size(raw), size(figure(METRICS["gzip"], v)), size(figure(METRICS["code"], v)),
                     _pages(w), cell(allocator), delta, *vs_base, "ok"])
    out += table(["variant", "raw", "gzip", "code", "pages (initial / max)", "allocator",
                  f"Δ raw vs {reference or 'release'}"] + (["Δ raw vs baseline"] if base is not None else [])
                 + ["status"], rows, "lrrrrlr" + ("r" if base is not None else "") + "l")
    if rec is not None and rec.get("tradeoff") and rec["tradeoff"].get("front"):
        out += ["", "### Allocator trade-off", *tradeoff_markdown(rec["tradeoff"])]
    if check is not None:
        from auditor.report.markdown_check import budgets_table, details_section

        verdict = "✅ passed" if check.passed else "❌ failed"
        out += ["", f"### Budgets {verdict}", "", *budgets_table(check), ""]
        out += details_section(check)
    return "\n".join(out).rstrip() + "\n"
