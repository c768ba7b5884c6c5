"""`auditor merge`: shard reports back into the one report an unsharded scan writes.

Shards are recognised by their `shard` field ({"index": K, "count": N}). The
merged variants follow the canonical matrix order: the report's `matrix` list of
variant ids when present, else the positions `auditor.gate.shard.select` gave them
(round-robin), so the result equals an unsharded run's variant for variant.
Reports from different crates or toolchains, duplicate or missing shards, and a
variant in two shards are refused (exit 2): a merged report that silently lacks a
variant would let its budgets pass.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import ClassVar

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.gate.shard import positions
from auditor.records.findings import FindingRecord
from auditor.records.scan import ScanRecord, VariantRecord, size_delta, smallest, variant_id
from auditor.rules.recommend import recommended, tradeoff_settings_of


@dataclass
class MergedReport:
    """`auditor merge`: the merged `auditor.scan/1` record and what went into it."""

    KIND: ClassVar[str] = "merge"
    record: ScanRecord
    inputs: list[str]

    def to_json(self) -> ScanRecord:
        return self.record


def shard_of(report: ScanRecord, where: str) -> tuple[int, int] | None:
    """(K, N) of a shard report, None for a whole-matrix report."""
    shard = report.get("shard")
    if shard is None:
        return None
    k, n = (shard.get("index"), shard.get("count")) if isinstance(shard, dict) else (None, None)
    if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
        raise AuditorError(f"field 'shard' must be {{\"index\": K, \"count\": N}} with 1 <= K <= N, "
                           f"got {json.dumps(shard)}", where)
    return k, n


def crate_identity(crate: object) -> object:
    """What must match between shards: name and version (paths differ between runners)."""
    if isinstance(crate, dict):
        return {k: crate.get(k) for k in ("name", "version")}
    return crate


def merge_reports(reports: list[tuple[str, ScanRecord]], config: ConfigView | None = None, *,
                  rerun_rules: bool = True) -> ScanRecord:
    """One auditor.scan/1 report from validated scan reports [(file, report), ...].

    The scan rules are evaluated again on the merged report (with `config`, the crate's
    configuration), since some of them look across variants; without `rerun_rules` the
    shards' findings are kept, once each, in matrix order.
    """
    if not reports:
        raise AuditorError("merge needs at least one report")
    first_where, first = reports[0]
    for where, r in reports[1:]:
        for field, same in (("schema", lambda r: r["schema"]), ("crate", lambda r: crate_identity(r["crate"])),
                            ("toolchain", lambda r: r["toolchain"]), ("options", lambda r: r.get("options"))):
            if same(r) != same(first):
                raise AuditorError(f"different {field} than {first_where}: {json.dumps(same(r))} vs "
                                   f"{json.dumps(same(first))}; only shards of one scan can be merged", where)
    shards = [(where, r, shard_of(r, where)) for where, r in reports]
    sharded = [(where, r, s) for where, r, s in shards if s is not None]
    if sharded and len(sharded) != len(shards):
        where = next(w for w, _, s in shards if s is None)
        raise AuditorError("is a whole-matrix report and cannot be merged with shard reports", where)
    if sharded:
        n = _check_split(sharded)
        shards.sort(key=lambda s: s[2][0] if s[2] else 0)  # the output does not depend on argument order
    _no_duplicates(shards)
    if sharded:
        variants = _place(sharded, n)
    else:  # separate whole scans (say --profiles a, then --profiles b): one after the other
        variants = [v for _, r, _ in shards for v in r["variants"]]
    merged = copy.deepcopy(first)
    if not sharded and "matrix" in merged:
        merged["matrix"] = list(dict.fromkeys(vid for _, r, _ in shards for vid in r.get("matrix") or []))
    if "shard" in merged:
        merged["shard"] = None
    merged.pop("check", None)  # a shard's `scan --gate` saw part of the matrix: check the merged report
    merged["variants"] = copy.deepcopy(variants)
    _derive(merged, [r for _, r, _ in shards])
    if rerun_rules and "findings" in first:
        from auditor.rules.engine import evaluate

        merged["findings"], merged["checks"] = [], []
        findings, checks = evaluate("scan", merged, config)
        merged["findings"] = [f.to_json() for f in findings]
        merged["checks"] = [c.to_json() for c in checks]
    elif "findings" in first:
        merged["findings"] = _merged_findings(shards, [variant_id(v) for v in variants])
    return merged


# --------------------------------------------------------------------------- derived fields
# A shard sees part of the matrix, so the fields computed across variants are recomputed
# here exactly as auditor/pipeline/scanner.py computes them for a whole run (the sharded-vs-
# unsharded test on a fixture crate checks they stay the same).


def _derive(merged: ScanRecord, reports: list[ScanRecord]) -> None:
    variants = merged["variants"]
    ok = [v for v in variants if v["status"] == "ok" and v.get("wasm")]
    if "baseline_variant" in merged:
        named = next((r["baseline_variant"] for r in reports if r.get("baseline_variant")), None)
        base = next((v for v in ok if variant_id(v) == named), None)
        merged["baseline_variant"] = variant_id(base) if base else None
        base_wasm = base["wasm"] if base is not None else None
        for v in variants:
            if "delta" in v:
                wasm = v["wasm"] if v in ok else None  # ok: built, with a `wasm` record
                v["delta"] = size_delta(wasm, base_wasm, variant_id(base)) if base is not None and wasm and base_wasm else None
    if "summary" in merged:
        merged["summary"] = {"variants": len(variants), "ok": len(ok), "failed": len(variants) - len(ok)}
    if "smallest" in merged:
        merged["smallest"] = smallest(variants, merged.get("matrix") or [], merged.get("profiles") or [])
    if "recommended" in merged:
        merged["recommended"] = recommended(variants, merged.get("matrix") or [], merged.get("profiles") or [],
                                            tradeoff_settings_of(reports))
    if isinstance(merged.get("notices"), list):
        merged["notices"] = list(dict.fromkeys(n for r in reports for n in r.get("notices") or []))


def _no_duplicates(shards: list[tuple[str, ScanRecord, tuple[int, int] | None]]) -> None:
    seen: dict[str, str] = {}
    for where, r, _ in shards:
        for v in r["variants"]:
            vid = variant_id(v)
            if vid in seen:
                raise AuditorError(f"variant {vid} is also in {seen[vid]}; shards must not overlap", where)
            seen[vid] = where


def _check_split(sharded: list[tuple[str, ScanRecord, tuple[int, int]]]) -> int:
    """N, after checking the shards are exactly 1/N ... N/N of one split."""
    counts = {n for _, _, (_, n) in sharded}
    if len(counts) > 1:
        raise AuditorError(f"shards of different splits ({', '.join(f'/{n}' for n in sorted(counts))}) cannot be merged")
    n = counts.pop()
    by_index: dict[int, str] = {}
    for where, _, (k, _) in sharded:
        if k in by_index:
            raise AuditorError(f"shard {k}/{n} given twice (also {by_index[k]})", where)
        by_index[k] = where
    missing = [k for k in range(1, n + 1) if k not in by_index]
    if missing:
        raise AuditorError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{k}/{n}' for k in missing)} "
                           f"missing: a merged report must hold the whole matrix")
    return n


def _place(sharded: list[tuple[str, ScanRecord, tuple[int, int]]], n: int) -> list[VariantRecord]:
    """The shards' variants in canonical matrix order."""
    matrices = {json.dumps(r.get("matrix")) for _, r, _ in sharded}
    if len(matrices) > 1:
        raise AuditorError("shards list different variant matrices ('matrix' fields differ)")
    matrix = sharded[0][1].get("matrix")
    placed: dict[int, VariantRecord] = {}
    for where, r, (k, _) in sharded:
        if matrix is not None:
            index = {vid: i for i, vid in enumerate(matrix)}
            for v in r["variants"]:
                if variant_id(v) not in index:
                    raise AuditorError(f"variant {variant_id(v)} is not in the report's matrix", where)
                placed[index[variant_id(v)]] = v
        else:
            for pos, v in zip(positions(len(r["variants"]), k, n), r["variants"]):
                placed[pos] = v
    if matrix is not None:
        lost = [vid for vid in matrix if vid not in {variant_id(v) for v in placed.values()}]
        if lost:
            raise AuditorError(f"variant{'s' if len(lost) > 1 else ''} {', '.join(lost)} of the matrix "
                               f"in no shard")
    elif sorted(placed) != list(range(len(placed))):
        raise AuditorError(f"shard sizes do not fit a {n}-way round-robin split of one matrix "
                           f"(a shard lost or gained variants)")
    return [placed[i] for i in sorted(placed)]


def _merged_findings(shards: list[tuple[str, ScanRecord, tuple[int, int] | None]],
                     order: list[str]) -> list[FindingRecord]:
    """Findings of all shards, once each, in matrix order (report-level ones first)."""
    rank = {vid: i for i, vid in enumerate(order)}
    out, seen = [], set()
    for _, r, _ in shards:
        for f in r.get("findings", []):
            key = json.dumps(f, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return sorted(out, key=lambda f: rank.get(f.get("variant") or "", -1) if isinstance(f, dict) else -1)
