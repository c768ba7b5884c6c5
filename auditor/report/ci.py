"""What the CI formats (SARIF, GitHub annotations, JUnit) share: findings grouped across
variants, the artifact a result without a file points at, and the upload category.

A scan evaluates the same rule on every variant of the matrix, so one manifest line can
carry the same finding 36 times; code-scanning and annotation UIs show one entry per
rule × location × message, so findings are grouped on exactly that and the variants
they hit travel with the group (in the message, the title and `properties`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.findings import Finding

LEVEL_ORDER = {"error": 0, "warning": 1, "note": 2}
MAX_VARIANTS_NAMED = 8  # a message names at most this many variants, then "and N more"


@dataclass
class Group:
    """Findings identical but for their variant: the first one and every variant hit."""

    finding: Finding
    variants: list[str] = field(default_factory=list)
    count: int = 0  # findings in the group

    @property
    def variant_text(self) -> str:
        """'opt-z/default' or 'release/a, release/b and 3 more' (empty without variants)."""
        v = self.variants
        if len(v) <= MAX_VARIANTS_NAMED:
            return ", ".join(v)
        return ", ".join(v[:MAX_VARIANTS_NAMED]) + f" and {len(v) - MAX_VARIANTS_NAMED} more"

    def message(self) -> str:
        """The finding's message with the variants it hit (so results stay distinct)."""
        f = self.finding
        if not self.variants:
            return f.message
        noun = "variant" if len(self.variants) == 1 else f"{len(self.variants)} variants"
        return f"{f.message} [{noun}: {self.variant_text}]"


def group_key(f: Finding) -> tuple[Any, ...]:
    return (f.rule, f.level, f.file, f.line, f.column, f.message)


def group_findings(findings: list[Finding]) -> list[Group]:
    """Findings grouped on rule, level, location and message, in order of first appearance;
    each group lists the distinct variants of its findings in order."""
    groups: dict[tuple[Any, ...], Group] = {}
    for f in findings:
        g = groups.setdefault(group_key(f), Group(f))
        g.count += 1
        if f.variant and f.variant not in g.variants:
            g.variants.append(f.variant)
    return list(groups.values())


def by_level(groups: list[Group]) -> list[Group]:
    """Errors first, then warnings, then notes (stable within a level)."""
    return sorted(groups, key=lambda g: LEVEL_ORDER.get(g.finding.level, 1))


def record_of(result: Any) -> dict[str, Any]:
    try:
        rec = result.to_json()
    except Exception:  # noqa: BLE001  (a result that cannot serialise still renders its findings)
        return {}
    return rec if isinstance(rec, dict) else {}


def default_file(result: Any, record: dict[str, Any]) -> str | None:
    """The artifact a finding without a file belongs to: the scanned crate's manifest, the
    module (inspect, run), the gated report's crate or the first linted manifest."""
    crate = record.get("crate")
    if isinstance(crate, dict) and crate.get("manifest_path"):
        return str(crate["manifest_path"])
    for key in ("file", "path"):
        v = record.get(key) or getattr(result, key, None)
        if isinstance(v, str) and v:
            return v
    manifests = record.get("manifests")
    if isinstance(manifests, list) and manifests:
        return str(manifests[0])
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "x"


def category(result: Any, record: dict[str, Any]) -> str:
    """runAutomationDetails.id: `auditor-KIND/TARGET/` (a shard adds `shard-K-of-N`), so two
    uploads of one workflow (inspect of two modules, the shards of a scan, lint and scan)
    never replace each other's alerts. AUDITOR_SARIF_CATEGORY overrides it."""
    env = os.environ.get("AUDITOR_SARIF_CATEGORY")
    if env:
        return env if env.endswith("/") else env + "/"
    kind = getattr(result, "KIND", "result")
    crate = record.get("crate")
    target = None
    if isinstance(crate, dict) and crate.get("name"):
        target = str(crate["name"])
    elif isinstance(record.get("file"), str):
        target = Path(record["file"]).name
    elif isinstance(record.get("manifests"), list) and record["manifests"]:
        target = Path(str(record["manifests"][0])).parent.name or None  # "Cargo.toml" here: no name
    parts = [f"auditor-{_slug(kind)}"]
    if target:
        parts.append(_slug(target))
    scan = getattr(result, "scan", None)
    shard = record.get("shard") or (scan.get("shard") if isinstance(scan, dict) else None)
    if isinstance(shard, dict) and shard.get("index"):
        parts.append(f"shard-{shard['index']}-of-{shard.get('count', '')}")
    return "/".join(parts) + "/"


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def fingerprint(rule: str, uri: str, snippet: str | None, message: str, variants: list[str]) -> str:
    """A hash stable across runs: rule, artifact, the located source line (not its number,
    so an edit above it keeps the alert) and the message with its figures blanked (a
    module that grew by a byte is the same alert), plus the variants it hit."""
    text = "\0".join([rule, uri, (snippet or "").strip(), _NUMBER.sub("#", message), ",".join(variants)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]
