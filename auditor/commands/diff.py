"""`auditor diff OLD NEW`: size changes between two reports or two .wasm files."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0),
              help="Rows per breakdown (crates, functions); 0 = all.")
@click.option("--variant", help='Glob over "profile/allocator": which variants of scan reports to break down '
                                '(default: every variant built in both; with one .wasm side: release/default).')
@click.option("--no-deep", is_flag=True, help="Skip the deep deltas of .wasm sides (retained sizes, both crate "
              "views, source files), which read each module's item graph and DWARF.")
@output_options("diff")
def command(old, new, top, variant, no_deep, fmt, output, color):
    """Compare OLD and NEW: scan reports, inspect reports or .wasm files (any pair).

    Totals, sections, crates and functions, with Rust symbol hashes ignored so a
    function whose hash changed stays one row. Sorted by absolute change. Exit 0.
    """
    from auditor.pipeline import diff

    render_and_emit(diff(old, new, top=top, variant=variant, deep=not no_deep), fmt, output, color)
    return 0
