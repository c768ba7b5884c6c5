"""`auditor config` as TOML lines, each with its source: paste-able and traceable."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from auditor.manifest.toml import key as _key
from auditor.manifest.toml import literal

if TYPE_CHECKING:
    from auditor.config.loader import ConfigResult


def _value(v) -> str:
    return "none" if v is None else literal(v)


def render(result: ConfigResult, *, color: bool = False) -> str:
    cfg = result.config
    items = cfg.items()
    out = [f"# effective auditor configuration for {result.crate_dir}"]
    if cfg.layers:
        out.append("# layers, first found wins: " + "; ".join(l.source for l in cfg.layers))
    else:
        out.append("# no configuration found: built-in defaults apply")
    rows = []
    for key, value, source, loc in items:
        where = f"{loc[0]}:{loc[1]}" if loc else source
        if loc and not source.startswith(loc[0]):
            where = f"{where} ({source})"
        elif loc and source != loc[0]:
            where = f"{where} {source[len(loc[0]):].strip()}"
        rows.append((f"{'.'.join(_key(p) for p in key.split('.'))} = {_value(value)}", where))
    for key, value in result.defaults.items():
        rows.append((f"{'.'.join(_key(p) for p in key.split('.'))} = {_value(value)}", "built-in default"))
    # Comments line up, except after a long value (a scenario or budget array), where the
    # comment goes on the line above instead of pushing every other comment far right.
    width = max((len(a) for a, _ in rows if len(a) <= WIDE), default=0)
    for assignment, where in rows:
        comment = f"# {where}"
        comment = click.style(comment, dim=True) if color else comment
        if len(assignment) > WIDE:
            out += [comment, assignment]
        else:
            out.append(f"{assignment.ljust(width)}  {comment}")
    return "\n".join(out) + "\n"


WIDE = 100
