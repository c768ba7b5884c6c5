"""`.ci/run` runs exactly the README's test command, prints its wall time, and passes
pytest's verdict through untouched (exit 5, "no tests collected", fails CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_COMMAND = re.compile(r"^(\.venv/bin/python -m pytest[^|#\n]*?)\s*(?:\|\||#|$)", re.M)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    setup = TEST_COMMAND.findall(_section(readme, "Set up"))
    development = TEST_COMMAND.findall(_section(readme, "Development"))
    ci = TEST_COMMAND.findall((REPO / ".ci" / "run").read_text())
    assert len(set(setup)) == 1 and len(ci) == 1, (setup, ci)
    assert set(development) == set(setup) == set(ci)


@pytest.mark.parametrize("pytest_exit", [0, 1, 5])
def test_ci_run_passes_the_suite_exit_code_through_and_prints_wall_time(tmp_path, pytest_exit):
    (tmp_path / ".ci").mkdir()
    shutil.copy2(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "ran: $*" > "{tmp_path}/ran"\nexit {pytest_exit}\n')
    fake.chmod(0o755)
    for checker in ("ruff", "mypy"):  # the lint and type steps that run before the suite
        (fake.parent / checker).write_text(f'#!/bin/sh\necho "$*" >> "{tmp_path}/{checker}.ran"\nexit 0\n')
        (fake.parent / checker).chmod(0o755)
    proc = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == pytest_exit, proc.stderr
    assert re.search(rf"test suite: exit {pytest_exit}, wall time 0 min \d+ s \(\d+ s\)", proc.stderr), proc.stderr
    command = TEST_COMMAND.findall((REPO / ".ci" / "run").read_text())[0]
    assert (tmp_path / "ran").read_text() == f"ran: {command.split(' ', 1)[1]}\n"
    # both checkers ran, on the whole tree (their configuration is pyproject's)
    assert (tmp_path / "ruff.ran").read_text() == "check .\n"
    assert (tmp_path / "mypy.ran").read_text() == "\n"


@pytest.mark.parametrize("checker", ["ruff", "mypy"])
def test_a_lint_or_type_failure_fails_ci_before_the_suite(tmp_path, checker):
    (tmp_path / ".ci").mkdir()
    shutil.copy2(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name in ("python", "ruff", "mypy"):
        code = 1 if name == checker else 0
        (bin_ / name).write_text(f'#!/bin/sh\necho "{name}" >> "{tmp_path}/ran"\nexit {code}\n')
        (bin_ / name).chmod(0o755)
    proc = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "python" not in (tmp_path / "ran").read_text().split()
