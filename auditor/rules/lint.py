"""`auditor lint`: manifest facts + the manifest rules, nothing else.

Kept apart from the wasm and runtime stages on purpose: a pre-commit hook pays for every
import, so this module pulls in tomllib, the manifest reader and the engine only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from auditor.findings import Check, Finding, exit_code

SCHEMA = "auditor.lint/1"


@dataclass
class LintResult:
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

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "profile": self.profile,
            "manifests": self.manifests,
            "config_files": self.config_files,
            "counts": self.counts(),
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
        }


def lint(paths: list[str] | tuple[str, ...], *, profile: str = "release",
         config_file: str | None = None) -> LintResult:
    """Lint each crate/workspace path; findings are merged and de-duplicated.

    Two members of one workspace share the root's profile: its findings appear once.
    """
    from auditor.config import load_config
    from auditor.manifest.workspace import load_workspace
    from auditor.rules.engine import evaluate

    result = LintResult([], profile)
    seen: set = set()
    seen_checks: set = set()
    for path in paths or ["."]:
        ws = load_workspace(path, profile)
        cfg = load_config(ws.target.path.parent, config_file=config_file)
        for f in cfg.files():
            if f not in result.config_files:
                result.config_files.append(f)
        if ws.root.display not in result.manifests:
            result.manifests.append(ws.root.display)
        findings, checks = evaluate("manifest", ws.to_json(), cfg)
        docs = ws.docs()
        for f in findings:
            key = (f.rule, f.file, f.line, f.message)
            if key in seen:
                continue
            seen.add(key)
            doc = docs.get(f.file) if f.file else None
            if doc is not None and f.line:
                f.source_line = doc.line_text(f.line)
            elif f.file and f.line:
                f.source_line = _line_of(f.file, f.line)
            result.findings.append(f)
        for c in checks:
            key = (c.rule, c.target, c.status, c.message)
            if key not in seen_checks:
                seen_checks.add(key)
                result.checks.append(c)
    order = {"error": 0, "warning": 1, "note": 2}
    result.findings.sort(key=lambda f: (f.file or "", f.line or 0, f.column or 0, order.get(f.level, 3), f.rule))
    return result


def _line_of(file: str, line: int) -> str | None:
    """Source line of a file no manifest doc holds (.cargo/config.toml, build.rs)."""
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None
