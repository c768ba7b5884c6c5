"""The HTML report's retained-size treemap: the bounded dominator tree the pipeline
computed (auditor/pipeline/retained.py, handed in as auditor.records.retained.RetainedTree)
as plotly treemap data, every name made visible and cut in the middle.

Each box is an item sized by its retained bytes; the root is the module file, one
"unreachable" box holds what no root reaches and a "N more items" box the smaller
children of a box past `CHILDREN` (at most `BOXES` boxes in all): README "Deep size
analysis".
"""

from __future__ import annotations

from typing import Any

from auditor.records.retained import BOXES, CHILDREN, RetainedTree
from auditor.report.escape import visible
from auditor.report.table import middle

LABEL = 120  # characters of a name shown in a box (cut in the middle; the hover has the same)

__all__ = ["BOXES", "CHILDREN", "LABEL", "treemap"]

_GROUPS = {"file": "the module file", "unreachable": "what no root reaches (auditor garbage)",
           "more": "the smaller items here, together"}


def treemap(tree: RetainedTree, title: str) -> dict[str, Any]:
    """Plotly treemap data: `ids`, `labels`, `parents`, `values` (retained bytes),
    `shallow`, `kinds` (hover text), and `items` (items in the module), `shown` (item
    boxes drawn), `bytes` (the file size), `unreachable` ({items, bytes}). `title`: the
    root box's label."""
    labels, kinds = [], []
    for role, name, kind, crate, count in zip(tree["roles"], tree["names"], tree["kinds"], tree["crates"],
                                             tree["counts"], strict=True):
        if role == "item":
            labels.append(visible(middle(name, LABEL)))
            kinds.append(f"{kind} · crate {visible(middle(crate, LABEL))}" if crate else kind)
            continue
        labels.append(visible(middle(title, LABEL)) if role == "file" else
                      f"unreachable: {count:,} items" if role == "unreachable" else f"{count:,} more items")
        kinds.append(_GROUPS[role])
    return {"ids": tree["ids"], "labels": labels, "parents": tree["parents"], "values": tree["values"],
            "shallow": tree["shallow"], "kinds": kinds, "items": tree["items"], "shown": tree["shown"],
            "bytes": tree["bytes"], "unreachable": dict(tree["unreachable"])}
