"""`auditor diff OLD NEW`: what changed between two scan reports, inspect reports or modules.

Functions are matched by demangled name with the build-specific parts removed
(`::h<16 hex>` legacy hashes, v0 crate disambiguators, `.llvm.N` suffixes; see
`auditor.wasm.demangle.strip_hash`), so a function whose hash changed is one row with
its real delta, not a removed row and an added one. Functions that share a name after
that (monomorphised copies the legacy demangling prints alike) are one row with a count.
Rows are sorted by absolute delta, largest first; unchanged rows are left out.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor.errors import AuditorError
from auditor.gate.metrics import METRICS, figure
from auditor.gate.report import variant_id
from auditor.records.diff import (
    SCHEMA,
    DiffRecord,
    ModuleDiffRecord,
    RowRecord,
    SizeChangeRecord,
    TableRecord,
    VariantRowRecord,
)

if TYPE_CHECKING:
    from auditor.findings import Finding
    from auditor.gate.budgets import CheckResult

UNNAMED = "(unnamed functions)"
# module diffs a gate result keeps (CheckResult.details, what its PR comment breaks down):
# a few, so a glob over a whole matrix stays under GitHub's 65,536-character comments
DETAILS = 5
TOTALS = ("raw", "gzip", "brotli", "code", "data", "custom", "initial-pages", "max-pages")


@dataclass
class Row:
    name: str
    old: int | float | None  # None: not present on that side
    new: int | float | None
    old_count: int | None = None  # functions sharing the name, for function rows
    new_count: int | None = None

    @property
    def status(self) -> str:
        if self.old is None and self.new is None:  # e.g. max pages: no maximum on both sides
            return "unchanged"
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "unchanged" if self.old == self.new else "changed"

    @property
    def delta(self) -> int | float:
        return (self.new or 0) - (self.old or 0)

    @property
    def delta_percent(self) -> float | None:
        return round(self.delta * 100 / self.old, 2) if self.old else None

    def to_json(self) -> RowRecord:
        out: RowRecord = {"name": self.name, "status": self.status, "old": self.old, "new": self.new,
                          "delta": self.delta, "delta_percent": self.delta_percent}
        if self.old_count is not None or self.new_count is not None:
            out["old_count"], out["new_count"] = self.old_count or 0, self.new_count or 0
        return out


@dataclass
class Table:
    """Changed rows of one breakdown, largest |delta| first, cut to `top`."""

    rows: list[Row]
    omitted: int = 0  # changed rows past --top
    omitted_delta: int = 0  # their summed delta
    unchanged: int = 0

    def to_json(self) -> TableRecord:
        return {"rows": [r.to_json() for r in self.rows], "omitted": self.omitted,
                "omitted_delta": self.omitted_delta, "unchanged": self.unchanged}


@dataclass
class ModuleDiff:
    variant: str | None  # for scan reports
    totals: list[Row]
    sections: Table
    crates: Table
    functions: Table
    # deep deltas (README "auditor diff OLD NEW"): name -> table, present when both sides
    # are modules or scan reports attributing the same variant (`scan --attribute`)
    deep: dict[str, Table] = field(default_factory=dict)

    def to_json(self) -> ModuleDiffRecord:
        out: ModuleDiffRecord = {"variant": self.variant, "totals": [r.to_json() for r in self.totals],
                                 "sections": self.sections.to_json(), "crates": self.crates.to_json(),
                                 "functions": self.functions.to_json()}
        if self.deep:
            out["deep"] = {k: t.to_json() for k, t in self.deep.items()}
        return out


@dataclass
class DiffResult:
    KIND = "diff"
    old: str
    new: str
    old_kind: str  # scan | inspect | wasm
    new_kind: str
    top: int
    variants: list[VariantRowRecord] = field(default_factory=list)  # scan vs scan: one row per variant
    modules: list[ModuleDiff] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # none: a diff is no verdict

    def to_json(self) -> DiffRecord:
        return {"schema": SCHEMA, "old": {"file": self.old, "kind": self.old_kind},
                "new": {"file": self.new, "kind": self.new_kind}, "top": self.top,
                "variants": self.variants, "modules": [m.to_json() for m in self.modules]}


@dataclass(frozen=True)
class Side:
    """One side of a diff as loaded (auditor.pipeline.reports.load_side): the path given,
    what it is, and its record (a module's inspect record, with its `attribution` when
    the deep deltas were asked for)."""

    path: str
    kind: str  # scan | inspect | wasm
    record: Mapping[str, Any]


# --------------------------------------------------------------------------- rows


def normalise(function: Mapping[str, Any]) -> str:
    """The name a function is matched by across builds."""
    from auditor.wasm.demangle import demangle, strip_hash

    name = function.get("demangled") or function.get("name")
    if not name:
        return UNNAMED
    return strip_hash(demangle(name))


def _sizes(items: Iterable[Mapping[str, Any]],
           key: Callable[[Mapping[str, Any]], str]) -> tuple[dict[str, int], dict[str, int]]:
    sizes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for item in items:
        k = key(item)
        sizes[k] = sizes.get(k, 0) + item["size"]
        counts[k] = counts.get(k, 0) + 1
    return sizes, counts


def _table(old: dict[str, int], new: dict[str, int], top: int,
           old_counts: dict[str, int] | None = None, new_counts: dict[str, int] | None = None) -> Table:
    rows = []
    for name in old.keys() | new.keys():
        rows.append(Row(name, old.get(name), new.get(name),
                        None if old_counts is None else old_counts.get(name, 0),
                        None if new_counts is None else new_counts.get(name, 0)))
    changed = [r for r in rows if r.status != "unchanged"]
    changed.sort(key=lambda r: (-abs(r.delta), r.name))
    keep = changed if top <= 0 else changed[:top]
    rest = changed[len(keep):]
    return Table(keep, len(rest), int(sum(r.delta for r in rest)), len(rows) - len(changed))


def section_name(section: Mapping[str, Any]) -> str:
    return f"custom:{section['name']}" if section["id"] == 0 else section["name"]


def deep_tables(old: Mapping[str, Any], new: Mapping[str, Any], top: int) -> dict[str, Table]:
    """Deltas of two attribution records: retained size per item (when both list every
    item: modules, not scan reports, which keep the largest), code bytes per defining
    and per instantiating crate, per source file and directory (when both have DWARF)."""
    from auditor.wasm.demangle import strip_hash

    out: dict[str, Table] = {}
    if old.get("retained_complete") and new.get("retained_complete"):
        def key(it: Mapping[str, Any]) -> str:
            return strip_hash(it["name"]) if it["kind"] == "function" else it["name"]

        (ro, co), (rn, cn) = (_sizes(({"name": key(it), "size": it["retained"]} for it in a["retained"]),
                                     lambda x: x["name"]) for a in (old, new))
        out["retained"] = _table(ro, rn, top, co, cn)
    for view in ("defining", "instantiating"):
        o = {c["name"]: c["bytes"] for c in old["crates"][view]}
        n = {c["name"]: c["bytes"] for c in new["crates"][view]}
        out[f"{view}_crates"] = _table(o, n, top)
    so, sn = old["sources"], new["sources"]
    if so["available"] and sn["available"]:
        out["files"] = _table({f["path"]: f["bytes"] for f in so["files"]},
                              {f["path"]: f["bytes"] for f in sn["files"]}, top)
        out["directories"] = _table({d["path"]: d["bytes"] for d in so["directories"]},
                                    {d["path"]: d["bytes"] for d in sn["directories"]}, top)
    return out


def diff_modules(old: Mapping[str, Any], new: Mapping[str, Any], top: int, variant: str | None = None) -> ModuleDiff:
    """Totals, sections, crates and functions of two inspect records (or scan variants);
    deep deltas when both carry an `attribution`."""
    from auditor.wasm.demangle import strip_hash

    old_v, new_v = _as_variant(old), _as_variant(new)
    totals = [Row(k, figure(METRICS[k], old_v), figure(METRICS[k], new_v)) for k in TOTALS]
    totals.append(Row("functions", len(old["functions"]), len(new["functions"])))
    sections = _table(_sizes(old["sections"], section_name)[0], _sizes(new["sections"], section_name)[0], top=0)
    crates = _table(_sizes(old["crates"], lambda c: strip_hash(c["name"]))[0],
                    _sizes(new["crates"], lambda c: strip_hash(c["name"]))[0], top=top)
    (fo, co), (fn, cn) = (_sizes(w["functions"], normalise) for w in (old, new))
    functions = _table(fo, fn, top, co, cn)
    deep = {}
    if old.get("attribution") and new.get("attribution"):
        deep = deep_tables(old["attribution"], new["attribution"], top)
    return ModuleDiff(variant, totals, sections, crates, functions, deep)


def _as_variant(wasm: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "wasm": wasm}


# --------------------------------------------------------------------------- reports


def diff_reports(old_side: Side, new_side: Side, *, top: int = 10, variant: str | None = None,
                 deep: bool = True) -> DiffResult:
    """What changed from `old_side` to `new_side`: per variant of two scan reports (the
    variants built in both, or the ones `variant` selects), else one module against one."""
    (old_path, old_kind, old), (new_path, new_kind, new) = (
        (s.path, s.kind, s.record) for s in (old_side, new_side))
    result = DiffResult(old_path, new_path, old_kind, new_kind, top)
    if old_kind == "scan" and new_kind == "scan":
        olds = {variant_id(v): v for v in old["variants"]}
        news = {variant_id(v): v for v in new["variants"]}
        order = [variant_id(v) for v in new["variants"]] + [k for k in olds if k not in news]
        for vid in order:
            result.variants.append(_variant_row(vid, olds.get(vid), news.get(vid)))
        selected = [vid for vid in order if vid in olds and vid in news
                    and olds[vid]["status"] == news[vid]["status"] == "ok"
                    and (variant is None or fnmatch.fnmatchcase(vid, variant))]
        if variant is not None and not selected:
            raise AuditorError(f"--variant {variant!r} matches no variant built in both reports "
                               f"({', '.join(order) or 'none'})")
        result.modules = [diff_modules(_with_attribution(olds[vid], old, deep), _with_attribution(news[vid], new, deep),
                                       top, vid) for vid in selected]
    else:
        (ow, ov), (nw, nv) = _pick(old_kind, old, old_path, variant), _pick(new_kind, new, new_path, variant)
        if ov is not None:
            ow = _with_attribution(next(v for v in old["variants"] if variant_id(v) == ov), old, deep)
        if nv is not None:
            nw = _with_attribution(next(v for v in new["variants"] if variant_id(v) == nv), new, deep)
        result.modules = [diff_modules(ow, nw, top, ov or nv)]
    return result


def _with_attribution(variant: Mapping[str, Any], report: Mapping[str, Any], deep: bool) -> Mapping[str, Any]:
    """A scan variant's module record, with the report's `attribution` when it is this
    variant's (`scan --attribute`)."""
    att = report.get("attribution")
    wasm: Mapping[str, Any] = variant["wasm"]
    if deep and att and not att.get("error") and att.get("variant") == variant_id(dict(variant)):
        return {**wasm, "attribution": att}
    return wasm


def _pick(kind: str, report: Mapping[str, Any], where: str, selector: str | None) -> tuple[Mapping[str, Any], str | None]:
    """The module record of one side: a scan report contributes one selected variant."""
    if kind != "scan":
        return report, None
    selector = selector or "release/default"
    hits = [v for v in report["variants"] if fnmatch.fnmatchcase(variant_id(v), selector)]
    if len(hits) != 1:
        names = ", ".join(variant_id(v) for v in report["variants"])
        raise AuditorError(f"comparing a scan report with one module needs --variant matching exactly one "
                           f"variant; {selector!r} matches {len(hits)} (variants: {names})", where)
    if hits[0]["status"] != "ok":
        raise AuditorError(f"variant {variant_id(hits[0])} failed to build: nothing to compare", where)
    return hits[0]["wasm"], variant_id(hits[0])


def _variant_row(vid: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> VariantRowRecord:
    def change(key: str) -> SizeChangeRecord:
        r = Row(key, figure(METRICS[key], old), figure(METRICS[key], new))
        return {"old": r.old, "new": r.new,
                "delta": r.delta if r.old is not None and r.new is not None else None,
                "delta_percent": r.delta_percent if r.new is not None else None}

    return {"variant": vid, "old_status": old["status"] if old else None,
            "new_status": new["status"] if new else None,
            "raw": change("raw"), "gzip": change("gzip"), "brotli": change("brotli")}


def budget_diffs(result: CheckResult, top: int = 10, limit: int | None = None) -> tuple[list[ModuleDiff], list[str]]:
    """(module diffs against the baseline, budgeted variants left out) of a gate result:
    the variants of failing budgets first, then the others, in budget order, at most
    `limit` (default DETAILS) of them (a PR comment has room for a few)."""
    limit = DETAILS if limit is None else limit
    if result.baseline is None:
        return [], []
    # a built variant has its `wasm` record (load_report checks that of saved reports)
    base = {variant_id(v): w for v in result.baseline["variants"] if v["status"] == "ok" and (w := v["wasm"])}
    new = {variant_id(v): w for v in result.scan["variants"] if v["status"] == "ok" and (w := v["wasm"])}
    ranked = sorted(((bv.status == "pass", bv.variant) for b in result.budgets for bv in b.variants),
                    key=lambda x: x[0])  # stable: budget order within failing / passing
    wanted = list(dict.fromkeys(vid for _, vid in ranked if vid in base and vid in new))
    diffs = [diff_modules(base[vid], new[vid], top, vid) for vid in wanted[:limit]]
    return diffs, wanted[limit:]
