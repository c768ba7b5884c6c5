"""Markdown pieces for PR comments (check, scan and diff reports share them).

Every comment starts with MARKER, an HTML comment GitHub does not display, so a CI job
can find the comment it posted before and edit it instead of adding a new one.
"""

from __future__ import annotations

from auditor.report.fmt_markdown import code, table
from auditor.report.table import human_bytes
from auditor.units import percent

MARKER = "<!-- auditor-report -->"


def size(n) -> str:
    return "—" if n is None else human_bytes(n)


def change(old, new) -> str:
    """"▲ +6,722 B (+27.8%)" / "▼ -1,024 B (-3.1%)" / "= 0 B"; "new" when there was nothing before."""
    if new is None:
        return "—"
    if old is None:
        return "new"
    d = new - old
    if d == 0:
        return "= 0 B"
    return f"{'▲' if d > 0 else '▼'} {d:+,} B{percent(d, old)}"


def details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def breakdown(title: str, tab, names: str) -> list[str]:
    """A diff Table (crates or functions) as markdown rows."""
    if not tab.rows:
        return [f"**{title}**: no changes"]
    rows = [[code(r.name), size(r.old), size(r.new), change(r.old or 0, r.new or 0),
             {"added": "new", "removed": "removed"}.get(r.status, "")] for r in tab.rows]
    out = [f"**{title}**", "", *table([names, "before", "after", "change", ""], rows, "lrrrl")]
    if tab.omitted:
        out += ["", f"…and {tab.omitted} more changed ({tab.omitted_delta:+,} B in all)."]
    return out


_DEEP = (("retained", "Retained size per item", "item"),
         ("instantiating_crates", "Code per instantiating crate", "crate"),
         ("files", "Code per source file", "file"))


def module_details(diffs, against: str) -> list[str]:
    """The collapsible block: top changed crates and functions per variant."""
    out = []
    for m in diffs:
        body = breakdown("Crates", m.crates, "crate") + [""] + breakdown(
            "Functions (symbol hashes ignored)", m.functions, "function")
        for key, title, what in _DEEP:  # `diff`'s deep deltas (README "Deep deltas")
            if key in getattr(m, "deep", {}):
                body += [""] + breakdown(title, m.deep[key], what)
        label = code(m.variant) if m.variant else "module"
        out += details(f"Top changed crates and functions: {label} vs {against}", body) + [""]
    return out
