"""What each profile setting the lint rules ask for does to a real module's size.

The figures quoted in the `why` of rules/profile.toml (AUD101-AUD109) and of the size
rules come from this script: it builds fixture crates with the Debian toolchain
(/usr/bin/cargo + /usr/bin/rustc, offline) once per setting, each on top of cargo's
release defaults, and reads the sections with wasm-objdump -h, not with auditor.

Run: python benchmarks/lint_profile_sizes.py [CRATE ...]   (default: heavy guarded)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARGO = os.environ.get("AUDITOR_FIXTURE_CARGO", "/usr/bin/cargo")
RUSTC = os.environ.get("AUDITOR_FIXTURE_RUSTC", "/usr/bin/rustc")

MIN_SIZE = ['opt-level="z"', "lto=true", "codegen-units=1", 'panic="abort"', "strip=true"]
VARIANTS = {
    "release (cargo defaults)": [],
    "opt-level = s": ['opt-level="s"'],
    "opt-level = z": ['opt-level="z"'],
    "lto = true": ["lto=true"],
    "lto + opt-level = s": ["lto=true", 'opt-level="s"'],
    "lto + opt-level = z": ["lto=true", 'opt-level="z"'],
    "codegen-units = 1": ["codegen-units=1"],
    "lto + codegen-units = 1": ["lto=true", "codegen-units=1"],
    "strip = true": ["strip=true"],
    "debug = true": ["debug=true"],
    "overflow-checks = true": ["overflow-checks=true"],
    "debug-assertions = true": ["debug-assertions=true"],
    'panic = "abort"': ['panic="abort"'],
    "recommended (auditor fix)": MIN_SIZE,
}
_SECTION = re.compile(r'^\s*(\w+) start=0x[0-9a-f]+ end=0x[0-9a-f]+ \(size=0x([0-9a-f]+)\)[^"\n]*(?:"([^"]+)")?', re.M)


def sections(wasm: Path) -> dict[str, int]:
    """Payload bytes per section name, as wasm-objdump reports them."""
    out = subprocess.run(["wasm-objdump", "-h", str(wasm)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for kind, size, name in _SECTION.findall(out):
        key = name or kind
        sizes[key] = sizes.get(key, 0) + int(size, 16)
    return sizes


def build(crate_dir: Path, settings: list[str], target_dir: Path) -> Path:
    args = [CARGO]
    for s in settings:
        args += ["--config", f"profile.release.{s}"]
    args += ["build", "--offline", "-q", "--release", "--target", "wasm32-unknown-unknown"]
    env = {**os.environ, "RUSTC": RUSTC, "CARGO_INCREMENTAL": "0", "CARGO_TARGET_DIR": str(target_dir)}
    for var in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(var, None)
    subprocess.run(args, cwd=crate_dir, env=env, check=True, stdin=subprocess.DEVNULL)  # cargo runs `rustc -`
    return next((target_dir / "wasm32-unknown-unknown" / "release").glob("*.wasm"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("crates", nargs="*", default=["heavy", "guarded"])
    crates = ap.parse_args().crates
    print(f"{subprocess.run([RUSTC, '--version'], capture_output=True, text=True).stdout.strip()}, "
          "wasm32-unknown-unknown; bytes from wasm-objdump -h")
    with tempfile.TemporaryDirectory() as tmp:
        for crate in crates:
            work = Path(tmp) / crate
            shutil.copytree(REPO / "fixtures" / "crates" / crate, work)
            print(f"\n{crate}")
            print(f"  {'profile.release':<28}{'file':>10}{'code':>9}{'data':>8}{'.debug_*':>10}{'name':>8}")
            for n, (label, settings) in enumerate(VARIANTS.items()):
                s = sections(wasm := build(work, settings, Path(tmp) / f"target-{crate}-{n}"))
                debug = sum(v for k, v in s.items() if k.startswith(".debug"))
                print(f"  {label:<28}{wasm.stat().st_size:>10}{s.get('Code', 0):>9}{s.get('Data', 0):>8}"
                      f"{debug:>10}{s.get('name', 0):>8}")


if __name__ == "__main__":
    main()
