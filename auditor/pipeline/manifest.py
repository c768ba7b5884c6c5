"""Manifest-only commands: `auditor lint` (and `--list-rules`), `auditor fix` and
`auditor config`. `lint` runs as a pre-commit hook, so this module imports nothing of the
build, wasm or runtime stages (a test checks `sys.modules` after a lint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.config.loader import Config, ConfigResult, load_config
from auditor.errors import AuditorError
from auditor.rules.catalog import RuleList, rule_list
from auditor.rules.fix import FixResult, apply_fix, plan_fix
from auditor.rules.lint import LintResult
from auditor.rules.lint import lint as lint_paths


def lint(paths: list[str] | tuple[str, ...], *, profile: str = "release", config_file: str | None = None) -> LintResult:
    """Each package judged with its own config, found from its directory (--config first)."""
    return lint_paths(paths, lambda where: load_config(where, config_file=config_file), profile=profile)


def list_rules() -> RuleList:
    return rule_list()


def fix(path: str, *, profile: str = "release", config_file: str | None = None) -> FixResult:
    """The planned rewrite of the workspace-root profile (`apply_fix` writes it)."""
    from auditor.manifest.locate import find_manifest

    manifest = find_manifest(path)
    return plan_fix(manifest, profile, load_config(manifest.parent, config_file=config_file))


def config_report(path: str, *, config_file: str | None = None) -> ConfigResult:
    """`auditor config`: the effective config of a crate and the built-in defaults of the
    keys no layer sets."""
    from auditor.manifest.toml import display_path

    p = Path(path)
    if not p.exists():
        raise AuditorError("no such file or directory", path)
    crate = p.parent if p.is_file() else p
    cfg = load_config(crate, config_file=config_file)
    if not cfg.layers and not (crate / "Cargo.toml").is_file():
        raise AuditorError("no Cargo.toml here and no auditor.toml or .auditor.toml here or above: "
                           "nothing to configure (pass a crate directory or --config FILE)", path)
    return ConfigResult(display_path(crate), cfg, builtin_defaults(cfg))


def builtin_defaults(config: Config) -> dict[str, Any]:
    """What each stage uses for a key no layer sets (read from the stages themselves, so
    this never drifts from the code)."""
    import dataclasses

    from auditor.data import load_rules_file
    from auditor.pipeline.plan import DEFAULT_JOBS
    from auditor.runtime.options import RuntimeOptions

    rt = {f.name: f.default for f in dataclasses.fields(RuntimeOptions)}
    allocators = load_rules_file("allocators.toml").get("allocator", {})
    out = {
        "scan.profiles": list(load_rules_file("profiles.toml").get("profile", {})),
        "scan.allocators": [n for n, a in allocators.items() if a.get("matrix", True)],
        "scan.jobs": DEFAULT_JOBS,
        "scan.runtime": True,
        "scan.default-variant": "release/default",
        "runtime.memory-limit": f"{rt['memory_limit_pages']} pages",
        "runtime.fuel": rt["fuel"],
        "runtime.timeout": rt["timeout"],
        "runtime.unknown-imports": rt["unknown_imports"],
        "runtime.churn-rounds": rt["churn_rounds"],
        "runtime.hold-cycles": rt["hold_cycles"],
        "runtime.seed": rt["seed"],
    }
    return {k: v for k, v in out.items() if config.get(k) is None}


__all__ = ["RuleList", "apply_fix", "builtin_defaults", "config_report", "fix", "lint", "list_rules"]
