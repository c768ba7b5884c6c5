"""Commands over saved reports: `auditor diff` (two reports or modules) and `auditor
merge` (shard reports into one). `check` is the gate's: auditor.pipeline.gate."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.gate.diff import DiffResult, Side, diff_reports
from auditor.gate.merge import MergedReport

if TYPE_CHECKING:
    from auditor.findings import Check
    from auditor.records.attribution import ModuleViewsRecord
    from auditor.records.inspect import InspectRecord
    from auditor.records.retained import RetainedSource
    from auditor.records.scan import ScanRecord
    from auditor.wasm.model import Module


def diff(old: str, new: str, *, top: int = 10, variant: str | None = None, deep: bool = True) -> DiffResult:
    """`auditor diff OLD NEW`: each side loaded (a .wasm module is read by the wasm stage
    here), then compared by the gate (auditor.gate.diff)."""
    return diff_reports(load_side(old, deep), load_side(new, deep), top=top, variant=variant, deep=deep)


def load_side(path: str, deep: bool = False) -> Side:
    """A JSON report, or a .wasm file inspected; with `deep`, a module's record also
    carries its `attribution` (every item's retained size, both crate views, files),
    from the module inspect parsed: each side is parsed once."""
    from auditor.gate.report import WASM_MAGIC, load_report

    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError:
        head = b""  # load_report names the problem
    if head == WASM_MAGIC:
        from auditor.wasm.inspect import inspect_file

        inspected = inspect_file(p)
        record: dict[str, Any] = dict(inspected.to_json())
        if deep:
            record["attribution"] = module_attribution(inspected.module)
        return Side(path, "wasm", record)
    report = load_report(p, kinds=("scan", "inspect"), expected="a .wasm module or a JSON report")
    return Side(path, report["schema"].split(".")[1].split("/")[0], report)


def module_attribution(mod: Module) -> ModuleViewsRecord:
    """`auditor.attribution/1` of a parsed module, every item listed (the diff's deep
    deltas): its full item graph built on the module (no second parse)."""
    from auditor.wasm.analysis.results import attribution_of
    from auditor.wasm.graph import item_graph

    return attribution_of(mod, item_graph(mod, full=True), top_items=0)


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
        self.checks: list[Check] = []
        self.baseline_record = baseline
        self.file = loose.get("file")
        self.path = path  # the report file (a relative module path is also tried next to it)
        # the HTML page's retained-size view, of the module the report names (`--no-retained`: none)
        self.retained_view: RetainedSource | None = None
        if retained:
            from auditor.pipeline.retained import of_record

            self.retained_view = of_record(self.KIND, lambda: record, base=Path(path).parent if path else None)

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


__all__ = ["DiffResult", "MergedReport", "SavedReport", "diff", "load_side", "merge", "module_attribution",
           "saved_report"]
