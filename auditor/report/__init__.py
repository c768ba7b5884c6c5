"""The report layer: every result a command prints is written here, and only here.

`render(result, fmt)` looks the (result.KIND, fmt) pair up in the renderer registry
(`auditor.report.registry`; the registrations are in `auditor.report.formats`), so a
format or a result kind is one module plus one registration line. `formats(kind)` is
what a command offers as `--format`.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from auditor.report.formats import REGISTRY
from auditor.report.registry import Lazy, Result

FORMATS = tuple(REGISTRY.order)  # every format, in --format order


def formats(kind: str) -> list[str]:
    return REGISTRY.formats(kind)


def render(result: Result, fmt: str, *, color: bool = False) -> str:
    return REGISTRY.render(result, fmt, color=color)


_JSON = Lazy("auditor.report.fmt_json")


def stream(result: Result, fmt: str, out: TextIO) -> bool:
    """Write render(result, fmt) to `out` in pieces when the format's renderer is the JSON
    writer (unfiltered); False, having written nothing, otherwise (then render())."""
    if fmt != "json" or fmt in REGISTRY.filters or REGISTRY.lookup(fmt, result.KIND) != _JSON:
        return False
    from auditor.report.fmt_json import write

    write(result, out.write)
    out.flush()
    return True


def use_color(choice: str, stream: TextIO | Any = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()
