"""`auditor.inspect/1`: one module read by the wasm stage (README ("JSON: auditor.inspect/1")).

`auditor inspect --format json` prints it; each scan variant's `wasm` is one (with empty
`findings` and `checks`); `diff`, the rules and the budgets read it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from auditor.records.findings import CheckRecord, FindingRecord

SCHEMA = "auditor.inspect/1"


class SectionRecord(TypedDict):
    id: int
    name: str
    custom: bool
    offset: int
    size: int
    payload_offset: int
    payload_size: int


class SectionTotalsRecord(TypedDict):
    code: int
    data: int
    custom: int
    other: int
    preamble: int


class MemoryRecord(TypedDict):
    index: int
    imported: bool
    module: str | None
    field: str | None
    initial_pages: int
    max_pages: int | None
    initial_bytes: int
    max_bytes: int | None
    page_size: int
    shared: bool
    memory64: bool
    exports: list[str]
    unbounded: bool


# `global` is a Python keyword, so this one is written in the functional form
StackRecord = TypedDict("StackRecord", {
    "global": int,  # the stack pointer's global index
    "name": str | None,
    "init": int,
    "size": int,
    "layout": str,  # stack-first | after-data
})


class SourcePathRecord(TypedDict):
    text: str
    offset: int
    bytes: int


class DataSegmentsRecord(TypedDict):
    count: int
    active: int
    passive: int


class ImportRecord(TypedDict, total=False):
    module: str
    field: str
    kind: str
    signature: str  # functions only


class ExportRecord(TypedDict, total=False):
    name: str
    kind: str
    index: int
    signature: str  # functions only


class InterfaceRecord(TypedDict):
    imports_by_kind: dict[str, int]
    exports_by_kind: dict[str, int]
    wasm_bindgen: bool
    wasi: str | None


class ProducerRecord(TypedDict):
    name: str
    version: str


class CountSizeRecord(TypedDict):
    count: int
    size: int


class FunctionRecord(TypedDict):
    index: int
    name: str | None
    demangled: str | None
    size: int
    crate: str
    exports: list[str]


class CrateRecord(TypedDict):
    name: str
    size: int
    functions: int


class EvidenceRecord(TypedDict):
    function: str
    size: int
    symbol: str | None  # the raw (mangled) name


class AllocatorRecord(TypedDict):
    name: str
    description: str
    evidence: list[EvidenceRecord]
    evidence_bytes: int
    expected_class: str | None
    ambiguous_with: list[str]
    class_hint: str | None
    std_copy: str | None  # how std's private copy (dlmalloc) was told apart, when it was


class GrowSiteRecord(TypedDict):
    function: int
    name: str | None
    offset: int
    memory: int
    checked: bool
    use: str  # compared | dropped | unchecked


class CompressionImplRecord(TypedDict, total=False):
    zlib: str
    brotli: str | None
    gzip_level: int | None  # the levels `compression` stands for (fast = gzip -5, brotli -q 5 since issue 16's round 4; -6/-q 6 before)
    brotli_quality: int | None


class DwarfUnitRecord(TypedDict):
    offset: int  # in .debug_info
    version: int
    name: str | None
    producer: str | None
    language: str | None  # a DWARF name (DW_LANG_Rust; DW_LANG_0x... when unknown)
    comp_dir: str | None
    crate: str | None


class DwarfEntryRecord(TypedDict):
    """What the DWARF walk found for one body (auditor.wasm.dwarf.dwarf_walk)."""

    file: str | None
    line: int | None
    crate: str | None
    linkage_name: str | None
    inlined_into: NotRequired[list[int]]  # other bodies with inlined copies of it


class DwarfFunctionRecord(DwarfEntryRecord):
    index: int  # (listed first in the JSON)


class UnplacedRecord(TypedDict):
    name: str | None
    low_pc: int


class UnmatchedRecord(TypedDict):
    index: int
    name: str | None


class DwarfFunctionsRecord(TypedDict):
    """The full walk (`inspect --dwarf`): auditor.wasm.dwarf's DwarfFunctions.to_json()."""

    bodies: int
    matched: int
    subprograms: int
    tombstoned: int
    units: int
    unplaced: int
    unplaced_examples: list[UnplacedRecord]
    duplicates: int
    unmatched: list[UnmatchedRecord]
    error: str | None
    errors: list[str]
    failed_units: int
    functions: list[DwarfFunctionRecord]


class DwarfSummaryRecord(TypedDict):
    """auditor.wasm.dwarf.dwarf_summary(), and the walk's `functions` with --dwarf."""

    compile_units: int
    type_units: int
    versions: list[int]
    producers: list[str]
    languages: list[str]
    crates: list[str]
    units: list[DwarfUnitRecord]
    bytes: int
    sections: dict[str, int]
    error: str | None
    functions: NotRequired[DwarfFunctionsRecord]


class InspectRecord(TypedDict):
    schema: str
    file: str
    bytes: int
    sha256: NotRequired[str]  # of the module read (absent in reports made before issue 14's retained treemap)
    gzip: int | None
    brotli: int | None
    compression: str
    compression_impl: CompressionImplRecord
    sections: list[SectionRecord]
    section_totals: SectionTotalsRecord
    memories: list[MemoryRecord]
    stack: StackRecord | None
    static_data_bytes: int
    source_paths: list[SourcePathRecord]
    data_segments: DataSegmentsRecord
    symbols: dict[str, int | None]
    imports: list[ImportRecord]
    exports: list[ExportRecord]
    interface: InterfaceRecord
    producers: dict[str, list[ProducerRecord]]
    rustc_version: str | None
    target_features: list[str]
    function_count: int
    named_functions: CountSizeRecord
    unnamed_functions: CountSizeRecord
    functions: list[FunctionRecord]
    crates: list[CrateRecord]
    allocator: AllocatorRecord
    memory_grow_sites: list[GrowSiteRecord]
    dwarf: DwarfSummaryRecord | None  # README ("DWARF debug info"): the summary, and `functions` with --dwarf
    warnings: list[str]
    findings: list[FindingRecord]  # empty from the wasm stage; the rules fill them
    checks: list[CheckRecord]
