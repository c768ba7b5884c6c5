"""`auditor lint --list-rules`: one line per rule (id, level, category, kind, title)."""

from __future__ import annotations

from auditor.rules.catalog import RuleList


def render(result: RuleList, *, color: bool = False) -> str:
    return "\n".join(f"{r.id}  {r.level:<7}  {r.category:<9}  {r.kind:<8}  {r.title}" for r in result.rules)
