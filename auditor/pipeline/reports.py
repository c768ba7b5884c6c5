"""Commands over saved reports: `auditor diff` (two reports or modules) and `auditor
merge` (shard reports into one). `check` is the gate's: auditor.pipeline.gate."""

from __future__ import annotations

from auditor.gate.diff import DiffResult, diff_reports
from auditor.gate.merge import MergedReport


def diff(old: str, new: str, *, top: int = 10, variant: str | None = None, deep: bool = True) -> DiffResult:
    return diff_reports(old, new, top=top, variant=variant, deep=deep)


def merge(reports: list[str] | tuple[str, ...], *, config_file: str | None = None,
          crate_dir: str | None = None) -> MergedReport:
    """Shard reports checked, merged in matrix order, the scan rules run again on the
    whole (with the scanned crate's config, or --crate / --config)."""
    from auditor.config.loader import load_config
    from auditor.gate import report as rep
    from auditor.gate.merge import merge_reports

    loaded = [(path, rep.load_report(path, kinds=("scan",))) for path in reports]
    config = load_config(rep.crate_dir(loaded[0][1], crate_dir), config_file=config_file)
    return MergedReport(merge_reports(loaded, config), list(reports))


__all__ = ["DiffResult", "MergedReport", "diff", "merge"]
