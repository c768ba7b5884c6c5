"""Lint diagnostics the way compilers print them: file:line:col, rule, level, source line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from auditor.report.table import wrap

if TYPE_CHECKING:
    from auditor.rules.lint import LintResult

_LEVEL_COLOR = {"error": "red", "warning": "yellow", "note": "cyan"}


def diagnostic(f, color: bool = False) -> str:
    """`Cargo.toml:12:1: AUD103 warning: message`, then the source line and help."""
    where = f.file or "-"
    if f.line:
        where += f":{f.line}:{f.column or 1}"
    level = click.style(f.level, fg=_LEVEL_COLOR.get(f.level), bold=True) if color else f.level
    rule = click.style(f.rule, bold=True) if color else f.rule
    head = f"{where}: {rule} {level}: {f.message}"
    if f.variant:
        head = f"{where}: {rule} {level}: [{f.variant}] {f.message}"
    out = [wrap(head)]
    if f.source_line is not None and f.line:
        gutter = str(f.line)
        out.append(f"  {gutter} | {f.source_line}")
        caret = " " * ((f.column or 1) - 1) + "^"
        out.append(f"  {' ' * len(gutter)} | {click.style(caret, fg=_LEVEL_COLOR.get(f.level)) if color else caret}")
    if f.help:
        out.append(wrap(f"  help: {f.help}", "        "))
    return "\n".join(out)


def summary(counts: dict, where: str) -> str:
    parts = [f"{n} {lvl}{'s' if n != 1 else ''}" for lvl, n in counts.items() if n]
    return (", ".join(parts) if parts else "no findings") + where


def render(result: LintResult, *, color: bool = False) -> str:
    blocks = [diagnostic(f, color) for f in result.findings]
    n = len(result.manifests)
    where = f" ({result.profile} profile, {n} workspace{'s' if n != 1 else ''}: {', '.join(result.manifests)})"
    blocks.append(summary(result.counts(), where))
    return "\n\n".join(blocks) + "\n"
