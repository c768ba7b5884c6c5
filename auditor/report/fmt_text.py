"""Text for people: aligned tables; each result kind has its own text_<kind> module."""

from __future__ import annotations

from auditor.report import per_kind


def format(result, color: bool = False) -> str:
    return per_kind("text", result).format(result, color=color)
