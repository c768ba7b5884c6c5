"""Budgets: limits per metric and variant, exit codes, failed variants, baselines."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.errors import AuditorError
from auditor.gate.budgets import evaluate
from auditor.gate.report import load_report, variant_id

import clirun
from objdump import sections

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
V1 = load_report(REPORTS / "scan-v1.json")
V2 = load_report(REPORTS / "scan-v2.json")
WASM_V1 = REPORTS / "demo-0.1.0-opt-z.wasm"  # the opt-z/default module of scan-v1


def config(tmp_path: Path, text: str):
    (tmp_path / "auditor.toml").write_text(text)
    return load_config(tmp_path)


def line_of(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "auditor.toml").read_text().splitlines()
    return next(i for i, l in enumerate(lines, 1) if l.strip().startswith(needle))


def run(*args, cwd):
    """The CLI in-process (tests/clirun.py)."""
    return clirun.run(args, cwd=cwd)


def limit(result, budget=0, variant=0, n=0):
    return result.budgets[budget].variants[variant].limits[n]


def _leb_len(n: int) -> int:
    return max(1, -(-n.bit_length() // 7))


def objdump_section_bytes(kind: str) -> int:
    """Whole-section bytes (id + size LEB + payload, name included) per wasm-objdump -h."""
    total = 0
    for name, _start, size in sections(WASM_V1):
        if name == kind:
            total += 1 + _leb_len(size) + size
    return total


def test_raw_limit_at_and_just_under_the_file_size(tmp_path):
    size = WASM_V1.stat().st_size  # independent of the report: the module's real size
    ok = evaluate(V1, config(tmp_path, f'[[budget]]\nname = "z"\nvariant = "opt-z/default"\nraw = {size}\n'))
    assert ok.passed and limit(ok).actual == size and limit(ok).headroom == 0
    assert ok.findings == []
    bad = evaluate(V1, config(tmp_path, f'[[budget]]\nname = "z"\nvariant = "opt-z/default"\nraw = {size - 1}\n'))
    assert not bad.passed and limit(bad).headroom == -1
    assert [f.rule for f in bad.findings] == ["AUD901"]


def test_code_data_custom_equal_wasm_objdump(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "s"\nvariant = "opt-z/default"\n'
                           'code = "1 MiB"\ndata = "1 MiB"\ncustom = "1 MiB"\n')
    figures = {lim.metric: lim.actual for lim in evaluate(V1, cfg).budgets[0].variants[0].limits}
    custom = sum(1 + _leb_len(size) + size for name, start, size in sections(WASM_V1)
                 if name not in ("Type", "Function", "Table", "Memory", "Global", "Export", "Elem", "Code", "Data"))
    assert figures == {"code": objdump_section_bytes("Code"), "data": objdump_section_bytes("Data"), "custom": custom}


def test_human_units_kib_vs_kb(tmp_path):
    # opt-z/default gzip is 16,698 B: under 16.5 kB decimal? no (16,500); under 16.5 KiB (16,896)? yes
    gz = next(v for v in V1["variants"] if variant_id(v) == "opt-z/default")["wasm"]["gzip"]
    assert 16500 < gz <= 16896
    cfg = config(tmp_path, '[[budget]]\nname = "dec"\nvariant = "opt-z/default"\ngzip = "16.5 kB"\n'
                           '[[budget]]\nname = "bin"\nvariant = "opt-z/default"\ngzip = "16.5 KiB"\n')
    r = evaluate(V1, cfg)
    assert (limit(r, 0).limit, limit(r, 0).status) == (16500, "fail")
    assert (limit(r, 1).limit, limit(r, 1).status) == (16896, "pass")


def test_breach_located_at_the_limit_line_with_message(tmp_path):
    cfg = config(tmp_path, '# budgets\n[[budget]]\nname = "main"\nvariant = "min-size-z/default"\n'
                           'raw = "150 KiB"\ngzip = "10 kB"\nmessage = "talk to #wasm-size before raising"\n')
    r = evaluate(V1, cfg)
    [f] = r.findings
    assert (f.rule, f.level, f.category, f.variant) == ("AUD901", "error", "budget", "min-size-z/default")
    assert f.file.endswith("auditor.toml") and f.line == line_of(tmp_path, "gzip") == 6
    assert "gzip 10,977 B > limit 10 kB (10,000 B), over by 977 B (9.8%)" in f.message
    assert f.message.endswith("— talk to #wasm-size before raising")
    [check] = r.checks
    assert (check.rule, check.target, check.status) == ("AUD901", "main: min-size-z/default", "fail")
    raw = limit(r)
    assert (raw.metric, raw.actual, raw.limit, raw.headroom) == ("raw", 24169, 153600, 153600 - 24169)
    assert raw.headroom_percent == round((153600 - 24169) * 100 / 153600, 2)


def test_glob_selects_every_matching_variant_and_failed_is_failure(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "release"\nvariant = "release/*"\nraw = "10 MiB"\n')
    r = evaluate(V1, cfg)
    statuses = {bv.variant: bv.status for bv in r.budgets[0].variants}
    assert statuses == {"release/default": "pass", "release/talc": "fail"}
    [f] = r.findings
    assert f.rule == "AUD903" and f.variant == "release/talc"
    assert "variant failed to build: error[E0433]: failed to resolve" in f.message
    assert f.line == line_of(tmp_path, "variant")
    assert not r.passed


def test_default_variant_from_config_else_release_default(tmp_path):
    r = evaluate(V1, config(tmp_path, '[[budget]]\nname = "a"\nraw = "10 MiB"\n'))
    assert [bv.variant for bv in r.budgets[0].variants] == ["release/default"]
    r = evaluate(V1, config(tmp_path, '[scan]\ndefault-variant = "opt-z/bump"\n[[budget]]\nname = "a"\nraw = "10 MiB"\n'))
    assert [bv.variant for bv in r.budgets[0].variants] == ["opt-z/bump"]


def test_no_matching_variant_is_an_error_not_a_pass(tmp_path):
    r = evaluate(V1, config(tmp_path, '[[budget]]\nname = "a"\nvariant = "opt-s/*"\nraw = "10 MiB"\n'))
    [f] = r.findings
    assert f.rule == "AUD904" and "no variant matches 'opt-s/*'" in f.message
    assert r.checks[0].status == "error" and not r.passed


def test_pages_and_unbounded_maximum(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "m"\nvariant = "opt-z/default"\n'
                           'initial-pages = 17\nmax-pages = "16 MiB"\n')
    r = evaluate(V1, cfg)
    init, mx = r.budgets[0].variants[0].limits
    assert (init.actual, init.limit, init.status) == (17, 17, "pass")  # at the limit passes
    assert (mx.actual, mx.limit, mx.status) == (None, 256, "fail")
    assert "no maximum" in r.findings[0].message
    r = evaluate(V1, config(tmp_path, '[[budget]]\nname = "m"\nvariant = "opt-z/default"\ninitial-pages = "16 pages"\n'))
    assert limit(r).status == "fail" and limit(r).headroom == -1


def test_runtime_figures(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "rt"\nvariant = "opt-z/*"\n'
                           'pages-at-cap = 64\nchurn-slope = 0.5\n')
    r = evaluate(V1, cfg)
    got = {bv.variant: [(l.metric, l.actual, l.status) for l in bv.limits] for bv in r.budgets[0].variants}
    assert got == {"opt-z/default": [("pages-at-cap", 64, "pass"), ("churn-slope", 0.0, "pass")],
                   "opt-z/bump": [("pages-at-cap", 64, "pass"), ("churn-slope", 20.0, "fail")]}
    # runtime not run: an error, never a pass
    no_rt = copy.deepcopy(V1)
    for v in no_rt["variants"]:
        v["runtime"] = None
    r = evaluate(no_rt, cfg)
    assert {l.status for bv in r.budgets[0].variants for l in bv.limits} == {"error"}
    assert {f.rule for f in r.findings} == {"AUD904"}


def test_crate_limit(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "c"\nvariant = "min-size-z/default"\n'
                           'crate = { dlmalloc = "6 KiB", core = 5797, serde = 1 }\n')
    r = evaluate(V1, cfg)
    got = [(l.metric, l.actual, l.status) for l in r.budgets[0].variants[0].limits]
    assert got == [("crate.dlmalloc", 6661, "fail"), ("crate.core", 5797, "pass"), ("crate.serde", 0, "pass")]


def test_rule_level_override_and_off(tmp_path):
    base = '[[budget]]\nname = "a"\nvariant = "opt-z/default"\nraw = 1000\n'
    r = evaluate(V1, config(tmp_path, '[rules]\nAUD901 = "warning"\n' + base))
    assert [f.level for f in r.findings] == ["warning"] and r.checks[0].status == "fail"
    r = evaluate(V1, config(tmp_path, '[rules]\nAUD901 = "off"\n' + base))
    assert r.findings == [] and r.checks[0].status == "fail"


def test_budget_without_limits_is_a_config_error(tmp_path):
    with pytest.raises(AuditorError, match="budget 'a' sets no limit") as e:
        evaluate(V1, config(tmp_path, '[[budget]]\nname = "a"\nvariant = "opt-z/default"\n'))
    assert e.value.where.endswith("auditor.toml:1")
    # a global allowance does not make an empty budget meaningful
    with pytest.raises(AuditorError, match="budget 'a' sets no limit"):
        evaluate(V2, config(tmp_path, '[[budget]]\nname = "a"\n'), V1, "5%")


# ------------------------------------------------------------------ baselines


def scaled(raw: int) -> dict:
    """scan-v1 with opt-z/default's raw size set to `raw`."""
    r = copy.deepcopy(V1)
    next(v for v in r["variants"] if variant_id(v) == "opt-z/default")["wasm"]["bytes"] = raw
    return r


@pytest.mark.parametrize("new,allowed,status", [
    (42000, "5%", "pass"),       # at the threshold: 5% of 40,000 is exactly 2,000
    (41999, "5%", "pass"),       # just under
    (42001, "5%", "fail"),       # just over
    (42000, "2000", "pass"),     # bytes, at
    (42001, "2 kB", "fail"),     # bytes, just over (2 kB = 2,000 B)
    (42048, "2 KiB", "pass"),    # 2 KiB = 2,048 B, at
    (40000, "0%", "pass"),       # no growth allowed, none happened
    (40001, "0%", "fail"),
    (39000, "0%", "pass"),       # shrinking always passes
    (40040, "0.1%", "pass"),     # 0.1% of 40,000 = 40 exactly, no float slop
    (40041, "0.1%", "fail"),
])
def test_baseline_tolerance(tmp_path, new, allowed, status):
    cfg = config(tmp_path, f'[[budget]]\nname = "z"\nvariant = "opt-z/default"\nmax-increase = "{allowed}"\n')
    r = evaluate(scaled(new), cfg, scaled(40000))
    [inc] = r.budgets[0].variants[0].increases
    assert (inc.metric, inc.baseline, inc.actual, inc.delta, inc.status) == ("raw", 40000, new, new - 40000, status)
    assert r.passed == (status == "pass")
    assert [f.rule for f in r.findings] == ([] if status == "pass" else ["AUD902"])


def test_global_max_increase_cli_beats_config_and_loses_to_the_budget(tmp_path):
    text = '[gate]\nmax-increase = "1%"\n[[budget]]\nname = "z"\nvariant = "opt-z/default"\nraw = "1 MiB"\n'
    cfg = config(tmp_path, text)
    assert not evaluate(scaled(40800), cfg, scaled(40000)).passed  # gate 1% = 400 B
    assert evaluate(scaled(40800), cfg, scaled(40000), "2%").passed  # --max-increase 2%
    cfg = config(tmp_path, text + 'max-increase = "0.5%"\n')
    r = evaluate(scaled(40300), cfg, scaled(40000), "2%")
    assert not r.passed and r.budgets[0].max_increase == "0.5%"
    assert r.findings[0].line == line_of(tmp_path, "max-increase = \"0.5%\"")


def test_increase_checked_on_each_limited_byte_metric(tmp_path):
    cfg = config(tmp_path, '[[budget]]\nname = "z"\nvariant = "min-size-z/default"\ngzip = "1 MiB"\n'
                           'crate = { demo = "1 MiB" }\ninitial-pages = 20\nmax-increase = "10%"\n')
    r = evaluate(V2, cfg, V1)
    incs = {i.metric: (i.baseline, i.actual, i.status) for i in r.budgets[0].variants[0].increases}
    assert incs == {"gzip": (10977, 13884, "fail"), "crate.demo": (2290, incs["crate.demo"][1], "fail")}


def test_variant_missing_from_baseline_is_not_compared(tmp_path):
    base = copy.deepcopy(V1)
    base["variants"] = [v for v in base["variants"] if variant_id(v) != "opt-z/bump"]
    cfg = config(tmp_path, '[[budget]]\nname = "z"\nvariant = "opt-z/*"\nmax-increase = "0%"\n')
    r = evaluate(V1, cfg, base)
    got = {bv.variant: [(i.baseline, i.status) for i in bv.increases] for bv in r.budgets[0].variants}
    assert got == {"opt-z/default": [(40379, "pass")], "opt-z/bump": [(None, "skip")]}
    assert r.passed


def test_implicit_budget_when_only_a_baseline_and_allowance(tmp_path):
    cfg = config(tmp_path, '[gate]\nmax-increase = "5%"\n')
    r = evaluate(V2, cfg, V1)
    [b] = r.budgets
    assert (b.name, b.selector) == ("max-increase", "release/default")
    assert b.line == line_of(tmp_path, "max-increase")
    [inc] = b.variants[0].increases
    assert (inc.baseline, inc.actual) == (5051948, 5057941) and inc.status == "pass"  # +0.12%
    assert evaluate(V2, config(tmp_path, ""), V1).budgets == []  # no allowance: nothing to gate


# ------------------------------------------------------------------ CLI


BUDGETS = """[[budget]]
name = "main"
variant = "min-size-z/default"
raw = "25 KiB"
gzip = "12 kB"
"""


def test_check_cli_pass_and_fail_exit_codes(tmp_path):
    (tmp_path / "auditor.toml").write_text(BUDGETS)
    ok = run("check", REPORTS / "scan-v1.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "PASS: 1 check (1 pass, 0 fail, 0 error)" in ok.stdout
    assert "24,169 B (23.6 KiB)" in ok.stdout and "25,600 B (25 KiB)" in ok.stdout and "+1,431 B (+5.6%)" in ok.stdout
    bad = run("check", REPORTS / "scan-v2.json", cwd=tmp_path)
    assert bad.returncode == 1
    assert "auditor.toml:4: AUD901 error: budget 'main' (min-size-z/default): raw 30,891 B > limit 25 KiB" in bad.stdout
    assert "FAIL" in bad.stdout


def test_check_cli_baseline_and_max_increase(tmp_path):
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "main"\nvariant = "min-size-z/default"\nraw = "1 MiB"\n')
    args = ("check", REPORTS / "scan-v2.json", "--baseline", REPORTS / "scan-v1.json")
    assert run(*args, "--max-increase", "30%", cwd=tmp_path).returncode == 0  # +27.8%
    r = run(*args, "--max-increase", "25%", cwd=tmp_path)
    assert r.returncode == 1 and "raw grew +6,722 B (+27.8%) over the baseline" in r.stdout
    r = run(*args, "--max-increase", "lots", cwd=tmp_path)
    assert r.returncode == 2 and "--max-increase: cannot read 'lots' as a size" in r.stderr


def test_check_cli_baseline_from_config_relative_to_it(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "base.json").write_text((REPORTS / "scan-v1.json").read_text())
    (tmp_path / "ci" / "gate.toml").write_text('[gate]\nbaseline = "base.json"\nmax-increase = "0.1%"\n')
    r = run("check", REPORTS / "scan-v2.json", "--config", "ci/gate.toml", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["schema"] == "auditor.check/1" and data["baseline"] == "ci/base.json"
    assert data["budgets"][0]["variants"][0]["increases"][0]["delta"] == 5057941 - 5051948


def test_check_json_contract(tmp_path):
    (tmp_path / "auditor.toml").write_text(BUDGETS)
    data = json.loads(run("check", REPORTS / "scan-v1.json", "--format", "json", cwd=tmp_path).stdout)
    assert set(data) >= {"schema", "report", "baseline", "crate", "toolchain", "default_variant",
                         "passed", "summary", "variants", "budgets", "checks", "findings"}
    assert data["passed"] is True and data["summary"] == {"pass": 1, "fail": 0, "error": 0}
    b = data["budgets"][0]
    assert (b["name"], b["variant"], b["status"], b["line"]) == ("main", "min-size-z/default", "pass", 1)
    raw = b["variants"][0]["limits"][0]
    assert raw == {"metric": "raw", "unit": "bytes", "actual": 24169, "limit": 25600, "limit_text": "25 KiB",
                   "headroom": 1431, "headroom_percent": 5.59, "status": "pass", "note": None}
    assert data["checks"] == [{"rule": "AUD901", "target": "main: min-size-z/default", "status": "pass",
                               "message": "budget 'main' (min-size-z/default): within budget"}]
    assert [v["variant"] for v in data["variants"]][:2] == ["release/default", "opt-z/default"]


@pytest.mark.parametrize("value", ["nan%", "inf%", "-5%"])
def test_max_increase_must_be_finite_and_not_negative(tmp_path, value):
    r = run("check", REPORTS / "scan-v2.json", "--baseline", REPORTS / "scan-v1.json", "--max-increase", value,
            cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"max-increase: '{value}' is not a percentage >= 0" in r.stderr


def test_check_ci_formats_carry_budget_results(tmp_path):
    """github: annotation at the limit's config line + markdown job summary; junit and sarif."""
    import os
    import xml.etree.ElementTree as ET

    (tmp_path / "auditor.toml").write_text(BUDGETS)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    r = subprocess.run([sys.executable, "-m", "auditor", "check", str(REPORTS / "scan-v2.json"), "--format", "github"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert r.stdout.startswith("::error file=auditor.toml,line=4,title=AUD901 Size budget exceeded [min-size-z/default]::"
                               "budget 'main' (min-size-z/default): raw 30,891 B > limit 25 KiB")
    assert ",line=5," in r.stdout.splitlines()[1]  # gzip limit line
    assert summary.read_text().startswith("<!-- auditor-report -->\n## ❌ size budgets failed — demo")
    junit = ET.fromstring(run("check", REPORTS / "scan-v1.json", "--format", "junit", cwd=tmp_path).stdout)
    cases = junit.findall(".//testcase")
    assert len(cases) == 1 and cases[0].find("failure") is None
    junit = ET.fromstring(run("check", REPORTS / "scan-v2.json", "--format", "junit", cwd=tmp_path).stdout)
    assert junit.findall(".//testcase")[0].find("failure") is not None
    sarif = json.loads(run("check", REPORTS / "scan-v2.json", "--format", "sarif", cwd=tmp_path).stdout)
    results = sarif["runs"][0]["results"]
    assert [(x["ruleId"], x["locations"][0]["physicalLocation"]["region"]["startLine"]) for x in results] == [
        ("AUD901", 4), ("AUD901", 5)]
    assert "AUD901" in {rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]}


def test_global_allowance_skips_budgets_without_byte_limits(tmp_path):
    cfg = config(tmp_path, '[gate]\nmax-increase = "1%"\n[[budget]]\nname = "rt"\nvariant = "opt-z/default"\n'
                           'churn-slope = 0.5\n[[budget]]\nname = "own"\nvariant = "opt-z/default"\n'
                           'initial-pages = 17\nmax-increase = "1%"\n')
    r = evaluate(V2, cfg, V1)
    assert r.budgets[0].variants[0].increases == []  # runtime-only budget: no growth check
    [inc] = r.budgets[1].variants[0].increases  # its own max-increase: raw bytes
    assert (inc.metric, inc.status) == ("raw", "fail")


# ------------------------------------------------------------------ gate inputs, nothing to gate


def test_nothing_to_gate_is_a_usage_error_not_a_pass(tmp_path):
    """No budgets and no baseline allowance: a gate that cannot fail is a config mistake."""
    for args in ((), ("--baseline", REPORTS / "scan-v1.json")):
        r = run("check", REPORTS / "scan-v2.json", "--crate", tmp_path, *args, cwd=tmp_path)
        assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
        assert r.stderr == (f"auditor: {tmp_path}: nothing to check: no [[budget]] tables (no config file found) and "
                            "no --baseline with --max-increase (or gate.baseline with gate.max-increase); "
                            "--crate DIR or --config FILE says where the budgets are\n")
    r = run("check", REPORTS / "scan-v2.json", "--crate", tmp_path, "--baseline", REPORTS / "scan-v1.json",
            "--max-increase", "1%", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # the implicit budget: release/default grew 0.12%


def test_check_from_another_directory_reads_the_scanned_crates_budgets(tmp_path):
    """manifest_path is relative to where the scan ran; the absolute package_dir is not,
    so a CI step that checks from the repository root still gates the crate's budgets
    (and never a neighbouring Cargo.toml that happens to sit at the relative path)."""
    crate, elsewhere = tmp_path / "crate", tmp_path / "ci"
    crate.mkdir()
    elsewhere.mkdir()
    meta = '[package]\nname = "{}"\nversion = "0.1.0"\n[[package.metadata.auditor.budget]]\nname = "{}"\nraw = "{}"\n'
    (crate / "Cargo.toml").write_text(meta.format("demo", "crate-budget", "1 KiB"))
    (elsewhere / "Cargo.toml").write_text(meta.format("other", "cwd-budget", "10 MiB"))
    report = copy.deepcopy(V2)
    report["crate"].update(manifest_path="Cargo.toml", package_dir=str(crate))
    (elsewhere / "report.json").write_text(json.dumps(report))
    r = run("check", "report.json", "--format", "json", cwd=elsewhere)
    assert r.returncode == 1, r.stderr
    assert [b["name"] for b in json.loads(r.stdout)["budgets"]] == ["crate-budget"]
    # a report without package_dir (older, or made on another machine) keeps the old rule
    del report["crate"]["package_dir"]
    (elsewhere / "report.json").write_text(json.dumps(report))
    r = run("check", "report.json", "--format", "json", cwd=elsewhere)
    assert [b["name"] for b in json.loads(r.stdout)["budgets"]] == ["cwd-budget"]


def test_gate_inputs_checked_before_the_report_is_gated(tmp_path):
    from auditor.gate.budgets import prepare

    with pytest.raises(AuditorError, match="^--max-increase: unknown unit 'percent' in '5 percent'"):
        prepare(None, None, "5 percent")
    with pytest.raises(AuditorError, match="^file not found") as e:
        prepare(None, str(tmp_path / "base.json"), "5%")
    assert e.value.where == str(tmp_path / "base.json")
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "base.json").write_text((REPORTS / "scan-v1.json").read_text())
    (tmp_path / "ci" / "auditor.toml").write_text('[gate]\nbaseline = "base.json"\n')
    base, path = prepare(load_config(tmp_path / "ci"))
    # (shown relative to the working directory when that is shorter)
    assert Path(path).resolve() == (tmp_path / "ci" / "base.json").resolve() and base["crate"]["version"] == "0.1.0"
    # --baseline wins over gate.baseline (and is not resolved against the config file)
    with pytest.raises(AuditorError, match="^file not found") as e:
        prepare(load_config(tmp_path / "ci"), "other.json", None)
    assert e.value.where == "other.json"


def test_text_says_not_measured_and_shard_skips(tmp_path):
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "rt"\nvariant = "opt-z/default"\nchurn-slope = 0.5\n'
                                           '[[budget]]\nname = "talc"\nvariant = "release/talc"\nraw = "1 MiB"\n')
    no_rt = copy.deepcopy(V1)
    for v in no_rt["variants"]:
        v["runtime"] = None
    (tmp_path / "no-rt.json").write_text(json.dumps(no_rt))
    r = run("check", tmp_path / "no-rt.json", "--color", "never", cwd=tmp_path)
    assert r.returncode == 1
    row = next(l for l in r.stdout.splitlines() if "churn-slope" in l and "ERROR" in l)
    assert "not measured" in row and "unbounded" not in row
    # a shard holding neither variant: both budgets skipped there, and the text says so
    shard = copy.deepcopy(V1)
    shard["variants"] = [v for v in shard["variants"] if variant_id(v) in ("release/default", "min-size-z/default")]
    shard["shard"] = {"index": 1, "count": 2}
    (tmp_path / "shard.json").write_text(json.dumps(shard))
    r = run("check", tmp_path / "shard.json", "--color", "never", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"rt\s+opt-z/default\s+SKIP\s+no variant of this shard matches: gate the merged report", r.stdout)
