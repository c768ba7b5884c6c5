"""How the gate writes its figures, shared by the text, markdown and finding messages so
one number never reads two ways (52.1% in the terminal, 52.2% in the PR comment).

Percentages are formatted from the exact ratio, once: rounding to 2 decimals for JSON
and then to 1 for display would round twice (52.15 -> "52.1" instead of "52.2").
"""

from __future__ import annotations

from auditor.report.table import human_bytes


def percent(delta, base) -> str:
    """" (+5.6%)" of `delta` against `base`; empty when there is no ratio (base 0 or None)."""
    if delta is None or not base:
        return ""
    return f" ({delta * 100 / base:+.1f}%)"


def quantity(value, unit: str, *, missing: str = "unbounded", readable: bool = True) -> str:
    """A figure with its unit; bytes exact, with a readable figure beside (in tables)."""
    if value is None:
        return missing
    if unit == "bytes":
        exact = f"{value:,} B"
        short = human_bytes(value)
        return exact if not readable or short.endswith(" B") else f"{exact} ({short})"
    if unit == "pages":
        return f"{value:,} pages"
    return f"{value:g} {unit}"


def signed(value, unit: str, base=None) -> str:
    """"+1,877 B (+5.7%)": a change in the metric's unit, with its share of `base`."""
    if value is None:
        return "-"
    if unit == "bytes":
        text = f"{value:+,} B"
    elif unit == "pages":
        text = f"{value:+,} pages"
    else:
        text = f"{value:+g} {unit}"
    return text + percent(value, base)


def actual(lim) -> str:
    """A budget limit's measured figure; says why when there is none."""
    return quantity(lim.actual, lim.unit, missing="not measured" if lim.status == "error" else "unbounded")


def limit(lim) -> str:
    """The limit in the metric's unit, with the config's own spelling when it differs
    ("5,000,000 B (5 MB)"): the reader sees both what was written and what it means."""
    exact = quantity(lim.limit, lim.unit)
    if lim.unit == "bytes":
        exact = f"{lim.limit:,} B"
    return exact if lim.limit_text in (str(lim.limit), exact) else f"{exact} ({lim.limit_text})"


def headroom(lim) -> str:
    """limit - actual with its share of the limit; "-" when there is no actual figure."""
    return "-" if lim.actual is None else signed(lim.headroom, lim.unit, lim.limit)
