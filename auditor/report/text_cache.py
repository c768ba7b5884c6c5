"""Text for `auditor cache info|prune`."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from auditor.units import human_bytes

if TYPE_CHECKING:
    from auditor.build.cache_targets import CacheReport


def render(result: CacheReport, *, color: bool = False) -> str:
    j = result.to_json()
    out = [f"cache: {j['path']}"]
    for t in j["removed"]:
        out.append(f"removed target dirs of {t.get('crate') or '?'} ({t.get('workspace_root') or t['path']}): "
                   f"{human_bytes(t['bytes'])}")
    for kind in j["removed_results"]:
        out.append(f"removed cached {kind}")
    out.append("results")
    for kind, r in j["results"].items():
        out.append(f"  {kind:<11} {r['entries']:>6} entries  {human_bytes(r['bytes']):>10}")
    out.append(f"kept target dirs: {human_bytes(j['target_bytes'])} of at most {human_bytes(j['max_target_bytes'])}")
    for t in j["targets"]:
        when = datetime.datetime.fromtimestamp(t["last_used"]).strftime("%Y-%m-%d %H:%M") if t["last_used"] else "?"
        busy = "  (in use)" if t["in_use"] else ""
        out.append(f"  {human_bytes(t['bytes']):>10}  last used {when}  {t.get('crate') or '?'} "
                   f"({t.get('workspace_root') or '?'}){busy}")
    return "\n".join(out) + "\n"
