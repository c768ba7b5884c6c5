"""`auditor check FILE.wasm`: gate the module a team deploys (issue 11 item 3).

The module is inspected and wrapped as a one-variant scan record (profile "module",
allocator = the file's name), so the budgets, the report formats and the exit codes are
`check REPORT`'s. Every budget applies to it: a configured budget's `variant` selector
names scan variants, which a lone module has none of. `--budget "brotli<=60 KiB"` adds
budgets on the command line (for a scan report too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.records.scan import ScanRecord, VariantRecord

BUDGET_METRICS = ("raw", "gzip", "brotli", "code", "data", "custom", "initial-pages", "max-pages")
_SPEC = re.compile(r"^\s*([a-z-]+)\s*<=\s*(.+?)\s*$")


def parse_budget(text: str, variant: str | None = None) -> dict[str, Any]:
    """`"raw<=150 KiB"` -> a budget table {name, raw, variant?} (sizes checked by the gate)."""
    m = _SPEC.match(text)
    if not m or m.group(1) not in BUDGET_METRICS:
        raise AuditorError(f'--budget {text!r}: expected METRIC<=LIMIT with METRIC one of {", ".join(BUDGET_METRICS)}, '
                           'e.g. "brotli<=60 KiB"')
    spec: dict[str, Any] = {"name": f"{m.group(1)}<={m.group(2)}", m.group(1): m.group(2)}
    if variant:
        spec["variant"] = variant
    return spec


class BudgetsView:
    """A ConfigView whose `budget` list is replaced (everything else delegated)."""

    def __init__(self, inner: ConfigView, budgets: list[dict[str, Any]], located: int):
        self._inner, self._budgets, self._located = inner, budgets, located
        self.crate_dir = inner.crate_dir

    def get(self, key: str, default: Any = None) -> Any:
        if key == "budget":
            return [dict(b) for b in self._budgets] or default
        return self._inner.get(key, default)

    def location(self, key: str) -> tuple[str, int] | None:
        m = re.fullmatch(r"budget\.(\d+)", key)
        if m and int(m.group(1)) >= self._located:
            return None  # from --budget
        return self._inner.location(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def with_budgets(config: ConfigView, extra: list[str], module: bool) -> ConfigView:
    """The config with --budget specs appended; for a module every budget selects it."""
    budgets = list(config.get("budget", []) or [])
    located = len(budgets)
    budgets += [parse_budget(t) for t in extra]
    if module:
        budgets = [{**b, "variant": "*"} for b in budgets]
    if not extra and not module:
        return config
    return BudgetsView(config, budgets, located)


def module_scan_record(path: Path, compression: str = "auto") -> ScanRecord:
    """A one-variant `auditor.scan/1` record for a .wasm file (its inspect record as `wasm`):
    no cargo ran, so there is no toolchain, no scan options, profile or allocator table,
    and no smallest or recommended variant (one module is compared with nothing)."""
    from auditor.records.scan import SCHEMA, join_id
    from auditor.wasm.inspect import inspect_file

    wasm = inspect_file(path, compression=compression).to_json()
    profile, alloc = "module", path.name
    vid = join_id(profile, alloc)
    variants: list[VariantRecord] = [{
        "id": vid, "profile": profile, "allocator": alloc, "status": "ok", "error": None, "build_seconds": None,
        "command": "", "injected": None, "reproducible": None, "sha256": None, "wasm_path": str(path),
        "probes_path": None, "probe_build": None, "allocator_check": None, "delta": None, "wasm": wasm,
        "runtime": None, "runtime_error": None}]
    return {
        "schema": SCHEMA, "crate": {"name": path.name, "module": str(path)}, "toolchain": None,
        "profiles": [], "allocators": [], "matrix": [vid], "shard": None, "baseline_variant": None,
        "smallest": None, "recommended": None,
        "summary": {"variants": 1, "ok": 1, "failed": 0}, "variants": variants,
        "findings": [], "checks": [], "notices": [],
    }
