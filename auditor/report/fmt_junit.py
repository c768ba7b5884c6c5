"""JUnit XML for CI test tabs: one testcase per rule check.

A check with error- or warning-level findings is a <failure>; one that could not be
measured (status "error": a failed build, a module that was not probed) is an <error>;
a pass, or a check whose findings are all notes, passes (notes go to <system-out>).
Results without checks get one testcase per finding. One testsuite per target (the
manifest, the .wasm, or the scan variant).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.findings import Check


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


def to_xml(result) -> ET.Element:
    """Suites per target, cases per check, so CI test tabs count rules, not findings."""
    from auditor.rules.catalog import get

    suites: dict[str, list[Check]] = {}
    for c in _checks(result):
        suites.setdefault(c.target, []).append(c)
    root = ET.Element("testsuites", name=f"auditor {result.KIND}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for target, checks in suites.items():
        suite = ET.SubElement(root, "testsuite", name=f"auditor {result.KIND}: {target}")
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for c in checks:
            rule = get(c.rule)
            title = rule.title if rule else (c.findings[0].title if c.findings else "")
            case = ET.SubElement(suite, "testcase", classname=f"auditor.{result.KIND}.{c.rule}",
                                 name=f"{c.rule} {title}".strip() + f" [{target}]", time="0")
            first = c.findings[0] if c.findings else None
            if first is not None and first.file:
                case.set("file", first.file)
                if first.line:
                    case.set("line", str(first.line))
            counts["tests"] += 1
            serious = [f for f in c.findings if f.level in ("error", "warning")]
            if c.status == "error":
                counts["errors"] += 1
                el = ET.SubElement(case, "error", message=c.message or "not measured", type="not-measured")
                el.text = c.message
            elif c.status == "fail" and serious:
                counts["failures"] += 1
                worst = "error" if any(f.level == "error" for f in serious) else "warning"
                el = ET.SubElement(case, "failure", message=serious[0].message if len(serious) == 1
                                   else f"{len(serious)} findings", type=worst)
                el.text = "\n".join(_describe(f) for f in c.findings)
            elif c.findings:
                ET.SubElement(case, "system-out").text = "\n".join(_describe(f) for f in c.findings)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("skipped", "0")
        suite.set("time", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    return root


def render(result, *, color: bool = False) -> str:
    root = to_xml(result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
