"""Aligned plain-text tables and human byte figures, shared by every text renderer.

Tables fit the terminal: when a width is in force (`fit_width(n)`, set by the command
layer for text written to a terminal: COLUMNS when set, else the terminal's width;
nothing when writing to a file or a pipe), the text columns are narrowed, the widest
first, by cutting their cells in the middle (`alloc::collections…::insert_fit`); figures
(right-aligned columns) are never cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from auditor.units import human_bytes  # noqa: F401  (re-exported for the renderers)

WIDTH: ContextVar[int | None] = ContextVar("auditor_table_width", default=None)
MIN_TEXT = 16  # a text column is never cut below this many characters
# a cell that is a figure ("4.8 MiB", "-12,345 B (-0.2%)", "▲ +6,722 B", "17/-", "5.6s"): never cut
_FIGURE = re.compile(r"^[\s*+\-−▲▼=~≈<>≤≥]*[\d,.]+")
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_TABLE_ROW = re.compile(r"\S {2,}\S")  # columns: two or more spaces between cells


@contextmanager
def fit_width(width: int | None) -> Iterator[None]:
    """Tables rendered inside fit `width` columns (None: no limit)."""
    token = WIDTH.set(width if width and width > 0 else None)
    try:
        yield
    finally:
        WIDTH.reset(token)


def _len(s: str) -> int:
    return len(_SGR.sub("", s)) if "\x1b" in s else len(s)


def middle(s: str, width: int) -> str:
    """`s` cut to `width` characters in the middle with an ellipsis (styled text: untouched)."""
    if len(s) <= width or "\x1b" in s or width < 3:
        return s
    head = width // 2
    tail = width - 1 - head
    return s[:head] + "…" + (s[-tail:] if tail else "")


def _names(cells: list[list[str]], align: str) -> list[bool]:
    """Columns of names (left-aligned, not figures): the only ones ever cut."""
    out = []
    for i, a in enumerate(align):
        values = [r[i] for r in cells[1:] if r[i].strip() and r[i].strip() not in ("-", "—")]
        out.append(a != "r" and bool(values) and not all(_FIGURE.match(_SGR.sub("", v)) for v in values))
    return out


def _fit(widths: list[int], names: list[bool], limit: int, fixed: int) -> list[int]:
    """Narrow the name columns, always the widest one by a character, until the row fits
    `limit` or every name column is down to MIN_TEXT."""
    widths = list(widths)
    excess = fixed + sum(widths) - limit
    while excess > 0:
        cuttable = [i for i, n in enumerate(names) if n and widths[i] > MIN_TEXT]
        if not cuttable:
            break
        i = max(cuttable, key=lambda k: widths[k])
        widths[i] -= 1
        excess -= 1
    return widths


def table(headers: list[str], rows: list[list], align: str | None = None, indent: str = "  ",
          width: int | None = None) -> str:
    """`align` is one char per column: 'l' or 'r' (default: numbers right, text left).
    `width` (default: the one in force, see `fit_width`) caps the line length."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(_len(r[i]) for r in cells) for i in range(len(headers))]
    if align is None:
        align = "".join(
            "r" if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) else "l"
            for i in range(len(headers))
        )
    limit = width if width is not None else WIDTH.get()
    if limit:
        fitted = _fit(widths, _names(cells, align), limit, len(indent) + 2 * (len(widths) - 1))
        if fitted != widths:
            cells = [[middle(c, w) if _len(c) > w else c for c, w in zip(r, fitted)] for r in cells]
            widths = fitted
    out = []
    for n, r in enumerate(cells):
        parts = [c.rjust(w + len(c) - _len(c)) if a == "r" else c.ljust(w + len(c) - _len(c))
                 for c, w, a in zip(r, widths, align)]
        out.append(indent + "  ".join(parts).rstrip())
        if n == 0:
            out.append((indent + "  ".join("-" * w for w in widths)).rstrip())
    return "\n".join(out)


def wrap(text: str, subsequent: str = "    ") -> str:
    """A prose line folded to the width in force (continuation lines indented by
    `subsequent`); unchanged without a width. Words are never split (a path stays whole)."""
    limit = WIDTH.get()
    if not limit or _len(text) <= limit:
        return text
    import textwrap

    return textwrap.fill(text, width=max(limit, 40), subsequent_indent=subsequent, break_long_words=False,
                         break_on_hyphens=False, drop_whitespace=True)


def fold(text: str, width: int | None) -> str:
    """Every line of a text report longer than `width` folded at word boundaries, its
    continuation indented four past the line's own indent (tables already fit: this
    reaches prose lines, whichever renderer wrote them)."""
    if not width:
        return text
    import textwrap

    out = []
    for line in text.split("\n"):
        if _len(line) <= width or _TABLE_ROW.search(line):  # a table that could not fit stays a table
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip(" "))]
        out.append(textwrap.fill(line, width=max(width, 40), subsequent_indent=lead + "    ",
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)
