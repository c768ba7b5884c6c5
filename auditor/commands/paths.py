"""`auditor paths FILE.wasm NAME|REGEX`: why is this item here?"""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("paths")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.argument("query")
@click.option("--paths", "max_paths", type=click.IntRange(min=0), default=10, show_default=True,
              help="Paths per item (one per direct referrer, shortest first); 0 = all.")
@click.option("--items", "max_items", type=click.IntRange(min=0), default=10, show_default=True,
              help="Matching items to explain (largest first); 0 = all.")
@output_options("paths")
@read_only_analysis
def command(wasm: str, query: str, max_paths: int, max_items: int, fmt: str, output: str | None, color: str) -> int:
    """Shortest paths from the roots (exports, start, sections) to the items QUERY names:
    an exact name (raw symbol or demangled, hashes ignored), else a regular expression
    searched in every demangled name (RE2: linear time). Exit 0; 2 when nothing matches."""
    from auditor.pipeline.deep import paths

    render_and_emit(paths(wasm, query, max_paths=max_paths or 1 << 30, max_items=max_items), fmt, output, color)
    return 0
