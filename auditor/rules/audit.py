"""A stage's result with the findings the rules drew from it: what `inspect` and `run` report.

The wasm and runtime stages return facts only (`InspectResult`, `RunResult`); their
records carry empty `findings` and `checks` lists that this stage fills. `audit`
serialises the result once, evaluates the rules of its kind on that record, and the
`Audited` wrapper answers the report layer's questions (KIND, to_json, findings,
checks, exit_code) without serialising again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from auditor.config.view import ConfigView
from auditor.findings import Check, Finding, exit_code
from auditor.records.retained import RetainedSource
from auditor.rules.engine import evaluate
from auditor.wasm.reader import gc_paused


class StageResult(Protocol):
    KIND: ClassVar[str]

    @property
    def file(self) -> str: ...

    def to_json(self) -> Mapping[str, Any]: ...

    def exit_code(self) -> int: ...


R = TypeVar("R", bound=StageResult)


@dataclass
class Audited(Generic[R]):
    result: R
    record: Mapping[str, Any]  # result.to_json(), made once
    findings: list[Finding] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    top: int = 20  # inspect's text and markdown: how many of the largest functions to list (0 = all)
    # the HTML page's retained-size view of the module (auditor.pipeline.retained; inspect only)
    retained_view: RetainedSource | None = field(default=None, repr=False, compare=False)

    @property
    def KIND(self) -> str:  # noqa: N802  (the report registry reads every result's KIND)
        return self.result.KIND

    @property
    def file(self) -> str:
        return self.result.file

    def to_json(self) -> dict[str, Any]:
        """The stage's record with the rules' findings and checks in their places."""
        return {**self.record, "findings": [f.to_json() for f in self.findings],
                "checks": [c.to_json() for c in self.checks]}

    def exit_code(self) -> int:
        """1 when the stage says so (a failed scenario) or a finding is an error."""
        return max(self.result.exit_code(), exit_code(self.findings))


def audit(result: R, config: ConfigView | None = None, *, top: int = 20) -> Audited[R]:
    """Apply the rules of the result's kind ("inspect", "run") to its record.

    The cycle collector is paused meanwhile: a 45 MB module's record is ~10^5 acyclic
    containers, and the collector's walks over them were a quarter of this stage."""
    with gc_paused():
        record = result.to_json()
        findings, checks = evaluate(result.KIND, record, config)
    return Audited(result, record, findings, checks, top)
