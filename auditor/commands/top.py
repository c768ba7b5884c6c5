"""`auditor top FILE.wasm`: the largest items by shallow or retained size."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("top")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("-n", "count", type=click.IntRange(min=0), default=20, show_default=True,
              help="Items to list; 0 = all.")
@click.option("--retained", is_flag=True,
              help="Sort by retained size (what would go with the item) instead of shallow size.")
@output_options("top")
@read_only_analysis
def command(wasm: str, count: int, retained: bool, fmt: str, output: str | None, color: str) -> int:
    """List the largest items of FILE.wasm: functions, data segments, custom sections,
    exports, section headers... (all items add up to the file), with shallow and
    retained sizes. Exit 0."""
    from auditor.pipeline.deep import top

    render_and_emit(top(wasm, n=count, retained=retained), fmt, output, color)
    return 0
