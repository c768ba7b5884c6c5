"""GitHub Actions: workflow-command annotations on stdout, a job summary on the side.

Findings that differ only in their variant are one annotation (the variants in its
title), `::error file=F,line=L,col=C,title=T::message` (warning and notice for the
other levels), which the runner turns into annotations on the PR diff. GitHub shows at
most 10 annotations of each level per step and drops the rest silently, so at most
`LIMIT` per level are written (errors first, in order); the others are counted in one
plain line on stdout and listed in the job summary. When $GITHUB_STEP_SUMMARY names a
file, the result's markdown (and that list) is appended to it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from auditor.errors import AuditorError
from auditor.report.ci import Group, by_level, group_findings
from auditor.report.escape import visible

if TYPE_CHECKING:
    from auditor.report.registry import FindingsResult

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}
_NOUN = {"error": "error", "warning": "warning", "note": "notice"}
LIMIT = 10  # annotations GitHub shows per level per step


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def _title(g: Group) -> str:
    f = g.finding
    title = f"{f.rule} {f.title}".strip() if f.title else f.rule
    if g.variants:
        title += f" [{g.variant_text}]"
    return title


def annotation(f, group: Group | None = None) -> str:
    """One workflow command; properties and data escaped as the runner requires, and
    module text made visible (no terminal control sequence reaches the log)."""
    g = group or Group(f, [f.variant] if f.variant else [], 1)
    props = []
    if f.file:
        props.append(f"file={_prop(visible(f.file))}")
        if f.line:
            props.append(f"line={int(f.line)}")
            if f.column:
                props.append(f"col={int(f.column)}")
    props.append(f"title={_prop(visible(_title(g)))}")
    msg = visible(f.message, lines=True) + (f"\n{visible(f.help, lines=True)}" if f.help else "")
    return f"::{_COMMAND.get(f.level, 'warning')} {','.join(props)}::{_data(msg)}"


def select(groups: list[Group]) -> tuple[list[Group], list[Group]]:
    """(shown, held back): at most LIMIT groups per level, errors first."""
    shown: list[Group] = []
    rest: list[Group] = []
    per: dict[str, int] = {}
    for g in by_level(groups):
        level = g.finding.level
        if per.get(level, 0) < LIMIT:
            per[level] = per.get(level, 0) + 1
            shown.append(g)
        else:
            rest.append(g)
    return shown, rest


def overflow_line(rest: list[Group]) -> str:
    counts: dict[str, int] = {}
    for g in rest:
        counts[g.finding.level] = counts.get(g.finding.level, 0) + 1
    parts = [f"{n} more {_NOUN.get(lvl, lvl)}{'s' if n != 1 else ''}" for lvl, n in counts.items()]
    return (f"auditor: {' and '.join(parts)} not shown as annotations (GitHub shows {LIMIT} per level "
            f"per step); all are in the job summary")


def overflow_markdown(rest: list[Group]) -> str:
    from auditor.report.fmt_markdown import cell, code, table

    rows = [[_NOUN.get(g.finding.level, g.finding.level), code(g.finding.rule),
             code(f"{g.finding.file}:{g.finding.line}" if g.finding.line else g.finding.file or ""),
             cell(g.variant_text), cell(g.finding.message)] for g in rest]
    return "\n".join([f"### Findings not shown as annotations ({len(rest)})", "",
                      *table(["level", "rule", "location", "variants", "message"], rows)]) + "\n"


def markdown(result) -> str:
    """The result's markdown (its own renderer, else the findings summary): the job summary."""
    from auditor.report import render

    return render(result, "markdown")


def render(result: FindingsResult, *, color: bool = False) -> str:
    shown, rest = select(group_findings(list(getattr(result, "findings", []) or [])))
    lines = [annotation(g.finding, g) for g in shown]
    if getattr(result, "budgets", None) == [] and getattr(result, "KIND", "") == "check":
        # check --if-configured on a crate without budgets: say so where people look
        lines.append("::notice title=auditor check::no [[budget]] tables and no baseline allowance: nothing was "
                     "gated (add budgets to the crate's config)")
    if rest:
        lines.append(overflow_line(rest))
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        text = markdown(result).rstrip("\n") + "\n\n"
        if rest:
            text += overflow_markdown(rest) + "\n"
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as e:
            raise AuditorError(f"cannot append the job summary: {e.strerror}", path) from None
    return "\n".join(lines) + ("\n" if lines else "")
