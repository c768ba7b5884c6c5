"""`auditor.attribution/1`: every size view of one module in one record (README
("`scan --attribute VARIANT`: a debug-info twin")).

Three producers, each adding to the one before: `attribution_of` (auditor.wasm.analysis.results:
the views of one module; `diff` keeps one per compared module), `attribute_modules`
(auditor.pipeline.deep: the size views from the variant, the DWARF views from its debug-info
twin, plus `views`, `modules` and `monos`), and `attribute_variant` (the scan report's
`attribution`: plus the variant and its twin profile, or only `error` when one did not build).
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

SCHEMA = "auditor.attribution/1"


class ItemRowRecord(TypedDict):
    """One item as auditor.top/1 lists it."""

    name: str
    kind: str
    index: int
    shallow: int
    retained: int


class GarbageTotalsRecord(TypedDict):
    items: int
    bytes: int


class DataCategoryRecord(TypedDict):
    name: str
    bytes: int
    pieces: int


class DataViewRecord(TypedDict):
    bytes: int
    categories: list[DataCategoryRecord]


class CrateRowRecord(TypedDict):
    name: str
    bytes: int
    functions: int


class CratesViewRecord(TypedDict):
    defining: list[CrateRowRecord]
    instantiating: list[CrateRowRecord]
    code_bytes: int
    hint: str | None


class FileBytesRecord(TypedDict):
    path: str
    bytes: int
    functions: int


class DirectoryBytesRecord(TypedDict):
    path: str
    bytes: int


class UnattributedRecord(TypedDict):
    bytes: int
    overhead: int
    no_line_info: int
    unknown_file: int


class SourcesViewRecord(TypedDict):
    available: bool
    hint: str | None
    files: list[FileBytesRecord]
    directories: list[DirectoryBytesRecord]
    unattributed: UnattributedRecord


class GenericRecord(TypedDict):
    name: str
    copies: int
    bytes: int
    savings: int


class MonosRestRecord(TypedDict):
    generics: int
    bytes: int
    savings: int


class MonosViewRecord(TypedDict):
    bytes: int
    savings: int
    generics: list[GenericRecord]  # the ones with most savings, without their instances
    rest: MonosRestRecord


class SizeViewsRecord(TypedDict):
    """The views the item graph answers without DWARF (results.size_views)."""

    retained: list[ItemRowRecord]  # largest retained size first
    retained_complete: bool  # every item listed (diff compares them)
    garbage: GarbageTotalsRecord
    data: DataViewRecord


class DwarfViewsRecord(TypedDict):
    """The views that read the module's DWARF (results.dwarf_views)."""

    crates: CratesViewRecord
    sources: SourcesViewRecord


class ModuleViewsRecord(SizeViewsRecord, DwarfViewsRecord):
    """`attribution_of`: every view of one module."""

    schema: str
    file: str
    bytes: int


class AttributedModuleRecord(TypedDict):
    """`modules.variant` / `modules.twin` of a twin attribution."""

    wasm_path: str
    file: str
    bytes: int
    code_bytes: int
    debug_bytes: int  # its `.debug_*` custom sections, whole


class TwinAttributionRecord(ModuleViewsRecord):
    """`attribute_modules`: the size views from the variant, the DWARF views from the twin
    (`file`, `bytes` and `wasm_path` are the twin's)."""

    wasm_path: str
    monos: MonosViewRecord
    dominators: dict[str, Any]  # auditor.dominators/1 from the roots, depth 2, 30 rows
    paths: NotRequired[dict[str, Any]]  # auditor.paths/1 for `scan --why QUERY` (or query + error)
    views: dict[str, str]  # view -> "variant" | "twin": the module it read
    modules: dict[str, AttributedModuleRecord]  # "variant" (when on disk), "twin"


class AttributionRecord(TypedDict):
    """The scan report's `attribution` (`scan --attribute VARIANT`): a TwinAttributionRecord
    plus the variant, its twin profile and settings and the variant's code bytes; or, when
    the variant or its twin did not build, `schema`, `variant`, `twin_profile`, `error`
    (and `twin_settings` once they were worked out)."""

    schema: str
    variant: str
    twin_profile: str
    twin_settings: NotRequired[dict[str, Any]]  # cargo profile keys
    error: NotRequired[str]
    variant_code_bytes: NotRequired[int | None]
    file: NotRequired[str]
    bytes: NotRequired[int]
    wasm_path: NotRequired[str]
    retained: NotRequired[list[ItemRowRecord]]
    retained_complete: NotRequired[bool]
    garbage: NotRequired[GarbageTotalsRecord]
    data: NotRequired[DataViewRecord]
    monos: NotRequired[MonosViewRecord]
    dominators: NotRequired[dict[str, Any]]
    paths: NotRequired[dict[str, Any]]
    crates: NotRequired[CratesViewRecord]
    sources: NotRequired[SourcesViewRecord]
    views: NotRequired[dict[str, str]]
    modules: NotRequired[dict[str, AttributedModuleRecord]]
