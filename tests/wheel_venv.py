"""auditor installed from a wheel into a fresh venv, as `pip install` gives it to users:
used by tests/test_install.py and benchmarks/deep_analysis.py --wheel."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path


def wheel_venv(root: Path, tmp: Path) -> tuple[Path, list[str]]:
    """(the venv, the wheel's member names): a wheel of the checkout `root`, built from
    a copy in `tmp` (nothing is written into the checkout) without network or build
    isolation, installed into `tmp`/venv. Its dependencies come from this interpreter's
    site-packages through a plain path in a .pth (no download; their own .pth files, an
    editable install's finder among them, are not processed from there). pip does not
    byte-compile the package (`--no-compile`, ~0.6 CPU-s): the first import does, as for
    any install without .pyc files; a benchmark's untimed first run fills that cache."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "target", "*.pyc")
    for d in ("auditor", "rules", "fixtures/allocators"):
        shutil.copytree(root / d, src / d, ignore=skip)
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-cache-dir", str(src), "-w", str(wheels)], check=True, capture_output=True)
    [wheel] = wheels.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-cache-dir", "--no-compile", str(wheel)], check=True, capture_output=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "deps-from-test-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv, names
