"""`auditor config [PATH]`: the effective configuration and where each value came from."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("config")
@click.argument("path", required=False, default=".", type=click.Path())
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file (auditor.toml format), highest precedence after the command line.")
@output_options("config")
def command(path: str, config_file: str | None, fmt: str, output: str | None, color: str) -> int:
    """Print the effective config for a crate: each key, its value and its source.

    Layers, first found wins per key: command line, --config FILE,
    [package.metadata.auditor], [workspace.metadata.auditor], then the nearest
    auditor.toml / .auditor.toml walking up from the crate. Unknown keys and rule ids
    are errors with their file:line:col (exit 2).
    """
    from auditor.pipeline import config_report

    render_and_emit(config_report(path, config_file=config_file), fmt, output, color)
    return 0
