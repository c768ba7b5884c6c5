"""`auditor dominators FILE.wasm [NAME]`: the dominator tree with retained sizes."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("dominators")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.argument("name", required=False)
@click.option("-d", "--depth", type=click.IntRange(min=0), default=0, show_default=True,
              help="Levels below the start to show; 0 = all.")
@click.option("-r", "--rows", type=click.IntRange(min=0), default=100, show_default=True,
              help="Rows to show; 0 = all.")
@output_options("dominators")
@read_only_analysis
def command(wasm: str, name: str | None, depth: int, rows: int, fmt: str, output: str | None, color: str) -> int:
    """Print the dominator tree of FILE.wasm, indented, children largest first: an item's
    subtree is what disappears with it. NAME (an item's name, or a regular expression)
    starts the tree at the matching items. Exit 0."""
    from auditor.pipeline.deep import dominators

    render_and_emit(dominators(wasm, name, depth=depth, rows=rows), fmt, output, color)
    return 0
