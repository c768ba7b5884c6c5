"""`auditor doctor`: the build stage's toolchain discovery, reported."""

from __future__ import annotations

from pathlib import Path

from auditor.build import toolchain as tc_mod
from auditor.build.cache import default_cache_dir
from auditor.build.doctor import DoctorResult, diagnose
from auditor.build.workspace import cargo_config_files
from auditor.errors import AuditorError


def doctor(crate: str = ".", *, cache_dir: str | None = None, build_std: bool | None = None) -> DoctorResult:
    """Every toolchain found, whether each can build wasm32, the tools, and what a scan uses.
    CRATE matters when it pins a toolchain with rust-toolchain.toml, and when its cargo
    config (or auditor's scan.build-std, or `build_std`) asks for build-std."""
    crate_dir = Path(crate) if Path(crate).is_dir() else None
    wanted: object = build_std
    where = "--build-std" if build_std else None
    if wanted is None and crate_dir is not None:
        try:
            from auditor.config.loader import load_config

            config = load_config(crate_dir)
            wanted = config.get("scan.build-std")
            where = config.where("scan.build-std") if wanted else None
        except AuditorError:
            wanted = None
    configured = tc_mod.configured_build_std(crate_dir or Path("."), wanted, where,
                                             cargo_config_files(crate_dir) if crate_dir else [])
    return diagnose(crate_dir, Path(cache_dir) if cache_dir else default_cache_dir(), configured)
