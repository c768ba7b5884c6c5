"""`findings[]` and `checks[]`: what every report carries besides its facts (README
("Findings and checks"))."""

from __future__ import annotations

from typing import Literal, Required, TypedDict

Level = Literal["error", "warning", "note"]
Status = Literal["pass", "fail", "error"]


class FindingRecord(TypedDict, total=False):
    """Keys whose value is null or empty are left out."""

    rule: Required[str]
    level: Required[str]
    message: Required[str]
    title: str
    category: str
    file: str
    line: int
    column: int
    variant: str
    help: str
    source_line: str


class CheckRecord(TypedDict):
    rule: str
    target: str
    status: str
    message: str
