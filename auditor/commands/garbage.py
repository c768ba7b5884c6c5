"""`auditor garbage FILE.wasm`: items no root reaches."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("garbage")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("-n", "count", type=click.IntRange(min=0), default=20, show_default=True,
              help="Items the text report lists; 0 = all (JSON always lists all).")
@output_options("garbage")
@read_only_analysis
def command(wasm: str, count: int, fmt: str, output: str | None, color: str) -> int:
    """List the items of FILE.wasm that no export, start function, section or memory
    reaches, largest first, with their bytes: what --gc-sections and wasm-opt left.
    Exit 0."""
    from auditor.pipeline.deep import garbage

    render_and_emit(garbage(wasm, n=count), fmt, output, color)
    return 0
