"""The Dockerfile cannot be built here (no Docker engine); check it statically and check
that it installs auditor the way the README does (through scripts/setup.sh)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_base_image_is_pinned_rust_with_wasm32_target():
    froms = [rest for op, rest in instructions() if op == "FROM"]
    assert len(froms) == 1
    m = re.fullmatch(r"rust:(\d+)\.(\d+)\.\d+-[a-z-]+", froms[0])
    assert m, froms[0]
    assert (int(m[1]), int(m[2])) >= (1, 85), "edition-2024 crates need Rust >= 1.85"
    runs = " ".join(rest for op, rest in instructions() if op == "RUN")
    assert "rustup target add wasm32-unknown-unknown" in runs
    assert "binaryen" in runs and "python3" in runs


def test_installs_like_the_readme():
    runs = [rest for op, rest in instructions() if op == "RUN"]
    assert any(r.startswith("bash scripts/setup.sh") for r in runs)
    readme = (ROOT / "README.md").read_text()
    assert "scripts/setup.sh" in readme
    # The installer accepts the options the Dockerfile gives it, and with a wasm32
    # toolchain on PATH it would not install Debian's Rust.
    opts = next(r for r in runs if r.startswith("bash scripts/setup.sh")).split()[2:]
    plan = subprocess.run(["bash", str(ROOT / "scripts/setup.sh"), *opts, "--dry-run"],
                          capture_output=True, text=True, cwd=ROOT)
    assert plan.returncode == 0, plan.stderr
    assert "pip install" in plan.stdout + plan.stderr
    # a non-editable install: rules and fixture allocators are installed as data (test_install.py)
    pip = next(l for l in (plan.stdout + plan.stderr).splitlines() if "pip install" in l)
    assert " -e " not in pip and pip.rstrip().endswith(" .[html]")


def test_runs_as_non_root_with_auditor_entrypoint():
    ops = instructions()
    users = [rest for op, rest in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = [rest for op, rest in ops if op == "ENTRYPOINT"]
    assert entry == ['["auditor"]']
    # USER comes after every install step.
    last_user = max(i for i, (op, _) in enumerate(ops) if op == "USER")
    assert all(op != "RUN" or "apt-get" not in rest for op, rest in ops[last_user:])


def test_dockerignore_keeps_local_state_out():
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore


def test_cache_volume_and_writable_mount_documented():
    ops = instructions()
    env = " ".join(rest for op, rest in ops if op == "ENV")
    assert "XDG_CACHE_HOME=/cache" in env and "CARGO_HOME=/cache/cargo" in env
    assert any(op == "VOLUME" and "/cache" in rest for op, rest in ops)
    runs = " ".join(rest for op, rest in ops if op == "RUN")
    assert "chmod 1777 /cache" in runs  # any --user may write the cache volume
    assert [rest for op, rest in ops if op == "WORKDIR"][-1] == "/work"
    # the header says how to run it: own uid for a writable mount, a named cache volume
    header = DOCKERFILE.split("FROM", 1)[0]
    run = '--user "$(id -u):$(id -g)" -v "$PWD:/work" -v auditor-cache:/cache'
    assert run in header and ":ro" in header and "10001" in header
    assert run in (ROOT / "README.md").read_text()
