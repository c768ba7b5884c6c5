"""`auditor config`: effective values with their sources, and config errors at exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import clirun
from test_lint import run, write


def test_config_text_json_markdown(tmp_path):
    write(tmp_path / "Cargo.toml", """
        [workspace]
        members = ["app"]
        [workspace.metadata.auditor.scan]
        jobs = 2
    """)
    write(tmp_path / "app/Cargo.toml", """
        [package]
        name = "app"
        version = "0.1.0"
        [package.metadata.auditor]
        scan.jobs = 1
        rules.AUD103 = "error"
        [[package.metadata.auditor.budget]]
        name = "main"
        raw = "150 KiB"
    """)
    write(tmp_path / ".auditor.toml", "[runtime]\nmemory-limit = \"4 MiB\"\n")
    r = run("config", "app", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# effective auditor configuration for app"
    assert any(l.startswith("scan.jobs = 1 ") and l.endswith("# app/Cargo.toml:5 [package.metadata.auditor]") for l in lines)
    assert any(l.startswith('runtime.memory-limit = "4 MiB" ') and l.endswith("# .auditor.toml:2") for l in lines)
    assert any(l.startswith('budget = [{ name = "main", raw = "150 KiB" }]') for l in lines)
    assert not any(l.startswith("scan.jobs = 2") for l in lines)  # shadowed by the package
    js = json.loads(run("config", "app", "--format", "json", cwd=tmp_path).stdout)
    assert js["schema"] == "auditor.config/1"
    jobs = [v for v in js["values"] if v["key"] == "scan.jobs"][0]
    assert jobs == {"key": "scan.jobs", "value": 1, "source": "app/Cargo.toml [package.metadata.auditor]",
                    "file": "app/Cargo.toml", "line": 5}
    md = run("config", "app", "--format", "markdown", cwd=tmp_path).stdout
    assert "| `rules.AUD103` | `\"error\"` | app/Cargo.toml [package.metadata.auditor] | `app/Cargo.toml:6` |" in md


def test_config_errors_exit_2_with_location(tmp_path):
    write(tmp_path / "Cargo.toml", '[package]\nname = "a"\nversion = "0.1.0"\n\n[package.metadata.auditor.scan]\nprofiles = ["x"]\nparallel = 3\n')
    r = run("config", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "auditor: Cargo.toml:7:1: unknown config key 'parallel' in [scan] "
        "(known: allocators, build-std, default-variant, jobs, profiles, registry-allocators, runtime)"]
    r = run("config", "--config", "missing.toml", cwd=tmp_path)
    assert r.returncode == 2 and "missing.toml: config file not found" in r.stderr
    write(tmp_path / "src/lib.rs", "")
    r = run("lint", cwd=tmp_path)  # lint reads the same config and fails the same way
    assert r.returncode == 2 and "Cargo.toml:7:1: unknown config key 'parallel'" in r.stderr


def test_config_shows_built_in_defaults_for_unset_keys():

    from auditor.runtime.api import RuntimeOptions

    repo = Path(__file__).resolve().parents[1]
    proc = clirun.run(["config", "--format", "json", repo / "fixtures/crates/demo"])
    assert proc.returncode == 0, proc.stderr
    j = json.loads(proc.stdout)
    defaults = j["defaults"]
    assert "runtime.memory-limit" not in defaults  # the demo crate sets it
    assert defaults["runtime.churn-rounds"] == RuntimeOptions().churn_rounds
    assert defaults["scan.profiles"][0] == "release" and "min-size-z" in defaults["scan.profiles"]
    assert "scan.allocators" not in defaults  # set by the demo crate too
    text = clirun.run(["config", repo / "fixtures/crates/demo"]).stdout
    assert "runtime.seed = 1" in text and "# built-in default" in text
