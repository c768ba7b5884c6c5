"""`auditor check REPORT.json`: gate a saved scan report against budgets and a baseline."""

from __future__ import annotations

import click

from auditor.commands.options import output_options


@click.command("check")
@click.argument("report", type=click.Path(dir_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (budgets) read before Cargo.toml metadata.")
@click.option("--crate", "crate_dir", type=click.Path(file_okay=False),
              help="Crate whose Cargo.toml / auditor.toml holds the budgets (default: the scanned crate's "
                   "directory if it exists here, else .).")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Scan report saved from the base branch (default: gate.baseline).")
@click.option("--max-increase", help='Allowed growth over the baseline: "5%" or a size like "10 KiB" (a budget\'s own max-increase wins).')
@output_options()
def command(report, config_file, crate_dir, baseline, max_increase, fmt, output, color):
    """Gate REPORT (a scan report, or merged shards) on the configured budgets.

    Prints actual, limit and headroom per budget and variant; exit 1 on any breach,
    a failed variant or a figure that could not be measured; 2 on bad input.
    """
    from auditor.config import load_config
    from auditor.findings import exit_code
    from auditor.gate.budgets import evaluate, nothing_to_gate, prepare
    from auditor.gate.report import crate_dir as find_crate, load_report
    from auditor.io import emit
    from auditor.report import render, use_color

    scan = load_report(report, kinds=("scan",))
    config = load_config(find_crate(scan, crate_dir), config_file=config_file)
    base, base_path = prepare(config, baseline, max_increase)
    result = evaluate(scan, config, base, max_increase, report_name=report, baseline_name=base_path)
    error = nothing_to_gate(result, config)
    if error is not None:
        raise error
    emit(render(result, fmt, color=use_color(color) and not output), output)
    return exit_code(result.findings)
