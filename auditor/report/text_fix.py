"""`auditor fix`: the unified diff of the planned rewrite (what `patch` and `git apply` read)."""

from __future__ import annotations

from auditor.rules.fix import FixResult


def render(result: FixResult, *, color: bool = False) -> str:
    return result.diff()
