"""Markdown for `auditor check`: the PR comment (marker, variants, budgets, top changes)."""

from __future__ import annotations

from pathlib import Path

from auditor.gate.markdown import MARKER, change, module_details, size
from auditor.report.fmt_markdown import cell, code, table
from auditor.report.text_check import quantity


def _title(result) -> str:
    crate = result.scan.get("crate")
    name = crate.get("name") if isinstance(crate, dict) else crate
    verdict = "✅ size budgets passed" if result.passed else "❌ size budgets failed"
    return f"## {verdict} — {name}" if name else f"## {verdict}"


def variants_table(result) -> list[str]:
    rows = []
    has_base = result.baseline is not None
    for r in result.variant_rows():
        status = "ok" if r["status"] == "ok" else f"❌ build failed: {cell((r['error'] or '').splitlines()[0][:120])}"
        row = [code(r["variant"]), size(r["raw"]), size(r["gzip"]), size(r["brotli"])]
        if has_base:
            row.append(change(r["baseline_raw"], r["raw"]))
        rows.append(row + [status])
    headers = ["variant", "raw", "gzip", "brotli"] + (["Δ raw vs baseline"] if has_base else []) + ["status"]
    return table(headers, rows, "lrrr" + ("r" if has_base else "") + "l")


def budgets_table(result) -> list[str]:
    if not result.budgets:
        return ["No budgets configured."]
    rows = []
    for b in result.budgets:
        for bv in b.variants:
            mark = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}[bv.status]
            if bv.error:
                rows.append([cell(b.name), code(bv.variant), "—", "—", "—", "—", f"{mark}: {cell(bv.error)}"])
            for lim in bv.limits:
                head = "—" if lim.headroom is None else f"{lim.headroom:+,} ({lim.headroom_percent:+.1f}%)" \
                    if lim.unit == "bytes" else f"{lim.headroom:+g}"
                rows.append([cell(b.name), code(bv.variant), lim.metric, quantity(lim.actual, lim.unit),
                             f"{quantity(lim.limit, lim.unit)}", head,
                             {"pass": "✅", "fail": "❌", "error": "⚠️"}[lim.status] + (f" {cell(lim.note)}" if lim.note else "")])
            for inc in bv.increases:
                if inc.status == "skip":
                    continue
                rows.append([cell(b.name), code(bv.variant), f"{inc.metric} growth", f"{inc.delta:+,} B",
                             f"≤ {inc.allowed:,} B ({inc.allowed_text})", f"{inc.allowed - inc.delta:+,}",
                             "✅" if inc.status == "pass" else "❌"])
    out = table(["budget", "variant", "metric", "actual", "limit", "headroom", ""], rows, "lllrrrl")
    messages = [f"- **{cell(b.name)}**: {cell(b.message)}" for b in result.budgets if b.message and b.status != "pass"]
    return out + ([""] + messages if messages else [])


def budget_diffs(result, top: int = 10):
    """Module diffs of the budgeted variants against the baseline (default variant if none)."""
    from auditor.gate.diff import diff_modules
    from auditor.gate.report import variant_id

    if result.baseline is None:
        return []
    base = {variant_id(v): v for v in result.baseline["variants"]}
    wanted = [bv.variant for b in result.budgets for bv in b.variants] or [result.default_variant]
    out = []
    for v in result.scan["variants"]:
        vid = variant_id(v)
        if vid in wanted and vid in base and v["status"] == base[vid]["status"] == "ok":
            out.append(diff_modules(base[vid]["wasm"], v["wasm"], top, vid))
    return out


def format(result, color: bool = False) -> str:
    out = [MARKER, _title(result), ""]
    s = result.summary()
    against = f"baseline `{Path(result.baseline_file).name}`" if result.baseline_file else "no baseline"
    out += [f"{s['pass']} passed, {s['fail']} failed, {s['error']} not measured · {against}", ""]
    out += ["### Variants", "", *variants_table(result), "", "### Budgets", "", *budgets_table(result), ""]
    out += module_details(budget_diffs(result), "baseline")
    return "\n".join(out).rstrip() + "\n"
