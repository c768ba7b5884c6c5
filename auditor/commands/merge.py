"""`auditor merge REPORT...`: combine shard scan reports into one."""

from __future__ import annotations

import click


@click.command("merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the merged report to FILE (atomically) instead of stdout.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file the scan used (rule levels).")
@click.option("--crate", "crate_dir", type=click.Path(file_okay=False),
              help="Crate whose config the scan used (default: the scanned crate's directory if it exists here, else .).")
def command(reports, output, config_file, crate_dir):
    """Merge the scan reports of `scan --shard K/N` runs into the report of one run.

    The result (JSON, auditor.scan/1) is what `check` and `diff` read. Exit 2 when the
    reports come from different crates or toolchains, overlap, or a shard is missing.
    """
    from auditor.commands.options import render_and_emit
    from auditor.io import log
    from auditor.pipeline import merge

    merged = merge(reports, config_file=config_file, crate_dir=crate_dir)
    render_and_emit(merged, "json", output)
    n = len(merged.record["variants"])
    log(f"auditor merge: {len(reports)} report{'s' if len(reports) != 1 else ''}, "
        f"{n} variant{'s' if n != 1 else ''}" + (f" -> {output}" if output else ""))
    return 0
