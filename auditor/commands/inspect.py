"""`auditor inspect FILE.wasm`: the wasm stage alone."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("inspect")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the largest functions the text report lists.")
@click.option("--compression", type=click.Choice(["auto", "exact", "fast", "none"]), default="auto", show_default=True,
              help="exact: gzip -9 and brotli -q 11; fast: gzip -6 and brotli -q 9; none: skip; "
                   "auto: exact up to 1 MiB, fast above.")
@output_options()
def command(wasm: str, top: int, compression: str, fmt: str, output: str | None, color: str) -> int:
    """Read FILE.wasm: sizes by section, memory, interface, functions, crates, allocator."""
    from auditor.wasm.inspect import inspect_file

    result = inspect_file(wasm, compression=compression)
    result.top = top
    render_and_emit(result, fmt, output, color)
    return 0
