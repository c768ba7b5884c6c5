"""JSON: the result's own documented object, stable key order, 2-space indent."""

from __future__ import annotations

import io
import json
from itertools import islice

_BATCH = 8192  # encoder pieces joined at a time


def render(result, *, color: bool = False) -> str:
    """`json.dumps(record, indent=2, ensure_ascii=False)`, byte for byte, without its list
    of every piece: a 45 MB module's inspect record is ~1M pieces and 18 MB of text, and
    joining them in batches into one buffer peaks ~30 MB lower (issue 16)."""
    buf = io.StringIO()
    pieces = json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(result.to_json())
    while batch := list(islice(pieces, _BATCH)):
        buf.write("".join(batch))
    buf.write("\n")
    return buf.getvalue()
