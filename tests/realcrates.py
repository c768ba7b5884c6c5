"""The two toolchains CI builds with, and the real-allocator fixture (fixtures/real/).

rustc 1.63 is Debian's (/usr/bin). rustc 1.96 is Debian's rustc-web unpacked by
scripts/setup.sh (scripts/rust_web.sh) into a shared cache and linked as
`.toolchains/rust-1.96` in the checkout; AUDITOR_RUST196_PREFIX overrides where it is.
Its `bin/cargo` and `bin/rustc` are wrappers that set LD_LIBRARY_PATH themselves, so
`CARGO` + `RUSTC` is the whole environment a build needs.

cargo 1.65 reaches crates.io only through the sparse index (this network has no GitHub,
so no git index), which 1.65 still had behind an unstable flag: CARGO_1_65_SPARSE turns
it on for cargo alone (rustc does not read these variables).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from fixturelib import REPO, cache_dir, fixture_tree

WASM32 = "wasm32-unknown-unknown"
CARGO_1_65_SPARSE = {"CARGO_UNSTABLE_SPARSE_REGISTRY": "true",
                     "__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS": "nightly"}
_SCRUBBED = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER",
             "RUSTUP_TOOLCHAIN", "RUSTC_BOOTSTRAP", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR")

#: Churn verdicts the issue (and the crates' own documentation) lead us to expect; kept
#: here, not read from rules/allocators.toml, so the data file is checked against them.
EXPECTED_CHURN = {
    "default": "plateau", "dlmalloc": "plateau", "lol_alloc": "plateau", "talc": "plateau",
    "talc4": "plateau", "rlsf": "plateau", "wee_alloc": "leak", "lol_alloc_leaking": "leak",
    "mini_alloc": "leak", "emballoc": "fixed-arena",
}
#: Allocator entries each toolchain builds (talc needs rustc >= 1.64: fixtures/real/README.md).
ALLOCATORS_ON = {
    "1.63": ["default", "wee_alloc", "lol_alloc", "lol_alloc_leaking", "dlmalloc", "rlsf", "mini_alloc", "emballoc"],
    "1.96": ["default", "wee_alloc", "lol_alloc", "lol_alloc_leaking", "talc", "talc4", "dlmalloc", "rlsf",
             "mini_alloc", "emballoc"],
}
#: Registry crate (Cargo.lock package name) behind each allocator entry.
CRATE_OF = {"dlmalloc": "dlmalloc", "wee_alloc": "wee_alloc", "lol_alloc": "lol_alloc",
            "lol_alloc_leaking": "lol_alloc", "talc": "talc", "talc4": "talc", "rlsf": "rlsf",
            "mini_alloc": "mini-alloc", "emballoc": "emballoc"}


def rust196_prefix() -> Path:
    env = os.environ.get("AUDITOR_RUST196_PREFIX")
    return Path(env) if env else REPO / ".toolchains" / "rust-1.96"


@dataclass(frozen=True)
class Toolchain:
    name: str  # "1.63" | "1.96"
    cargo: str
    rustc: str
    extra_env: tuple[tuple[str, str], ...] = ()

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        env.update(CARGO=self.cargo, RUSTC=self.rustc, CARGO_INCREMENTAL="0")
        env.update(dict(self.extra_env))
        env.update(more)
        return env

    def missing(self) -> str | None:
        """Why this toolchain cannot be used here, or None."""
        for tool in (self.cargo, self.rustc):
            if not os.access(tool, os.X_OK):
                return f"{tool} not found (run scripts/setup.sh)"
        return None


RUST_163 = Toolchain("1.63", "/usr/bin/cargo", "/usr/bin/rustc", tuple(CARGO_1_65_SPARSE.items()))


def rust_196() -> Toolchain:
    p = rust196_prefix()
    return Toolchain("1.96", str(p / "bin" / "cargo"), str(p / "bin" / "rustc"))


def toolchain(name: str) -> Toolchain:
    tc = RUST_163 if name == "1.63" else rust_196()
    why = tc.missing()
    if why:
        import fixturelib

        if fixturelib.toolchain_name(name) not in fixturelib.selected_toolchains():
            pytest.skip(f"rustc {name}: not selected by {fixturelib.TOOLCHAINS_ENV}")
        pytest.fail(f"rustc {name}: {why} (CI needs it: run scripts/setup.sh)")
    return tc


def real_crate(name: str) -> Path:
    """fixtures/real/rust-NAME inside the session's fixture copy (never the repository)."""
    return fixture_tree() / "real" / f"rust-{name}"


def locked_versions(name: str) -> dict[str, list[str]]:
    """Package name -> versions in fixtures/real/rust-NAME/Cargo.lock (read as TOML)."""
    import tomllib

    lock = tomllib.loads((REPO / "fixtures" / "real" / f"rust-{name}" / "Cargo.lock").read_text())
    out: dict[str, list[str]] = {}
    for pkg in lock["package"]:
        out.setdefault(pkg["name"], []).append(pkg["version"])
    return out


def build_feature(tc: Toolchain, feature: str | None, profile: str = "release") -> Path:
    """The fixture built by cargo itself with the crate's own #[global_allocator] `feature`.

    One target dir per toolchain in the fixture cache: each allocator crate compiles once.
    """
    target = cache_dir() / f"real-target-{tc.name}"
    args = [tc.cargo, "build", "--locked", "--lib", "--target", WASM32, "--profile", profile,
            "--message-format=json-render-diagnostics"]
    if feature:
        args += ["--features", feature]
    r = subprocess.run(args, cwd=real_crate(tc.name), env=tc.env(CARGO_TARGET_DIR=str(target)),
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900, check=False)
    if r.returncode != 0:
        raise AssertionError(f"rustc {tc.name}: building fixtures/real with {feature or 'no feature'} "
                             f"failed:\n{r.stderr[-3000:]}")
    wasm = [f for line in r.stdout.splitlines() if line.startswith("{")
            for f in json.loads(line).get("filenames", []) if f.endswith(".wasm")]
    assert wasm, r.stdout[-2000:]
    # Copy out: the next feature's build overwrites the same artifact path.
    out = cache_dir() / f"real-{tc.name}-{profile}-{feature or 'none'}.wasm"
    shutil.copyfile(wasm[-1], out)
    return out


def _auditor() -> str:
    """The auditor of the running venv (benchmarks run without conftest's PATH)."""
    mine = Path(sys.executable).parent / "auditor"
    return str(mine) if mine.exists() else "auditor"


@cache
def scan(tc_name: str, profiles: str, allocators: str) -> dict:
    """`auditor scan --format json` of the real fixture (auditor's cache in the fixture cache)."""
    tc = toolchain(tc_name)
    r = subprocess.run(
        [_auditor(), "scan", str(real_crate(tc_name)), "--profiles", profiles, "--allocators", allocators,
         "--cache-dir", str(cache_dir() / f"real-scan-{tc_name}"), "--compression", "none",
         "--format", "json", "-q"],
        env=tc.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800, check=False)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    return json.loads(r.stdout)
