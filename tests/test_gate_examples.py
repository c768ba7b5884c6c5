"""examples/: valid YAML, every auditor option they use exists, and the gate steps run."""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shlex
import subprocess
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
            out += job.get("script", []) + job.get("before_script", [])
    return out


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
