"""Every result kind and every renderer, registered explicitly (see registry.py).

A new format: write `auditor/report/<name>.py` with `render(result, *, color=False) -> str`
and add one line below (`ANY` for every kind, or one line per kind it writes); commands
offering that kind list it under `--format` at once. A new result kind: give the result
a `KIND` and `to_json()`, declare the kind below, and register its renderers.
"""

from __future__ import annotations

from auditor.report.escape import TERMINAL_FILTER
from auditor.report.registry import ANY, Lazy, Registry

REGISTRY = Registry()

# result kinds: (name, carries findings and checks)
for _kind, _findings in (("inspect", True), ("run", True), ("scan", True), ("lint", True), ("check", True),
                         ("diff", False), ("config", False), ("doctor", False), ("commands", False),
                         ("rules", False), ("merge", False), ("fix", False),
                         ("cache", False),
                         # deep size analyses (auditor/report/text_deep.py)
                         ("top", False), ("dominators", False), ("paths", False), ("garbage", False),
                         ("monos", False), ("crates", False), ("sources", False), ("data", False)):
    REGISTRY.kind(_kind, findings=_findings)

# text: for people, one module per kind
REGISTRY.add("text", "inspect", Lazy("auditor.report.text_inspect"))
REGISTRY.add("text", "run", Lazy("auditor.report.text_run"))
REGISTRY.add("text", "scan", Lazy("auditor.report.text_scan"))
REGISTRY.add("text", "lint", Lazy("auditor.report.text_lint"))
REGISTRY.add("text", "check", Lazy("auditor.report.text_check"))
REGISTRY.add("text", "diff", Lazy("auditor.report.text_diff"))
REGISTRY.add("text", "config", Lazy("auditor.report.text_config"))
REGISTRY.add("text", "doctor", Lazy("auditor.report.text_doctor"))
REGISTRY.add("text", "commands", Lazy("auditor.report.text_commands"))
REGISTRY.add("text", "rules", Lazy("auditor.report.text_rules"))
REGISTRY.add("text", "fix", Lazy("auditor.report.text_fix"))
REGISTRY.add("text", "cache", Lazy("auditor.report.text_cache"))
for _kind in ("top", "dominators", "paths", "garbage", "monos", "crates", "sources", "data"):
    REGISTRY.add("text", _kind, Lazy("auditor.report.text_deep", f"render_{_kind}"))
# json: the documented record of any kind
REGISTRY.add("json", ANY, Lazy("auditor.report.fmt_json"))
# markdown: PR comments and job summaries; kinds without their own get the findings summary
REGISTRY.add("markdown", "inspect", Lazy("auditor.report.markdown_inspect"))
REGISTRY.add("markdown", "scan", Lazy("auditor.report.markdown_scan"))
REGISTRY.add("markdown", "run", Lazy("auditor.report.markdown_run"))
REGISTRY.add("markdown", "lint", Lazy("auditor.report.markdown_lint"))
REGISTRY.add("markdown", "check", Lazy("auditor.report.markdown_check"))
REGISTRY.add("markdown", "diff", Lazy("auditor.report.markdown_diff"))
REGISTRY.add("markdown", "config", Lazy("auditor.report.markdown_config"))
REGISTRY.add("markdown", ANY, Lazy("auditor.report.fmt_markdown"), findings=True)
# CI formats, for every kind with findings
REGISTRY.add("sarif", ANY, Lazy("auditor.report.fmt_sarif"), findings=True)
REGISTRY.add("junit", ANY, Lazy("auditor.report.fmt_junit"), findings=True)
REGISTRY.add("github", ANY, Lazy("auditor.report.fmt_github"), findings=True)
# html: one self-contained page with charts (plotly.js inlined; the `html` extra)
for _kind in ("scan", "check", "inspect", "run"):
    REGISTRY.add("html", _kind, Lazy("auditor.report.fmt_html"))
# Untrusted module text (names, custom sections, data strings) never reaches a terminal or a
# markdown page raw: the whole output of these formats goes through report/escape.py.
for _fmt in ("text", "markdown", "github"):
    REGISTRY.filter(_fmt, TERMINAL_FILTER)
