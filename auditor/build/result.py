"""What a scan produces: one record per variant, and the `auditor.scan/1` report."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.findings import Check, Finding

SCHEMA = "auditor.scan/1"
CODE, DATA, CUSTOM = 10, 11, 0


# Cross-variant figures, computed on the JSON shape so a scan and a merge of shard
# reports (auditor.gate.merge) derive them with the same code.

def size_delta(wasm: dict, base_wasm: dict, base_id: str) -> dict:
    """raw / gzip / brotli change of one module against the reference variant's."""
    out: dict = {"baseline": base_id}
    for key, field_ in (("raw", "bytes"), ("gzip", "gzip"), ("brotli", "brotli")):
        a, b = wasm.get(field_), base_wasm.get(field_)
        out[key] = None if a is None or b is None else {
            "bytes": a - b, "percent": round(100.0 * (a - b) / b, 2) if b else None}
    return out


def runtime_problems(v: dict) -> list[str]:
    """Why a variant should not ship, from its runtime probes (empty: none seen)."""
    rt = v.get("runtime") or {}
    out = []
    for key, label in (("churn", "churn"), ("hold_release", "hold/release")):
        verdict = (rt.get(key) or {}).get("verdict")
        if verdict in ("leak", "page-per-alloc"):
            out.append(f"{label} {verdict}")
    if (rt.get("churn") or {}).get("verdict") == "fixed-arena":
        out.append("fixed arena (the heap cannot grow past it)")
    outcome = (rt.get("oom") or {}).get("outcome")
    if outcome in ("out-of-bounds", "timeout", "stack-overflow", "trap"):
        out.append(f"out of memory ends in {outcome}")
    failed = [sc.get("name") or sc.get("export") for sc in rt.get("scenarios") or [] if not sc.get("passed")]
    if failed:
        out.append(f"scenario failed: {', '.join(failed)}")
    if (v.get("allocator_check") or {}).get("status") == "mismatch":
        out.append("allocator mismatch")
    return out


def passed_over(variants: list[dict]) -> list[dict]:
    """Built variants grouped by each runtime problem that rules them out: `reason`, `variants`."""
    skipped: dict[str, list[str]] = {}
    for v in variants:
        if v["status"] == "ok" and v.get("wasm"):
            for why in runtime_problems(v):
                skipped.setdefault(why, []).append(f"{v['profile']}/{v['allocator']}")
    return [{"reason": r, "variants": ids} for r, ids in skipped.items()]


def recommended_json(variants: list[dict], matrix: list[str], profiles: list[dict]) -> dict | None:
    """The smallest variant whose runtime probes found nothing wrong: what to ship.

    Without runtime results it is the smallest, and says the probes did not run. None
    when every built variant has a problem (`passed_over` says which)."""
    ok = [v for v in variants if v["status"] == "ok" and v.get("wasm")]
    clean = [v for v in ok if not runtime_problems(v)]
    pick = smallest_json(clean, matrix, profiles)
    if pick is None:
        return None
    probed = any(v.get("runtime") for v in ok)
    return {**pick, "runtime_checked": probed, "skipped": passed_over(ok)}


def smallest_json(variants: list[dict], matrix: list[str], profiles: list[dict]) -> dict | None:
    """The smallest ok variant (ties: earlier in the matrix) and the settings behind it."""
    ok = [v for v in variants if v["status"] == "ok" and v.get("wasm")]
    if not ok:
        return None

    def vid(v):
        return f"{v['profile']}/{v['allocator']}"

    small = min(ok, key=lambda v: (v["wasm"]["bytes"], matrix.index(vid(v)) if vid(v) in matrix else 0))
    settings = next((p.get("settings", {}) for p in profiles if isinstance(p, dict) and p.get("name") == small["profile"]), {})
    return {"variant": vid(small), "bytes": small["wasm"]["bytes"], "profile": small["profile"],
            "allocator": small["allocator"], "settings": settings, "delta": small.get("delta")}


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
        small = smallest_json([v.to_json() for v in self.variants], self.matrix, self.profiles)
        return next(v for v in self.variants if v.id == small["variant"]) if small else None

    def failed(self) -> list[VariantResult]:
        return [v for v in self.variants if v.status != "ok"]

    def exit_code(self) -> int:
        if self.failed() or any(f.level == "error" for f in self.findings):
            return 1
        if self.check is not None and not self.check.passed:
            return 1
        return 0

    def to_json(self) -> dict:
        variants = [v.to_json() for v in self.variants]
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
            "smallest": smallest_json(variants, self.matrix, self.profiles),
            "recommended": recommended_json(variants, self.matrix, self.profiles),
            "summary": {
                "variants": len(self.variants),
                "ok": sum(v.status == "ok" for v in self.variants),
                "failed": len(self.failed()),
            },
            "variants": variants,
            "notices": self.notices,
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
        }
        if self.check is not None:
            out["check"] = self.check.to_json()
        return out
