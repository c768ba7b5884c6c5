"""JUnit XML for CI test tabs: one testcase per rule check.

A testcase fails only when the check has an error-level finding, the same thing that
makes the command exit 1 (a budget breach is an error-level finding of a budget rule):
so a green job shows 0 failed tests. Warnings and notes pass, their text in
<system-out> and their counts as <properties>. A check that could not be measured
(status "error": a module not probed, a figure a stripped module lacks) is <skipped>
with the reason, not an <error>. A scan variant that failed to build is a failing
`build` testcase (it fails the scan). Results without checks get one testcase per
finding. One testsuite per target (the manifest, the .wasm, or the scan variant).
Every text and attribute goes through `escape.xml_text`: a function name with a 0x01
byte cannot make the document unparsable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from auditor.findings import Check, Finding
from auditor.records.scan import join_id
from auditor.report.ci import record_of
from auditor.report.escape import xml_text

if TYPE_CHECKING:
    from auditor.report.registry import FindingsResult


def _checks(result) -> list[Check]:
    checks = list(getattr(result, "checks", []) or [])
    if checks:
        return checks
    out = []
    for f in getattr(result, "findings", []) or []:
        target = f.variant or f.file or result.KIND
        out.append(Check(f.rule, target, "fail", f.message, [f]))
    return out


def _where(f) -> str:
    loc = f.file or ""
    if f.line:
        loc += f":{f.line}" + (f":{f.column}" if f.column else "")
    return f"{loc}: " if loc else ""


def _describe(f) -> str:
    text = f"{_where(f)}{f.rule} {f.level}: {f.message}"
    if f.variant:
        text += f" [{f.variant}]"
    if f.help:
        text += f"\n  help: {f.help}"
    return text


def _el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})


def _failed_builds(result) -> list[Check]:
    """Scan variants that failed to build: each a failing `build` check of its variant."""
    out = []
    for v in record_of(result).get("variants", []) or []:
        if isinstance(v, dict) and v.get("status") == "failed" and "profile" in v:
            vid = v.get("id") or join_id(str(v.get("profile")), str(v.get("allocator")))
            msg = f"variant failed to build: {(v.get('error') or 'no error text').strip().splitlines()[0]}"
            out.append(Check("build", vid, "fail", msg, [Finding("build", "error", msg, title="variant build",
                                                                    variant=vid)]))
    return out


def to_xml(result) -> ET.Element:
    """Suites per target, cases per check, so CI test tabs count rules, not findings."""
    from auditor.rules.catalog import get

    suites: dict[str, list[Check]] = {}
    for c in _failed_builds(result) + _checks(result):
        suites.setdefault(c.target, []).append(c)
    root = ET.Element("testsuites", name=xml_text(f"auditor {result.KIND}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target, checks in suites.items():
        suite = _el(root, "testsuite", name=f"auditor {result.KIND}: {target}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for c in checks:
            rule = get(c.rule)
            title = rule.title if rule else (c.findings[0].title if c.findings else "")
            case = _el(suite, "testcase", classname=f"auditor.{result.KIND}.{c.rule}",
                       name=f"{c.rule} {title}".strip() + f" [{target}]", time="0")
            first = c.findings[0] if c.findings else None
            if first is not None and first.file:
                case.set("file", xml_text(first.file))
                if first.line:
                    case.set("line", str(first.line))
            counts["tests"] += 1
            errors = [f for f in c.findings if f.level == "error"]
            others = [f for f in c.findings if f.level != "error"]
            if others:
                props = _el(case, "properties")
                for level in ("warning", "note"):
                    n = sum(f.level == level for f in others)
                    if n:
                        _el(props, "property", name=f"auditor.{level}s", value=str(n))
            if errors:
                counts["failures"] += 1
                el = _el(case, "failure", message=errors[0].message if len(errors) == 1
                         else f"{len(errors)} error-level findings", type="error")
                el.text = xml_text("\n".join(_describe(f) for f in errors))
            elif c.status == "error":
                counts["skipped"] += 1
                _el(case, "skipped", message=c.message or "not measured")
            if others:
                _el(case, "system-out").text = xml_text("\n".join(_describe(f) for f in others))
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    return root


def render(result: FindingsResult, *, color: bool = False) -> str:
    root = to_xml(result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
