"""The stages composed, one flow per command; commands call these and render the result.

- `scan`, `commands` (scanner.py; planning in plan.py, building in runner.py, progress and
  signals in progress.py), `ScanOptions`, `BuildOptions`;
- `check_report`, `plan_gate`, `apply_gate` (gate.py: `check` and `scan --gate`);
- `inspect`, `run` (module.py); `lint`, `list_rules`, `fix`, `config_report`
  (manifest.py); `diff`, `merge` (reports.py); `doctor` (toolchain.py);
  `cache_info`, `cache_prune` (cachecmd.py).

Names are looked up in their module on first use, so `auditor lint` (a pre-commit hook)
imports the manifest flows only, never the build, wasm or runtime stages.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> the module that defines it
_EXPORTS = {
    "scan": "auditor.pipeline.scanner", "commands": "auditor.pipeline.scanner", "print_commands": "auditor.pipeline.scanner",
    "ScanOptions": "auditor.pipeline.plan", "DEFAULT_JOBS": "auditor.pipeline.plan",
    "BuildOptions": "auditor.build.cargo", "parse_shard": "auditor.gate.shard",
    "check_report": "auditor.pipeline.gate", "plan_gate": "auditor.pipeline.gate",
    "apply_gate": "auditor.pipeline.gate",
    "inspect": "auditor.pipeline.module", "run": "auditor.pipeline.module",
    "lint": "auditor.pipeline.manifest", "list_rules": "auditor.pipeline.manifest",
    "fix": "auditor.pipeline.manifest", "apply_fix": "auditor.pipeline.manifest",
    "config_report": "auditor.pipeline.manifest",
    "diff": "auditor.pipeline.reports", "merge": "auditor.pipeline.reports",
    "doctor": "auditor.pipeline.toolchain",
    "cache_info": "auditor.pipeline.cachecmd", "cache_prune": "auditor.pipeline.cachecmd",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor.pipeline' has no attribute {name!r}")
    return getattr(import_module(module), name)
