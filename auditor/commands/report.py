"""`auditor report FILE -o report.html`: a saved scan or inspect report as one HTML page."""

from __future__ import annotations

import click

from auditor.commands.options import render_and_emit


@click.command("report")
@click.argument("report", type=click.Path(dir_okay=False))
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="A baseline scan report: adds the before/after view.")
@click.option("--no-retained", is_flag=True,
              help="Skip the retained-size treemap (it reads and analyses the .wasm file the report names).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the page to FILE (atomically) instead of stdout.")
def command(report, baseline, no_retained, output):
    """Render REPORT (a scan or inspect report saved as JSON) as one self-contained HTML
    page: the variant matrix as a heatmap, a treemap of crates and functions, a treemap of
    retained sizes (the dominator tree of the module the report names, when that file is
    still there and unchanged), memory growth curves with the cap, OOM outcomes and
    findings by rule. Exit 0; 2 on bad input.
    """
    from auditor.pipeline import saved_report

    render_and_emit(saved_report(report, baseline=baseline, retained=not no_retained), "html", output)
    return 0
