"""Markdown (PR comments, job summaries) for a kind without its own markdown renderer:
a findings-and-checks summary, so every command with findings that offers `--format
markdown` (and the github job summary) works for every kind.

The small table/escaping helpers here are shared by the per-kind markdown modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.report.registry import FindingsResult

LEVEL_MARK = {"error": "❌ error", "warning": "⚠️ warning", "note": "ℹ️ note"}


def render(result: FindingsResult, *, color: bool = False) -> str:
    return generic(result)


def cell(text) -> str:
    """One table cell: pipes escaped, newlines folded, so the table never breaks."""
    s = "" if text is None else str(text)
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def code(text) -> str:
    s = "" if text is None else str(text)
    fence = "``" if "`" in s else "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}".replace("|", "\\|")


def table(headers: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    align = align.ljust(len(headers), "l")
    sep = ["---:" if a == "r" else ":---" if a == "l" else ":---:" for a in align]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def location(f) -> str:
    if not f.file:
        return ""
    return code(f"{f.file}:{f.line}" if f.line else f.file)


def findings_table(findings) -> list[str]:
    """Level, rule, location, variant (when any) and message of each finding."""
    has_variant = any(f.variant for f in findings)
    rows = []
    for f in findings:
        row = [LEVEL_MARK.get(f.level, f.level), code(f.rule), location(f)]
        if has_variant:
            row.append(code(f.variant) if f.variant else "")
        rows.append(row + [cell(f.message)])
    headers = ["level", "rule", "location"] + (["variant"] if has_variant else []) + ["message"]
    return table(headers, rows)


def counts_line(findings) -> str:
    counts = {"error": 0, "warning": 0, "note": 0}
    for f in findings:
        counts[f.level] = counts.get(f.level, 0) + 1
    parts = [f"{n} {lvl}{'s' if n != 1 else ''}" for lvl, n in counts.items() if n]
    return ", ".join(parts) if parts else "no findings"


def help_details(findings) -> list[str]:
    """A collapsible block with each rule's fix, once per rule."""
    seen: dict[str, str] = {}
    for f in findings:
        if f.help and f.rule not in seen:
            seen[f.rule] = f"- **{f.rule}** {cell(f.title)}: {cell(f.help)}"
    if not seen:
        return []
    return ["<details><summary>How to fix</summary>", "", *seen.values(), "", "</details>"]


def generic(result) -> str:
    """Findings, and what could not be measured, for kinds without a markdown module."""
    findings = list(getattr(result, "findings", []) or [])
    checks = list(getattr(result, "checks", []) or [])
    target = getattr(result, "file", None) or getattr(result, "path", None)
    title = f"## auditor {result.KIND}" + (f" — {code(target)}" if isinstance(target, str) else "")
    out = [title, "", f"**{counts_line(findings)}**"]
    if checks:
        status = {s: sum(c.status == s for c in checks) for s in ("pass", "fail", "error")}
        out[-1] += (f" · {len(checks)} checks: {status['pass']} passed, {status['fail']} with findings, "
                    f"{status['error']} not measured")
    out.append("")
    if findings:
        out += findings_table(findings) + [""] + help_details(findings) + [""]
    unmeasured = [c for c in checks if c.status == "error"]
    if unmeasured:
        out += ["<details><summary>Not measured</summary>", ""]
        out += [f"- {code(c.rule)} {cell(c.target)}: {cell(c.message)}" for c in unmeasured]
        out += ["", "</details>"]
    return "\n".join(out).rstrip() + "\n"
