"""Which variant a scan recommends shipping: the policy, read from rules/runtime.toml.

`[[recommend.pass-over]]` tables name what rules a built variant out (a leak under churn,
an out-of-bounds OOM, a failed scenario, the wrong allocator linked, ...), each as
conditions of the rule check language over the variant's record; the recommendation
is the smallest variant none of them rules out. A scan (auditor.pipeline.scanner) and a
merge of shard reports (auditor.gate.merge) both call `recommended` on the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.records.scan import (
    ProfileRecord,
    RecommendedRecord,
    SkippedRecord,
    VariantRecord,
    built,
    smallest,
    variant_id,
)
from auditor.rules.engine import fill, matching


@lru_cache(maxsize=1)
def pass_over_rules() -> tuple[dict[str, Any], ...]:
    entries = (load_rules_file("runtime.toml").get("recommend") or {}).get("pass-over") or []
    for n, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("reason"), str) or not isinstance(e.get("when"), list):
            raise AuditorError(f"recommend.pass-over #{n + 1} needs `reason` (text) and `when` (conditions)",
                               "rules/runtime.toml")
    return tuple(entries)


def runtime_problems(variant: VariantRecord | dict[str, Any]) -> list[str]:
    """Why a variant should not ship, from its runtime probes and allocator check (empty:
    none seen). A fact the variant's record lacks (no runtime results) rules nothing out."""
    out = []
    for entry in pass_over_rules():
        ctx = matching(variant, entry["when"], entry.get("compute"))
        if ctx is not None:
            out.append(fill(entry["reason"], ctx))
    return out


def passed_over(variants: Sequence[VariantRecord]) -> list[SkippedRecord]:
    """Built variants grouped by each problem that rules them out: `reason`, `variants`."""
    skipped: dict[str, list[str]] = {}
    for v in built(variants):
        for why in runtime_problems(v):
            skipped.setdefault(why, []).append(variant_id(v))
    return [{"reason": r, "variants": ids} for r, ids in skipped.items()]


def recommended(variants: Sequence[VariantRecord], matrix: Sequence[str],
                profiles: Sequence[ProfileRecord] | Sequence[Mapping[str, Any]]) -> RecommendedRecord | None:
    """The smallest variant whose runtime probes found nothing wrong: what to ship.

    Without runtime results it is the smallest, and says the probes did not run. None
    when every built variant has a problem (`passed_over` says which)."""
    ok = built(variants)
    pick = smallest([v for v in ok if not runtime_problems(v)], matrix, profiles)
    if pick is None:
        return None
    probed = any(v.get("runtime") for v in ok)
    return {**pick, "runtime_checked": probed, "skipped": passed_over(ok)}

