"""`auditor cache info` / `auditor cache prune`: the scan cache and its kept target dirs."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit

_CACHE_DIR = click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                          help="The cache (default: $XDG_CACHE_HOME/auditor).")


@click.group("cache")
def command() -> None:
    """The scan cache: results per variant and probe build, and the cargo target dirs
    kept between scans (incremental re-scans; bounded, least recently used go first)."""


@command.command("info")
@_CACHE_DIR
@output_options("cache")
def info(cache_dir: str | None, fmt: str, output: str | None, color: str) -> int:
    """Sizes and entries of the cache, and the kept target dirs per crate."""
    from auditor.pipeline import cache_info

    result = cache_info(cache_dir)
    render_and_emit(result, fmt, output, color)
    return 0


@command.command("prune")
@_CACHE_DIR
@click.option("--max-size", default=None, metavar="SIZE",
              help="Keep the most recently used target dirs up to SIZE (\"500 MiB\"); default: remove them all.")
@click.option("--all", "everything", is_flag=True, help="Also remove the cached results (every variant rebuilds).")
@output_options("cache")
def prune(cache_dir: str | None, max_size: str | None, everything: bool, fmt: str, output: str | None,
          color: str) -> int:
    """Remove kept target dirs (never one a running scan holds); with --all, results too."""
    from auditor.pipeline import cache_prune

    result = cache_prune(cache_dir, max_size, everything)
    render_and_emit(result, fmt, output, color)
    return 0
