"""SARIF 2.1.0 for code-scanning uploads: rules from rules/*.toml, results from findings.

Works for any result with `findings` (lint, inspect, run, scan, check). Rules carry
their title, why and fix; results are located at the manifest line when the finding
has one, else at the file (a .wasm) with the variant in `properties`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from auditor import __version__

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/wasm-auditor/auditor"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


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

    results = []
    for f in findings:
        res: dict = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "kind": "fail",
            "level": _LEVEL.get(f.level, "warning"),
            "message": {"text": f.message},
        }
        if f.file:
            uri, base = _uri(f.file)
            art = {"uri": uri}
            if base:
                art["uriBaseId"] = base
            phys: dict = {"artifactLocation": art}
            if f.line:
                region: dict = {"startLine": int(f.line)}
                if f.column:
                    region["startColumn"] = int(f.column)
                if f.source_line is not None:
                    region["snippet"] = {"text": f.source_line}
                phys["region"] = region
            res["locations"] = [{"physicalLocation": phys}]
        props = {k: v for k, v in (("variant", f.variant), ("category", f.category)) if v}
        if props:
            res["properties"] = props
        results.append(res)

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
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {"kind": result.KIND},
        }],
    }


def render(result, *, color: bool = False) -> str:
    return json.dumps(to_sarif(result), indent=2, ensure_ascii=False) + "\n"
