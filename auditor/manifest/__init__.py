"""Manifest stage: Cargo.toml, .cargo/config.toml and build.rs read as facts, no cargo run.

Ground floor: imports nothing of ours but errors and units.
"""

from __future__ import annotations


def load_workspace(path=".", profile: str = "release"):
    """Manifest facts (`auditor.manifest/1` via `.to_json()`); see workspace.py."""
    from auditor.manifest.workspace import load_workspace as _load

    return _load(path, profile)
