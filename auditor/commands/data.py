"""`auditor data FILE.wasm`: what the data segments hold, and who uses it."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("data")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True,
              help="Largest pieces kept per category.")
@output_options("data")
def command(wasm: str, count: int, fmt: str, output: str | None, color: str) -> int:
    """Split the data segments of FILE.wasm into panic messages, source paths, format
    strings, other readable strings, tables and the rest (every byte once), with the
    functions that reference each piece. Exit 0."""
    from auditor.pipeline.deep import data

    render_and_emit(data(wasm, n=count), fmt, output, color)
    return 0
