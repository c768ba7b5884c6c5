"""`auditor fix [PATH] [--profile NAME] [--dry-run]`: apply the recommended profile."""

from __future__ import annotations

import click


@click.command("fix")
@click.argument("path", required=False, default=".", type=click.Path())
@click.option("--profile", default="release", show_default=True,
              help="Profile to rewrite (created, inheriting release, if missing).")
@click.option("--dry-run", is_flag=True, help="Print the diff, write nothing.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Config file: rules turned off there are left alone.")
def command(path: str, profile: str, dry_run: bool, config_file: str | None) -> int:
    """Rewrite the workspace-root [profile.release] (or --profile NAME) for size.

    Writes what the profile rules recommend: opt-level = "z", lto = true,
    codegen-units = 1, strip = true, debug / debug-assertions / overflow-checks off,
    panic = "abort" (when unwind is written, or in a new table), keeping comments, key
    order and formatting. Values that already satisfy a rule are kept (opt-level "s",
    lto "fat", strip "symbols"); rules set to "off" in config are skipped. Prints a
    unified diff on stdout; a second run changes nothing. Refuses a workspace member.
    """
    from auditor.commands.options import render_and_emit
    from auditor.io import log
    from auditor.pipeline import apply_fix, fix

    result = fix(path, profile=profile, config_file=config_file)
    for note in result.elsewhere:
        log(f"auditor: {note}")
    if not result.changes:
        log(f"auditor: {result.display} [profile.{profile}] already has the recommended settings")
        return 0
    render_and_emit(result, "text", None)
    if dry_run:
        log(f"auditor: dry run: {len(result.changes)} change(s) not written to {result.display}")
    else:
        apply_fix(result)
        log(f"auditor: wrote {result.display}: " + "; ".join(result.changes))
    return 0
