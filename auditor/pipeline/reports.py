"""Commands over saved reports: `auditor diff` (two reports or modules) and `auditor
merge` (shard reports into one). `check` is the gate's: auditor.pipeline.gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from auditor.gate.diff import DiffResult, diff_reports
from auditor.gate.merge import MergedReport

if TYPE_CHECKING:
    from auditor.records.inspect import InspectRecord
    from auditor.records.scan import ScanRecord


def diff(old: str, new: str, *, top: int = 10, variant: str | None = None, deep: bool = True) -> DiffResult:
    return diff_reports(old, new, top=top, variant=variant, deep=deep)


def merge(reports: list[str] | tuple[str, ...], *, config_file: str | None = None,
          crate_dir: str | None = None) -> MergedReport:
    """Shard reports checked, merged in matrix order, the scan rules run again on the
    whole (with the scanned crate's config, or --crate / --config)."""
    from auditor.config.loader import load_config
    from auditor.gate import report as rep
    from auditor.gate.merge import merge_reports

    loaded = [(path, rep.load_scan(path)) for path in reports]
    config = load_config(rep.crate_dir(loaded[0][1], crate_dir), config_file=config_file)
    return MergedReport(merge_reports(loaded, config), list(reports))




class SavedReport:
    """A scan or inspect report read back from its JSON (`auditor report`): the record,
    its findings as Finding objects, and the baseline report when one is given."""

    def __init__(self, record: ScanRecord | InspectRecord, baseline: ScanRecord | None = None, *,
                 path: str | None = None,
                 retained: bool = True) -> None:
        from auditor.findings import Finding

        self.record = record
        loose: Mapping[str, Any] = record  # as written: maybe by an older auditor, maybe by hand
        self.KIND = str(loose.get("schema", "")).removeprefix("auditor.").split("/")[0]
        fields = set(Finding.__dataclass_fields__)
        self.findings = [Finding(**{k: v for k, v in f.items() if k in fields})
                         for f in loose.get("findings", []) if isinstance(f, dict)]
        self.checks: list = []
        self.baseline_record = baseline
        self.file = loose.get("file")
        self.path = path  # the report file (a relative module path is also tried next to it)
        self.retained = retained  # the HTML page's retained-size view (`--no-retained`: off)

    def to_json(self) -> ScanRecord | InspectRecord:
        return self.record

    def exit_code(self) -> int:
        return 0


def saved_report(path: str, *, baseline: str | None = None, retained: bool = True) -> SavedReport:
    """`auditor report FILE`: a saved scan or inspect report (and a baseline scan report);
    `retained`: the page's retained-size view reads the module the report names."""
    from auditor.gate.report import load_report, load_scan

    record = load_report(path, kinds=("scan", "inspect"))
    base = load_scan(baseline) if baseline else None
    return SavedReport(record, base, path=path, retained=retained)


__all__ = ["DiffResult", "MergedReport", "SavedReport", "diff", "merge", "saved_report"]
