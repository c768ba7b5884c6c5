"""`auditor.scan/1` (README ("JSON: auditor.scan/1")) and the figures derived across its
variants.

The derivations are functions of the record, so a scan (auditor.build.result) and a
merge of shard reports (auditor.gate.merge) compute `delta` and `smallest` with the same
code; which variant to *recommend* is policy and lives in the rules stage
(auditor.rules.recommend, data in rules/runtime.toml).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from auditor.records.attribution import AttributionRecord
from auditor.records.check import GateRecord
from auditor.records.findings import CheckRecord, FindingRecord
from auditor.records.inspect import InspectRecord
from auditor.records.run import AllocatorCodeRecord, RunRecord

SCHEMA = "auditor.scan/1"


class AllocatorPlaceRecord(TypedDict):
    file: str
    line: int
    type: str | None  # the static's type, when it could be read


class OwnAllocatorRecord(TypedDict):
    """A crate's own #[global_allocator]: the first one found, and every one (cfg-chosen)."""

    file: str
    line: int
    type: str | None
    all: list[AllocatorPlaceRecord]  # each one


class CrateRecord(TypedDict):
    name: str
    version: str
    manifest_path: str  # relative to the working directory when possible
    workspace_root: str
    package_dir: str  # absolute: `check` finds the budgets with it from any directory
    lib: str
    crate_types: list[str]
    own_global_allocator: OwnAllocatorRecord | None


class ModuleCrateRecord(TypedDict):
    """What stands for the crate in `check FILE.wasm`'s one-module record (no cargo ran)."""

    name: str  # the file's name
    module: str  # its path


class ToolchainRecord(TypedDict):
    rustc: str | None
    cargo: str | None
    host: str | None
    target: str
    source: str


class ScanOptionsRecord(TypedDict):
    package: str | None
    features: list[str]
    all_features: bool
    no_default_features: bool
    runtime: bool
    check_reproducible: bool


class ProfileRecord(TypedDict):
    name: str
    settings: dict[str, Any]  # cargo profile keys
    description: str
    origin: str


class AllocatorSpecRecord(TypedDict):
    name: str
    inject: bool
    crate: str | None
    source: dict[str, Any]  # version | path | git (+ branch/rev/tag)
    features: list[str]
    default_features: bool | None
    type: str | None
    item: str | None
    description: str
    origin: str
    pinned_at: str | None
    candidates: list[str]


class ChangeRecord(TypedDict):
    bytes: int
    percent: float | None


class DeltaRecord(TypedDict):
    baseline: str
    raw: ChangeRecord | None
    gzip: ChangeRecord | None
    brotli: ChangeRecord | None


class InjectedRecord(TypedDict):
    dependency: str
    global_allocator: str
    how: str


class AllocatorCheckRecord(TypedDict):
    requested: str | None
    detected: str | None
    status: str  # match | mismatch | ambiguous | unverified
    method: str  # names | twin | sibling | none (auditor/rules/allocator.py)
    basis: list[str]  # the facts that decided, one line each
    possible: list[str]  # entries the deciding source leaves possible
    via: str | None  # sibling: the variant id that verified it
    message: str | None


class ProbeBuildRecord(TypedDict):
    """The build the runtime stage ran for a variant (shared by variants of one allocator
    whose profiles agree on the behaviour keys)."""

    profile: str  # the cargo profile it was built with
    allocator: str
    behaviour: dict[str, Any]  # the behaviour keys it stands for, e.g. {"panic": "abort"}
    status: str | None  # ok | failed
    sha256: str | None
    path: str | None  # the module (in the cache), null when it failed
    command: str  # the reproducing cargo command (probe exports via the glue crate's feature)
    method: str | None  # "relink": linked from `linked_from`'s link inputs + the probe object; "cargo": built
    linked_from: str | None  # relink: the measured variant (same profile and allocator) it was linked from
    relink_skipped: str | None  # cargo: why it was not linked instead (LTO, build-std, a configured linker, ...)
    variants: list[str]  # the variants of this run it serves
    target_panic: str | None  # the target's default panic strategy (rustc --print cfg), when a profile sets panic


class BuildRecord(TypedDict):
    """One cargo build as the variant cache keeps it (`record.json`, not in the report):
    the runner's, read back on a cache hit."""

    status: str  # ok | failed
    error: str | None
    build_seconds: float
    compile_error: bool  # the code's fault (cached), not the network's or the disk's
    sha256: NotRequired[str]  # of the module, when built
    extra_inputs: NotRequired[dict[str, str | None]]  # files rustc read outside the key -> sha256
    env_inputs: NotRequired[dict[str, str | None]]  # environment variables it read -> value (null: unset)
    transient: NotRequired[bool]  # failed for a reason not the code's: never cached
    reproducible: NotRequired[bool]  # measured builds: a rebuild gave the same bytes
    method: NotRequired[str]  # probe modules: "relink" (the base build's link inputs + probe object) | "cargo"
    linked_from: NotRequired[str]  # relink: the measured variant whose link inputs it reused
    relink_skipped: NotRequired[str]  # cargo: why the probe module was not linked instead


class ShipCommandRecord(TypedDict):
    stage: str  # bindgen | wasm-opt
    argv: list[str]
    exact: bool  # false: wasm-opt's --enable flags are not known yet
    note: str | None
    shell: str


class CommandRowRecord(TypedDict):
    """One variant of `scan --print-commands` (`auditor.scan-commands/1`)."""

    id: str
    command: str
    cwd: str
    injected: InjectedRecord | None
    env: dict[str, str]
    shell: str
    ship: list[ShipCommandRecord]


class VariantRecord(TypedDict):
    id: str
    profile: str
    allocator: str
    status: str  # ok | failed
    error: str | None
    build_seconds: float | None
    command: str
    injected: InjectedRecord | None
    reproducible: bool | None
    sha256: str | None
    wasm_path: str | None
    probes_path: str | None
    probe_build: ProbeBuildRecord | None
    allocator_check: AllocatorCheckRecord | None
    delta: DeltaRecord | None
    wasm: InspectRecord | None
    runtime: RunRecord | None
    runtime_error: str | None
    # Shipping stages (issue 11): which stage `wasm` describes, and every stage's sizes.
    stage: NotRequired[str | None]  # cargo | bindgen | wasm-opt
    stages: NotRequired[list[StageRecord] | None]
    allocator_code: NotRequired[AllocatorCodeRecord | None]  # auditor.wasm.allocator_cost of the shipped module


class StageSizeRecord(TypedDict):
    path: str
    bytes: int
    gzip: int | None
    brotli: int | None


class StageRecord(StageSizeRecord):
    """One shipping stage's output: cargo's module, the wasm-bindgen CLI's `_bg.wasm`
    (+ `js`, its glue), wasm-opt's module. `tool` {name, version, source}."""

    name: str  # cargo | bindgen | wasm-opt
    tool: dict[str, str] | None
    shipped: bool  # the last stage that ran: what is deployed
    selected: bool  # the one `wasm` (and the table, budgets, diffs) describe
    js: NotRequired[StageSizeRecord | None]
    target: NotRequired[str]  # bindgen --target
    level: NotRequired[str]  # wasm-opt level
    enable: NotRequired[list[str]]  # wasm-opt --enable-… flags from the module's features


class SmallestRecord(TypedDict):
    variant: str
    bytes: int
    profile: str
    allocator: str
    settings: dict[str, Any]
    delta: DeltaRecord | None


class SkippedRecord(TypedDict):
    reason: str
    variants: list[str]


class TradeoffPointRecord(TypedDict):
    variant: str
    bytes: int
    fuel_per_action: float | None
    heap_efficiency: float | None
    speed_from: NotRequired[str | None]  # the probe build the speed figures came from (added by the recommendation)


class ExcludedRecord(TypedDict):
    variant: str
    reason: str
    by: str | None  # min-speed | min-heap-efficiency | null (a figure is missing)


class TradeoffRecord(TypedDict):
    """auditor.rules.tradeoff's Tradeoff.to_json(); the recommendation
    (auditor.rules.recommend.tradeoff_record) adds the settings it ran with."""

    axes: list[str]  # size | speed | heap: the axes every candidate had a figure for
    weights: dict[str, float]
    front: list[TradeoffPointRecord]
    smallest: TradeoffPointRecord | None
    fastest: TradeoffPointRecord | None
    most_efficient: TradeoffPointRecord | None
    balanced: TradeoffPointRecord | None
    excluded: list[ExcludedRecord]
    notes: list[str]
    min_speed: NotRequired[float | None]
    min_heap_efficiency: NotRequired[float | None]
    candidates: NotRequired[int]


class RecommendedRecord(SmallestRecord):
    runtime_checked: bool
    skipped: list[SkippedRecord]
    tradeoff: NotRequired[TradeoffRecord | None]  # auditor.rules.recommend.tradeoff_record


class ShardRecord(TypedDict):
    index: int
    count: int


class SummaryRecord(TypedDict):
    variants: int
    ok: int
    failed: int


class ScanRecord(TypedDict):
    """A scan report; `check FILE.wasm` gates a bare module as a one-variant record
    (auditor.pipeline.check_module) whose crate is a ModuleCrateRecord, with no toolchain
    and no scan options."""

    schema: str
    crate: CrateRecord | ModuleCrateRecord
    toolchain: ToolchainRecord | None
    options: NotRequired[ScanOptionsRecord]
    profiles: list[ProfileRecord]
    allocators: list[AllocatorSpecRecord]
    matrix: list[str]
    shard: ShardRecord | None
    baseline_variant: str | None
    smallest: SmallestRecord | None
    recommended: RecommendedRecord | None
    summary: SummaryRecord
    variants: list[VariantRecord]
    notices: list[str]
    findings: list[FindingRecord]
    checks: list[CheckRecord]
    check: NotRequired[GateRecord]  # auditor.check/1 with `scan --gate`
    allocator_source: NotRequired[dict[str, Any]]  # scan.registry-allocators: source, allocators, reason
    attribution: NotRequired[AttributionRecord]  # auditor.attribution/1 with `scan --attribute VARIANT`


def join_id(profile: str, allocator: str) -> str:
    """"profile/allocator": a variant's id, the key budgets select on and shards split on."""
    return f"{profile}/{allocator}"


def split_id(vid: str) -> tuple[str, str] | None:
    """join_id's inverse: (profile, allocator), or None for a string that is no variant
    id (allocator names may hold '/', profile names never do)."""
    profile, sep, allocator = vid.partition("/")
    return (profile, allocator) if sep and profile and allocator else None


def variant_id(variant: VariantRecord | dict[str, Any]) -> str:
    """The id of a variant record (its `id` is optional in hand-made reports)."""
    return join_id(variant["profile"], variant["allocator"])


def size_delta(wasm: InspectRecord, base_wasm: InspectRecord, base_id: str) -> DeltaRecord:
    """raw / gzip / brotli change of one module against the reference variant's."""
    def change(a: int | None, b: int | None) -> ChangeRecord | None:
        if a is None or b is None:
            return None
        return {"bytes": a - b, "percent": round(100.0 * (a - b) / b, 2) if b else None}

    return {"baseline": base_id, "raw": change(wasm["bytes"], base_wasm["bytes"]),
            "gzip": change(wasm.get("gzip"), base_wasm.get("gzip")),
            "brotli": change(wasm.get("brotli"), base_wasm.get("brotli"))}


def built(variants: Sequence[VariantRecord]) -> list[VariantRecord]:
    """The variants that built and were read."""
    return [v for v in variants if v["status"] == "ok" and v.get("wasm")]


def smallest(variants: Sequence[VariantRecord], matrix: Sequence[str],
             profiles: Sequence[ProfileRecord] | Sequence[Mapping[str, Any]]) -> SmallestRecord | None:
    """The smallest ok variant (ties: earlier in the matrix) and the settings behind it."""
    ok = built(variants)
    if not ok:
        return None

    def order(v: VariantRecord) -> tuple[int, int]:
        vid = variant_id(v)
        return v["wasm"]["bytes"] if v["wasm"] else 0, matrix.index(vid) if vid in matrix else 0

    small = min(ok, key=order)
    settings: dict[str, Any] = next((p.get("settings", {}) for p in profiles if isinstance(p, dict)
                                     and p.get("name") == small["profile"]), {})
    return {"variant": variant_id(small), "bytes": small["wasm"]["bytes"] if small["wasm"] else 0,
            "profile": small["profile"], "allocator": small["allocator"], "settings": settings,
            "delta": small.get("delta")}
