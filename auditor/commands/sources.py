"""`auditor sources FILE.wasm`: code bytes per source file, directory and line."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("sources")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("--functions", type=click.IntRange(min=0), default=10, show_default=True,
              help="Largest functions whose top lines are listed.")
@click.option("--lines", type=click.IntRange(min=0), default=5, show_default=True,
              help="Lines listed per function.")
@output_options("sources")
def command(wasm: str, functions: int, lines: int, fmt: str, output: str | None, color: str) -> int:
    """The code section of FILE.wasm per source file and directory, from the DWARF line
    tables in the module (DWARF 4 and 5; removed code skipped; inlined code counted
    where it was written), and the top lines of the largest functions. Without DWARF,
    says which setting adds it. Exit 0."""
    from auditor.pipeline.deep import sources

    render_and_emit(sources(wasm, functions=functions, lines=lines), fmt, output, color)
    return 0
