"""SARIF 2.1.0 for code-scanning uploads: rules from rules/*.toml, results from findings.

Works for any result with `findings` (lint, inspect, run, scan, check). Rules carry
their title, why and fix. Findings that differ only in their variant become one result
(the variants in its message and `properties`); every result has a location with a
region (the manifest line, else line 1 of the file: a .wasm, a manifest), a
`partialFingerprints` entry stable across runs, and the run an `automationDetails.id`
(the upload category) per command and target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from auditor import __version__
from auditor.report.ci import Group, category, default_file, fingerprint, group_findings, record_of

if TYPE_CHECKING:
    from auditor.report.registry import FindingsResult

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/wasm-auditor/auditor"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}
FINGERPRINT_KEY = "auditorFinding/v1"


def _uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative paths stay relative to the checkout (%SRCROOT%)."""
    p = Path(path)
    if p.is_absolute():
        return p.as_uri(), None
    return quote(path.replace(os.sep, "/"), safe="/._-~"), "%SRCROOT%"


def _rule_descriptor(rule_id: str, example) -> dict:
    """From the rule data; a rule id with no data is described by its first finding."""
    from auditor.rules.catalog import get

    r = get(rule_id)
    if r is None:
        d: dict = {"id": rule_id, "shortDescription": {"text": getattr(example, "title", "") or rule_id}}
        if getattr(example, "help", None):
            d["help"] = {"text": example.help}
        if example is not None:
            d["defaultConfiguration"] = {"level": _LEVEL.get(example.level, "warning")}
        if getattr(example, "category", ""):
            d["properties"] = {"category": example.category, "tags": [example.category]}
        return d
    return {
        "id": r.id,
        "name": r.name or r.id,
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.why},
        "help": {"text": f"{r.why}\n\nHow to fix: {r.fix}",
                 "markdown": f"{r.why}\n\n**How to fix:** {r.fix}"},
        "defaultConfiguration": {"level": r.level},
        "properties": {"category": r.category, "tags": ["wasm", r.category]},
    }


def _location(file: str, line: int | None, column: int | None, snippet: str | None) -> dict:
    """A physical location that always has a region (GitHub requires one): the finding's
    line and column, else line 1 of the artifact (a .wasm, or a manifest as a whole)."""
    uri, base = _uri(file)
    art = {"uri": uri}
    if base:
        art["uriBaseId"] = base
    region: dict = {"startLine": int(line) if line else 1}
    if line and column:
        region["startColumn"] = int(column)
    if line and snippet is not None:
        region["snippet"] = {"text": snippet}
    return {"physicalLocation": {"artifactLocation": art, "region": region}}


def _results(groups: list[Group], index: dict[str, int], fallback: str | None) -> list[dict]:
    """One result per rule x location x message, the variants it hit in its message and
    properties; partialFingerprints stable across runs (figures blanked, see ci.py)."""
    results = []
    seen: dict[str, int] = {}
    for g in groups:
        f = g.finding
        res: dict = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "kind": "fail",
            "level": _LEVEL.get(f.level, "warning"),
            "message": {"text": g.message()},
        }
        file = f.file or fallback
        if file:
            res["locations"] = [_location(file, f.line, f.column, f.source_line)]
        uri = _uri(file)[0] if file else ""
        fp = fingerprint(f.rule, uri if not (file and Path(file).is_absolute()) else Path(file).name,
                         f.source_line, f.message, g.variants)
        seen[fp] = seen.get(fp, 0) + 1
        res["partialFingerprints"] = {FINGERPRINT_KEY: f"{fp}:{seen[fp]}"}
        props: dict = {}
        if g.variants:
            props["variants"] = list(g.variants)
            if len(g.variants) == 1:
                props["variant"] = g.variants[0]
        if f.category:
            props["category"] = f.category
        if props:
            res["properties"] = props
        results.append(res)
    return results


def to_sarif(result) -> dict:
    """One run: every rule that ran is described (passes too), findings become located results."""
    findings = list(getattr(result, "findings", []) or [])
    checks = list(getattr(result, "checks", []) or [])
    examples: dict = {}  # rule id -> its first finding, in order of appearance
    for f in findings:
        examples.setdefault(f.rule, f)
    for c in checks:  # rules that ran and passed are described too
        examples.setdefault(c.rule, None)
    rules = [_rule_descriptor(rid, f) for rid, f in examples.items()]
    index = {rid: i for i, rid in enumerate(examples)}
    record = record_of(result)
    results = _results(group_findings(findings), index, default_file(result, record))

    exit_code = result.exit_code() if hasattr(result, "exit_code") else None
    invocation: dict = {"executionSuccessful": True}
    if isinstance(exit_code, int):
        invocation["exitCode"] = exit_code
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "auditor", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFO_URI, "rules": rules}},
            "automationDetails": {"id": category(result, record)},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"kind": result.KIND, "findings": len(findings)},
        }],
    }


def render(result: FindingsResult, *, color: bool = False) -> str:
    return json.dumps(to_sarif(result), indent=2, ensure_ascii=False) + "\n"
