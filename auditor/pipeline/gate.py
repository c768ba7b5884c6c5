"""The gate, orchestrated once for `auditor check REPORT` and `auditor scan --gate`:
plan (baseline read, --max-increase parsed: bad input stops the command before any work),
then apply to a scan record (budgets and growth evaluated; a gate with nothing to check
is an error, so a CI job whose config was not found cannot pass for ever)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.gate import budgets
from auditor.gate.budgets import CheckResult
from auditor.records.scan import ScanRecord


@dataclass
class GatePlan:
    config: ConfigView
    baseline: ScanRecord | None  # the baseline scan report
    baseline_path: str | None
    max_increase: str | None  # --max-increase as given


def plan_gate(config: ConfigView, baseline: str | None, max_increase: str | None, *,
              before_scan: str | None = None) -> GatePlan:
    """Read the baseline (--baseline, else gate.baseline) and check --max-increase. With
    `before_scan` (the manifest), also refuse a `scan --gate` that could check nothing,
    before any build."""
    base, path = budgets.prepare(config, baseline, max_increase)
    if before_scan is not None:
        allowance = max_increase or config.get("gate.max-increase")
        if not config.get("budget") and not (base is not None and allowance):
            raise AuditorError("--gate has nothing to check: no [[budget]] tables and no baseline with a "
                               "max-increase (--baseline/--max-increase or gate.baseline/gate.max-increase)",
                               before_scan)
    return GatePlan(config, base, path, max_increase)


def apply_gate(plan: GatePlan, scan: ScanRecord, *, report_name: str | None = None,
               if_configured: bool = False) -> CheckResult:
    """Budgets and baseline growth evaluated on one scan record. Nothing to check is an
    error, unless `if_configured`: then the result has no budgets (and passes)."""
    result = budgets.evaluate(scan, plan.config, plan.baseline, plan.max_increase, report_name=report_name,
                              baseline_name=plan.baseline_path)
    error = budgets.nothing_to_gate(result, plan.config)
    if error is not None and not if_configured:
        raise error
    return result


def check_report(report: str, *, config_file: str | None = None, crate_dir: str | None = None,
                 baseline: str | None = None, max_increase: str | None = None,
                 budget: tuple[str, ...] | list[str] = (), if_configured: bool = False) -> CheckResult:
    """`auditor check REPORT`: a saved scan report (or merged shards) gated on the budgets
    of the scanned crate's config (or --crate / --config) and `budget` ("raw<=150 KiB").
    REPORT may be a .wasm module (pipeline/check_module.py): every budget applies to it.
    `if_configured`: a crate with no budget (and no baseline allowance) passes with an
    empty result instead of exit 2."""
    from pathlib import Path

    from auditor.config.loader import load_config
    from auditor.gate.report import WASM_MAGIC, load_scan
    from auditor.gate.report import crate_dir as find_crate
    from auditor.pipeline.check_module import module_scan_record, with_budgets
    from auditor.pipeline.retained import of_record

    is_module = False
    if Path(report).is_file():
        with open(report, "rb") as f:
            is_module = f.read(4) == WASM_MAGIC
    scan = module_scan_record(Path(report)) if is_module else load_scan(report)
    config = load_config(Path(crate_dir) if crate_dir else (Path(".") if is_module else find_crate(scan, None)),
                         config_file=config_file)
    view = with_budgets(config, list(budget), is_module)
    result = apply_gate(plan_gate(view, baseline, max_increase), scan, report_name=report,
                        if_configured=if_configured)
    result.retained_view = of_record("scan", lambda: scan)  # read when the HTML page asks
    return result


__all__ = ["GatePlan", "apply_gate", "check_report", "plan_gate"]
