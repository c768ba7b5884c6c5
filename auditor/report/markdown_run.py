"""Markdown for `auditor run`: the findings summary every kind gets, plus the allocator
speed block (fuel per action, actions per µs, heap efficiency, the allocator's code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.fmt_markdown import generic
from auditor.report.speed_blocks import speed_markdown

if TYPE_CHECKING:
    from auditor.rules.audit import Audited
    from auditor.runtime.api import RunResult


def render(result: Audited[RunResult], *, color: bool = False) -> str:
    j = result.to_json()
    out = generic(result).rstrip("\n").splitlines()
    out += speed_markdown(j.get("speed"), j.get("allocator_code"))
    return "\n".join(out).rstrip() + "\n"
