"""What a scan produces: one record per variant, and the `auditor.scan/1` report.

`ScanResult` holds the facts of every variant (its build, its module's inspect record,
its probe build's run record) plus what the later stages add: the rules' findings and
checks, the recommendation (rules policy) and, with `scan --gate`, the gate's verdict.
`facts()` serialises the variants once; the rules and the gate read that record, and
`to_json()` only puts their results in their places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from auditor.findings import Check, Finding
from auditor.records.attribution import AttributionRecord
from auditor.records.inspect import InspectRecord
from auditor.records.retained import RetainedSource
from auditor.records.run import AllocatorCodeRecord, RunRecord
from auditor.records.scan import (
    SCHEMA,
    AllocatorCheckRecord,
    AllocatorSpecRecord,
    CommandRowRecord,
    CrateRecord,
    DeltaRecord,
    InjectedRecord,
    ProbeBuildRecord,
    ProfileRecord,
    RecommendedRecord,
    ScanOptionsRecord,
    ScanRecord,
    SkippedRecord,
    StageRecord,
    ToolchainRecord,
    VariantRecord,
    join_id,
    smallest,
)

CODE, DATA, CUSTOM = 10, 11, 0


class GateVerdict(Protocol):
    """What the scan needs of `scan --gate`'s result (auditor.gate.budgets.CheckResult)."""

    findings: list[Finding]

    @property
    def passed(self) -> bool: ...

    def to_json(self) -> Any: ...


@dataclass
class VariantResult:
    profile: str
    allocator: str
    status: str  # ok | failed
    error: str | None = None
    build_seconds: float | None = None
    cached: bool = False  # came from the cache (stderr only: a warm report equals a cold one)
    command: str = ""
    injected: InjectedRecord | None = None  # what was added to the shadow crate
    reproducible: bool | None = None  # two builds byte-identical; None: not compared
    sha256: str | None = None
    wasm: InspectRecord | None = None
    wasm_path: str | None = None  # the module in the cache (inspect/run it again)
    probes_path: str | None = None  # the probe build the runtime stage ran (shared, see probe_build)
    probe_build: ProbeBuildRecord | None = None  # which build that is
    allocator_check: AllocatorCheckRecord | None = None
    delta: DeltaRecord | None = None
    runtime: RunRecord | None = None  # of the probe build
    runtime_error: str | None = None
    stages: list[StageRecord] | None = None  # shipping stages' sizes (pipeline/ship.py); wasm = `stage`'s
    stage: str | None = None
    allocator_code: AllocatorCodeRecord | None = None  # of the shipped module (auditor.wasm.allocator_cost)

    @property
    def id(self) -> str:
        return join_id(self.profile, self.allocator)

    def figures(self) -> dict[str, int | None] | None:
        """Sizes the table and the delta use (None for a failed variant)."""
        w = self.wasm
        if not w:
            return None

        def section(i: int) -> int:
            return sum(s["size"] for s in w["sections"] if s["id"] == i)

        memories = w.get("memories") or []
        mem = next((m for m in memories if not m.get("imported")), None) or (memories[0] if memories else None)
        return {
            "raw": w["bytes"], "gzip": w.get("gzip"), "brotli": w.get("brotli"),
            "code": section(CODE), "data": section(DATA), "custom": section(CUSTOM),
            "initial_pages": mem["initial_pages"] if mem else None,
            "max_pages": mem["max_pages"] if mem else None,
        }

    def to_json(self) -> VariantRecord:
        return {
            "id": self.id,
            "profile": self.profile,
            "allocator": self.allocator,
            "status": self.status,
            "error": self.error,
            "build_seconds": self.build_seconds,
            "command": self.command,
            "injected": self.injected,
            "reproducible": self.reproducible,
            "sha256": self.sha256,
            "wasm_path": self.wasm_path,
            "probes_path": self.probes_path,
            "probe_build": self.probe_build,
            "allocator_check": self.allocator_check,
            "delta": self.delta,
            "wasm": self.wasm,
            "runtime": self.runtime,
            "runtime_error": self.runtime_error,
            "stage": self.stage,
            "stages": self.stages,
            "allocator_code": self.allocator_code,
        }


@dataclass
class ScanResult:
    KIND: ClassVar[str] = "scan"
    crate: CrateRecord
    toolchain: ToolchainRecord
    options: ScanOptionsRecord
    profiles: list[ProfileRecord]
    allocators: list[AllocatorSpecRecord]
    matrix: list[str]  # every variant id of the full matrix, canonical order (for merge)
    variants: list[VariantResult]
    baseline: str | None  # variant the deltas are against
    notices: list[str] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    builds: int = 0  # cargo builds this run started (variants and probe builds)
    cargo_invocations: dict[str, int] = field(default_factory=dict)  # every cargo process, by purpose
    other_invocations: dict[str, int] = field(default_factory=dict)  # rust-lld / rustc runs for probe links
    seconds: float = 0.0
    allocator_source: dict[str, Any] | None = None  # scan.registry-allocators: registry or fallback, and why
    # added by the later stages
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    recommended: RecommendedRecord | None = None  # auditor.rules.recommend
    # every built variant's runtime problems (rules.recommend.passed_over), for the report
    # to say why nothing is recommended; not in the JSON (`recommended` says it there)
    passed_over: list[SkippedRecord] = field(default_factory=list)
    check: GateVerdict | None = None  # auditor.gate.budgets.CheckResult with --gate
    attribution: AttributionRecord | None = None  # `scan --attribute VARIANT` (auditor.attribution/1)
    # the HTML page's retained-size view of the shown variant's module (auditor.pipeline.retained)
    retained_view: RetainedSource | None = field(default=None, repr=False, compare=False)
    _facts: ScanRecord | None = field(default=None, repr=False, compare=False)

    def facts(self) -> ScanRecord:
        """The report without what the rules and the gate add (empty findings and checks,
        no recommendation), serialised on first use and kept: call it once the variants
        are final."""
        if self._facts is None:
            variants = [v.to_json() for v in self.variants]
            self._facts = {
                "schema": SCHEMA,
                "crate": self.crate,
                "toolchain": self.toolchain,
                "options": self.options,
                "profiles": self.profiles,
                "allocators": self.allocators,
                "matrix": self.matrix,
                "shard": {"index": self.shard[0], "count": self.shard[1]} if self.shard else None,
                "baseline_variant": self.baseline,
                "smallest": smallest(variants, self.matrix, self.profiles),
                "recommended": None,
                "summary": {
                    "variants": len(self.variants),
                    "ok": sum(v.status == "ok" for v in self.variants),
                    "failed": len(self.failed()),
                },
                "variants": variants,
                "notices": self.notices,
                "findings": [],
                "checks": [],
            }
            if self.allocator_source:
                self._facts["allocator_source"] = self.allocator_source
        return self._facts

    def smallest(self) -> VariantResult | None:
        small = self.facts()["smallest"]
        return next(v for v in self.variants if v.id == small["variant"]) if small else None

    def failed(self) -> list[VariantResult]:
        return [v for v in self.variants if v.status != "ok"]

    def exit_code(self) -> int:
        if self.failed() or any(f.level == "error" for f in self.findings):
            return 1
        if self.check is not None and not self.check.passed:
            return 1
        return 0

    def to_json(self) -> ScanRecord:
        out: ScanRecord = {**self.facts(), "recommended": self.recommended,
                           "findings": [f.to_json() for f in self.findings],
                           "checks": [c.to_json() for c in self.checks]}
        if self.check is not None:
            out["check"] = self.check.to_json()
        if self.attribution is not None:
            out["attribution"] = self.attribution
        return out


@dataclass
class CommandList:
    """`auditor scan --print-commands`: each variant's reproducing cargo command, unbuilt."""

    KIND: ClassVar[str] = "commands"
    variants: list[CommandRowRecord]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "auditor.scan-commands/1", "variants": self.variants}
