"""examples/: valid YAML, every auditor option they use exists, and the gate steps run."""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from auditor.gate.report import load_report, variant_id
from auditor.gate.shard import select
from auditor.report.markdown_blocks import MARKER

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REPORTS = ROOT / "fixtures" / "reports"
GITHUB = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
GITLAB = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
PRECOMMIT = yaml.safe_load((EXAMPLES / "pre-commit-config.yaml").read_text())
BUDGET = '[[budget]]\nname = "main"\nvariant = "min-size-z/default"\nraw = "28 KiB"\n'


def scripts() -> list[str]:
    out = [s["run"] for job in GITHUB["jobs"].values() for s in job["steps"] if "run" in s]
    for job in GITLAB.values():
        if isinstance(job, dict):
            out += job.get("script", []) + job.get("before_script", []) + job.get("after_script", [])
    return out


def schema(name: str) -> dict:
    """SchemaStore's schema, as vendored in the check-jsonschema wheel (a test dependency)."""
    from importlib.resources import files

    return json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text())


def test_examples_match_the_platforms_schemas():
    import jsonschema

    for doc, name in ((GITHUB, "github-workflows.json"), (GITLAB, "gitlab-ci.json")):
        # PyYAML reads `on:` as True (YAML 1.1); the schema wants the key as written
        doc = {("on" if k is True else k): v for k, v in doc.items()}
        validator = jsonschema.Draft7Validator(schema(name))
        assert [e.message for e in validator.iter_errors(doc)] == [], name
    broken = {**GITLAB, "scan": {**GITLAB["scan"], "rules": [{"iff": "x"}]}}
    assert list(jsonschema.Draft7Validator(schema("gitlab-ci.json")).iter_errors(broken))


def auditor_commands() -> list[list[str]]:
    cmds = []
    for script in scripts():
        text = script.replace("\\\n", " ")
        for m in re.finditer(r"(?:^|[\s;(])auditor\s+([^\n;|&]+)", text):
            cmds.append(shlex.split(m.group(1).replace("$", "X")))
    return cmds


def test_workflow_shape():
    assert set(GITHUB[True]) == {"pull_request", "push"}  # `on:` is YAML 1.1's True
    scan, gate = GITHUB["jobs"]["scan"], GITHUB["jobs"]["gate"]
    assert gate["needs"] == "scan"
    assert len(scan["strategy"]["matrix"]["shard"]) == GITHUB["env"]["SHARDS"]
    assert "pull_request.base.sha" in scan["steps"][0]["with"]["ref"]  # baseline built on the base branch
    script = next(s for s in gate["steps"] if s.get("uses", "").startswith("actions/github-script"))["with"]["script"]
    assert f"const marker = '{MARKER}';" in script and "updateComment" in script
    assert GITLAB["scan"]["parallel"] >= 2 and GITLAB["gate"]["artifacts"]["reports"]["junit"] == "budgets.xml"


def test_examples_install_from_the_repository():
    """wasm-auditor is not on PyPI: both examples pip-install the repository at a tag."""
    texts = [(EXAMPLES / n).read_text() for n in ("github-actions.yml", "gitlab-ci.yml")]
    for text in texts:
        assert "pip install wasm-auditor" not in text and "install -q wasm-auditor" not in text
    assert GITHUB["env"]["AUDITOR"].startswith("git+https://github.com/wasm-auditor/auditor@v")
    assert GITLAB["variables"]["AUDITOR"] == GITHUB["env"]["AUDITOR"]
    installs = [l for l in scripts() if "pip install" in l]
    assert installs and all('"$AUDITOR"' in l for l in installs)


def test_github_cache_key_is_bounded_and_pruned():
    steps = GITHUB["jobs"]["scan"]["steps"]
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert "github.sha" not in restore["with"]["key"] and "hashFiles('**/Cargo.lock'" in restore["with"]["key"]
    assert save["if"] == "steps.cache.outputs.cache-hit != 'true'"
    assert save["with"]["key"] == "${{ steps.cache.outputs.cache-primary-key }}"
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("Prune the cache to the variants this shard used") < names.index("actions/cache/save@v4")
    assert "CI_COMMIT_SHA" not in json.dumps(GITLAB[".auditor"]["cache"])
    assert GITLAB[".auditor"]["cache"]["key"]["files"] == ["Cargo.lock", "Cargo.toml"]


def test_github_sarif_uploads_have_distinct_categories():
    steps = GITHUB["jobs"]["scan"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert "${{ matrix.shard }}" in upload["with"]["category"]  # one category per shard upload
    assert GITHUB["permissions"]["security-events"] == "write"


def test_every_check_passes_without_budgets_and_gitlab_gates_merge_requests():
    checks = [c for c in auditor_commands() if c[0] == "check"]
    assert checks and all("--if-configured" in c for c in checks)
    mr = '$CI_PIPELINE_SOURCE == "merge_request_event"'
    for job in ("scan", "baseline", "gate"):
        assert any(r.get("if") == mr for r in GITLAB[job]["rules"]), job
    for job in ("scan", "gate"):  # and on the default branch, where there is no baseline
        assert any(r.get("if") == "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" for r in GITLAB[job]["rules"])
    base = "\n".join(GITLAB["baseline"]["script"])
    assert "CI_MERGE_REQUEST_DIFF_BASE_SHA" in base and "TARGET_BRANCH_NAME" not in base


def _prune_snippets() -> list[str]:
    gh = next(s["run"] for s in GITHUB["jobs"]["scan"]["steps"] if s.get("name", "").startswith("Prune"))
    gl = GITLAB[".auditor"]["after_script"][0]
    return [gh, gl]


def test_prune_snippets_keep_what_the_report_used(tmp_path):
    """Both examples' prune commands on a cache with a used and a stale entry."""
    for i, snippet in enumerate(_prune_snippets()):
        work = tmp_path / str(i)
        cache = work / ".cache" / "auditor"
        used, stale = cache / "variants/aa/aa11", cache / "variants/bb/bb22"
        for d in (used, stale):
            d.mkdir(parents=True)
            (d / "module.wasm").write_bytes(b"\0asm")
        report = {"variants": [{"wasm_path": str(used / "module.wasm"), "probes_path": None}]}
        (work / "head-1.json").write_text(json.dumps(report))
        cmd = re.sub(r"(/opt/auditor/bin/python|python3) -c", f"{sys.executable} -c", snippet)
        cmd = cmd.replace("~/.cache/auditor-scan", str(cache)).replace("${{ matrix.side }}-${{ matrix.shard }}", "head-1")
        cmd = cmd.replace("|| true", "")  # GitLab's after_script must not fail the job; here it must work
        r = subprocess.run(["bash", "-e", "-c", cmd], cwd=work, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert used.is_dir() and not stale.exists(), i
    hooks = [h["id"] for repo in PRECOMMIT["repos"] for h in repo["hooks"]]
    provided = [h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())]
    assert hooks == ["auditor-lint", "auditor-scan"] and set(hooks) <= set(provided)


def test_every_auditor_option_used_exists():
    cmds = auditor_commands()
    assert {c[0] for c in cmds} == {"scan", "merge", "check"}
    for cmd in cmds:
        params = importlib.import_module(f"auditor.commands.{cmd[0]}").command.params
        known = {o for p in params for o in p.opts}
        used = {a.split("=")[0] for a in cmd[1:] if a.startswith("-")}
        assert used <= known, (cmd, used - known)
    hook_args = PRECOMMIT["repos"][0]["hooks"][1]["args"]
    known = {o for p in importlib.import_module("auditor.commands.scan").command.params for o in p.opts}
    assert {a for a in hook_args if a.startswith("-")} <= known


def _shards(report: dict, prefix: str, n: int, where: Path) -> None:
    ids = [variant_id(v) for v in report["variants"]]
    for k in range(1, n + 1):
        r = copy.deepcopy(report)
        r["variants"] = [v for v in r["variants"] if variant_id(v) in set(select(ids, k, n))]
        r["shard"] = {"index": k, "count": n}
        (where / f"{prefix}-{k}.json").write_text(json.dumps(r))


def _run_steps(steps: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", "\n".join(steps)], cwd=cwd, env=env, capture_output=True, text=True)


def test_github_gate_job_runs(tmp_path):
    """The gate job's own shell steps on shard reports: merge, annotate, comment, status."""
    (tmp_path / "auditor.toml").write_text(BUDGET)
    _shards(load_report(REPORTS / "scan-v2.json"), "head", 3, tmp_path)
    _shards(load_report(REPORTS / "scan-v1.json"), "base", 3, tmp_path)
    steps = {s.get("name"): s["run"] for s in GITHUB["jobs"]["gate"]["steps"] if "run" in s}
    env = {**os.environ, "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    r = _run_steps([steps["Merge the shards"], steps["Gate on the budgets"]], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_text() == "status=1\n"  # 30,891 B > 28 KiB, +27.8% > 5%
    assert "::error file=auditor.toml,line=4," in r.stdout
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith(MARKER + "\n## ❌ size budgets failed")
    assert "▲ +6,722 B (+27.8%)" in comment and "Δ raw vs baseline" in comment
    assert (tmp_path / "summary").read_text().startswith(MARKER)


def test_gitlab_gate_job_runs(tmp_path):
    (tmp_path / "auditor.toml").write_text(BUDGET.replace("28 KiB", "40 KiB"))
    _shards(load_report(REPORTS / "scan-v2.json"), "head", 3, tmp_path)
    (tmp_path / "baseline.json").write_text((REPORTS / "scan-v1.json").read_text())
    r = _run_steps(GITLAB["gate"]["script"], tmp_path, dict(os.environ))
    assert r.returncode == 1  # within 40 KiB, but +27.8% over the baseline's 5%
    assert "raw grew +6,722 B (+27.8%) over the baseline" in r.stdout
    junit = (tmp_path / "budgets.xml").read_text()
    assert junit.startswith("<?xml") and "AUD902" in junit
    (tmp_path / "baseline.json").unlink()
    assert _run_steps(GITLAB["gate"]["script"], tmp_path, dict(os.environ)).returncode == 0


def test_gate_jobs_pass_a_crate_without_budgets(tmp_path):
    """A push to main before anyone wrote a [[budget]]: a notice, exit 0 (not exit 2)."""
    _shards(load_report(REPORTS / "scan-v2.json"), "head", 3, tmp_path)
    env = {**os.environ, "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    r = _run_steps(GITLAB["gate"]["script"], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert "notice: no [[budget]] tables" in r.stderr
    assert ET_tests(tmp_path / "budgets.xml") == ("0", "0")
    steps = {s.get("name"): s["run"] for s in GITHUB["jobs"]["gate"]["steps"] if "run" in s}
    r = _run_steps([steps["Merge the shards"], steps["Gate on the budgets"]], tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_text() == "status=0\n"
    assert "::notice title=auditor check::" in r.stdout


def ET_tests(path: Path) -> tuple[str | None, str | None]:  # noqa: N802
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    return root.get("tests"), root.get("failures")
