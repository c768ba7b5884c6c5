"""Markdown for `auditor scan`: the PR comment with every variant and its delta against
the crate's own `release/default` build, plus the budgets when `scan --gate` ran."""

from __future__ import annotations

from auditor.gate.markdown import MARKER, change, size
from auditor.report.fmt_markdown import cell, code, table
from auditor.gate.metrics import METRICS, figure
from auditor.gate.report import variant_id

REFERENCE = "release/default"


def _pages(wasm: dict | None) -> str:
    if not wasm or not wasm.get("memories"):
        return "—"
    m = wasm["memories"][0]
    return f"{m['initial_pages']} / {'∞' if m['max_pages'] is None else m['max_pages']}"


def format(result, color: bool = False) -> str:
    data = result.to_json()
    crate = data.get("crate")
    name = crate.get("name") if isinstance(crate, dict) else crate
    variants = data["variants"]
    ref = next((v for v in variants if variant_id(v) == REFERENCE and v["status"] == "ok"), None)
    ok = [v for v in variants if v["status"] == "ok"]
    smallest = min(ok, key=lambda v: v["wasm"]["bytes"]) if ok else None
    failed = len(variants) - len(ok)
    out = [MARKER, f"## auditor scan — {name}" if name else "## auditor scan", ""]
    line = f"{len(variants)} variants, {failed} failed"
    if smallest is not None:
        line += f" · smallest: {code(variant_id(smallest))} ({size(smallest['wasm']['bytes'])})"
    out += [line, ""]
    rows = []
    for v in variants:
        vid = variant_id(v)
        w = v.get("wasm") if v["status"] == "ok" else None
        label = f"**{code(vid)}**" if v is smallest else code(vid)
        if w is None:
            first = (v.get("error") or "").strip().splitlines()[:1]
            rows.append([label, "—", "—", "—", "—", "—", "—", f"❌ failed{': ' + cell(first[0][:120]) if first else ''}"])
            continue
        raw = w["bytes"]
        delta = "—" if ref is None else ("reference" if v is ref else change(ref["wasm"]["bytes"], raw))
        allocator = (w.get("allocator") or {}).get("name") or "?"
        rows.append([label, size(raw), size(figure(METRICS["gzip"], v)), size(figure(METRICS["code"], v)),
                     _pages(w), cell(allocator), delta, "ok"])
    out += table(["variant", "raw", "gzip", "code", "pages (initial / max)", "allocator",
                  f"Δ raw vs {REFERENCE}", "status"], rows, "lrrrrlrl")
    check = getattr(result, "check", None)  # scan --gate's CheckResult
    if check is not None:
        from auditor.report.markdown_check import budgets_table

        verdict = "✅ passed" if check.passed else "❌ failed"
        out += ["", f"### Budgets {verdict}", "", *budgets_table(check)]
    return "\n".join(out).rstrip() + "\n"
