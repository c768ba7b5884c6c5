"""Text for `auditor diff`: per-variant totals, then each module's breakdowns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from auditor.report.table import table
from auditor.units import percent

if TYPE_CHECKING:
    from auditor.gate.diff import DiffResult


def num(value, unit: str = "B") -> str:
    return "-" if value is None else f"{value:,} {unit}".rstrip()


def delta(value, base=None, unit: str = "B", color: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:+,} {unit}".rstrip() + percent(value, base)
    if color and value:
        return click.style(text, fg="red" if value > 0 else "green")
    return text


_UNITS = {"initial-pages": "pages", "max-pages": "pages", "functions": ""}


def _breakdown(title: str, what: str, tab, color: bool, counts: bool = False) -> list[str]:
    if not tab.rows:
        return [f"  {title}: no changes ({tab.unchanged} unchanged)"]
    head = [what, "old", "new", "delta", ""]
    rows = []
    for r in tab.rows:
        mark = {"added": "new", "removed": "removed"}.get(r.status, "")
        if counts and r.status == "changed" and r.old_count != r.new_count:
            mark = f"x{r.old_count} -> x{r.new_count}"
        rows.append([r.name, num(r.old), num(r.new), delta(r.delta, r.old, color=color), mark])
    out = [f"  {title}", table(head, rows, align="lrrrl", indent="    ")]
    if tab.omitted:
        out.append(f"    ... {tab.omitted} more changed ({tab.omitted_delta:+,} B); {tab.unchanged} unchanged")
    return out


_DEEP = (("retained", "Retained size per item (what goes with it)", "item"),
         ("defining_crates", "Code per defining crate", "crate"),
         ("instantiating_crates", "Code per instantiating crate", "crate"),
         ("files", "Code per source file (DWARF)", "file"),
         ("directories", "Code per source directory (DWARF)", "directory"))


def render(result: DiffResult, *, color: bool = False) -> str:
    out = [f"diff {result.old} ({result.old_kind}) -> {result.new} ({result.new_kind})"]
    if result.variants:
        rows = []
        for v in result.variants:
            raw = v["raw"]
            state = ("new variant" if v["old_status"] is None else "removed" if v["new_status"] is None
                     else "failed" if v["new_status"] == "failed" else "")
            rows.append([v["variant"], num(raw["old"]) if v["old_status"] == "ok" else v["old_status"] or "-",
                         num(raw["new"]) if v["new_status"] == "ok" else v["new_status"] or "-",
                         delta(raw["delta"], raw["old"], color=color),
                         delta(v["gzip"]["delta"], v["gzip"]["old"], color=color), state])
        out += ["", "Variants (raw bytes)",
                table(["variant", "old", "new", "delta", "gzip delta", ""], rows, align="lrrrrl")]
    for m in result.modules:
        out += ["", f"== {m.variant} ==" if m.variant else "== module =="]
        rows = [[r.name, num(r.old, _UNITS.get(r.name, "B")), num(r.new, _UNITS.get(r.name, "B")),
                 delta(r.delta if r.old is not None and r.new is not None else None, r.old,
                       _UNITS.get(r.name, "B"), color)]
                for r in m.totals]
        out += ["  Totals", table(["", "old", "new", "delta"], rows, align="lrrr", indent="    ")]
        out += _breakdown("Sections", "section", m.sections, color)
        out += _breakdown("Crates", "crate", m.crates, color)
        out += _breakdown("Functions (symbol hashes ignored)", "function", m.functions, color, counts=True)
        for key, title, what in _DEEP:
            if key in m.deep:
                out += _breakdown(title, what, m.deep[key], color, counts=key == "retained")
    return "\n".join(line.rstrip() for line in "\n".join(out).splitlines()) + "\n"
