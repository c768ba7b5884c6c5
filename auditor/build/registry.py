"""Can this toolchain's cargo reach crates.io? The demo's registry-or-fixture choice.

`scan.registry-allocators` (with `scan.allocators` as the offline fallback) asks for the
real allocator crates when cargo can resolve them: a throw-away crate depending on each
registry entry's dependency line runs `cargo generate-lockfile` with the scan's
toolchain and environment (no retries, a short timeout). Success means cargo resolved
every one from the registry it is configured for; anything else falls back, with the
reason (cargo 1.65 here: only a git index, which this network cannot reach).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from auditor.build.toolchain import Toolchain

TIMEOUT = 60


def resolves(tc: Toolchain, dependency_lines: list[str]) -> tuple[bool, str]:
    """(True, "") when cargo resolves every dependency line, else (False, why)."""
    if not dependency_lines:
        return True, ""
    with tempfile.TemporaryDirectory(prefix="auditor-registry-") as tmp:
        crate = Path(tmp) / "probe"
        (crate / "src").mkdir(parents=True)
        (crate / "Cargo.toml").write_text(
            '[package]\nname = "auditor_registry_probe"\nversion = "0.0.0"\nedition = "2018"\npublish = false\n\n'
            "[dependencies]\n" + "\n".join(dependency_lines) + "\n\n[workspace]\n", encoding="utf-8")
        (crate / "src" / "lib.rs").write_text("", encoding="utf-8")
        env = tc.env()
        env.update(CARGO_NET_RETRY="0", CARGO_HTTP_TIMEOUT="20", CARGO_TARGET_DIR=str(Path(tmp) / "target"))
        try:
            p = subprocess.run([tc.cargo, "generate-lockfile"], cwd=crate, env=env, capture_output=True, text=True,
                               timeout=TIMEOUT, input="")
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, f"cargo generate-lockfile: {e}"
    if p.returncode == 0:
        return True, ""
    lines = [line.strip() for line in p.stderr.splitlines() if line.strip()]
    why = next((line for line in lines if line.startswith("error")), lines[-1] if lines else "failed")
    why = why.removeprefix("error: ")
    if lines and lines[-1] != why and not lines[-1].startswith("error"):
        why += f": {lines[-1]}"  # the innermost cause (`Caused by:`), e.g. the address that did not resolve
    return False, why
