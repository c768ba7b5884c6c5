"""`auditor lint`: manifest facts + the manifest rules, nothing else.

Kept apart from the wasm and runtime stages on purpose: a pre-commit hook pays for every
import, so this module pulls in tomllib, the manifest reader and the engine only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from auditor.config.view import ConfigView
from auditor.findings import Check, Finding, exit_code
from auditor.records.lint import SCHEMA, LintRecord
from auditor.records.manifest import ManifestRecord
from auditor.rules.catalog import Rule


@dataclass
class LintResult:
    """What `auditor lint` reports: merged findings and one check per rule per workspace root."""

    KIND: ClassVar[str] = "lint"
    manifests: list[str]  # workspace-root manifests linted
    profile: str
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)

    def exit_code(self) -> int:
        return exit_code(self.findings)

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "note": 0}
        for f in self.findings:
            out[f.level] = out.get(f.level, 0) + 1
        return out

    def to_json(self) -> LintRecord:
        return {
            "schema": SCHEMA,
            "profile": self.profile,
            "manifests": self.manifests,
            "config_files": self.config_files,
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
        }


# Rules iterating over these lists judge one package at a time, with that package's
# config; the others (the root profile) are the workspace's, judged with the root's.
PACKAGE_LISTS = ("packages", "dependencies", "member_profiles")


def _package_scoped(rule) -> bool:
    return rule.check.get("for-each", "").split("[")[0] in PACKAGE_LISTS


def lint(paths: list[str] | tuple[str, ...], config_for: Callable[[Path], ConfigView], *,
         profile: str = "release") -> LintResult:
    """Lint each crate/workspace path; findings are merged and de-duplicated.

    Each package's findings follow that package's config (`config_for(package dir)`:
    [package.metadata.auditor] of its own Cargo.toml first), the root profile's follow
    the workspace root's, so linting the workspace or one member (as the pre-commit hook
    does) agrees.
    """
    from auditor.manifest.workspace import load_workspace
    from auditor.rules.engine import evaluate_rule, rules_for

    rules = rules_for("manifest")
    result = LintResult([], profile)
    seen: set = set()
    for path in paths or ["."]:
        ws = load_workspace(path, profile)
        facts = ws.to_json()
        scopes: list[tuple[Mapping[str, Any], Path, list[Rule]]] = [
            (facts, ws.root.path.parent, [r for r in rules if not _package_scoped(r)])]
        for pkg, pfacts in zip(ws.packages, facts["packages"]):
            package_view: ManifestRecord = {
                **facts, "packages": [pfacts], "dependencies": pfacts["dependencies"],
                "member_profiles": [mp for mp in facts["member_profiles"] if mp["package"] == pkg.name]}
            scopes.append((package_view, pkg.dir, [r for r in rules if _package_scoped(r)]))
        if ws.root.display not in result.manifests:
            result.manifests.append(ws.root.display)
        for view, where, scoped_rules in scopes:
            cfg = config_for(where)
            result.config_files += [f for f in cfg.files() if f not in result.config_files]
            target = facts["root"]["manifest"]
            for rule in scoped_rules:
                check = evaluate_rule(rule, view, cfg, target=target, default_file=target)
                if check is not None:
                    _merge(result, check, ws.docs(), seen)
    order = {"error": 0, "warning": 1, "note": 2}
    result.findings.sort(key=lambda f: (f.file or "", f.line or 0, f.column or 0, order.get(f.level, 3), f.rule))
    return result


def _merge(result: LintResult, check, docs: dict, seen: set) -> None:
    """Add a check and its new findings (with their source lines); a root profile shared
    by two linted members, or a rule passing for one package and failing for another,
    is reported once, worst status first."""
    new = []
    for f in check.findings:
        key = (f.rule, f.file, f.line, f.message)
        if key in seen:
            continue
        seen.add(key)
        doc = docs.get(f.file) if f.file else None
        f.source_line = doc.line_text(f.line) if doc is not None and f.line else _line_of(f.file, f.line)
        new.append(f)
    result.findings += new
    same = next((c for c in result.checks if (c.rule, c.target) == (check.rule, check.target)), None)
    if same is None:
        check.findings = new
        result.checks.append(check)
        return
    same.findings += new
    rank = {"error": 2, "fail": 1, "pass": 0}
    if rank.get(check.status, 0) > rank.get(same.status, 0):
        same.status, same.message = check.status, check.message
    if same.status == "fail" and len(same.findings) > 1:
        same.message = f"{len(same.findings)} findings"


def _line_of(file: str | None, line: int | None) -> str | None:
    """Source line of a file no manifest doc holds (.cargo/config.toml, build.rs)."""
    if not file or not line:
        return None
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None
