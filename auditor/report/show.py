"""How reports write a budget's figures and name a function, shared by text and markdown.

The plain figure formatting (`percent`, `quantity`, `signed`) lives in `auditor.units`,
below every stage, because finding messages use it too.
"""

from __future__ import annotations

from typing import Any, Protocol

from auditor.units import percent, quantity, signed

__all__ = ["actual", "function_label", "headroom", "limit", "percent", "quantity", "signed"]


class _Limit(Protocol):
    actual: float | None
    limit: float
    limit_text: str
    unit: str
    status: str

    @property
    def headroom(self) -> float | None: ...


def actual(lim: _Limit) -> str:
    """A budget limit's measured figure; says why when there is none."""
    return quantity(lim.actual, lim.unit, missing="not measured" if lim.status == "error" else "unbounded")


def limit(lim: _Limit) -> str:
    """The limit in the metric's unit, with the config's own spelling when it differs
    ("5,000,000 B (5 MB)"): the reader sees both what was written and what it means."""
    exact = quantity(lim.limit, lim.unit)
    if lim.unit == "bytes":
        exact = f"{lim.limit:,} B"
    return exact if lim.limit_text in (str(lim.limit), exact) else f"{exact} ({lim.limit_text})"


def headroom(lim: _Limit) -> str:
    """limit - actual with its share of the limit; "-" when there is no actual figure."""
    return "-" if lim.actual is None else signed(lim.headroom, lim.unit, lim.limit)


def function_label(f: Any) -> str:
    """How reports name a function (an inspect record's `functions[]` item): demangled,
    else the raw name, else by index with its export name — what a stripped module
    still says."""
    if f.get("demangled") or f.get("name"):
        return str(f.get("demangled") or f["name"])
    exports = f.get("exports") or []
    return f"func[{f['index']}]" + (f' (export "{exports[0]}")' if exports else "")
