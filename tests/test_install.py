"""A non-editable install (`pip install .`, the Dockerfile's way) carries what the demo
needs: rules/ and the fixture allocators as data beside the package, never a path into
the checkout. The wheel is built from a copy of the sources (nothing is written into the
repository), installed into a fresh venv, and the demo scanned from another directory."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from wheel_venv import wheel_venv

from fixturelib import scan_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with auditor installed from a wheel (tests/wheel_venv.py); its
    dependencies come from this interpreter's site-packages, auditor from the wheel."""
    tmp = tmp_path_factory.mktemp("install")
    venv, names = wheel_venv(ROOT, tmp)
    src = tmp / "src"
    assert any(n.endswith("data/share/wasm-auditor/fixtures/allocators/freelist/src/lib.rs") for n in names)
    # every file of the package that is not Python is package data (pyproject.toml lists
    # them by name: a compiled module left off runs the slow Python fallback instead)
    data = sorted(str(p.relative_to(src)) for p in (src / "auditor").rglob("*")
                  if p.is_file() and p.suffix != ".py")
    assert "auditor/wasm/native/demangle.wasm" in data
    assert [n for n in data if n not in names] == []
    return venv


def test_installed_copy_is_the_wheel(installed):
    code = ("import auditor, auditor.data as d, auditor.wasm.native as n; print(auditor.__file__); "
            "print(d.rules_dir()); print(n.available()); "
            "from auditor.wasm.native import demangler, graph; print(demangler.available(), graph.available())")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], capture_output=True, text=True,
                         cwd="/", check=True).stdout.split("\n")
    assert out[0].startswith(str(installed)), out
    assert out[1] == str(installed / "share" / "wasm-auditor" / "rules")
    assert out[2] == "True"  # the compiled code reader loads from the installed package
    assert out[3] == "True True"  # and the compiled demangler and item graph
    assert (installed / "share/wasm-auditor/fixtures/allocators/freelist/Cargo.toml").is_file()


@pytest.mark.cargo
def test_installed_auditor_scans_the_demo_with_a_fixture_allocator(installed, tmp_path):
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "fixtures" / "crates" / "demo", demo, ignore=shutil.ignore_patterns("target"))
    r = subprocess.run([str(installed / "bin" / "auditor"), "scan", str(demo), "--profiles", "release",
                        "--allocators", "fixture_freelist", "--no-runtime", "--cache-dir", str(tmp_path / "cache"),
                        "--format", "json"],
                       capture_output=True, text=True, cwd=tmp_path, env=scan_env())
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(r.stdout)
    [variant] = report["variants"]
    assert variant["status"] == "ok", variant["error"]
    assert variant["wasm"]["allocator"]["name"] == "fixture_freelist"
    [spec] = [a for a in report["allocators"] if a["name"] == "fixture_freelist"]
    assert spec["source"]["path"] == str(installed / "share/wasm-auditor/fixtures/allocators/freelist")
