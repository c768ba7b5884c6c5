"""Markdown for `auditor check`: the PR comment (marker, variants, budgets, top changes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from auditor.gate.diff import DETAILS
from auditor.report import show
from auditor.report.fmt_markdown import cell, code, table
from auditor.report.markdown_blocks import MARKER, change, module_details, size

if TYPE_CHECKING:
    from auditor.gate.budgets import CheckResult


def _title(result) -> str:
    crate = result.scan.get("crate")
    name = crate.get("name") if isinstance(crate, dict) else crate
    verdict = "✅ size budgets passed" if result.passed else "❌ size budgets failed"
    if not result.budgets:  # check --if-configured on a crate without budgets
        verdict = "ℹ️ no size budgets configured"
    return f"## {verdict} — {name}" if name else f"## {verdict}"


def variants_table(result) -> list[str]:
    """Every variant with its sizes and a delta: against the baseline when there is one,
    else against the report's reference variant (the crate's own release build)."""
    rows = result.variant_rows()
    deltas: list[str | None]
    if result.baseline is not None:
        against, deltas = "baseline", [change(r["baseline_raw"], r["raw"]) for r in rows]
    else:
        against = result.scan.get("baseline_variant")
        ref = next((r["raw"] for r in rows if r["variant"] == against), None)
        deltas = [("reference" if r["variant"] == against else change(ref, r["raw"])) if ref is not None else None
                  for r in rows]
    has_delta = any(d is not None for d in deltas)
    out: list[list[str]] = []
    for r, delta in zip(rows, deltas):
        status = "ok" if r["status"] == "ok" else f"❌ build failed: {cell((r['error'] or '').splitlines()[0][:120])}"
        out.append([code(r["variant"]), size(r["raw"]), size(r["gzip"]), size(r["brotli"])]
                   + ([delta or ""] if has_delta else []) + [status])
    headers = ["variant", "raw", "gzip", "brotli"] + ([f"Δ raw vs {against}"] if has_delta else []) + ["status"]
    return table(headers, out, "lrrr" + ("r" if has_delta else "") + "l")


_MARK = {"pass": "✅", "fail": "❌", "error": "⚠️"}


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
                rows.append([cell(b.name), code(bv.variant), cell(lim.metric), show.actual(lim), cell(show.limit(lim)),
                             "—" if lim.actual is None else show.headroom(lim),
                             _MARK[lim.status] + (f" {cell(lim.note)}" if lim.note else "")])
            for inc in bv.increases:
                if inc.status == "skip":
                    continue
                rows.append([cell(b.name), code(bv.variant), f"{cell(inc.metric)} growth",
                             show.signed(inc.delta, "bytes", inc.baseline),
                             f"≤ {inc.allowed:,} B ({inc.allowed_text})", show.signed(inc.allowed - inc.delta, "bytes"),
                             _MARK[inc.status]])
    out = table(["budget", "variant", "metric", "actual", "limit", "headroom", ""], rows, "lllrrrl")
    messages = [f"- **{cell(b.name)}**: {cell(b.message)}" for b in result.budgets if b.message and b.status != "pass"]
    return out + ([""] + messages if messages else [])


MAX_DETAILS = DETAILS  # collapsible diffs per comment (the gate keeps that many: CheckResult.details)


def details_section(result) -> list[str]:
    diffs, left_out = result.details
    out = module_details(diffs, "baseline")
    if left_out:
        names = ", ".join(code(v) for v in left_out)
        out += [f"Not shown: {names} (`auditor diff BASELINE REPORT --variant GLOB` breaks them down).", ""]
    return out


def render(result: CheckResult, *, color: bool = False) -> str:
    out = [MARKER, _title(result), ""]
    s = result.summary()
    against = f"baseline `{Path(result.baseline_file).name}`" if result.baseline_file else "no baseline"
    out += [f"{s['pass']} passed, {s['fail']} failed, {s['error']} not measured · {against}", ""]
    out += ["### Variants", "", *variants_table(result), "", "### Budgets", "", *budgets_table(result), ""]
    out += details_section(result)
    return "\n".join(out).rstrip() + "\n"
