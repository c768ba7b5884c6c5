"""The scan matrix: size profiles x global allocators, from data plus the user's config.

Built-in profiles live in `rules/profiles.toml` and allocators in `rules/allocators.toml`;
config `[profile.NAME]` / `[allocator.NAME]` tables override keys of an entry or add new
entries, and `scan.profiles` / `scan.allocators` (or `--profiles` / `--allocators`)
select a subset. Nothing here touches the user's files: profiles become
`cargo --config profile.NAME.KEY=VALUE` arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from auditor.build.workspace import CrateInfo
from auditor.config.view import ConfigView
from auditor.data import load_rules_file, rules_dir
from auditor.errors import AuditorError
from auditor.manifest.toml import key as toml_key
from auditor.manifest.toml import literal
from auditor.records.scan import AllocatorSpecRecord, ProfileRecord

# Cargo keeps these profile names for itself; only release/dev may be redefined.
_RESERVED = {"test", "bench", "doc", "check", "build", "debug"}
_BUILTIN_CARGO = {"release", "dev"}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_SOURCE_KEYS = ("version", "path", "git", "branch", "rev", "tag")
#: Profile keys that are auditor's, not cargo's: `cargo-unstable` (cargo -Z flags the
#: profile needs, e.g. build-std=std,panic_abort) and `requires-unstable` (left out, with a
#: notice, on a toolchain where -Z flags do not work).
AUDITOR_PROFILE_KEYS = ("cargo-unstable", "requires-unstable", "immediate-abort")


@dataclass
class Profile:
    name: str
    settings: dict  # cargo profile keys -> values (no `description`)
    description: str = ""
    origin: str = "built-in"  # rules/profiles.toml, or the config source that changed it

    def config_args(self) -> list[str]:
        """`--config` arguments defining this profile for cargo (none for untouched release)."""
        settings = {k: v for k, v in self.settings.items() if k not in AUDITOR_PROFILE_KEYS}
        if self.name in _BUILTIN_CARGO:
            settings.pop("inherits", None)
        elif "inherits" not in settings:
            settings["inherits"] = "release"
        out: list[str] = [f"-Z{flag}" for flag in self.settings.get("cargo-unstable") or []]
        for key, value in _flatten(settings):
            out += ["--config", f"profile.{toml_key(self.name)}.{key}={literal(value)}"]
        return out

    def to_json(self) -> ProfileRecord:
        return {"name": self.name, "settings": self.settings, "description": self.description, "origin": self.origin}


@dataclass
class Allocator:
    name: str
    inject: bool = True
    crate: str | None = None
    source: dict = field(default_factory=dict)  # version | path (absolute) | git (+ branch/rev/tag)
    features: list[str] = field(default_factory=list)
    default_features: bool | None = None
    type: str | None = None
    item: str | None = None
    description: str = ""
    matrix: bool = True
    origin: str = "built-in"
    pinned_at: str | None = None  # "src/lib.rs:8" when the crate declares it itself
    candidates: list[str] = field(default_factory=list)  # known entries a pinned, cfg-chosen one may be

    @property
    def crate_ident(self) -> str:
        return (self.crate or "").replace("-", "_")

    def dependency(self) -> dict:
        """The inline table for Cargo.toml `[dependencies]`."""
        dep: dict = dict(self.source)
        if self.features:
            dep["features"] = list(self.features)
        if self.default_features is not None:
            dep["default-features"] = self.default_features
        return dep

    def dependency_line(self) -> str:
        return f"{self.crate} = {{ " + ", ".join(f"{toml_key(k)} = {literal(v)}" for k, v in self.dependency().items()) + " }"

    def static_item(self) -> str:
        return f"#[global_allocator]\nstatic ALLOC: {self.type} = {self.item};"

    def to_json(self) -> AllocatorSpecRecord:
        return {
            "name": self.name, "inject": self.inject, "crate": self.crate, "source": self.source,
            "features": self.features, "default_features": self.default_features, "type": self.type,
            "item": self.item, "description": self.description, "origin": self.origin,
            "pinned_at": self.pinned_at, "candidates": self.candidates,
        }


@dataclass
class Matrix:
    profiles: list[Profile]
    allocators: list[Allocator]
    notices: list[str] = field(default_factory=list)

    def variants(self) -> list[tuple[Profile, Allocator]]:
        """Canonical order: profile-major (consecutive builds share compiled dependencies)."""
        return [(p, a) for p in self.profiles for a in self.allocators]


def _flatten(settings: dict, prefix: str = ""):
    for key, value in settings.items():
        k = prefix + toml_key(str(key))
        if isinstance(value, dict):
            yield from _flatten(value, k + ".")
        else:
            yield k, value


def _cfg_get(config, key: str, default=None):
    return config.get(key, default) if config is not None else default


def _where(config, key: str) -> str | None:
    if config is None:
        return None
    where = getattr(config, "where", None)
    return where(key) if where else None


def _config_base(config, key: str) -> Path:
    """Directory that relative paths in config key `key` are relative to."""
    loc = config.location(key) if config is not None else None
    if loc:
        return Path(loc[0]).resolve().parent
    return Path.cwd()


def load_profiles(config=None) -> dict[str, Profile]:
    data = load_rules_file("profiles.toml").get("profile", {})
    out: dict[str, Profile] = {}
    for name, entry in data.items():
        settings = {k: v for k, v in entry.items() if k != "description"}
        out[name] = Profile(name, settings, entry.get("description", ""), "rules/profiles.toml")
    for name, entry in (_cfg_get(config, "profile", {}) or {}).items():
        key = f"profile.{name}"
        if not _NAME.match(name) or name in _RESERVED:
            raise AuditorError(f"profile name {name!r} cannot be a cargo profile "
                               f"(letters, digits, - and _; not {', '.join(sorted(_RESERVED))})", _where(config, key))
        if name in _BUILTIN_CARGO and "inherits" in entry:
            raise AuditorError(f"profile {name!r} is cargo's own and cannot set `inherits`", _where(config, key + ".inherits"))
        base = out.get(name)
        settings = dict(base.settings) if base else {}
        settings.update({k: v for k, v in entry.items() if k != "description"})
        description = entry.get("description") or (base.description if base else "") or _describe(settings)
        out[name] = Profile(name, settings, description, config.source(key))
    return out


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} = {literal(v)}" for k, v in settings.items() if k != "inherits")


def _allocator_from(name: str, entry: dict, base_dir: Path, origin: str, where: str | None) -> Allocator:
    source = {k: entry[k] for k in _SOURCE_KEYS if k in entry}
    if "path" in source:
        p = Path(source["path"])
        source["path"] = str((p if p.is_absolute() else base_dir / p).resolve())
    inject = entry.get("inject", True)
    if inject:
        missing = [k for k in ("crate", "type", "item") if not entry.get(k)]
        if not any(k in source for k in ("version", "path", "git")):
            missing.append("version, path or git")
        if missing:
            raise AuditorError(f"allocator {name!r} needs {', '.join(missing)} to be injected", where)
        if "path" in source and "git" in source:
            raise AuditorError(f"allocator {name!r}: give either path or git, not both", where)
    return Allocator(
        name=name, inject=inject, crate=entry.get("crate"), source=source,
        features=list(entry.get("features", [])), default_features=entry.get("default-features"),
        type=entry.get("type"), item=entry.get("item"), description=entry.get("description", ""),
        matrix=entry.get("matrix", True), origin=origin,
    )


def load_allocators(config=None) -> dict[str, Allocator]:
    table = load_rules_file("allocators.toml").get("allocator", {})
    repo = rules_dir().parent
    raw: dict[str, tuple[dict, Path, str, str | None]] = {
        name: (dict(entry), repo, "rules/allocators.toml", None) for name, entry in table.items()
    }
    for name, entry in (_cfg_get(config, "allocator", {}) or {}).items():
        key = f"allocator.{name}"
        if not _NAME.match(name):
            raise AuditorError(f"allocator name {name!r}: use letters, digits, - and _", _where(config, key))
        merged, base_dir = dict(raw[name][0]) if name in raw else {}, repo
        if any(k in entry for k in ("version", "path", "git")):
            # A new source replaces the old one entirely (a path override drops the version).
            for k in _SOURCE_KEYS:
                merged.pop(k, None)
            src_key = next(k for k in ("path", "git", "version") if k in entry)
            base_dir = _config_base(config, f"{key}.{src_key}")
        elif name in raw:
            base_dir = raw[name][1]
        merged.update(entry)
        raw[name] = (merged, base_dir, config.source(key), _where(config, key))
    return {name: _allocator_from(name, e, base, origin, where) for name, (e, base, origin, where) in raw.items()}


def _select(kind: str, known: dict, wanted, default: list[str], where: str | None) -> list:
    if wanted is None:
        return [known[n] for n in default]
    if isinstance(wanted, str):
        wanted = [w for w in wanted.split(",")]
    names = [w.strip() for w in wanted if w.strip()]
    if not names:
        raise AuditorError(f"no {kind}s selected", where)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise AuditorError(f"unknown {kind} {', '.join(map(repr, unknown))} (known: {', '.join(known)})", where)
    out = []
    for n in names:
        if known[n] not in out:
            out.append(known[n])
    return out


def build_matrix(config=None, profiles=None, allocators=None) -> Matrix:
    """Profiles and allocators to build; explicit lists win over `scan.*` config keys."""
    all_profiles = load_profiles(config)
    all_allocators = load_allocators(config)
    p_where = "--profiles" if profiles is not None else _where(config, "scan.profiles")
    a_where = "--allocators" if allocators is not None else _where(config, "scan.allocators")
    if profiles is None:
        profiles = _cfg_get(config, "scan.profiles")
    if allocators is None:
        allocators = _cfg_get(config, "scan.allocators")
    chosen_p = _select("profile", all_profiles, profiles, list(all_profiles), p_where)
    chosen_a = _select("allocator", all_allocators, allocators,
                       [n for n, a in all_allocators.items() if a.matrix], a_where)
    return Matrix(chosen_p, chosen_a)


def match_allocator(type_text: str, dependencies: set[str], allocators: dict[str, Allocator]) -> Allocator | None:
    """The known allocator a crate's own `static X: TYPE` most likely is."""
    t = re.sub(r"\s+", "", type_text)
    last = re.sub(r"<.*$", "", t).split("::")[-1]
    first = t.split("::")[0] if "::" in t else None
    best = None
    for a in allocators.values():
        if not a.inject or not a.type:
            continue
        a_last = re.sub(r"<.*$", "", a.type.replace(" ", "")).split("::")[-1]
        crate_known = a.crate_ident in dependencies or (first is not None and first == a.crate_ident)
        if a.type.replace(" ", "") == t and crate_known:
            return a
        if a_last == last and crate_known and best is None:
            best = a
    if best is None:
        for a in allocators.values():
            if a.inject and first is not None and first == a.crate_ident:
                return a
    return best


def pin_allocator(crate: CrateInfo, matrix: Matrix, config: ConfigView | None) -> list[str]:
    """A crate with its own #[global_allocator] gets only that allocator, not injected
    ones: the matrix's allocator column becomes that one entry. Returns the notice."""
    own = crate.own_allocator
    if not own:
        return []
    known = load_allocators(config)
    entry = match_allocator(own["type"], crate.dependencies, known) if own["type"] else None
    name = entry.name if entry else "own"
    places = ", ".join(f"{d['file']}:{d['line']}" for d in own["all"])
    candidates = [e.name for e in (match_allocator(d["type"] or "", crate.dependencies, known) for d in own["all"]) if e]
    pinned = Allocator(name=name, inject=False, crate=entry.crate if entry else None,
                       type=own["type"], description=(entry.description if entry else "the crate's own allocator"),
                       origin=places, pinned_at=places, candidates=sorted(set(candidates)))
    dropped = [a.name for a in matrix.allocators if a.name != name]
    matrix.allocators[:] = [pinned]
    if own["type"] is None:
        what = "several, chosen by cfg: " + "; ".join(d["type"] or "?" for d in own["all"])
    else:
        what = own["type"] + (f" = {name}" if entry else "")
    msg = f"{places}: the crate declares its own #[global_allocator] ({what}); allocator column limited to it"
    if dropped:
        msg += f" (not injected: {', '.join(dropped)})"
    return [msg]
