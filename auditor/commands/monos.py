"""`auditor monos FILE.wasm`: monomorphized copies grouped by generic function."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("monos")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("-n", "count", type=click.IntRange(min=0), default=20, show_default=True,
              help="Generics to list (most savings first); 0 = all.")
@click.option("--instances", type=click.IntRange(min=0), default=10, show_default=True,
              help="Copies listed per generic in JSON (text shows 3).")
@output_options("monos")
@read_only_analysis
def command(wasm: str, count: int, instances: int, fmt: str, output: str | None, color: str) -> int:
    """Group the functions of FILE.wasm by generic (demangled, generic arguments and
    hashes removed; legacy and v0 names, C++ templates): copies, bytes, and the bytes
    saved if only the largest copy remained. Exit 0."""
    from auditor.pipeline.deep import monos

    render_and_emit(monos(wasm, n=count, instances=instances), fmt, output, color)
    return 0
