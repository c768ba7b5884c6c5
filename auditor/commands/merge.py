"""`auditor merge REPORT...`: combine shard scan reports into one."""

from __future__ import annotations

import json

import click


@click.command("merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", help="Write the merged report to FILE (atomically) instead of stdout.")
def command(reports, output):
    """Merge the scan reports of `scan --shard K/N` runs into the report of one run.

    The result (JSON, auditor.scan/1) is what `check` and `diff` read. Exit 2 when the
    reports come from different crates or toolchains, overlap, or a shard is missing.
    """
    from auditor.gate.merge import merge_reports
    from auditor.gate.report import load_report
    from auditor.io import emit, log

    loaded = [(path, load_report(path, kinds=("scan",))) for path in reports]
    merged = merge_reports(loaded)
    emit(json.dumps(merged, indent=2, ensure_ascii=False), output)
    log(f"auditor merge: {len(loaded)} report{'s' if len(loaded) != 1 else ''}, "
        f"{len(merged['variants'])} variants" + (f" -> {output}" if output else ""))
    return 0
