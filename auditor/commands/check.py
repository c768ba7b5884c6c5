"""`auditor check REPORT.json`: gate a saved scan report against budgets and a baseline."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("check")
@click.argument("report", type=click.Path(dir_okay=False))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Config file (budgets) read before Cargo.toml metadata.")
@click.option("--crate", "crate_dir", type=click.Path(file_okay=False),
              help="Crate whose Cargo.toml / auditor.toml holds the budgets (default: the scanned crate's "
                   "directory if it exists here, else .).")
@click.option("--baseline", type=click.Path(dir_okay=False), help="Scan report saved from the base branch (default: gate.baseline).")
@click.option("--max-increase", help='Allowed growth over the baseline: "5%" or a size like "10 KiB" (a budget\'s own max-increase wins).')
@click.option("--budget", "budget", multiple=True,
              help='A budget on the command line, METRIC<=LIMIT, e.g. "raw<=150 KiB" or "brotli<=60 KiB" '
                   "(repeatable; added to the configured ones).")
@click.option("--if-configured", is_flag=True,
              help="A crate with no [[budget]] (and no baseline allowance) passes with a notice instead of "
                   "exit 2 (CI on branches that have no budgets yet).")
@output_options("check")
def command(report, config_file, crate_dir, baseline, max_increase, budget, if_configured, fmt, output, color):
    """Gate REPORT (a scan report, merged shards, or a .wasm module) on the budgets.

    Prints actual, limit and headroom per budget and variant; exit 1 on any breach,
    a failed variant or a figure that could not be measured; 2 on bad input (and when
    there is nothing to check, unless --if-configured).
    """
    from auditor.pipeline import check_report

    result = check_report(report, config_file=config_file, crate_dir=crate_dir, baseline=baseline,
                          max_increase=max_increase, budget=budget, if_configured=if_configured)
    if if_configured and not result.budgets:
        from auditor.io import log

        log("auditor: notice: no [[budget]] tables and no baseline allowance: nothing to check "
            "(--if-configured: passing)")
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
