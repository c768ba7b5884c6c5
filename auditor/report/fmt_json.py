"""JSON: the result's own documented object, stable key order, 2-space indent."""

from __future__ import annotations

import json


def render(result, *, color: bool = False) -> str:
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
