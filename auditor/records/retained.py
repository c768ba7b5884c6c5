"""The HTML page's retained-size view, as the pipeline hands it to the report: not part of
any JSON report (the page embeds the report's formatting of it).

auditor/pipeline/retained.py reads the module a report describes and computes its
bounded dominator tree (`RetainedTree`) and every function's retained size;
auditor/report/html_retained.py turns the tree into the page's plotly treemap (labels,
hover text). A result that can have the view carries a `retained_view`
(`RetainedSource`, or None), which the HTML renderer calls once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

CHILDREN = 30  # boxes per parent (the rest: one "N more items" box)
BOXES = 1500  # boxes per treemap (a 35k-function module draws as fast as a small one)

Role = Literal["file", "unreachable", "more", "item"]


class UnreachableRecord(TypedDict):
    items: int
    bytes: int


class RetainedTree(TypedDict):
    """The bounded dominator tree, one entry per box in each list (parents before children).

    `roles`: "file" (the root, the module file), "unreachable" (the group of what no root
    reaches), "more" (the smaller children of a box, together), "item" (an item of the
    item graph). For items: `names` (the item's label), `kinds` (its kind: "function",
    "data", ...) and `crates` (a function's crate when the report names one); `counts`:
    the items in an "unreachable" or "more" box. `values`: retained bytes (a group: its
    members' sum; the root: the file size); `shallow`: own bytes."""

    ids: list[str]
    parents: list[str]
    values: list[int]
    shallow: list[int]
    roles: list[Role]
    names: list[str]
    kinds: list[str]
    crates: list[str | None]
    counts: list[int]
    items: int  # items in the module
    shown: int  # item boxes drawn
    bytes: int  # the file size
    unreachable: UnreachableRecord


@dataclass(frozen=True)
class RetainedView:
    """`tree` and `by_function` (function index -> retained bytes) of the module, or
    `why` not (one line: the file is missing, changed, malformed...); all None when there
    is nothing to show (`auditor report --no-retained`, a report without functions)."""

    tree: RetainedTree | None = None
    by_function: dict[int, int] | None = None
    why: str | None = None


class RetainedSource(Protocol):
    """Computes the view on first call and keeps it (reading a module costs: only the
    HTML renderer asks)."""

    def __call__(self) -> RetainedView: ...


def shown_variant(scan: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variant of a scan record whose module the page breaks down (the crate treemap
    and the retained view): the recommended one, unless a stripped build has no names
    and another has; None when no variant has a module record."""
    rec = (scan.get("recommended") or {}).get("variant")
    with_wasm = [v for v in scan.get("variants", []) if isinstance(v, dict) and v.get("wasm")]
    return max(with_wasm, key=lambda v: ((v["wasm"].get("named_functions") or {}).get("count", 0) > 0,
                                         v.get("id") == rec), default=None)


__all__ = ["BOXES", "CHILDREN", "RetainedSource", "RetainedTree", "RetainedView", "Role", "UnreachableRecord",
           "shown_variant"]
