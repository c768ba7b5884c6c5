"""Options every reporting command shares, so they read the same everywhere, and the one
way a command prints its result: through the report layer's registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from auditor.io import emit
from auditor.report import formats, render, use_color
from auditor.report.registry import Result

F = TypeVar("F", bound=Callable[..., Any])


def output_options(kind: str) -> Callable[[F], F]:
    """--format (every format registered for results of `kind`), -o and --color."""

    def wrap(f: F) -> F:
        f = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                         help="Colour in text output (NO_COLOR is honoured).")(f)
        f = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                         help="Write the report to FILE (atomically) instead of stdout.")(f)
        f = click.option("--format", "fmt", type=click.Choice(formats(kind)), default="text", show_default=True,
                         help="Report format.")(f)
        return f

    return wrap


def render_and_emit(result: Result, fmt: str, output: str | None, color: str = "never") -> None:
    """The result in `fmt` to -o FILE (atomically) or stdout; colour only in text on a terminal."""
    text = render(result, fmt, color=(fmt == "text" and not output and use_color(color)))
    emit(text, output)
