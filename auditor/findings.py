"""What every report carries besides its facts: findings and the checks behind them.

Formats that CI systems read (SARIF, JUnit, GitHub annotations) work only on these, so a
new command gets every format by filling them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import cast

from auditor.records.findings import CheckRecord, FindingRecord

LEVELS = ("error", "warning", "note")


@dataclass
class Finding:
    rule: str  # stable id, e.g. "AUD103"
    level: str  # error | warning | note
    message: str
    title: str = ""
    category: str = ""  # profile, allocator, memory, size, runtime, budget
    file: str | None = None  # path relative to the working directory when possible
    line: int | None = None
    column: int | None = None
    variant: str | None = None  # "profile/allocator" for scan findings
    help: str | None = None
    source_line: str | None = None  # the manifest line, for text output

    def to_json(self) -> FindingRecord:
        """Fields that are null or empty are left out (the record's keys are optional)."""
        return cast(FindingRecord, {k: v for k, v in asdict(self).items() if v not in (None, "")})


@dataclass
class Check:
    """One rule evaluated on one target: JUnit makes a testcase of each."""

    rule: str
    target: str  # file, variant or budget name
    status: str  # pass | fail | error (could not be measured)
    message: str = ""
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> CheckRecord:
        return {
            "rule": self.rule,
            "target": self.target,
            "status": self.status,
            "message": self.message,
        }


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when any finding is an error, else 0 (usage errors exit 2 elsewhere)."""
    return 1 if any(f.level == "error" for f in findings) else 0
