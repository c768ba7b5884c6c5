"""`auditor.lint/1`: the manifest rules' verdict on one or more workspaces (README ("JSON:
auditor.lint/1"))."""

from __future__ import annotations

from typing import TypedDict

from auditor.records.findings import CheckRecord, FindingRecord

SCHEMA = "auditor.lint/1"


class LintRecord(TypedDict):
    schema: str
    profile: str
    manifests: list[str]
    config_files: list[str]
    counts: dict[str, int]  # error, warning, note
    findings: list[FindingRecord]
    checks: list[CheckRecord]
