"""Saved reports: malformed, foreign, older and newer files stop with exit 2 and say why."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.gate.report import load_report, variant_id

import clirun

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
SCAN = json.loads((REPORTS / "scan-v1.json").read_text())


def run(*args, cwd=None):
    """The CLI in-process (tests/clirun.py)."""
    return clirun.run(args, cwd=cwd)


def test_fixture_reports_load():
    scan = load_report(REPORTS / "scan-v1.json")
    assert [variant_id(v) for v in scan["variants"]] == [
        "release/default", "opt-z/default", "release/talc", "opt-z/bump", "min-size-z/default"]
    assert load_report(REPORTS / "inspect-v1.json")["schema"] == "auditor.inspect/1"


def test_fixture_figures_match_the_real_module():
    """The hand-made report carries the real module's figures (checked with wasm-objdump)."""
    from objdump import code_sizes

    wasm = REPORTS / "demo-0.1.0-opt-z.wasm"
    record = next(v for v in SCAN["variants"] if variant_id(v) == "opt-z/default")["wasm"]
    assert record["bytes"] == wasm.stat().st_size
    assert {f["index"]: f["size"] for f in record["functions"]} == code_sizes(wasm)


def _write(tmp_path: Path, name: str, content) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return p


def _broken(mutate):
    obj = copy.deepcopy(SCAN)
    mutate(obj)
    return obj


def _del(path):
    def mutate(obj):
        cur = obj
        for p in path[:-1]:
            cur = cur[p]
        del cur[path[-1]]
    return mutate


def _set(path, value):
    def mutate(obj):
        cur = obj
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
    return mutate


MALFORMED = [
    ("not-json", '{"schema": "auditor.scan/1",\n  "variants": [}\n', "2:16", "not valid JSON"),
    ("empty", "", None, "empty file"),
    ("latin1", b'{"schema": "\xff"}', None, "not UTF-8 text (byte offset 12)"),
    ("array", "[1, 2]", None, "expected a JSON object (an auditor report), got an array"),
    ("no-schema", {"variants": []}, None, "missing field 'schema'"),
    ("foreign-schema", {"schema": "https://json-schema.org/draft/2020-12"}, None, "is not an auditor report schema"),
    ("run-report", {"schema": "auditor.run/1"}, None, "is a run report (auditor.run/1); expected auditor.scan/1"),
    ("no-variants", _broken(_del(["variants"])), None, "missing field 'variants'"),
    ("no-bytes", _broken(_del(["variants", 1, "wasm", "bytes"])), None, "variants[1].wasm: missing field 'bytes'"),
    ("bad-status", _broken(_set(["variants", 0, "status"], "built")), None, 'variants[0]: status must be "ok" or "failed"'),
    ("string-size", _broken(_set(["variants", 3, "wasm", "gzip"], "11 kB")), None,
     "variants[3].wasm: field 'gzip' must be a number or null, got a string"),
    ("bool-size", _broken(_set(["variants", 3, "wasm", "sections", 2, "size"], True)), None,
     "variants[3].wasm: sections[2]: field 'size' must be a number, got a boolean"),
    ("dup-variant", _broken(lambda o: o["variants"].append(copy.deepcopy(o["variants"][0]))), None,
     "variants[5]: variant release/default appears twice (also variants[0])"),
    ("ok-without-wasm", _broken(_set(["variants", 1, "wasm"], None)), None,
     "variants[1]: field 'wasm' must be an object, got null"),
    ("negative-size", _broken(_set(["variants", 1, "wasm", "bytes"], -40379)), None,
     "variants[1].wasm: field 'bytes' must not be negative, got -40379"),
    ("negative-function", _broken(_set(["variants", 4, "wasm", "functions", 0, "size"], -1)), None,
     "variants[4].wasm: functions[0]: field 'size' must not be negative, got -1"),
    ("negative-pages", _broken(_set(["variants", 4, "wasm", "memories", 0, "max_pages"], -2)), None,
     "variants[4].wasm: memories[0]: field 'max_pages' must not be negative, got -2"),
]


@pytest.mark.parametrize("name,content,position,problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_report_exit_2_names_file_and_problem(tmp_path, name, content, position, problem):
    path = _write(tmp_path, f"{name}.json", content)
    with pytest.raises(AuditorError) as e:
        load_report(path, kinds=("scan",))
    assert problem in e.value.what
    assert e.value.where == (f"{path}:{position}" if position else str(path))
    r = run("check", path, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and str(path) in r.stderr and problem in r.stderr


def test_a_module_is_not_a_report_but_check_gates_it(tmp_path):
    """load_report refuses a .wasm; `auditor check` gates it as a module (issue 11): with no
    budget it has nothing to check (exit 2), with --budget it measures the file's bytes."""
    path = _write(tmp_path, "empty.wasm", b"\0asm\x01\0\0\0")
    with pytest.raises(AuditorError) as e:
        load_report(path, kinds=("scan",))
    assert "is a .wasm module" in e.value.what
    r = run("check", path, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and "nothing to check" in r.stderr
    assert r.stderr.count("\n") == 1
    r = run("check", path, "--budget", "raw<=8 B", "--format", "json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = run("check", path, "--budget", "raw<=7 B", cwd=tmp_path)
    assert r.returncode == 1 and "8 B > limit" in r.stdout


def test_older_schema_is_refused_with_a_clear_message(tmp_path):
    old = _write(tmp_path, "old.json", _broken(_set(["schema"], "auditor.scan/0")))
    r = run("check", old, cwd=tmp_path)
    assert r.returncode == 2
    assert ("old.json: report schema auditor.scan/0 is older than this auditor reads (auditor.scan/1); "
            "re-create the report with this version of auditor") in r.stderr


def test_newer_schema_is_refused(tmp_path):
    new = _write(tmp_path, "new.json", _broken(_set(["schema"], "auditor.scan/2")))
    with pytest.raises(AuditorError, match="newer than this auditor reads .*upgrade auditor"):
        load_report(new)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AuditorError, match="^file not found"):
        load_report(tmp_path / "nope.json")
    with pytest.raises(AuditorError, match="is a directory"):
        load_report(tmp_path)


def test_inspect_report_where_only_scan_is_accepted():
    with pytest.raises(AuditorError, match=r"is an inspect report \(auditor.inspect/1\); expected auditor.scan/1"):
        load_report(REPORTS / "inspect-v1.json", kinds=("scan",))


def test_baseline_is_validated_too(tmp_path):
    bad = _write(tmp_path, "base.json", "{")
    r = run("check", REPORTS / "scan-v1.json", "--baseline", bad, cwd=tmp_path)
    assert r.returncode == 2 and f"{bad}:1:2: not valid JSON" in r.stderr
