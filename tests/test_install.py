"""A non-editable install (`pip install .`, the Dockerfile's way) carries what the demo
needs: rules/ and the fixture allocators as data beside the package, never a path into
the checkout. The wheel is built from a copy of the sources (nothing is written into the
repository), installed into a fresh venv, and the demo scanned from another directory."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixturelib import scan_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with auditor installed from a wheel; its dependencies come from this
    interpreter's site-packages through a .pth (no download), auditor from the wheel."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "target", "*.pyc")
    for d in ("auditor", "rules", "fixtures/allocators"):
        shutil.copytree(ROOT / d, src / d, ignore=skip)
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-cache-dir", str(src), "-w", str(wheels)], check=True, capture_output=True)
    [wheel] = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("data/share/wasm-auditor/fixtures/allocators/freelist/src/lib.rs") for n in names)
    # every file of the package that is not Python is package data (pyproject.toml lists
    # them by name: a compiled module left off runs the slow Python fallback instead)
    data = sorted(str(p.relative_to(src)) for p in (src / "auditor").rglob("*")
                  if p.is_file() and p.suffix != ".py")
    assert "auditor/wasm/native/demangle.wasm" in data
    assert [n for n in data if n not in names] == []
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-cache-dir", str(wheel)], check=True, capture_output=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "deps-from-test-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
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
