"""`auditor doctor`: the build stage's toolchain discovery, reported."""

from __future__ import annotations

from pathlib import Path

from auditor.build.cache import default_cache_dir
from auditor.build.doctor import DoctorResult, diagnose


def doctor(crate: str = ".", *, cache_dir: str | None = None) -> DoctorResult:
    """Every toolchain found, whether each can build wasm32, the tools, and what a scan uses.
    CRATE matters when it pins a toolchain with rust-toolchain.toml."""
    crate_dir = Path(crate) if Path(crate).is_dir() else None
    return diagnose(crate_dir, Path(cache_dir) if cache_dir else default_cache_dir())
