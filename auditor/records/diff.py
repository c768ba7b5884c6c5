"""`auditor.diff/1`: what changed between two reports or modules (README ("JSON:
auditor.diff/1")), written by the gate stage for the report layer."""

from __future__ import annotations

from typing import NotRequired, TypedDict

SCHEMA = "auditor.diff/1"


class RowRecord(TypedDict):
    name: str
    status: str  # added | removed | changed | unchanged
    old: int | float | None
    new: int | float | None
    delta: int | float
    delta_percent: float | None
    old_count: NotRequired[int]  # function rows: functions sharing the name
    new_count: NotRequired[int]


class TableRecord(TypedDict):
    rows: list[RowRecord]
    omitted: int
    omitted_delta: int
    unchanged: int


class ModuleDiffRecord(TypedDict):
    variant: str | None
    totals: list[RowRecord]
    sections: TableRecord
    crates: TableRecord
    functions: TableRecord
    # retained, defining_crates, instantiating_crates, files, directories (README "auditor diff OLD NEW")
    deep: NotRequired[dict[str, TableRecord]]


class SideRecord(TypedDict):
    file: str
    kind: str  # scan | inspect | wasm


class SizeChangeRecord(TypedDict):
    old: int | float | None
    new: int | float | None
    delta: int | float | None  # null unless both sides have the figure
    delta_percent: float | None


class VariantRowRecord(TypedDict):
    """Scan vs scan: one row per variant (in either report)."""

    variant: str
    old_status: str | None  # null: not in that report
    new_status: str | None
    raw: SizeChangeRecord
    gzip: SizeChangeRecord
    brotli: SizeChangeRecord


class DiffRecord(TypedDict):
    schema: str
    old: SideRecord
    new: SideRecord
    top: int
    variants: list[VariantRowRecord]  # scan vs scan
    modules: list[ModuleDiffRecord]
