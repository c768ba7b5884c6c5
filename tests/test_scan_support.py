"""Helpers shared by the scan tests (no tests here): running auditor, hashing trees."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CRATES = REPO / "fixtures" / "crates"
ALLOCATORS = REPO / "fixtures" / "allocators"
TARGET = "wasm32-unknown-unknown"

# The fixture allocators, by config-file path, for configs written into temp dirs.
ALLOCATOR_CONFIG = "\n".join(
    f'[allocator.{name}]\npath = "{ALLOCATORS / sub}"\n' for name, sub in
    (("fixture_bump", "bump"), ("fixture_freelist", "freelist"), ("fixture_arena", "arena"))
)


def auditor(*args, env: dict | None = None, cwd: Path = REPO, tmpdir: Path | None = None, timeout: float = 600):
    """Run `python -m auditor ARGS` (stdin closed); TMPDIR private when given."""
    e = dict(os.environ if env is None else env)
    if tmpdir is not None:
        e["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                          env=e, cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout)


def scan_json(crate: Path, *args, cache: Path, expect=(0, 1), **kw) -> dict:
    p = auditor("scan", crate, "--format", "json", "--cache-dir", cache, *args, **kw)
    assert p.returncode in expect, p.stderr
    return json.loads(p.stdout)


def variants(report: dict) -> dict[str, dict]:
    return {v["id"]: v for v in report["variants"]}


def tree_digest(root: Path) -> str:
    """Every file and dir under root: relative path, mode bits, contents (symlinks: target)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(f"{p.relative_to(root)}\0{stat.S_IMODE(st.st_mode)}\0{stat.S_IFMT(st.st_mode)}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def copy_crate(name: str, dest: Path) -> Path:
    shutil.copytree(CRATES / name, dest / name, ignore=shutil.ignore_patterns("target"))
    return dest / name


def counting_cargo(tmp: Path) -> tuple[dict, Path]:
    """Env whose CARGO logs every invocation, and the log path (an independent build count)."""
    log = tmp / "cargo-calls.log"
    wrapper = tmp / "wrapbin" / "cargo"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec /usr/bin/cargo "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, CARGO=str(wrapper), RUSTC="/usr/bin/rustc")
    return env, log


def variant_builds(log: Path) -> list[str]:
    """Logged cargo builds of scan variants (not the toolchain test build, not metadata):
    measured builds (`cargo build --lib`) and probe builds (`cargo rustc --lib`)."""
    if not log.exists():
        return []
    return [l for l in log.read_text().splitlines()
            if (" build --lib " in f" {l}" or " rustc --lib " in f" {l}") and "--profile" in l]


def objdump(*args) -> str:
    return subprocess.run(["wasm-objdump", *map(str, args)], capture_output=True, text=True, check=True).stdout


def exports(path: Path) -> set[str]:
    out = set()
    for line in objdump("-x", "-j", "Export", path).splitlines():
        if '-> "' in line:
            out.add(line.split('-> "', 1)[1].rstrip('"'))
    return out


def rust_processes_under(path: Path) -> list[str]:
    """Command lines of live processes that mention `path` (leftover cargo/rustc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd and ("cargo" in cmd or "rustc" in cmd):
            found.append(cmd)
    return found
