"""`auditor crates FILE.wasm`: code bytes per defining and per instantiating crate."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("crates")
@click.argument("wasm", type=click.Path(dir_okay=True))
@click.option("--no-dwarf", is_flag=True, help="Ignore the module's DWARF: names only.")
@output_options("crates")
def command(wasm: str, no_dwarf: bool, fmt: str, output: str | None, color: str) -> int:
    """The code section of FILE.wasm per crate, two views that each add up to it: the
    crate that defines the code (DWARF namespace, else the demangled path) and the crate
    that instantiated it (DWARF compile unit, else a v0 symbol's suffix), with an
    `unattributed` row. Exit 0."""
    from auditor.pipeline.deep import crates

    render_and_emit(crates(wasm, dwarf=not no_dwarf), fmt, output, color)
    return 0
