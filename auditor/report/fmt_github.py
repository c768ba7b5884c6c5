"""GitHub Actions: workflow-command annotations on stdout, a job summary on the side.

Each finding becomes `::error file=F,line=L,col=C,title=T::message` (warning and
notice for the other levels), which the runner turns into annotations on the PR diff.
When $GITHUB_STEP_SUMMARY names a file, the result's markdown is appended to it.
"""

from __future__ import annotations

import os

from auditor.errors import AuditorError

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(f) -> str:
    """One workflow command; properties and data escaped as the runner requires."""
    props = []
    if f.file:
        props.append(f"file={_prop(f.file)}")
        if f.line:
            props.append(f"line={int(f.line)}")
            if f.column:
                props.append(f"col={int(f.column)}")
    title = f"{f.rule} {f.title}".strip() if f.title else f.rule
    if f.variant:
        title += f" [{f.variant}]"
    props.append(f"title={_prop(title)}")
    msg = f.message + (f"\n{f.help}" if f.help else "")
    return f"::{_COMMAND.get(f.level, 'warning')} {','.join(props)}::{_data(msg)}"


def markdown(result) -> str:
    """The result's markdown (its own renderer, else the findings summary): the job summary."""
    from auditor.report import render

    return render(result, "markdown")


def render(result, *, color: bool = False) -> str:
    lines = [annotation(f) for f in getattr(result, "findings", []) or []]
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(markdown(result).rstrip("\n") + "\n\n")
        except OSError as e:
            raise AuditorError(f"cannot append the job summary: {e.strerror}", path) from None
    return "\n".join(lines) + ("\n" if lines else "")
