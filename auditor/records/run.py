"""`auditor.run/1`: one module run by the runtime stage (README ("JSON: auditor.run/1")).

`auditor run --format json` prints it; each scan variant's `runtime` is one (with empty
`findings` and `checks`); the runtime rules and the budgets' runtime metrics read it.
Workload records are `total=False`: a workload that was not probed carries only
`verdict`/`outcome`, `reason` and the figures it could not measure as null.
"""

from __future__ import annotations

from typing import Any, TypedDict

from auditor.records.findings import CheckRecord, FindingRecord

SCHEMA = "auditor.run/1"


class OptionsRecord(TypedDict):
    memory_limit_pages: int
    fuel: int
    timeout: float | None
    unknown_imports: str
    churn_rounds: int
    hold_cycles: int
    seed: int
    workloads: list[str]
    capture_bytes: int
    speed: bool
    speed_actions: int
    speed_runs: int
    speed_trials: int


class ImportPlanRecord(TypedDict):
    module: str
    name: str
    kind: str
    provided: str  # wasi | stub-trap | stub-default | default-value


class ModuleRecord(TypedDict):
    initial_pages: int | None
    max_pages: int | None
    wasi: bool
    wasm_bindgen: bool
    imports: list[ImportPlanRecord]
    exports: list[str]


class TrapRecord(TypedDict, total=False):
    outcome: str
    code: str | None
    message: str | None
    frames: list[str]
    exit_code: int


class InstantiateRecord(TypedDict, total=False):
    # ok | memory-over-cap | table-over-cap | tables-over-cap | memories-over-cap | instances-over-cap |
    # shared-memory-over-cap | start-trap | start-timeout | host-error | unsatisfied-imports |
    # instantiate-error | compile-timeout | compile-memory | compile-too-deep | compile-crash
    outcome: str
    message: str | None
    pages: int | None
    trap: TrapRecord | None


class RejectedRecord(TypedDict):
    name: str
    signature: str
    reason: str


class EntryRecord(TypedDict):
    family: str | None
    alloc: str | None
    free: str | None
    realloc: str | None
    try_reserve: str | None
    shapes: dict[str, str | None]
    ptr_type: str | None
    rejected: list[RejectedRecord]


class OomRecord(TypedDict, total=False):
    entry: str
    outcome: str  # null | err | unreachable | out-of-bounds | stack-overflow | timeout | trap | no-failure | not-probed
    pages: int | None
    initial_pages: int
    cap_pages: int
    request: int | None
    live_bytes: int
    grew_on_failure: bool
    curve: list[int]
    requests: list[int]
    trap: TrapRecord | None
    recovered: bool | None
    recovery: str | None
    stdout: str | None
    stderr: str | None
    try_reserve: OomRecord | None
    reason: str | None


class GrowthRecord(TypedDict, total=False):
    """`churn` and `hold_release`."""

    verdict: str  # plateau | leak | page-per-alloc | fixed-arena | not-probed
    reason: str | None
    outcome: str
    steps: int
    allocations: int
    pages_initial: int
    pages_after_warmup: int | None
    pages_end: int | None
    pages_max: int
    slope: float | None
    slope_unit: str
    warmup: int
    curve: list[int]
    trap: TrapRecord | None
    rounds: int  # churn
    slots: int
    live_bytes: int
    cycles: int  # hold/release
    blocks_per_cycle: int
    period: int
    live_peak_bytes: int
    pages_per_cycle: list[int]


class HolesRecord(TypedDict):
    """Fragmentation's first question: only every other block freed, then a request
    twice a block's size."""

    freed_bytes: int
    request: int
    pages_before: int
    pages_after: int
    grew: bool


class FragmentationRecord(TypedDict, total=False):
    verdict: str  # reuse | grow | elsewhere | failed | not-probed
    reason: str | None
    outcome: str
    block: int
    blocks: int
    freed_bytes: int
    request: int
    pages_before: int
    pages_after: int
    reused: bool
    holes: HolesRecord | None  # null when the run failed before it was asked
    curve: list[int]
    trap: TrapRecord | None


class ReallocRecord(TypedDict, total=False):
    verdict: str  # tight | copying | wasteful | failed | not-probed
    reason: str | None
    outcome: str
    emulated: bool
    steps: int
    moves: int
    live_bytes: int
    pages_initial: int
    pages_peak: int
    overhead: float | None
    curve: list[int]
    trap: TrapRecord | None


# what one workload gives (RunRecord's oom, churn, hold_release, fragmentation, realloc)
WorkloadRecord = OomRecord | GrowthRecord | FragmentationRecord | ReallocRecord


class GrowFunctionRecord(TypedDict):
    function: int
    name: str | None
    sites: int
    unchecked: int
    offsets: list[int]


class TableGrowRecord(TypedDict):
    function: int
    name: str | None
    offset: int  # file offset of the table.grow
    table: int
    delta: int  # the constant pushed right before it
    cap: int  # the sandbox's elements per table


class StaticRecord(TypedDict):
    available: bool
    reason: str | None
    memory_grow_sites: int | None
    unchecked_grow_sites: int | None
    grow_functions: list[GrowFunctionRecord]
    aborts_on_oom: bool | None
    oom_handlers: list[str]
    oom_path_ends_in_unreachable: bool | None
    exports_reaching_oom: list[str]
    named_functions: int
    table_grow_sites: int | None
    table_grow_over_cap: list[TableGrowRecord]  # constant requests above the sandbox's table cap


class WasiRecord(TypedDict):
    entry: str
    outcome: str | None
    exit_code: int | None
    stdout: str | None
    stderr: str | None
    truncated: bool
    pages: int | None
    trap: TrapRecord | InstantiateRecord | None  # the instantiation failure when it never ran


class ScenarioRecord(TypedDict):
    name: str
    export: str
    args: list[int | float]
    expected: str
    error_value: int | None
    memory_limit_pages: int
    observed: str | None
    passed: bool
    value: Any
    pages_before: int | None
    pages_after: int | None
    trap: TrapRecord | None
    message: str | None
    stdout: str | None
    stderr: str | None
    origin: str | None


class SandboxLimitsRecord(TypedDict):
    memory_pages: int
    table_elements: int
    instances: int
    tables: int
    memories: int
    compile_seconds: float
    compile_memory_bytes: int
    max_nesting: int


class HostErrorRecord(TypedDict):
    where: str  # "instantiate (the start function)" | "call EXPORT"
    message: str | None


class SandboxRecord(TypedDict):
    limits: SandboxLimitsRecord  # (what the compile child took is in `timings`: it differs run to run)
    host_errors: list[HostErrorRecord]  # wasmtime-py's own failures (not the module's), deduplicated
    compiled_in: str  # "child" (the sandboxed compile) or "process" (a module the scan built itself)


class SpeedOptionsRecord(TypedDict):
    actions: int
    runs: int
    trials: int
    seed: int
    workloads: list[str]
    chunk: int  # records per replay call


class TimeRecord(TypedDict):
    median: float
    min: float
    max: float


class SpeedWorkloadRecord(TypedDict):
    """One replayed workload: the fuel run's figures, then the wall clock's
    (`actions_per_us` .. `timing_note` null when it did not run)."""

    outcome: str | None  # ok | null | calibration-failed | a trap outcome | an instantiation outcome
    actions: int
    completed: int
    allocs: int
    frees: int
    reallocs: int
    fuel: int | None
    loop_fuel: int | None
    fuel_per_action: float | None
    actions_per_us: float | None
    time_us: TimeRecord | None
    timing_calls: int | None
    timing_note: str | None
    peak_live_bytes: int | None
    heap_bytes: int | None
    peak_to_live: float | None
    pages_end: int | None
    trap: TrapRecord | InstantiateRecord | None


class WallClockRecord(TypedDict, total=False):
    """What a wall-clock run adds to a workload: the figures, or only `timing_note`."""

    actions_per_us: float | None
    time_us: TimeRecord | None  # (typed as the workload's keys: this updates one)
    timing_calls: int | None
    timing_note: str | None


class FillTrialRecord(TypedDict):
    outcome: str | None  # null | unreachable | no-failure | overlapping | a trap / instantiation outcome
    actions: int
    live_bytes: int
    live_blocks: int
    pages: int | None
    memory_bytes: int
    heap_start: int | None
    heap_bytes: int
    efficiency: float | None
    failed_op: str | None
    trap: TrapRecord | InstantiateRecord | None


class HeapFillRecord(TypedDict):
    efficiency: float | None
    memory_efficiency: float | None
    trials: list[FillTrialRecord]
    reason: str | None


class SpeedRecord(TypedDict):
    """auditor.runtime.speed's SpeedResult.to_json()."""

    reason: str | None  # why nothing was measured
    method: str | None  # "replay" when a workload ran
    entry: str | None
    options: SpeedOptionsRecord
    headline: str  # the workload whose figures stand for the variant
    fuel_per_action: float | None
    actions_per_us: float | None
    peak_to_live: float | None
    heap_efficiency: float | None
    heap_base: int | None
    heap_base_source: str | None  # __heap_base | initial-memory
    workloads: dict[str, SpeedWorkloadRecord]
    fill: HeapFillRecord | None


class AllocatorCodeItemRecord(TypedDict):
    index: int
    name: str | None
    bytes: int


class AllocatorCodeRecord(TypedDict):
    """auditor.wasm.allocator_cost's AllocatorCode.to_json()."""

    allocator: str
    method: str  # names | none
    bytes: int
    share: float | None  # of code_bytes
    code_bytes: int
    items: list[AllocatorCodeItemRecord]  # matched by name
    only_through: list[AllocatorCodeItemRecord]  # reached only through the items
    reason: str | None


class RunRecord(TypedDict):
    schema: str
    file: str
    bytes: int
    options: OptionsRecord
    module: ModuleRecord
    instantiate: InstantiateRecord
    entry: EntryRecord
    oom: OomRecord
    churn: GrowthRecord
    hold_release: GrowthRecord
    fragmentation: FragmentationRecord
    realloc: ReallocRecord
    static: StaticRecord
    wasi: WasiRecord | None
    scenarios: list[ScenarioRecord]
    sandbox: SandboxRecord
    speed: SpeedRecord | None  # the speed probe (README "Allocator speed and heap efficiency"); null: off
    allocator_code: AllocatorCodeRecord | None  # auditor.wasm.allocator_cost on this module; null: not parsed
    findings: list[FindingRecord]  # empty from the runtime stage; the rules fill them
    checks: list[CheckRecord]
    timings: dict[str, float | int]
