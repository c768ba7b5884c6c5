"""The rule catalogue: every `[[rule]]` in `rules/*.toml`, keyed by stable id.

Rules are data so a new rule of an existing kind needs no Python: the engine interprets
each rule's `check` table. Files without `[[rule]]` (allocators.toml, profiles.toml)
hold other knowledge and are skipped.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from auditor.data import rules_dir
from auditor.errors import AuditorError
from auditor.findings import LEVELS
from auditor.manifest.schema import CARGO_PROFILE

ID = re.compile(r"^AUD[0-9]{3}$")
CATEGORIES = ("profile", "manifest", "allocator", "memory", "size", "runtime", "budget")
KINDS = ("manifest", "inspect", "run", "scan", "check")


@dataclass
class Rule:
    """One `[[rule]]` of rules/*.toml; the engine reads `check`, `fix` applies `autofix`."""

    id: str
    title: str
    category: str
    level: str  # default level
    kind: str  # which facts it reads: manifest | inspect | run | scan | check
    why: str
    fix: str
    check: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    message: str = ""
    name: str = ""  # PascalCase name for SARIF (`reportingDescriptor.name`)
    file: str = ""  # rules/<file>.toml it came from
    autofix: dict = field(default_factory=dict)  # cargo profile settings `auditor fix` writes

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "title": self.title, "category": self.category,
            "level": self.level, "kind": self.kind, "why": self.why, "fix": self.fix,
            "thresholds": dict(self.thresholds), "autofix": dict(self.autofix),
        }


_REQUIRED = ("id", "title", "category", "level", "kind", "why", "fix")


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Rule]:
    """Every rule file, validated once per process: a broken rule is an error, not a silent skip."""
    rules: dict[str, Rule] = {}
    directory = rules_dir()
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise AuditorError(f"cannot read rule data: {e}", str(path)) from None
        for n, entry in enumerate(data.get("rule", []) if isinstance(data.get("rule"), list) else []):
            where = f"{path}: rule #{n + 1}"
            missing = [k for k in _REQUIRED if k not in entry]
            if missing:
                raise AuditorError(f"rule data lacks {', '.join(missing)}", where)
            rid = entry["id"]
            if not ID.match(rid):
                raise AuditorError(f"rule id {rid!r} is not AUDnnn", where)
            if rid in rules:
                raise AuditorError(f"rule id {rid} defined twice (also in {rules[rid].file})", where)
            if entry["level"] not in LEVELS:
                raise AuditorError(f"rule {rid}: level {entry['level']!r} is not one of {', '.join(LEVELS)}", where)
            if entry["category"] not in CATEGORIES:
                raise AuditorError(f"rule {rid}: unknown category {entry['category']!r}", where)
            if entry["kind"] not in KINDS:
                raise AuditorError(f"rule {rid}: unknown kind {entry['kind']!r}", where)
            _check_autofix(entry.get("autofix", {}), f"rule {rid}: autofix", where)
            rules[rid] = Rule(
                id=rid, title=entry["title"], category=entry["category"], level=entry["level"],
                kind=entry["kind"], why=entry["why"].strip(), fix=entry["fix"].strip(),
                check=entry.get("check", {}), thresholds=entry.get("thresholds", {}),
                message=entry.get("message", ""), name=entry.get("name", ""), file=path.name,
                autofix=entry.get("autofix", {}),
            )
    return rules


def _check_autofix(autofix, what: str, where: str) -> None:
    """An autofix must be cargo profile settings cargo accepts, or `fix` would break builds."""
    if not isinstance(autofix, dict):
        raise AuditorError(f"{what} must be a table of cargo profile settings", where)
    for key, value in autofix.items():
        check = CARGO_PROFILE.get(key)
        error = check(value) if check else "not a cargo profile key"
        if error:
            raise AuditorError(f"{what}: {key}: {error}", where)


def get(rule_id: str) -> Rule | None:
    return load_catalog().get(rule_id)


@dataclass
class RuleList:
    """`auditor lint --list-rules`: the catalogue itself, by id."""

    KIND: ClassVar[str] = "rules"
    rules: list[Rule]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "auditor.rules/1", "rules": [r.to_json() for r in self.rules]}


def rule_list() -> RuleList:
    return RuleList(sorted(load_catalog().values(), key=lambda r: r.id))
