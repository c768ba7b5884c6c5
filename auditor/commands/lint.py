"""`auditor lint [PATH…]`: static profile and manifest rules, no build.

Runs as a pre-commit hook, so it must start fast: nothing here (or below) imports
wasmtime or the wasm stage; tests check sys.modules in a subprocess.
"""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--profile", default="release", show_default=True,
              help="Cargo profile to check (in the workspace-root manifest).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file (auditor.toml format); overrides Cargo.toml metadata.")
@click.option("--list-rules", is_flag=True,
              help="List every rule and exit (text: id, level, category, kind, title; json: everything).")
@output_options("lint")
def command(paths, profile: str, config_file: str | None, list_rules: bool, fmt: str,
            output: str | None, color: str) -> int:
    """Check Cargo.toml profiles, allocator dependencies and link settings for wasm size.

    PATH is a crate or workspace directory or a Cargo.toml (default: the current
    directory). Exit 0 clean or only warnings/notes, 1 error-level findings, 2 bad input.
    """
    from auditor import pipeline

    if list_rules:
        from auditor.errors import AuditorError
        from auditor.report import formats

        if fmt not in formats("rules"):
            raise AuditorError(f"--list-rules prints {' or '.join(formats('rules'))}, not {fmt}")
        render_and_emit(pipeline.list_rules(), fmt, output, color)
        return 0
    result = pipeline.lint(paths, profile=profile, config_file=config_file)
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
