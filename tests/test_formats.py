"""markdown, sarif, junit and github formats: structure checked against their specs."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlparse

from auditor.findings import Check, Finding
from auditor.report import render
from auditor.report.formats import REGISTRY

from test_lint import MANIFESTS, run

SCHEMA = json.loads((MANIFESTS / "sarif-2.1.0-subset.schema.json").read_text())


# --------------------------------------------------------------------------- a small draft-04 validator


def validate(doc, schema=SCHEMA, root=SCHEMA, path="$") -> list[str]:
    """Errors of `doc` against a JSON schema (the keywords the SARIF schema uses)."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return validate(doc, root["definitions"][name], root, path)
    errs: list[str] = []
    types = schema.get("type")
    if types:
        types = types if isinstance(types, list) else [types]
        ok = {"object": isinstance(doc, dict), "array": isinstance(doc, list), "string": isinstance(doc, str),
              "integer": isinstance(doc, int) and not isinstance(doc, bool),
              "number": isinstance(doc, (int, float)) and not isinstance(doc, bool),
              "boolean": isinstance(doc, bool), "null": doc is None}
        if not any(ok[t] for t in types):
            return [f"{path}: expected {types}, got {type(doc).__name__}"]
    if "enum" in schema and doc not in schema["enum"]:
        errs.append(f"{path}: {doc!r} not in {schema['enum']}")
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        if "minimum" in schema and doc < schema["minimum"]:
            errs.append(f"{path}: {doc} < {schema['minimum']}")
        if "maximum" in schema and doc > schema["maximum"]:
            errs.append(f"{path}: {doc} > {schema['maximum']}")
    if isinstance(doc, str):
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            errs.append(f"{path}: {doc!r} does not match {schema['pattern']}")
        fmt = schema.get("format")
        if fmt == "uri" and not urlparse(doc).scheme:
            errs.append(f"{path}: {doc!r} is not an absolute URI")
        if fmt in ("uri", "uri-reference") and re.search(r"[\s\\]", doc):
            errs.append(f"{path}: {doc!r} is not a URI reference")
    if isinstance(doc, dict):
        for req in schema.get("required", []):
            if req not in doc:
                errs.append(f"{path}: missing {req!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in doc.items():
            if k in props:
                errs += validate(v, props[k], root, f"{path}.{k}")
            elif extra is False:
                errs.append(f"{path}: unexpected member {k!r}")
            elif isinstance(extra, dict):
                errs += validate(v, extra, root, f"{path}.{k}")
    if isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(x, sort_keys=True) for x in doc}) != len(doc):
            errs.append(f"{path}: items not unique")
        if "items" in schema:
            for i, x in enumerate(doc):
                errs += validate(x, schema["items"], root, f"{path}[{i}]")
    if "anyOf" in schema and not any(not validate(doc, s, root, path) for s in schema["anyOf"]):
        errs.append(f"{path}: matches none of anyOf")
    return errs


def test_validator_rejects_what_sarif_forbids():
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
        {"message": {"text": "m"}, "level": "error",
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a/b.toml"}, "region": {"startLine": 3}}}]}]}]}
    assert validate(good) == []
    for mutate, why in [
        (lambda d: d.update(version="2.0"), "not in"),
        (lambda d: d["runs"][0]["results"][0].update(level="fatal"), "not in"),
        (lambda d: d["runs"][0]["results"][0].pop("message"), "missing 'message'"),
        (lambda d: d["runs"][0]["results"][0]["message"].pop("text"), "anyOf"),
        (lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].update(startLine=0), "< 1"),
        (lambda d: d["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(reg={}), "unexpected"),
        (lambda d: d["runs"][0]["tool"]["driver"].update(informationUri="no scheme"), "URI"),
        (lambda d: d["runs"][0]["tool"].pop("driver"), "missing 'driver'"),
    ]:
        doc = json.loads(json.dumps(good))
        mutate(doc)
        errs = validate(doc)
        assert errs and any(why in e for e in errs), (why, errs)


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
    assert validate(doc) == []
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


def test_sarif_any_result_kind(tmp_path):
    doc = json.loads(render(fake_scan(), "sarif"))
    assert validate(doc) == []
    results = doc["runs"][0]["results"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "file:///abs/dir%20with%20space/app.wasm"
    assert "region" not in results[0]["locations"][0]["physicalLocation"]
    assert results[0]["properties"]["variant"] == "opt-z/wee_alloc"
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "target/x%2Cy%3Az.wasm"
    made_up = [r for r in doc["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "AUD999"][0]
    assert made_up["shortDescription"]["text"] == "Made-up rule" and made_up["help"]["text"] == "do this"


# --------------------------------------------------------------------------- junit


def test_junit_one_testcase_per_check(tmp_path):
    res = lint_result(tmp_path)
    root = ET.fromstring(render(res, "junit"))
    assert root.tag == "testsuites"
    cases = root.findall("testsuite/testcase")
    assert len(cases) == len(res.checks) == int(root.get("tests"))
    failed = {c.get("classname").split(".")[-1] for c in cases if c.find("failure") is not None}
    assert failed == {"AUD101", "AUD110", "AUD111"}  # AUD112 is a note: passes with system-out
    note = [c for c in cases if c.get("classname").endswith("AUD112")][0]
    assert note.find("failure") is None and "stack is rustc's default" in note.find("system-out").text
    wee = [c for c in cases if c.get("classname").endswith("AUD110")][0]
    assert wee.find("failure").get("type") == "error" and wee.get("file") == "Cargo.toml"
    assert root.get("failures") == "3" and root.get("errors") == "0"


def test_junit_errors_for_unmeasured_and_suites_per_target():
    root = ET.fromstring(render(fake_scan(), "junit"))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"auditor fakescan: opt-z/wee_alloc", "auditor fakescan: release/default"}
    rd = suites["auditor fakescan: release/default"]
    assert (rd.get("tests"), rd.get("failures"), rd.get("errors")) == ("3", "0", "1")
    err = [c for c in rd.findall("testcase") if c.find("error") is not None][0]
    assert "AUD501" in err.get("classname") and "not measured" in err.find("error").get("message")
    ow = suites["auditor fakescan: opt-z/wee_alloc"]
    assert ow.get("failures") == "2"


def test_junit_without_checks_makes_a_case_per_finding():
    r = fake_scan()
    r.checks = []
    root = ET.fromstring(render(r, "junit"))
    assert len(root.findall("testsuite/testcase")) == 3


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
