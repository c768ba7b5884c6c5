"""Size budgets: every `[[budget]]` of the config evaluated on every variant it selects.

Rules of the gate (documented in README ("CI size gate")):
- A limit is the largest value allowed: actual == limit passes.
- A selected variant that failed to build fails its budget (AUD903); a figure that is
  not in the report (no runtime results, no memory) is an error (AUD904), never a pass.
- A budget without `variant` selects `scan.default-variant`, else "release/default" (the
  crate's own `cargo build --release`): a fixed variant, so baselines compare like with
  like, where "the smallest variant" would change identity as sizes move.
- Baseline: a byte figure may grow by at most `max-increase` (the budget's own, else
  `--max-increase` / `gate.max-increase`); growth == allowance passes. Checked on the
  byte figures the budget limits; a budget with its own `max-increase` and no byte
  limit checks raw bytes; a variant missing from the baseline, or failed there, is not
  compared (noted, not failed).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.findings import Check, Finding, exit_code
from auditor.gate.metrics import METRICS, Metric, Unmeasured, crate_metric, figure
from auditor.gate.report import variant_id
from auditor.records.check import (
    BudgetRecord,
    BudgetVariantRecord,
    GateRecord,
    GateVariantRecord,
    IncreaseRecord,
    LimitRecord,
)
from auditor.records.retained import RetainedSource
from auditor.records.scan import ScanRecord, VariantRecord
from auditor.rules import catalog
from auditor.units import parse_percent_or_bytes, percent, quantity

if TYPE_CHECKING:
    from auditor.gate.diff import ModuleDiff

DEFAULT_VARIANT = "release/default"
RULE_EXCEEDED, RULE_INCREASE, RULE_FAILED, RULE_UNMEASURED = "AUD901", "AUD902", "AUD903", "AUD904"


@dataclass
class LimitResult:
    metric: str  # config key: raw, gzip, ..., crate.NAME
    unit: str
    actual: int | float | None  # None: unbounded (max-pages with no maximum) or unmeasured
    limit: int | float
    limit_text: str  # as written in the config ("150 KiB")
    status: str  # pass | fail | error
    note: str = ""

    @property
    def headroom(self) -> int | float | None:
        return None if self.actual is None else self.limit - self.actual

    @property
    def headroom_percent(self) -> float | None:
        if self.actual is None or not self.limit:
            return None
        return round((self.limit - self.actual) * 100 / self.limit, 2)

    def to_json(self) -> LimitRecord:
        return {"metric": self.metric, "unit": self.unit, "actual": self.actual,
                "limit": self.limit, "limit_text": self.limit_text,
                "headroom": self.headroom, "headroom_percent": self.headroom_percent,
                "status": self.status, "note": self.note or None}


@dataclass
class IncreaseResult:
    metric: str
    baseline: int | float | None  # bytes; None: variant not in the baseline (or failed or unmeasured there)
    actual: int | float | None
    allowed_text: str  # "5%" or "10 KiB"
    allowed: int | None  # whole bytes allowed on top of the baseline
    status: str  # pass | fail | skip

    @property
    def delta(self) -> int | float | None:
        return None if self.baseline is None or self.actual is None else self.actual - self.baseline

    @property
    def delta_percent(self) -> float | None:
        if self.delta is None or not self.baseline:
            return None
        return round(self.delta * 100 / self.baseline, 2)

    def to_json(self) -> IncreaseRecord:
        return {"metric": self.metric, "baseline": self.baseline, "actual": self.actual,
                "delta": self.delta, "delta_percent": self.delta_percent,
                "max_increase": self.allowed_text, "allowed": self.allowed, "status": self.status}


@dataclass
class BudgetVariant:
    variant: str
    status: str  # pass | fail | error
    limits: list[LimitResult] = field(default_factory=list)
    increases: list[IncreaseResult] = field(default_factory=list)
    error: str | None = None  # build error or "no variant matches"

    def to_json(self) -> BudgetVariantRecord:
        return {"variant": self.variant, "status": self.status, "error": self.error,
                "limits": [x.to_json() for x in self.limits],
                "increases": [x.to_json() for x in self.increases]}


@dataclass
class BudgetResult:
    name: str
    selector: str
    message: str | None
    max_increase: str | None
    file: str | None
    line: int | None
    index: int | None = None  # position in the config's budget array; None: implicit budget
    variants: list[BudgetVariant] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {v.status for v in self.variants}
        return "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"

    def to_json(self) -> BudgetRecord:
        return {"name": self.name, "variant": self.selector, "status": self.status,
                "message": self.message, "max_increase": self.max_increase,
                "file": self.file, "line": self.line,
                "variants": [v.to_json() for v in self.variants]}


@dataclass
class CheckResult:
    """`auditor check` / `scan --gate`: budgets and baseline applied to one scan report."""

    KIND = "check"
    report: str | None
    baseline_file: str | None
    scan: ScanRecord  # the scan report (auditor.scan/1)
    baseline: ScanRecord | None  # the baseline scan report
    default_variant: str
    budgets: list[BudgetResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    # the HTML page's retained-size view of the shown variant's module (auditor.pipeline.retained)
    retained_view: RetainedSource | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return all(c.status == "pass" for c in self.checks)

    @cached_property
    def details(self) -> tuple[list[ModuleDiff], list[str]]:
        """(module diffs against the baseline, budgeted variants left out): the gate's
        breakdown of what changed (auditor.gate.diff.budget_diffs), computed on first use
        (the markdown comment shows it) and kept; not part of the JSON."""
        from auditor.gate.diff import budget_diffs

        return budget_diffs(self)

    def exit_code(self) -> int:
        """1 when a finding is an error (a rule set to warning or note does not fail CI)."""
        return exit_code(self.findings)

    def summary(self) -> dict[str, int]:
        counts = {"pass": 0, "fail": 0, "error": 0}
        for c in self.checks:
            counts[c.status] += 1
        return counts

    def variant_rows(self) -> list[GateVariantRecord]:
        """Every variant of the report with its sizes and the baseline's, for tables."""
        base = {variant_id(v): v for v in (self.baseline.get("variants", []) if self.baseline else [])}
        raw, gzip, brotli, code, data = (METRICS[k] for k in ("raw", "gzip", "brotli", "code", "data"))
        rows: list[GateVariantRecord] = []
        for v in self.scan["variants"]:
            vid = variant_id(v)
            b = base.get(vid)
            rows.append({"variant": vid, "status": v["status"], "error": v.get("error"),
                         "raw": figure(raw, v), "baseline_raw": figure(raw, b),
                         "gzip": figure(gzip, v), "baseline_gzip": figure(gzip, b),
                         "brotli": figure(brotli, v), "baseline_brotli": figure(brotli, b),
                         "code": figure(code, v), "baseline_code": figure(code, b),
                         "data": figure(data, v), "baseline_data": figure(data, b)})
        return rows

    def to_json(self) -> GateRecord:
        return {
            "schema": "auditor.check/1",
            "report": self.report,
            "baseline": self.baseline_file,
            "crate": self.scan.get("crate"),
            "toolchain": self.scan.get("toolchain"),
            "default_variant": self.default_variant,
            "passed": self.passed,
            "summary": self.summary(),
            "variants": self.variant_rows(),
            "budgets": [b.to_json() for b in self.budgets],
            "checks": [c.to_json() for c in self.checks],
            "findings": [f.to_json() for f in self.findings],
        }


def prepare(config: ConfigView | None, baseline: str | None = None,
            max_increase: str | None = None) -> tuple[ScanRecord | None, str | None]:
    """(baseline report, its path) for a gate, checked before any work is done.

    `check` and `scan --gate` call it first, so a typo in --max-increase or a missing or
    broken baseline stops the command at once (exit 2), not after a matrix of builds.
    The baseline is --baseline, else `gate.baseline` relative to the config file.
    """
    from auditor.gate.report import baseline_path, load_scan

    if max_increase is not None:
        try:
            parse_increase(max_increase)
        except ValueError as e:
            raise AuditorError("--" + str(e)) from None
    path = baseline_path(config, baseline)
    return (load_scan(path) if path else None), path


def nothing_to_gate(result: CheckResult, config: ConfigView | None) -> AuditorError | None:
    """The error for a gate with no budget and no baseline allowance: a CI job whose
    config was not found (wrong --crate, misspelt table) must not pass for ever."""
    if result.budgets:
        return None
    files = config.files() if config is not None else []
    read = f"config read: {', '.join(files)}" if files else "no config file found"
    return AuditorError(f"nothing to check: no [[budget]] tables ({read}) and no --baseline with --max-increase "
                        f"(or gate.baseline with gate.max-increase); --crate DIR or --config FILE says where "
                        f"the budgets are",
                        str(config.crate_dir) if config is not None and config.crate_dir else None)


def default_variant(config: ConfigView | None) -> str:
    return (config.get("scan.default-variant") if config is not None else None) or DEFAULT_VARIANT


def evaluate(scan_json: ScanRecord, config: ConfigView | None, baseline: ScanRecord | None = None,
             max_increase: str | None = None, *,
             report_name: str | None = None, baseline_name: str | None = None) -> CheckResult:
    """Gate a scan report: budgets from `config`, growth against `baseline`.

    `max_increase` ("5%", "10 KiB", or None) is the global allowance from the command
    line; it beats `gate.max-increase` and loses to a budget's own `max-increase`.
    """
    result = CheckResult(report=report_name, baseline_file=baseline_name, scan=scan_json,
                         baseline=baseline, default_variant=default_variant(config))
    budgets: list[Mapping[str, Any]] = list(config.get("budget", []) if config is not None else [])
    global_increase = max_increase if max_increase is not None else (
        config.get("gate.max-increase") if config is not None else None)
    implicit = not budgets and baseline is not None and global_increase is not None
    if implicit:
        # No budgets, but a baseline and an allowance: gate the default variant's raw bytes.
        budgets = [{"name": "max-increase", "max-increase": global_increase}]
    base_variants = {variant_id(v): v for v in (baseline.get("variants", []) if baseline else [])}
    variants = scan_json["variants"]
    for index, spec in enumerate(budgets):
        budget = _evaluate_budget(index, spec, config, variants, base_variants,
                                  baseline is not None, global_increase, result.default_variant,
                                  implicit, scan_json.get("shard") is not None)
        result.budgets.append(budget)
        _record(result, budget, config)
    return result


def _location(config: ConfigView | None, index: int, implicit: bool) -> tuple[str | None, int | None]:
    """(file, line) of the budget's table, or of gate.max-increase for the implicit one."""
    if config is None:
        return None, None
    loc = config.location("gate.max-increase" if implicit else f"budget.{index}")
    return loc if loc else (None, None)


def _limits(spec: Mapping[str, Any], where: str) -> list[tuple[Metric, Any]]:
    """(metric, configured limit) for every limit the budget sets, in a stable order."""
    out = [(METRICS[k], spec[k]) for k in METRICS if k in spec]
    crates = spec.get("crate") or {}
    if not isinstance(crates, dict):
        raise AuditorError("budget 'crate' must be a table of crate = size", where)
    out += [(crate_metric(name), limit) for name, limit in crates.items()]
    return out


def _evaluate_budget(index: int, spec: Mapping[str, Any], config: ConfigView | None,
                     variants: list[VariantRecord], base_variants: dict[str, VariantRecord], have_baseline: bool,
                     global_increase: object, default: str, implicit: bool, is_shard: bool) -> BudgetResult:
    name = spec.get("name") or f"budget #{index + 1}"
    file, line = _location(config, index, implicit)
    where = f"{file}:{line}" if file else f"budget {name!r}"
    selector = spec.get("variant") or default
    increase_text = spec.get("max-increase", global_increase)
    budget = BudgetResult(name=name, selector=selector, message=spec.get("message"),
                          max_increase=None if increase_text is None else str(increase_text),
                          file=file, line=line, index=None if implicit else index)
    try:
        limits = [(m, raw, m.parse(raw)) for m, raw in _limits(spec, where)]
        increase = parse_increase(increase_text) if increase_text is not None else None
    except ValueError as e:
        raise AuditorError(f"budget {name!r}: {e}", where) from None
    if not limits and "max-increase" not in spec:
        raise AuditorError(f"budget {name!r} sets no limit (raw, gzip, brotli, code, data, custom, crate, "
                           "initial-pages, max-pages, pages-at-cap, churn-slope, fuel-per-action or max-increase)", where)
    selected = [v for v in variants if fnmatch.fnmatchcase(variant_id(v), selector)]
    if not selected:
        if not is_shard:  # a shard holds part of the matrix: gate the merged report instead
            known = ", ".join(variant_id(v) for v in variants) or "none"
            budget.variants.append(BudgetVariant(
                variant=selector, status="error",
                error=f"no variant matches {selector!r} (variants in the report: {known})"))
        return budget
    for v in selected:
        budget.variants.append(_evaluate_variant(v, limits, spec, increase, budget.max_increase,
                                                 base_variants, have_baseline))
    return budget


def _evaluate_variant(v: VariantRecord, limits: list[tuple[Metric, Any, int | float]], spec: Mapping[str, Any],
                      increase: tuple[str, float] | None, increase_text: str | None,
                      base_variants: dict[str, VariantRecord], have_baseline: bool) -> BudgetVariant:
    vid = variant_id(v)
    if v["status"] != "ok":
        first = (v.get("error") or "no error text in the report").strip().splitlines()[0]
        return BudgetVariant(variant=vid, status="fail", error=f"variant failed to build: {first}")
    out = BudgetVariant(variant=vid, status="pass")
    for metric, raw, limit in limits:
        try:
            actual = metric.read(v)
        except Unmeasured as e:
            out.limits.append(LimitResult(metric.key, metric.unit, None, limit, str(raw), "error", str(e)))
            continue
        if actual is None:  # max-pages of a memory without a maximum: unbounded
            out.limits.append(LimitResult(metric.key, metric.unit, None, limit, str(raw), "fail",
                                          "no maximum: memory can grow without bound"))
        else:
            out.limits.append(LimitResult(metric.key, metric.unit, actual, limit, str(raw),
                                          "pass" if actual <= limit else "fail"))
    if increase is not None and increase_text is not None and have_baseline:
        keys = [m.key for m, _, _ in limits if m.unit == "bytes"]
        if not keys and "max-increase" in spec:  # a growth-only budget: its raw bytes
            keys = ["raw"]
        base = base_variants.get(vid)
        for key in keys:
            metric = METRICS[key] if key in METRICS else crate_metric(key.removeprefix("crate."))
            actual, before = figure(metric, v), figure(metric, base)
            if actual is None or before is None:
                out.increases.append(IncreaseResult(key, before, actual, increase_text, None, "skip"))
                continue
            allowed = _allowed(increase, before)
            ok = (actual - before) <= allowed
            out.increases.append(IncreaseResult(key, before, actual, increase_text,
                                                allowed, "pass" if ok else "fail"))
    statuses = {x.status for x in out.limits} | {x.status for x in out.increases}
    out.status = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    return out


def parse_increase(value: int | float | str) -> tuple[str, float]:
    """("percent", p) or ("bytes", n): finite and not negative (units enforces both)."""
    return parse_percent_or_bytes(value, what="max-increase")


def _allowed(increase: tuple[str, float], before: int | float) -> int:
    """Whole bytes allowed on top of `before`, computed exactly (5% of 40,000 is 2,000,
    not 1,999.9999) and rounded down, since growth is a whole number of bytes."""
    kind, amount = increase
    exact = Fraction(str(amount))
    return math.floor(before * exact / 100 if kind == "percent" else exact)


# --------------------------------------------------------------------------- findings


def _fmt(value: float | None, unit: str) -> str:
    return quantity(value, unit, readable=False)


def _level(config: ConfigView | None, rule: str) -> str | None:
    """The configured level of a rule, else its default from rules/budget.toml; None when off."""
    level = config.rule_level(rule) if config is not None else None
    return None if level == "off" else (level or _rule(rule).level)


def _rule(rule_id: str) -> catalog.Rule:
    """A budget rule of rules/budget.toml (they are auditor's own: a missing one is a bug)."""
    entry = catalog.get(rule_id)
    if entry is None:
        raise AuditorError(f"rule {rule_id} is missing from rules/budget.toml")
    return entry


def _finding(config: ConfigView | None, rule: str, message: str, budget: BudgetResult, variant: str,
             key: str) -> Finding | None:
    """A finding located at the budget's line for `key` (else the budget's first line)."""
    level = _level(config, rule)
    if level is None:
        return None
    file, line = budget.file, budget.line
    if budget.index is not None and config is not None:
        loc = config.location(f"budget.{budget.index}.{key}")
        if loc:
            file, line = loc
    if budget.message:
        message = f"{message} — {budget.message}"
    entry = _rule(rule)
    return Finding(rule=rule, level=level, message=message, title=entry.title, category="budget",
                   file=file, line=line, variant=variant, help=entry.fix)


def _record(result: CheckResult, budget: BudgetResult, config: ConfigView | None) -> None:
    """Findings for every breach and one Check per budget x variant."""
    for bv in budget.variants:
        made: list[Finding | None] = []  # None: the rule is off
        head = f"budget {budget.name!r} ({bv.variant})"
        if bv.error:
            rule = RULE_FAILED if bv.error.startswith("variant failed") else RULE_UNMEASURED
            made.append(_finding(config, rule, f"{head}: {bv.error}", budget, bv.variant, "variant"))
        for lim in bv.limits:
            if lim.status == "error":
                made.append(_finding(config, RULE_UNMEASURED, f"{head}: {lim.metric} not measured: {lim.note}",
                                    budget, bv.variant, lim.metric))
            elif lim.status == "fail":
                if lim.actual is None:
                    text = f"{head}: {lim.metric}: {lim.note} (limit {lim.limit_text})"
                else:
                    over = lim.actual - lim.limit
                    text = (f"{head}: {lim.metric} {_fmt(lim.actual, lim.unit)} > limit {lim.limit_text} "
                            f"({_fmt(lim.limit, lim.unit)}), over by {_fmt(over, lim.unit)}"
                            + (f" ({over * 100 / lim.limit:.1f}%)" if lim.limit else ""))
                made.append(_finding(config, RULE_EXCEEDED, text, budget, bv.variant, lim.metric))
        for inc in bv.increases:
            if inc.status == "fail":
                text = (f"{head}: {inc.metric} grew {inc.delta:+,} B{percent(inc.delta, inc.baseline)} over the baseline "
                        f"({inc.baseline:,} B -> {inc.actual:,} B), max-increase {inc.allowed_text} "
                        f"allows {_fmt(inc.allowed, 'bytes')}")
                made.append(_finding(config, RULE_INCREASE, text, budget, bv.variant, "max-increase"))
        new = [f for f in made if f is not None]
        result.findings += new
        rule = new[0].rule if new else (RULE_INCREASE if bv.increases and not bv.limits else RULE_EXCEEDED)
        message = "; ".join(f.message for f in new) if new else f"{head}: within budget"
        result.checks.append(Check(rule=rule, target=f"{budget.name}: {bv.variant}", status=bv.status,
                                   message=message, findings=new))
