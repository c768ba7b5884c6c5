"""`auditor config` as a markdown table: key, value, source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.fmt_markdown import cell, code, table
from auditor.report.text_config import _value

if TYPE_CHECKING:
    from auditor.config.loader import ConfigResult


def render(result: ConfigResult, *, color: bool = False) -> str:
    cfg = result.config
    out = [f"## auditor config — {code(result.crate_dir)}", ""]
    if cfg.layers:
        out += ["Layers, first found wins: " + ", ".join(code(l.source) for l in cfg.layers), ""]
    rows = [[code(k), code(_value(v)), cell(s), code(f"{loc[0]}:{loc[1]}") if loc else ""]
            for k, v, s, loc in cfg.items()]
    out += table(["key", "value", "source", "line"], rows) if rows else ["No configuration: defaults apply."]
    return "\n".join(out) + "\n"
