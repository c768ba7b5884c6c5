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


class DiffRecord(TypedDict):
    schema: str
    old: SideRecord
    new: SideRecord
    top: int
    variants: list[dict[str, object]]  # scan vs scan: variant, old_status, new_status, raw, gzip, brotli
    modules: list[ModuleDiffRecord]
