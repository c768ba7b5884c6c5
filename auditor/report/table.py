"""Aligned plain-text tables and human byte figures, shared by every text renderer."""

from __future__ import annotations

from auditor.units import human_bytes  # noqa: F401  (re-exported for the renderers)


def table(headers: list[str], rows: list[list], align: str | None = None, indent: str = "  ") -> str:
    """`align` is one char per column: 'l' or 'r' (default: numbers right, text left)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    if align is None:
        align = "".join(
            "r" if rows and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) else "l"
            for i in range(len(headers))
        )
    out = []
    for n, r in enumerate(cells):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)]
        out.append(indent + "  ".join(parts).rstrip())
        if n == 0:
            out.append((indent + "  ".join("-" * w for w in widths)).rstrip())
    return "\n".join(out)
