"""Options every reporting command shares, so they read the same everywhere."""

from __future__ import annotations

import click

from auditor.report import FORMATS


def output_options(formats: tuple[str, ...] = FORMATS):
    def wrap(f):
        f = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                         help="Colour in text output (NO_COLOR is honoured).")(f)
        f = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                         help="Write the report to FILE (atomically) instead of stdout.")(f)
        f = click.option("--format", "fmt", type=click.Choice(list(formats)), default="text", show_default=True,
                         help="Report format.")(f)
        return f

    return wrap


def render_and_emit(result, fmt: str, output: str | None, color: str) -> None:
    from auditor.io import emit
    from auditor.report import render, use_color

    text = render(result, fmt, color=(fmt == "text" and not output and use_color(color)))
    emit(text, output)
