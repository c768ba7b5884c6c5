"""`auditor inspect FILE.wasm`: the wasm stage alone, then the module rules."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, read_only_analysis, render_and_emit


@click.command("inspect")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the largest functions the text report lists; 0 = all (as in diff).")
@click.option("--compression", type=click.Choice(["auto", "exact", "fast", "none"]), default="auto", show_default=True,
              help="exact: gzip -9 and brotli -q 11; fast: gzip -5 and brotli -q 5; none: skip; "
                   "auto: exact up to 1 MiB, fast above.")
@click.option("--dwarf", "walk_dwarf", is_flag=True,
              help="Also read every DWARF entry (~0.6 s per MB of .debug_info): each function's source file, "
                   "line, crate and where it was inlined.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file (rule levels, thresholds); else the one found from the current directory.")
@output_options("inspect")
@read_only_analysis
def command(wasm: str, top: int, compression: str, walk_dwarf: bool, config_file: str | None, fmt: str,
            output: str | None, color: str) -> int:
    """Read FILE.wasm: sizes by section, memory, interface, functions, crates, allocator.

    Module rules (debug sections, unbounded memory, unchecked memory.grow, ...) run over
    the record; exit 1 when one reports an error.
    """
    from auditor.pipeline import inspect

    result = inspect(wasm, compression=compression, dwarf=walk_dwarf, top=top, config_file=config_file)
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
