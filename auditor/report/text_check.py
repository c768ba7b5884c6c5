"""Text for `auditor check`: one row per budget x variant x limit, then baseline growth."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from auditor.report import show
from auditor.report.table import table

if TYPE_CHECKING:
    from auditor.gate.budgets import CheckResult

_STYLE = {"pass": "green", "fail": "red", "error": "red", "skip": "yellow"}


def _status(status: str, color: bool) -> str:
    word = status.upper()
    return click.style(word, fg=_STYLE.get(status), bold=True) if color else word


def render(result: CheckResult, *, color: bool = False) -> str:
    data = result.to_json()
    crate = data.get("crate")
    name = f"{crate.get('name', '?')} {crate.get('version', '')}".strip() if isinstance(crate, dict) else str(crate)
    head = f"Budgets for {name}"
    if result.report:
        head += f" ({result.report})"
    if result.baseline_file:
        head += f", baseline {result.baseline_file}"
    out = [head]
    limit_rows, growth_rows, problems = [], [], []
    for b in result.budgets:
        if not b.variants:  # only in a shard report: the glob selects variants of other shards
            problems.append([b.name, b.selector, _status("skip", color),
                             "no variant of this shard matches: gate the merged report"])
        for bv in b.variants:
            if bv.error:
                problems.append([b.name, bv.variant, _status(bv.status, color), bv.error])
            for lim in bv.limits:
                limit_rows.append([b.name, bv.variant, lim.metric, show.actual(lim), show.limit(lim),
                                   show.headroom(lim), _status(lim.status, color)])
                if lim.note:
                    problems.append([b.name, bv.variant, _status(lim.status, color), f"{lim.metric}: {lim.note}"])
            for inc in bv.increases:
                growth_rows.append([b.name, bv.variant, inc.metric,
                                    "-" if inc.baseline is None else f"{inc.baseline:,} B",
                                    "-" if inc.actual is None else f"{inc.actual:,} B",
                                    show.signed(inc.delta, "bytes", inc.baseline),
                                    "-" if inc.allowed is None else f"{inc.allowed:,} B [{inc.allowed_text}]",
                                    _status(inc.status, color) if inc.status != "skip" else "not compared"])
    if not result.budgets:
        out.append("\n  no budgets configured: add [[budget]] tables to the config (see docs) or pass "
                   "--baseline with --max-increase")
    if limit_rows:
        out += ["", table(["budget", "variant", "metric", "actual", "limit", "headroom", "status"],
                         limit_rows, align="lllrrrl")]
    if growth_rows:
        out += ["", "Growth over the baseline",
                table(["budget", "variant", "metric", "baseline", "actual", "delta", "allowed", "status"],
                      growth_rows, align="lllrrrrl")]
    if problems:
        out += ["", "Not passed", table(["budget", "variant", "status", "problem"], problems, align="llll")]
    if result.findings:
        out += ["", "Findings"]
        for f in result.findings:
            loc = f"{f.file}:{f.line}: " if f.file and f.line else (f"{f.file}: " if f.file else "")
            out.append(f"  {loc}{f.rule} {f.level}: {f.message}")
    s = data["summary"]
    total = sum(s.values())
    verdict = "PASS" if result.passed else "FAIL"
    if color:
        verdict = click.style(verdict, fg="green" if result.passed else "red", bold=True)
    out += ["", f"{verdict}: {total} check{'s' if total != 1 else ''} "
                f"({s['pass']} pass, {s['fail']} fail, {s['error']} error)"]
    return "\n".join(out) + "\n"
