"""One formatter interface for every command.

A result is a dataclass with a class attribute `KIND` ("inspect", "scan", "run", "lint",
"check", "diff", ...) and a `to_json()` method returning the documented JSON object.
`render(result, fmt)` imports `auditor.report.fmt_<fmt>` and calls its `format()`.
Per-kind renderers for a format live in `auditor/report/<fmt>_<kind>.py`.
"""

from __future__ import annotations

import importlib
import os
import sys

FORMATS = ("text", "json", "markdown", "sarif", "junit", "github")


def use_color(choice: str, stream=None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def available_formats() -> list[str]:
    return [f for f in FORMATS if importlib.util.find_spec(f"auditor.report.fmt_{f}")]


def render(result, fmt: str, *, color: bool = False) -> str:
    from auditor.errors import AuditorError

    try:
        module = importlib.import_module(f"auditor.report.fmt_{fmt}")
    except ModuleNotFoundError:
        raise AuditorError(f"unknown output format {fmt!r}") from None
    return module.format(result, color=color)


def per_kind(fmt: str, result):
    """The renderer module for one (format, result kind) pair."""
    from auditor.errors import AuditorError

    name = f"auditor.report.{fmt}_{result.KIND}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise AuditorError(f"format {fmt!r} is not available for {result.KIND} reports") from None
