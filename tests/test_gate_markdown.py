"""PR-comment markdown: the hidden marker, tables GitHub renders, ▲/▼ deltas, details."""

from __future__ import annotations

import json
import re
from pathlib import Path

from auditor.config import load_config
from auditor.gate.budgets import evaluate
from auditor.gate.report import load_report
from auditor.pipeline.reports import diff as diff_reports  # loads each side, then gate.diff compares
from auditor.report import markdown_check, markdown_diff, markdown_scan
from auditor.report.markdown_blocks import MARKER

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
V1, V2 = load_report(REPORTS / "scan-v1.json"), load_report(REPORTS / "scan-v2.json")


def tables(md: str) -> list[list[str]]:
    """Every table as its lines; checks each has a header, a separator and equal columns."""
    out, cur = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            out.append(cur)
            cur = []
    for t in out:
        cols = [len(re.findall(r"(?<!\\)\|", l)) for l in t]
        assert len(set(cols)) == 1, t
        assert re.fullmatch(r"\|( ---: \|| :--- \|| :---: \|)+", t[1]), t[1]
    return out


def check_md(tmp_path, budgets: str, new=V2, base=V1, allowance="30%"):
    (tmp_path / "auditor.toml").write_text(budgets)
    result = evaluate(new, load_config(tmp_path), base, allowance, report_name="new.json",
                      baseline_name="ci/base.json")
    return result, markdown_check.render(result)


def test_check_comment_fail(tmp_path):
    result, md = check_md(tmp_path, '[[budget]]\nname = "main"\nvariant = "min-size-z/default"\n'
                                    'raw = "30 KiB"\nmessage = "ask #wasm-size"\n')
    assert md.startswith(MARKER + "\n## ❌ size budgets failed — demo\n")
    variants, budgets, crates, functions = tables(md)
    assert variants[0] == "| variant | raw | gzip | brotli | Δ raw vs baseline | status |"
    assert "| `min-size-z/default` | 30.2 KiB | 13.6 KiB | 11.6 KiB | ▲ +6,722 B (+27.8%) | ok |" in variants
    assert any("`release/talc`" in l and "❌ build failed: error[E0433]" in l for l in variants)
    assert any(l.startswith("| main | `min-size-z/default` | raw | 30,891 B") and l.endswith("| ❌ |") for l in budgets)
    assert any("raw growth | +6,722 B (+27.8%) | ≤ 7,250 B (30%) | +528 B | ✅ |" in l for l in budgets)
    # the limit as written in the config beside its exact bytes; headroom with its unit and share
    assert any("| raw | 30,891 B (30.2 KiB) | 30,720 B (30 KiB) | -171 B (-0.6%) | ❌ |" in l for l in budgets)
    assert "- **main**: ask #wasm-size" in md
    assert "<details>\n<summary>Top changed crates and functions: `min-size-z/default` vs baseline</summary>" in md
    assert any(l.startswith("| `sorted_report` | — | 2.2 KiB | ▲ +2,239 B | new |") for l in functions)
    assert md.count("<details>") == md.count("</details>") == 1


def test_check_comment_pass_and_shrink(tmp_path):
    _, md = check_md(tmp_path, '[[budget]]\nname = "main"\nvariant = "min-size-z/default"\nraw = "40 KiB"\n',
                     new=V1, base=V2)
    assert md.startswith(MARKER + "\n## ✅ size budgets passed — demo\n")
    assert "▼ -6,722 B (-21.8%)" in md  # 30,891 -> 24,169
    assert "| main | `min-size-z/default` | raw | 24,169 B (23.6 KiB) | 40,960 B (40 KiB) | +16,791 B (+41.0%) | ✅ |" in md


def test_check_comment_without_baseline_deltas_against_the_reference_variant(tmp_path):
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "m"\nraw = "10 MiB"\n')
    md = markdown_check.render(evaluate(V1, load_config(tmp_path)))
    variants = tables(md)[0]
    assert variants[0] == "| variant | raw | gzip | brotli | Δ raw vs release/default | status |"
    assert "| `release/default` | 4.8 MiB | 1.2 MiB | 929.1 KiB | reference | ok |" in variants
    # 40,379 - 5,051,948 B, share of the reference's size
    assert "| `opt-z/default` | 39.4 KiB | 16.3 KiB | 14.0 KiB | ▼ -5,011,569 B (-99.2%) | ok |" in variants
    assert any(l.startswith("| `release/talc` |") and "| — | ❌ build failed" in l for l in variants)
    assert "<details>" not in md and "no baseline" in md
    # no reference variant in the report: no delta column at all
    scan = json.loads(json.dumps(V1))
    scan["baseline_variant"] = None
    md = markdown_check.render(evaluate(scan, load_config(tmp_path)))
    assert tables(md)[0][0] == "| variant | raw | gzip | brotli | status |"


def test_pipes_and_backticks_in_names_do_not_break_tables():
    new = json.loads(json.dumps(V2))
    w = next(v for v in new["variants"] if v["profile"] == "opt-z" and v["allocator"] == "default")["wasm"]
    w["functions"].append({"index": 999, "name": "<F as core::ops::Fn(&str) | `x`>::call", "size": 77})
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "n.json"
        p.write_text(json.dumps(new))
        md = markdown_diff.render(diff_reports(str(REPORTS / "scan-v1.json"), str(p), variant="opt-z/default", top=0))
    assert md.startswith(MARKER + "\n")
    tables(md)
    assert "``<F as core::ops::Fn(&str) \\| `x`>::call``" in md


def test_scan_comment():
    class Scan:
        KIND = "scan"

        def to_json(self):
            return V1

    md = markdown_scan.render(Scan())
    assert md.startswith(MARKER + "\n## auditor scan — demo\n")
    [t] = tables(md)
    assert "| `release/default` | 4.8 MiB | 1.2 MiB |" in t[2] and "| reference | ok |" in t[2]
    assert any(l.startswith("| **`min-size-z/default`** | 23.6 KiB") and "▼ -5,027,779 B (-99.5%)" in l for l in t)
    assert "smallest: `min-size-z/default` (23.6 KiB)" in md


def test_scan_gate_comment_has_baseline_column_budgets_and_details(tmp_path):
    """`scan --gate --baseline` posts the same information as `check`: the change against
    the baseline per variant, the budgets and the top changed functions."""
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "main"\nvariant = "min-size-z/default"\nraw = "30 KiB"\n')

    class Scan:
        KIND = "scan"
        check = evaluate(V2, load_config(tmp_path), V1, "30%")

        def to_json(self):
            return V2

    md = markdown_scan.render(Scan())
    variants, budgets, crates, functions = tables(md)
    assert variants[0].endswith("| Δ raw vs release/default | Δ raw vs baseline | status |")
    row = next(l for l in variants if "min-size-z/default" in l)
    assert row.endswith("| ▲ +6,722 B (+27.8%) | ok |")  # 24,169 -> 30,891 B
    assert any("`release/talc`" in l and l.endswith("| — | ❌ failed: error[E0433]: failed to resolve: could not find "
                                                      "`wasm` in `talc` |") for l in variants)
    assert "### Budgets ❌ failed" in md and any("| raw | 30,891 B (30.2 KiB) | 30,720 B (30 KiB) |" in l for l in budgets)
    assert "<summary>Top changed crates and functions: `min-size-z/default` vs baseline</summary>" in md
    assert any(l.startswith("| `sorted_report` | — |") for l in functions)


def test_percentages_read_the_same_in_text_and_markdown(tmp_path):
    """One exact ratio, rounded once: 1,320 / 2,531 = 52.153% is 52.2% everywhere (rounding
    to 52.15 first and then to one decimal would print 52.1%)."""
    from auditor.report import text_diff
    from auditor.units import percent

    def record(size):
        return {"schema": "auditor.inspect/1", "file": "m.wasm", "bytes": size, "gzip": None, "brotli": None,
                "sections": [], "memories": [], "crates": [],
                "functions": [{"index": 0, "name": "alloc::slice::merge_sort", "size": size}]}

    for name, size in (("old", 2531), ("new", 3851)):
        (tmp_path / f"{name}.json").write_text(json.dumps(record(size)))
    result = diff_reports(str(tmp_path / "old.json"), str(tmp_path / "new.json"))
    assert percent(1320, 2531) == " (+52.2%)"
    assert "+1,320 B (+52.2%)" in text_diff.render(result)
    md = markdown_diff.render(result)
    assert "▲ +1,320 B (+52.2%)" in md and "52.1%" not in md


def test_details_failing_variants_first_and_capped(tmp_path, monkeypatch):
    """A glob over the whole matrix must not blow the comment past GitHub's size limit:
    failing variants get their breakdown first, the rest are named."""
    from auditor.gate import diff as gate_diff

    monkeypatch.setattr(gate_diff, "DETAILS", 2)  # the gate keeps that many breakdowns (CheckResult.details)
    _, md = check_md(tmp_path, '[[budget]]\nname = "all"\nvariant = "*/*"\nraw = "1 MiB"\n')
    summaries = re.findall(r"<summary>Top changed crates and functions: `([^`]+)` vs baseline</summary>", md)
    # release/default is over 1 MiB, opt-z/bump grew 30.1% (> 30%): both fail, first
    assert summaries == ["release/default", "opt-z/bump"]
    assert "Not shown: `opt-z/default`, `min-size-z/default`" in md


def test_diff_comment_breaks_down_the_largest_changes_first(monkeypatch):
    monkeypatch.setattr(markdown_diff, "MAX_DETAILS", 2)
    md = markdown_diff.render(diff_reports(str(REPORTS / "scan-v1.json"), str(REPORTS / "scan-v2.json")))
    summaries = re.findall(r"<summary>Top changed crates and functions: `([^`]+)` vs old</summary>", md)
    # raw deltas: opt-z/default +8,526, opt-z/bump +8,343, min-size-z/default +6,722, release/default +5,993
    assert summaries == ["opt-z/default", "opt-z/bump"]
    assert "Not broken down: `min-size-z/default`, `release/default`" in md
    assert md.count("### `") == 4  # every variant keeps its totals table
