"""`scan --print-commands` prints the environment a build needs (CARGO=… RUSTC=…
CARGO_INCREMENTAL=0, and RUSTC_BOOTSTRAP=1 when the toolchain needs it): the printed
line, run in a clean shell (`env -i` with only PATH) in a copy of the crate, builds the
same bytes (sha256) as the scan, on each toolchain."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess

import pytest
from test_scan_support import CRATES

import fixturelib

ARGS = ("--profiles", "min-size-z", "--allocators", "default", "--no-runtime", "--compression", "none")


@pytest.mark.cargo
def test_printed_line_reproduces_the_scan_in_a_clean_shell(toolchain, tmp_path):
    env = fixturelib.scan_env(toolchain)
    p = subprocess.run(["auditor", "scan", str(CRATES / "minimal"), *ARGS, "--print-commands", "--format", "json"],
                       env=env, capture_output=True, text=True, check=True)
    (row,) = json.loads(p.stdout)["variants"]
    assert row["env"]["CARGO"] == toolchain.cargo and row["env"]["RUSTC"] == toolchain.rustc
    assert row["env"]["CARGO_INCREMENTAL"] == "0"
    assert row["ship"] == []  # no wasm-bindgen in the crate, wasm-opt not asked for: cargo's module ships
    assert row["shell"].startswith(f"CARGO={shlex.quote(toolchain.cargo)} RUSTC={shlex.quote(toolchain.rustc)} ")
    text = subprocess.run(["auditor", "scan", str(CRATES / "minimal"), *ARGS, "--print-commands"], env=env,
                          capture_output=True, text=True, check=True).stdout
    assert row["shell"] in text.splitlines()
    (variant,) = fixturelib.scan_report("minimal", *ARGS, toolchain=toolchain)["variants"]
    crate = tmp_path / "minimal"
    shutil.copytree(CRATES / "minimal", crate, ignore=shutil.ignore_patterns("target"))
    clean = subprocess.run(["env", "-i", f"PATH={os.environ['PATH']}", "sh", "-c", row["shell"]], cwd=crate,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert clean.returncode == 0, clean.stderr[-3000:]
    built = crate / "target" / "wasm32-unknown-unknown" / "min-size-z" / "minimal.wasm"
    assert hashlib.sha256(built.read_bytes()).hexdigest() == variant["sha256"]
