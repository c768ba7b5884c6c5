"""What a scan produces: one record per variant, and the `auditor.scan/1` report."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.findings import Check, Finding

SCHEMA = "auditor.scan/1"
CODE, DATA, CUSTOM = 10, 11, 0


@dataclass
class VariantResult:
    profile: str
    allocator: str
    status: str  # ok | failed
    error: str | None = None
    build_seconds: float | None = None
    cached: bool = False  # came from the cache (stderr only: a warm report equals a cold one)
    command: str = ""
    injected: dict | None = None  # what was added to the shadow crate
    reproducible: bool | None = None  # two builds byte-identical; None: not compared
    sha256: str | None = None
    wasm: dict | None = None  # auditor.inspect/1
    wasm_path: str | None = None  # the module in the cache (inspect/run it again)
    probes_path: str | None = None  # the same variant built with probe exports
    allocator_check: dict | None = None
    delta: dict | None = None
    runtime: dict | None = None  # auditor.run/1 of the probe build
    runtime_error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.profile}/{self.allocator}"

    def figures(self) -> dict | None:
        """Sizes the table and the delta use (None for a failed variant)."""
        w = self.wasm
        if not w:
            return None

        def section(i):
            return sum(s["size"] for s in w["sections"] if s["id"] == i)

        mem = next((m for m in w.get("memories", []) if not m.get("imported")), None) or (w.get("memories") or [None])[0]
        return {
            "raw": w["bytes"], "gzip": w.get("gzip"), "brotli": w.get("brotli"),
            "code": section(CODE), "data": section(DATA), "custom": section(CUSTOM),
            "initial_pages": mem["initial_pages"] if mem else None,
            "max_pages": mem["max_pages"] if mem else None,
        }

    def to_json(self) -> dict:
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
            "allocator_check": self.allocator_check,
            "delta": self.delta,
            "wasm": self.wasm,
            "runtime": self.runtime,
            "runtime_error": self.runtime_error,
        }


@dataclass
class ScanResult:
    KIND = "scan"
    crate: dict
    toolchain: dict
    options: dict
    profiles: list[dict]
    allocators: list[dict]
    matrix: list[str]  # every variant id of the full matrix, canonical order (for merge)
    variants: list[VariantResult]
    baseline: str | None  # variant the deltas are against
    notices: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    builds: int = 0  # cargo builds this run started
    seconds: float = 0.0
    check: object | None = None  # auditor.gate.budgets.CheckResult with --gate

    def smallest(self) -> VariantResult | None:
        ok = [v for v in self.variants if v.status == "ok" and v.wasm]
        return min(ok, key=lambda v: (v.wasm["bytes"], self.matrix.index(v.id) if v.id in self.matrix else 0)) if ok else None

    def failed(self) -> list[VariantResult]:
        return [v for v in self.variants if v.status != "ok"]

    def exit_code(self) -> int:
        if self.failed() or any(f.level == "error" for f in self.findings):
            return 1
        if self.check is not None and not self.check.passed:
            return 1
        return 0

    def to_json(self) -> dict:
        small = self.smallest()
        profiles = {p["name"]: p for p in self.profiles}
        out = {
            "schema": SCHEMA,
            "crate": self.crate,
            "toolchain": self.toolchain,
            "options": self.options,
            "profiles": self.profiles,
            "allocators": self.allocators,
            "matrix": self.matrix,
            "shard": {"index": self.shard[0], "count": self.shard[1]} if self.shard else None,
            "baseline_variant": self.baseline,
            "smallest": None if small is None else {
                "variant": small.id, "bytes": small.wasm["bytes"],
                "profile": small.profile, "allocator": small.allocator,
                "settings": profiles.get(small.profile, {}).get("settings", {}),
                "delta": small.delta,
            },
            "summary": {
                "variants": len(self.variants),
                "ok": sum(v.status == "ok" for v in self.variants),
                "failed": len(self.failed()),
            },
            "variants": [v.to_json() for v in self.variants],
            "notices": self.notices,
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
        }
        if self.check is not None:
            out["check"] = self.check.to_json()
        return out
