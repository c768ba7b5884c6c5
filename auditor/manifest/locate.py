"""Find the manifest a user means and the workspace root cargo would use.

Cargo honours `[profile.*]` only in the workspace-root manifest, so every profile rule and
the fixer need the same root cargo picks: `package.workspace` if set, else the nearest
ancestor manifest with a `[workspace]` table that does not exclude the crate.
"""

from __future__ import annotations

from pathlib import Path

from auditor.errors import AuditorError
from auditor.manifest import toml


def find_manifest(path: Path | str) -> Path:
    """The Cargo.toml for a crate/workspace directory or a manifest path; exit 2 if none."""
    p = Path(path)
    if not p.exists():
        raise AuditorError("no such file or directory", str(path))
    if p.is_dir():
        m = p / "Cargo.toml"
        if not m.is_file():
            raise AuditorError("no Cargo.toml in this directory (give a crate or workspace directory)", str(path))
        return m
    if p.name != "Cargo.toml":
        raise AuditorError("not a Cargo.toml (give a crate or workspace directory, or its Cargo.toml)", str(path))
    return p


def find_workspace_root(manifest: Path, doc: toml.TomlDoc | None = None) -> Path | None:
    """Manifest path of the workspace root (may be `manifest` itself), or None."""
    manifest = manifest.resolve()
    doc = doc or toml.load(manifest)
    if "workspace" in doc.data:
        return manifest
    pkg = doc.data.get("package", {})
    explicit = pkg.get("workspace") if isinstance(pkg, dict) else None
    if isinstance(explicit, str):
        root = (manifest.parent / explicit).resolve()
        root = root if root.name == "Cargo.toml" else root / "Cargo.toml"
        if not root.is_file():
            raise AuditorError(f"package.workspace points at {explicit!r}, which has no Cargo.toml",
                               doc.where(("package", "workspace")))
        return root
    crate_dir = manifest.parent
    for parent in crate_dir.parents:
        cand = parent / "Cargo.toml"
        if not cand.is_file():
            continue
        ws = toml.load(cand).data.get("workspace")
        if not isinstance(ws, dict):
            continue
        if _excluded(parent, crate_dir, ws.get("exclude", [])):
            continue
        return cand
    return None


def _excluded(root: Path, crate_dir: Path, exclude) -> bool:
    for e in exclude if isinstance(exclude, list) else []:
        ex = (root / str(e)).resolve()
        if crate_dir == ex or ex in crate_dir.parents:
            return True
    return False
