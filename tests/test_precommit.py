"""Real pre-commit (from PyPI) running this repository's hooks in a throwaway git repo.

pre-commit clones the hook repository at a commit and pip-installs it into its own
virtualenv, so the hooks are tested exactly as users get them: the lint hook at commit,
the scan hook by hand (manual stage) and on `git push` (pre-push stage). The hook repository is
a temporary commit of the current tree (the package, rules/ and .pre-commit-hooks.yaml),
so the test also works on a fresh CI clone and before anything is pushed. Installing
the environment takes most of the time (pip, wasmtime's wheel): one test does it once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "fixtures" / "manifests"
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
GIT_ID = ["-c", "user.name=auditor tests", "-c", "user.email=tests@example.invalid", "-c", "commit.gpgsign=false"]


def git(cwd: Path, *args: str, check: bool = True, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, check=check, env=env,
                          stdin=subprocess.DEVNULL)


def pre_commit(cwd: Path, *args: str, env) -> subprocess.CompletedProcess:
    # no stdin, as in CI: cargo runs `rustc -`, which reads whatever stdin the test inherited
    return subprocess.run([*PRE_COMMIT, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def hook_repository(dest: Path) -> tuple[Path, str]:
    """A git repo holding the installable package and the hook manifest, at one commit."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "auditor", dest / "auditor", ignore=ignore)
    shutil.copytree(REPO / "rules", dest / "rules", ignore=ignore)
    for name in ("pyproject.toml", ".pre-commit-hooks.yaml"):
        shutil.copy2(REPO / name, dest / name)
    readme = REPO / "README.md"
    if readme.is_file():
        shutil.copy2(readme, dest / "README.md")
    else:  # pyproject names a readme; the lead writes the real one
        (dest / "README.md").write_text("auditor\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "hooks under test")
    return dest, git(dest, "rev-parse", "HEAD").stdout.strip()


def user_repository(dest: Path, hooks: Path, rev: str, crate: str, scan_args: list[str]) -> Path:
    dest.mkdir()
    git(dest, "init", "-q", "-b", "main")
    shutil.copytree(MANIFESTS / crate, dest / "crate")
    (dest / "notes.txt").write_text("not a manifest\n")
    args = ", ".join(f'"{a}"' for a in scan_args)
    (dest / ".pre-commit-config.yaml").write_text(textwrap.dedent(f"""\
        repos:
          - repo: {hooks}
            rev: {rev}
            hooks:
              - id: auditor-lint
              - id: auditor-scan
                args: [{args}]
    """))
    return dest


def test_pre_commit_hooks_end_to_end(tmp_path):
    home = tmp_path / "pre-commit-home"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "CARGO": "/usr/bin/cargo", "RUSTC": "/usr/bin/rustc",
           "AUDITOR_CACHE_DIR": str(tmp_path / "scan-cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "NO_COLOR", "GITHUB_STEP_SUMMARY",
                "AUDITOR_RULES_DIR", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(var, None)
    hooks, rev = hook_repository(tmp_path / "hooks")
    scan_args = ["crate", "--profiles", "release", "--allocators", "default", "--no-runtime",
                 "--compression", "none", "-q"]

    # --- fail: wee_alloc dependency (AUD110, error) -----------------------------------
    bad = user_repository(tmp_path / "bad", hooks, rev, "untuned", scan_args)
    git(bad, "add", "-A")
    t0 = time.monotonic()
    r = pre_commit(bad, "run", "--all-files", env=env)
    install_and_run = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "auditor lint (Cargo.toml size profile)" in out and "Failed" in out
    assert "crate/Cargo.toml:10:1: AUD110 error:" in out
    assert "auditor scan (wasm size budgets)" not in out  # pre-push/manual only
    print(f"\npre-commit env install + first lint run: {install_and_run:.1f} s")

    # the installed git hook blocks the commit, then lets the fixed manifest through
    assert pre_commit(bad, "install", env=env).returncode == 0
    c = git(bad, "commit", "-m", "add crate", check=False, env=env)
    assert c.returncode != 0 and "AUD110" in c.stdout + c.stderr
    shutil.copy2(MANIFESTS / "tuned/Cargo.toml", bad / "crate/Cargo.toml")
    git(bad, "add", "-A")
    t0 = time.monotonic()
    c = git(bad, "commit", "-m", "tuned crate", check=False, env=env)
    warm = time.monotonic() - t0
    assert c.returncode == 0, c.stdout + c.stderr
    assert "auditor lint (Cargo.toml size profile)" in c.stdout + c.stderr and "Passed" in c.stdout + c.stderr
    print(f"warm commit with the lint hook: {warm:.2f} s")

    # a commit without Cargo.toml changes does not run the linter at all
    (bad / "notes.txt").write_text("changed\n")
    git(bad, "add", "notes.txt")
    c = git(bad, "commit", "-m", "notes", env=env)
    assert "(no files to check)Skipped" in c.stdout + c.stderr

    # --- pass: the tuned crate, and the manual-stage scan with budgets ---------------------
    good = user_repository(tmp_path / "good", hooks, rev, "tuned", scan_args)
    with open(good / "crate/Cargo.toml", "a") as f:
        f.write('\n[[package.metadata.auditor.budget]]\nname = "main"\nvariant = "release/default"\nraw = "1 MiB"\n')
    git(good, "add", "-A")
    r = pre_commit(good, "run", "--all-files", env=env)
    assert r.returncode == 0 and "Passed" in r.stdout, r.stdout + r.stderr
    t0 = time.monotonic()
    r = pre_commit(good, "run", "--hook-stage", "manual", "auditor-scan", env=env)
    scan_time = time.monotonic() - t0
    assert r.returncode == 0 and "auditor scan (wasm size budgets)" in r.stdout and "Passed" in r.stdout, \
        r.stdout + r.stderr
    print(f"manual-stage scan with a passing budget: {scan_time:.1f} s")

    text = (good / "crate/Cargo.toml").read_text().replace('raw = "1 MiB"', 'raw = "100 B"')
    (good / "crate/Cargo.toml").write_text(text)
    git(good, "add", "-A")
    r = pre_commit(good, "run", "--hook-stage", "manual", "auditor-scan", env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "Failed" in out, out
    raw_line = text.splitlines().index('raw = "100 B"') + 1
    assert f"crate/Cargo.toml:{raw_line}: AUD901 error" in out  # the breached limit, at its line

    # --- the pre-push stage: git push runs the scan hook and is blocked by the breach ------
    (good / "crate/Cargo.toml").write_text(text.replace('raw = "100 B"', 'raw = "1 MiB"'))
    git(good, "commit", "-q", "-am", "budget 1 MiB")
    git(good, "init", "-q", "--bare", str(tmp_path / "remote.git"))
    git(good, "remote", "add", "origin", str(tmp_path / "remote.git"))
    assert pre_commit(good, "install", "--hook-type", "pre-push", env=env).returncode == 0
    t0 = time.monotonic()
    p = git(good, "push", "-q", "origin", "main", check=False, env=env)
    assert p.returncode == 0 and "auditor scan (wasm size budgets)" in p.stdout + p.stderr, p.stdout + p.stderr
    print(f"git push with the pre-push scan hook: {time.monotonic() - t0:.1f} s")
    (good / "crate/Cargo.toml").write_text(text)
    git(good, "commit", "-q", "-am", "budget 100 B")
    p = git(good, "push", "-q", "origin", "main", check=False, env=env)
    assert p.returncode != 0 and f"crate/Cargo.toml:{raw_line}: AUD901 error" in p.stdout + p.stderr
    remote_head = git(good, "ls-remote", str(tmp_path / "remote.git"), "main").stdout.split()[0]
    assert remote_head == git(good, "rev-parse", "HEAD~1").stdout.strip()  # the breach never left
