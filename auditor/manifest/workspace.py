"""Manifest facts: what cargo will do with a crate's profiles, dependencies and link args.

`load_workspace(path)` reads only files (Cargo.toml, .cargo/config.toml, build.rs), never
runs cargo, so `auditor lint` stays fast enough for a pre-commit hook. Its `to_json()` is
the `auditor.manifest/1` object the profile rules in rules/profile.toml read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.manifest import linkargs, schema, toml
from auditor.manifest.locate import find_manifest, find_workspace_root
from auditor.records.manifest import (
    SCHEMA,
    DependencyRecord,
    LocationRecord,
    ManifestRecord,
    PackageRecord,
    ProfileFactsRecord,
)

# Cargo's built-in profiles (defaults cargo applies when a key is not written).
BUILTIN = {
    "release": {"opt-level": 3, "debug": False, "strip": "none", "debug-assertions": False,
                "overflow-checks": False, "lto": False, "panic": "unwind",
                "incremental": False, "codegen-units": 16, "rpath": False},
    "dev": {"opt-level": 0, "debug": True, "strip": "none", "debug-assertions": True,
            "overflow-checks": True, "lto": False, "panic": "unwind", "incremental": True,
            "codegen-units": 256, "rpath": False},
}
BUILTIN["bench"] = dict(BUILTIN["release"])
BUILTIN["test"] = dict(BUILTIN["dev"])
PROFILE_ALIASES = {"bench": "release", "test": "dev"}
DEP_TABLES = (("dependencies", "normal"), ("dev-dependencies", "dev"),
              ("dev_dependencies", "dev"), ("build-dependencies", "build"),
              ("build_dependencies", "build"))


def _loc(doc: toml.TomlDoc, path: tuple) -> LocationRecord:
    line, col = doc.pos(path) or (1, 1)
    return {"file": doc.display, "line": line, "column": col}


@dataclass
class Package:
    """One member's facts; `anchor` is where package-level findings point (its [package] header)."""

    name: str
    doc: toml.TomlDoc
    is_root: bool
    has_lib: bool
    crate_types: list[str]
    dependencies: list[DependencyRecord] = field(default_factory=list)
    member_profiles: list[dict[str, Any]] = field(default_factory=list)
    max_memory: linkargs.Flag | None = None
    stack_size: linkargs.Flag | None = None
    build_script: str | None = None

    @property
    def dir(self) -> Path:
        return self.doc.path.parent

    def to_json(self) -> PackageRecord:
        anchor_path = ("package",) if self.doc.pos(("package",)) else ()
        return {
            "name": self.name,
            "manifest": self.doc.display,
            "is_root": self.is_root,
            "has_lib": self.has_lib,
            "crate_types": self.crate_types,
            "cdylib": "cdylib" in self.crate_types,
            "build_script": self.build_script,
            "dependencies": self.dependencies,
            "max_memory": self.max_memory.to_json() if self.max_memory else {"set": False, "value": None},
            "stack_size": self.stack_size.to_json() if self.stack_size else {"set": False, "value": 1048576},
            "anchor": _loc(self.doc, anchor_path),
        }


@dataclass
class Workspace:
    """The crates `lint` looks at, the root cargo uses, and the profile under review."""

    root: toml.TomlDoc  # workspace-root manifest (the package's own when not in a workspace)
    target: toml.TomlDoc  # the manifest the user pointed at
    packages: list[Package]
    profile: ProfileFactsRecord
    is_workspace: bool

    def to_json(self) -> ManifestRecord:
        anchor = ("workspace",) if self.is_workspace and self.root.pos(("workspace",)) else \
            ("package",) if self.root.pos(("package",)) else ()
        return {
            "schema": SCHEMA,
            "root": {"manifest": self.root.display, **_loc(self.root, anchor)},
            "target": self.target.display,
            "is_workspace": self.is_workspace,
            "profile": self.profile,
            "packages": [p.to_json() for p in self.packages],
            "dependencies": [d for p in self.packages for d in p.dependencies],
            "member_profiles": [mp for p in self.packages for mp in p.member_profiles],
        }

    def docs(self) -> dict[str, toml.TomlDoc]:
        """Every file a finding may point at, by display name (for source lines)."""
        out = {self.root.display: self.root, self.target.display: self.target}
        for p in self.packages:
            out[p.doc.display] = p.doc
        return out


def load_workspace(path: Path | str = ".", profile: str = "release") -> Workspace:
    """Manifest facts for a crate/workspace dir or Cargo.toml (AuditorError on bad input).

    Every package is kept, binaries and plain rlibs included: the root profile and the
    dependency rules apply to whatever cargo builds, and the pre-commit hook hands over
    any changed Cargo.toml (an xtask, a CLI member) which must not fail as "bad input".
    """
    manifest = find_manifest(path)
    target = toml.load(manifest)
    if table(target, ("package",)) is None and table(target, ("workspace",)) is None:
        raise AuditorError("neither [package] nor [workspace]: not a crate manifest", target.display)
    root_path = find_workspace_root(manifest, target)
    root = toml.load(root_path) if root_path else target
    is_workspace = table(root, ("workspace",)) is not None

    if target.path.resolve() == root.path.resolve() and is_workspace:
        manifests = _members(root)
        if "package" in root.data:
            manifests.insert(0, root.path)
    else:
        manifests = [target.path]

    memo: dict = {}
    packages = [_package(toml.load(m), root, memo) for m in manifests]
    return Workspace(root, target, packages, profile_facts(root, profile), is_workspace)


def _typed(doc: toml.TomlDoc, path: tuple, check, what: str):
    """The value at `path` (None when absent), or cargo's own parse error at that key."""
    cur: Any = doc.data
    for key in path:
        cur = cur.get(key) if isinstance(cur, dict) else None
    if cur is not None and not check(cur):
        raise AuditorError(f"{'.'.join(path)}: expected {what}", doc.where(path))
    return cur


def table(doc: toml.TomlDoc, path: tuple) -> dict | None:
    return _typed(doc, path, lambda v: isinstance(v, dict), "a table")


def _strings(doc: toml.TomlDoc, path: tuple, default=()) -> list[str]:
    found = _typed(doc, path, lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                   "a list of strings")
    return list(default) if found is None else found


def _members(root: toml.TomlDoc) -> list[Path]:
    """Member manifests as cargo expands them (globs, exclude); a named member without Cargo.toml is an error."""
    base = root.path.parent
    excluded = {(base / e).resolve() for e in _strings(root, ("workspace", "exclude"))}
    out: list[Path] = []
    for n, pattern in enumerate(_strings(root, ("workspace", "members"))):
        hits = sorted(base.glob(pattern)) if any(c in pattern for c in "*?[") else [base / pattern]
        found = False
        for d in hits:
            if d.resolve() in excluded or not (d / "Cargo.toml").is_file():
                continue
            if (d / "Cargo.toml").resolve() == root.path.resolve():
                continue
            found = True
            if d / "Cargo.toml" not in out:
                out.append(d / "Cargo.toml")
        if not found and not any(c in pattern for c in "*?["):
            raise AuditorError(f"workspace member {pattern!r} has no Cargo.toml",
                               root.where(("workspace", "members", n)))
    return out


def _package(doc: toml.TomlDoc, root: toml.TomlDoc, memo: dict) -> Package:
    """Facts about one package: targets, dependencies, member profiles and linker settings."""
    data = doc.data
    pkg = table(doc, ("package",)) or {}
    name = pkg["name"] if isinstance(pkg.get("name"), str) else doc.path.parent.name
    lib = table(doc, ("lib",))
    has_lib = lib is not None or (doc.path.parent / "src" / "lib.rs").is_file()
    crate_types = []
    if lib is not None:
        key = "crate_type" if "crate_type" in lib and "crate-type" not in lib else "crate-type"
        crate_types = _strings(doc, ("lib", key), default=["lib"])
    elif has_lib:
        crate_types = ["lib"]
    is_root = os.path.samefile(doc.path, root.path)
    build = pkg.get("build", None)
    if build is False:
        build_rs = None
    elif isinstance(build, str):
        build_rs = doc.path.parent / build
    else:
        build_rs = doc.path.parent / "build.rs"
    p = Package(name, doc, is_root, has_lib, list(crate_types))
    p.build_script = toml.display_path(build_rs) if build_rs and build_rs.is_file() else None
    p.dependencies = _dependencies(doc, root, name)
    if not is_root:
        for pname in (data.get("profile") or {}):
            p.member_profiles.append({"name": pname, "package": name, **_loc(doc, ("profile", pname))})
    p.max_memory = linkargs.max_memory(doc.path.parent, build_rs, memo)
    p.stack_size = linkargs.stack_size(doc.path.parent, build_rs, memo)
    return p


def _dependencies(doc: toml.TomlDoc, root: toml.TomlDoc, member: str) -> list[DependencyRecord]:
    """Every dependency entry with its kind (normal, dev, build), real package name (renames,
    workspace = true) and line: rules decide which kinds ship."""
    tables: list[tuple[tuple, dict, str, str | None]] = []
    for tname, kind in DEP_TABLES:
        if isinstance(doc.data.get(tname), dict):
            tables.append(((tname,), doc.data[tname], kind, None))
    for tkey, t in (doc.data.get("target") or {}).items():
        for tname, kind in DEP_TABLES:
            if isinstance(t, dict) and isinstance(t.get(tname), dict):
                tables.append((("target", tkey, tname), t[tname], kind, tkey))
    ws_deps = ((root.data.get("workspace") or {}).get("dependencies") or {})
    out: list[DependencyRecord] = []
    for path, table, kind, target in tables:
        for name, spec in table.items():
            real = name
            if isinstance(spec, dict):
                if spec.get("workspace") is True and isinstance(ws_deps.get(name), dict):
                    real = ws_deps[name].get("package", name)
                real = spec.get("package", real)
            out.append({
                "name": name, "package": real, "kind": kind, "target": target,
                "member": member, "requirement": _requirement(spec, ws_deps.get(name)),
                **_loc(doc, path + (name,)),
            })
    return out


def _requirement(spec, ws_spec) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        if spec.get("workspace") is True:
            return "workspace (" + (_requirement(ws_spec, None) if ws_spec is not None else "?") + ")"
        for key in ("version", "path", "git"):
            if key in spec:
                return spec[key] if key == "version" else f"{key} {spec[key]}"
    return "*"


def profile_facts(root: toml.TomlDoc, name: str, missing_inherits: str | None = None) -> ProfileFactsRecord:
    """The named profile as cargo resolves it: written settings, inherits chain, defaults.

    `.cargo/config.toml` [profile.*] tables override the manifest (cargo's precedence),
    so they are merged and their keys point at the config file. `missing_inherits`
    resolves a profile that does not exist yet as if it inherited that one. What
    `cargo build` would refuse (a bad value, an inherits loop) is an AuditorError at the
    key, since a lint verdict on a profile cargo cannot use would mislead.
    """
    tables, headers = _profile_tables(root)
    written = tables.get(name)
    if written is None and name not in BUILTIN and missing_inherits:
        # the fixer is about to create it: resolve it as the table it will write
        tables[name] = {"inherits": (missing_inherits, None)}
    elif written is None and name not in BUILTIN:
        known = ", ".join(sorted(set(tables) | {"release", "dev"}))
        raise AuditorError(f"no profile {name!r} in the workspace root (profiles: {known})", root.display)
    chain = _inherits_chain(name, tables, headers, root)
    effective: dict = {}
    at: dict = {}
    for pname in chain:
        for key, (value, loc) in tables.get(pname, {}).items():
            check = schema.CARGO_PROFILE.get(key)
            error = check(value) if check and loc else None
            if error:
                raise AuditorError(f"profile.{pname}.{key}: {error} (cargo refuses this profile)", _where(loc))
            if key not in effective and key not in ("inherits", "package", "build-override"):
                effective[key] = value
                at[key] = loc
    base = PROFILE_ALIASES.get(chain[-1], chain[-1])
    for key, value in BUILTIN.get(base, BUILTIN["release"]).items():
        effective.setdefault(key, value)
    # cargo treats true/"fat" alike, debug 2 / "full" / true alike
    checks = [f"{k} = true" for k in ("overflow-checks", "debug-assertions") if effective.get(k) is True]
    show = {k: (f"{k} = {toml.literal(v)}" if k in at else f"{k} not set (cargo's default: {toml.literal(v)})")
            for k, v in effective.items()}
    header = headers.get(name) or _loc(root, ())
    return {
        "name": name,
        "declared": written is not None,
        "inherits": chain[1:],
        **header,
        "settings": {k: v for k, (v, _) in (written or {}).items()},
        "effective": effective,
        "at": at,
        "show": show,
        "checks_on": " and ".join(checks),
        # what an unstripped build keeps: strip = "debuginfo" drops DWARF, not names
        "unstripped": "the name section ships" if effective.get("strip") == "debuginfo"
        else "the name section and .debug_* sections ship",
    }


def _where(loc: dict) -> str:
    return f"{loc['file']}:{loc['line']}:{loc['column']}"


def _inherits_chain(name: str, tables: dict, headers: dict, root: toml.TomlDoc) -> list[str]:
    """[name, parent, ..., built-in]: cargo's rules for `inherits`, its errors at the key."""
    chain: list[str] = []
    cur: str | None = name
    while cur is not None:
        if cur in chain:
            raise AuditorError(f"profile inheritance loop: {' -> '.join(chain + [cur])}",
                               _where(tables[chain[-1]]["inherits"][1]))
        chain.append(cur)
        parent, loc = tables.get(cur, {}).get("inherits", (None, None))
        if parent is not None and loc is not None:
            if not isinstance(parent, str):
                raise AuditorError(f"profile.{cur}.inherits: expected a profile name", _where(loc))
            if cur in ("release", "dev"):
                raise AuditorError(f"`inherits` must not be specified in cargo's root profile {cur!r}", _where(loc))
            if parent not in tables and parent not in BUILTIN:
                raise AuditorError(f"profile {cur!r} inherits {parent!r}, which is not defined", _where(loc))
        if parent is None and cur not in BUILTIN:
            where = _where(headers[cur]) if cur in headers else root.display
            raise AuditorError(f"profile {cur!r} has no `inherits` (required for all profiles but dev and release)",
                               where)
        cur = parent if cur not in ("release", "dev") and isinstance(parent, str) else None
    return chain


def _profile_tables(root: toml.TomlDoc) -> tuple[dict[str, dict[str, Any]], dict[str, LocationRecord]]:
    """profile name -> {key: (value, location)} (config files win over the manifest),
    and profile name -> location of its nearest-winning table header."""
    out: dict[str, dict] = {}
    headers: dict[str, LocationRecord] = {}
    sources = [root]
    sources += [toml.load(p) for p in reversed(linkargs.cargo_config_files(root.path.parent))]
    for doc in sources:  # later (nearer config) overrides earlier
        for pname in table(doc, ("profile",)) or {}:
            settings = table(doc, ("profile", pname)) or {}
            entry = out.setdefault(pname, {})
            headers.setdefault(pname, _loc(doc, ("profile", pname)))
            for key, value in settings.items():
                entry[key] = (value, _loc(doc, ("profile", pname, key)))
    return out, headers

