"""Markdown for `auditor diff`: variant totals table, breakdowns in collapsible blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.gate.diff import DETAILS as MAX_DETAILS  # breakdowns per comment, as check's
from auditor.report.fmt_markdown import code, table
from auditor.report.markdown_blocks import MARKER, change, module_details, size

if TYPE_CHECKING:
    from auditor.gate.diff import DiffResult

BYTES = ("raw", "gzip", "brotli", "code", "data", "custom")


def _plain(n) -> str:
    return "—" if n is None else f"{n:,}"


def render(result: DiffResult, *, color: bool = False) -> str:
    out = [MARKER, f"## Size diff: {code(result.old)} → {code(result.new)}", ""]
    if result.variants:
        rows = []
        for v in result.variants:
            raw = v["raw"]
            state = ("new variant" if v["old_status"] is None else None) or ("removed" if v["new_status"] is None else
                                                                   "❌ failed" if v["new_status"] == "failed" else "ok")
            rows.append([code(v["variant"]), size(raw["old"]), size(raw["new"]), change(raw["old"], raw["new"]),
                         change(v["gzip"]["old"], v["gzip"]["new"]), state])
        out += table(["variant", "before", "after", "Δ raw", "Δ gzip", "status"], rows, "lrrrrl") + [""]
    for m in result.modules:
        rows = []
        for r in m.totals:
            if r.name in BYTES:
                rows.append([r.name, size(r.old), size(r.new), change(r.old, r.new)])
            else:  # pages, function count
                rows.append([r.name, _plain(r.old), _plain(r.new),
                             "—" if r.old is None or r.new is None else f"{r.delta:+}"])
        out += [f"### {code(m.variant) if m.variant else 'Module'}", "",
                *table(["", "before", "after", "change"], rows, "lrrr"), ""]
    # the largest changes get a breakdown; GitHub refuses comments over 65,536 characters
    ranked = sorted(result.modules, key=lambda m: -abs(next(r.delta for r in m.totals if r.name == "raw")))
    out += module_details(ranked[:MAX_DETAILS], "old")
    if ranked[MAX_DETAILS:]:
        names = ", ".join(code(m.variant) for m in ranked[MAX_DETAILS:])
        out += [f"Not broken down: {names} (`--variant GLOB` selects them)."]
    return "\n".join(out).rstrip() + "\n"
