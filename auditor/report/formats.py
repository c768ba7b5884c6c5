"""Every result kind and every renderer, registered explicitly (see registry.py).

A new format: write `auditor/report/<name>.py` with `render(result, *, color=False) -> str`
and add one line below (`ANY` for every kind, or one line per kind it writes); commands
offering that kind list it under `--format` at once. Give it its typed slot in the
`TYPE_CHECKING` block at the end (mypy checks it against the kind's result type). A new result kind: give the result
a `KIND` and `to_json()`, declare the kind below, and register its renderers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
                         ("monos", False), ("crates", False), ("sources", False), ("data", False),
                         ("component", False)):  # any of the deep analyses, per core module
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
REGISTRY.add("text", "component", Lazy("auditor.report.text_deep", "render_component"))
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


# Each renderer checked against its kind's result type (mypy only: at run time the
# renderers stay lazy). One line per registration above, `<module>.<function>` as in its
# Lazy; a generic (ANY) renderer once per kind it serves. tests/test_renderer_types.py
# checks that every registration has its line here.
if TYPE_CHECKING:
    from auditor.build.cache_targets import CacheReport
    from auditor.build.doctor import DoctorResult
    from auditor.build.result import CommandList, ScanResult
    from auditor.config.loader import ConfigResult
    from auditor.gate.budgets import CheckResult
    from auditor.gate.diff import DiffResult
    from auditor.gate.merge import MergedReport
    from auditor.report import (
        fmt_github,
        fmt_html,
        fmt_json,
        fmt_junit,
        fmt_markdown,
        fmt_sarif,
        markdown_check,
        markdown_config,
        markdown_diff,
        markdown_inspect,
        markdown_lint,
        markdown_run,
        markdown_scan,
        text_cache,
        text_check,
        text_commands,
        text_config,
        text_deep,
        text_diff,
        text_doctor,
        text_fix,
        text_inspect,
        text_lint,
        text_rules,
        text_run,
        text_scan,
    )
    from auditor.report.registry import Renderer
    from auditor.rules.audit import Audited
    from auditor.rules.catalog import RuleList
    from auditor.rules.fix import FixResult
    from auditor.rules.lint import LintResult
    from auditor.runtime.api import RunResult
    from auditor.wasm.analysis.monos import MonosResult
    from auditor.wasm.analysis.results import (
        CratesResult,
        DataResult,
        DominatorsResult,
        GarbageResult,
        PathsResult,
        SourcesResult,
        TopResult,
    )
    from auditor.wasm.component import ComponentResult
    from auditor.wasm.inspect import InspectResult

    Inspected = Audited[InspectResult]
    Ran = Audited[RunResult]

    _text: tuple[Renderer[Inspected], Renderer[Ran], Renderer[ScanResult], Renderer[LintResult],
                 Renderer[CheckResult], Renderer[DiffResult], Renderer[ConfigResult], Renderer[DoctorResult],
                 Renderer[CommandList], Renderer[RuleList], Renderer[FixResult], Renderer[CacheReport]] = (
        text_inspect.render, text_run.render, text_scan.render, text_lint.render, text_check.render,
        text_diff.render, text_config.render, text_doctor.render, text_commands.render, text_rules.render,
        text_fix.render, text_cache.render)
    _deep: tuple[Renderer[TopResult], Renderer[DominatorsResult], Renderer[PathsResult], Renderer[GarbageResult],
                 Renderer[MonosResult], Renderer[CratesResult], Renderer[SourcesResult], Renderer[DataResult],
                 Renderer[ComponentResult]] = (
        text_deep.render_top, text_deep.render_dominators, text_deep.render_paths, text_deep.render_garbage,
        text_deep.render_monos, text_deep.render_crates, text_deep.render_sources, text_deep.render_data,
        text_deep.render_component)
    _json: tuple[Renderer[Inspected], Renderer[Ran], Renderer[ScanResult], Renderer[LintResult],
                 Renderer[CheckResult], Renderer[DiffResult], Renderer[ConfigResult], Renderer[DoctorResult],
                 Renderer[CommandList], Renderer[RuleList], Renderer[MergedReport], Renderer[FixResult],
                 Renderer[CacheReport], Renderer[TopResult], Renderer[DominatorsResult], Renderer[PathsResult],
                 Renderer[GarbageResult], Renderer[MonosResult], Renderer[CratesResult], Renderer[SourcesResult],
                 Renderer[DataResult], Renderer[ComponentResult]] = (fmt_json.render,) * 22
    _markdown: tuple[Renderer[Inspected], Renderer[ScanResult], Renderer[Ran], Renderer[LintResult],
                     Renderer[CheckResult], Renderer[DiffResult], Renderer[ConfigResult]] = (
        markdown_inspect.render, markdown_scan.render, markdown_run.render, markdown_lint.render,
        markdown_check.render, markdown_diff.render, markdown_config.render)
    # the generic renderers of kinds with findings: inspect, run, scan, lint, check
    _generic: tuple[Renderer[Inspected], Renderer[Ran], Renderer[ScanResult], Renderer[LintResult],
                    Renderer[CheckResult]]
    _generic = (fmt_markdown.render,) * 5
    _generic = (fmt_sarif.render,) * 5
    _generic = (fmt_junit.render,) * 5
    _generic = (fmt_github.render,) * 5
    _html: tuple[Renderer[ScanResult], Renderer[CheckResult], Renderer[Inspected], Renderer[Ran]] = (
        fmt_html.render,) * 4
