"""Markdown for `auditor lint`: a findings table with locations and collapsible fixes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.fmt_markdown import code, counts_line, findings_table, help_details

if TYPE_CHECKING:
    from auditor.rules.lint import LintResult


def render(result: LintResult, *, color: bool = False) -> str:
    verdict = "❌" if any(f.level == "error" for f in result.findings) else "✅"
    out = [f"## {verdict} auditor lint — {counts_line(result.findings)}", ""]
    out.append(f"`{result.profile}` profile · " + ", ".join(code(m) for m in result.manifests))
    out.append("")
    if result.findings:
        out += findings_table(result.findings) + [""] + help_details(result.findings)
    return "\n".join(out).rstrip() + "\n"
