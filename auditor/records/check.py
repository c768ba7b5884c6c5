"""`auditor.check/1`: a scan report gated on budgets and a baseline (README ("JSON:
auditor.check/1")). `auditor check --format json` prints it; `scan --gate` puts it in
the scan report as `check`."""

from __future__ import annotations

from typing import Any, TypedDict

from auditor.records.findings import CheckRecord, FindingRecord

SCHEMA = "auditor.check/1"


class LimitRecord(TypedDict):
    metric: str  # raw, gzip, ..., crate.NAME
    unit: str  # bytes | pages | pages/1k rounds
    actual: int | float | None  # None: unbounded or not measured
    limit: int | float
    limit_text: str  # as written in the config
    headroom: int | float | None
    headroom_percent: float | None
    status: str  # pass | fail | error
    note: str | None


class IncreaseRecord(TypedDict):
    metric: str
    baseline: int | float | None  # bytes (whole numbers in practice)
    actual: int | float | None
    delta: int | float | None
    delta_percent: float | None
    max_increase: str  # as written
    allowed: int | None  # whole bytes
    status: str  # pass | fail | skip


class BudgetVariantRecord(TypedDict):
    variant: str
    status: str
    error: str | None
    limits: list[LimitRecord]
    increases: list[IncreaseRecord]


class BudgetRecord(TypedDict):
    name: str
    variant: str  # the selector
    status: str
    message: str | None
    max_increase: str | None
    file: str | None
    line: int | None
    variants: list[BudgetVariantRecord]


class GateVariantRecord(TypedDict):
    """One variant of the gated report with its byte figures and the baseline's (None:
    failed, unmeasured, or not in the baseline)."""

    variant: str
    status: str  # ok | failed
    error: str | None
    raw: int | float | None
    baseline_raw: int | float | None
    gzip: int | float | None
    baseline_gzip: int | float | None
    brotli: int | float | None
    baseline_brotli: int | float | None
    code: int | float | None
    baseline_code: int | float | None
    data: int | float | None
    baseline_data: int | float | None


class GateRecord(TypedDict):
    """The check record proper (`CheckRecord` names a rule check: findings.py)."""

    schema: str
    report: str | None
    baseline: str | None
    crate: Any  # the scan report's crate object
    toolchain: Any
    default_variant: str
    passed: bool
    summary: dict[str, int]  # {"pass": n, "fail": n, "error": n} over `checks`
    variants: list[GateVariantRecord]
    budgets: list[BudgetRecord]
    checks: list[CheckRecord]
    findings: list[FindingRecord]
