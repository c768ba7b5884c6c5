"""The crate a scan builds: which package, where its workspace is, what it reads.

`cargo metadata --no-deps` is the authority on workspaces (member globs, inherited keys,
target auto-discovery) and reads nothing from the network. Everything a build reads
from disk (the workspace tree, path dependencies outside it, cargo config files) is
listed here too, so the cache can key on its contents and the shadow copy can keep
outside paths reachable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass, field
from pathlib import Path

from auditor.build import invocations
from auditor.errors import AuditorError
from auditor.manifest import locate
from auditor.records.scan import AllocatorPlaceRecord, CrateRecord, OwnAllocatorRecord

# Never copied nor hashed: version control and build output.
SKIP_DIRS = {".git", ".hg", ".svn", ".jj"}
# Auditor's own config files: not build inputs (left out of build cache keys).
AUDITOR_CONFIGS = ("auditor.toml", ".auditor.toml")
_DEP_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")
_GLOBAL_ALLOC = re.compile(r"#\s*\[\s*global_allocator\s*\]")
_STATIC = re.compile(r"static\s+(?:mut\s+)?[A-Za-z_][A-Za-z0-9_]*\s*:\s*(?P<type>[^=;]+?)\s*=")


@dataclass
class CrateInfo:
    name: str
    version: str
    manifest_path: Path  # absolute, in the user's tree
    workspace_root: Path  # directory
    lib_src: Path  # crate root of the lib target
    lib_name: str  # the lib target's name (the .wasm is named after it)
    crate_types: list[str]
    dependencies: set[str]  # rust names of direct dependencies
    members: list[str]
    target_directory: Path
    outside_paths: list[Path] = field(default_factory=list)  # path deps outside the workspace root
    own_allocator: OwnAllocatorRecord | None = None
    has_build_script: bool = False  # a workspace member has build.rs (it could read any file)

    @property
    def package_dir(self) -> Path:
        return self.manifest_path.parent

    def to_json(self, cwd: Path | None = None) -> CrateRecord:
        return {
            "name": self.name,
            "version": self.version,
            "manifest_path": _display(self.manifest_path, cwd),
            "workspace_root": _display(self.workspace_root, cwd),
            # absolute: `auditor check` run from another directory still finds the budgets
            "package_dir": str(self.package_dir),
            "lib": self.lib_name,
            "crate_types": self.crate_types,
            "own_global_allocator": self.own_allocator,
        }


def _display(p: Path, cwd: Path | None) -> str:
    cwd = cwd or Path.cwd()
    try:
        return str(p.relative_to(cwd)) or "."
    except ValueError:
        return str(p)


def cargo_metadata(manifest: Path, cargo: str, env: dict) -> dict:
    """`cargo metadata --no-deps` of the user's manifest (reads, never writes)."""
    argv = [cargo, "metadata", "--no-deps", "--format-version", "1", "--manifest-path", str(manifest)]
    invocations.count("metadata")
    try:
        p = subprocess.run(argv, cwd=manifest.parent, env=env, capture_output=True, text=True, timeout=120,
                           input="")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AuditorError(f"cargo metadata failed: {e}", str(manifest)) from None
    if p.returncode != 0:
        lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
        first = next((i for i, l in enumerate(lines) if l.startswith("error")), 0)
        msg = " ".join(l.strip() for l in lines[first:first + 4]) or "cargo metadata failed"
        raise AuditorError(msg, _display(manifest, None))
    return json.loads(p.stdout)


def find_manifest(path: Path) -> Path:
    """The absolute Cargo.toml for a crate/workspace dir or manifest path (exit 2 if none)."""
    return locate.find_manifest(path).resolve()


def _metadata_layout(manifest: Path, ws_root: Path, outside: list[str]) -> str:
    """What `cargo metadata --no-deps` reads: the manifests and cargo configs from the
    package up to `/` (cargo looks for a workspace root there), the workspace's file
    list (target auto-discovery, member globs) and its manifests, and the manifests of
    path dependencies outside it."""
    h = hashlib.sha256()

    def add(f: Path) -> None:
        try:
            h.update(f"{f}\0".encode() + hashlib.sha256(f.read_bytes()).digest())
        except OSError:
            h.update(f"{f}\0-".encode())

    for d in (manifest.parent, *manifest.parent.parents):
        for f in (d / "Cargo.toml", d / ".cargo" / "config", d / ".cargo" / "config.toml"):
            add(f)
    for f in walk_tree(ws_root):
        h.update(f"{f}\n".encode())
        if f.name == "Cargo.toml":
            add(f)
    for o in outside:
        add(Path(o) / "Cargo.toml")
    return h.hexdigest()


def cached_metadata(manifest: Path, cargo: str, env: dict, cache_dir: Path | None, tool_key: str = "") -> dict:
    """`cargo metadata --no-deps`, or its stored answer when nothing it reads changed
    (a warm re-scan starts no cargo at all)."""
    if cache_dir is None:
        return cargo_metadata(manifest, cargo, env)
    env_key = sorted((k, v) for k, v in env.items() if k.startswith(("CARGO", "RUST")))
    ident = hashlib.sha256(json.dumps([str(manifest), cargo, tool_key, env_key]).encode()).hexdigest()[:32]
    store = cache_dir / "metadata" / f"{ident}.json"
    try:
        entry = json.loads(store.read_text(encoding="utf-8"))
        ws = Path(entry["meta"]["workspace_root"])
        if entry["layout"] == _metadata_layout(manifest, ws, entry["outside"]):
            return entry["meta"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    meta = cargo_metadata(manifest, cargo, env)
    ws_root = Path(meta["workspace_root"]).resolve()
    members = set(meta.get("workspace_members", []))
    outside = [str(p) for p in outside_path_deps(meta, [p for p in meta["packages"] if p["id"] in members], ws_root)]
    entry = {"meta": meta, "outside": outside, "layout": _metadata_layout(manifest, ws_root, outside)}
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(tmp, store)
    except OSError:
        pass
    return meta


def load_crate(path: Path, cargo: str, env: dict, package: str | None = None, *,
               cache_dir: Path | None = None, tool_key: str = "") -> tuple[CrateInfo, list[str]]:
    """The package to scan and notices; AuditorError for no cdylib or an ambiguous workspace."""
    manifest = find_manifest(path)
    meta = cached_metadata(manifest, cargo, env, cache_dir, tool_key)
    members = set(meta.get("workspace_members", []))
    pkgs = [p for p in meta["packages"] if p["id"] in members]
    notices: list[str] = []

    def is_cdylib(p):
        return any("cdylib" in t.get("crate_types", []) for t in p["targets"])

    if package:
        chosen = [p for p in pkgs if p["name"] == package]
        if not chosen:
            raise AuditorError(f"-p {package}: no such workspace member (members: {', '.join(sorted(p['name'] for p in pkgs))})",
                               _display(manifest, None))
        pkg = chosen[0]
    else:
        own = [p for p in pkgs if Path(p["manifest_path"]).resolve() == manifest]
        if own:
            pkg = own[0]
        else:
            cdylibs = [p for p in pkgs if is_cdylib(p)]
            if len(cdylibs) == 1:
                pkg = cdylibs[0]
                notices.append(f"workspace member {pkg['name']} chosen: the only cdylib member (others: "
                               f"{', '.join(sorted(p['name'] for p in pkgs if p is not pkg)) or 'none'})")
            elif not cdylibs:
                raise AuditorError("no workspace member has a cdylib target: add crate-type = [\"cdylib\"] under [lib] "
                                   "in the member's Cargo.toml", _display(manifest, None))
            else:
                raise AuditorError(f"workspace has {len(cdylibs)} cdylib members; choose one with -p: "
                                   f"{', '.join(sorted(p['name'] for p in cdylibs))}", _display(manifest, None))
    libs = [t for t in pkg["targets"] if "cdylib" in t.get("crate_types", [])]
    pkg_manifest = Path(pkg["manifest_path"]).resolve()
    if not libs:
        types = next((t.get("crate_types") for t in pkg["targets"] if "lib" in t.get("kind", []) or "rlib" in t.get("kind", [])), None)
        has = f" (its lib is crate-type = {json.dumps(types)})" if types else " (it has no [lib] target)"
        raise AuditorError(f"package {pkg['name']} builds no .wasm{has}: add crate-type = [\"cdylib\"] "
                           f"(or [\"cdylib\", \"rlib\"]) under [lib] in its Cargo.toml", _display(pkg_manifest, None))
    lib = libs[0]
    ws_root = Path(meta["workspace_root"]).resolve()
    deps = {(d.get("rename") or d["name"]).replace("-", "_") for d in pkg.get("dependencies", [])}
    info = CrateInfo(
        name=pkg["name"], version=pkg["version"], manifest_path=pkg_manifest, workspace_root=ws_root,
        lib_src=Path(lib["src_path"]).resolve(), lib_name=lib["name"].replace("-", "_"),
        crate_types=list(lib.get("crate_types", [])), dependencies=deps,
        members=sorted(p["name"] for p in pkgs), target_directory=Path(meta["target_directory"]),
    )
    info.outside_paths = outside_path_deps(meta, pkgs, ws_root)
    info.has_build_script = any("custom-build" in t.get("kind", []) for p in pkgs for t in p["targets"])
    info.own_allocator = find_global_allocator(info.lib_src)
    return info, notices


def outside_path_deps(meta: dict, pkgs: list[dict], ws_root: Path) -> list[Path]:
    """Package dirs of path dependencies outside the workspace root, transitively."""
    found: list[Path] = []
    todo: list[Path] = []
    for p in pkgs:
        for d in p.get("dependencies", []):
            if d.get("path"):
                todo.append(Path(d["path"]).resolve())
    todo += _manifest_paths(ws_root / "Cargo.toml", ("patch", "replace", "workspace"))
    seen: set[Path] = set()
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        if _inside(d, ws_root):
            continue
        found.append(d)
        todo += _manifest_paths(d / "Cargo.toml", ())
    return sorted(found)


def _inside(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def _manifest_paths(manifest: Path, extra: tuple[str, ...]) -> list[Path]:
    """Absolute dirs of every `path = ...` dependency a manifest names."""
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    base = manifest.parent
    out = []
    for table in dependency_tables(data, extra):
        for dep in table.values():
            if isinstance(dep, dict) and isinstance(dep.get("path"), str):
                out.append((base / dep["path"]).resolve())
    return out


def dependency_tables(data: dict, extra: tuple[str, ...] = ("patch", "replace", "workspace")) -> list[dict]:
    """Every table of dependency specs in a parsed manifest (plain dicts or tomlkit tables)."""
    out = [data[t] for t in _DEP_TABLES if isinstance(data.get(t), dict)]
    for spec in (data.get("target") or {}).values():
        if isinstance(spec, dict):
            out += [spec[t] for t in _DEP_TABLES if isinstance(spec.get(t), dict)]
    if "workspace" in extra and isinstance((data.get("workspace") or {}).get("dependencies"), dict):
        out.append(data["workspace"]["dependencies"])
    if "patch" in extra:
        out += [t for t in (data.get("patch") or {}).values() if isinstance(t, dict)]
    if "replace" in extra and isinstance(data.get("replace"), dict):
        out.append(data["replace"])
    return out


def _strip_comments(text: str) -> str:
    """Blank out // and /* */ comments keeping line numbers (strings are rare around attrs)."""
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def find_global_allocator(lib_src: Path) -> OwnAllocatorRecord | None:
    """Where the crate declares its own `#[global_allocator]` (its src tree), if it does.

    Several declarations (behind cfg features, say) are all listed; `type` is then None
    because which one is linked depends on the features.
    """
    found: list[AllocatorPlaceRecord] = []
    files = [lib_src] + [f for f in walk_tree(lib_src.parent) if f.suffix == ".rs" and f != lib_src]
    for f in files:
        try:
            text = _strip_comments(f.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for m in _GLOBAL_ALLOC.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            s = _STATIC.search(text, m.end())
            type_text = re.sub(r"\s+", " ", s.group("type")).strip() if s else None
            shown = _display(f, None)
            found.append({"file": shown, "line": line, "type": type_text})
    if not found:
        return None
    several = len({d["type"] for d in found}) > 1
    return {"file": found[0]["file"], "line": found[0]["line"], "type": None if several else found[0]["type"],
            "all": found}


def is_build_output(d: Path) -> bool:
    """A cargo target dir (it marks itself) or any dir named `target` next to a manifest."""
    return (d / "CACHEDIR.TAG").is_file() or (d / ".rustc_info.json").is_file() or (
        d.name == "target" and (d.parent / "Cargo.toml").is_file())


def walk_tree(root: Path, skip: Set[Path] = frozenset()) -> Iterator[Path]:
    """Files under root that a build can read, sorted, without VCS and build output."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            p = here / d
            if d in SKIP_DIRS or p in skip or is_build_output(p):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            yield here / f


def fingerprint(paths: list[Path], skip: Set[Path] = frozenset()) -> str:
    """Content hash of every file under the given dirs (and of given files)."""
    return _tree_digest(paths, skip, lambda f: f.read_bytes())


FileView = Callable[[Path], "bytes | tuple[int, bytes] | None"]


def _tree_digest(paths: list[Path], skip: Set[Path], view: FileView) -> str:
    """One walk for both fingerprints: `view` gives a file's bytes, or (size, sha256
    digest) already computed, or None to leave the file out."""
    h = hashlib.sha256()
    for root in paths:
        h.update(f"root {root}\n".encode())
        if root.is_file():
            h.update(hashlib.sha256(root.read_bytes()).digest())
            continue
        if not root.is_dir():
            h.update(b"missing\n")
            continue
        for f in walk_tree(root, skip):
            rel = f.relative_to(root).as_posix()
            try:
                if f.is_symlink():
                    h.update(f"link {rel} {os.readlink(f)}\n".encode())
                    continue
                seen = view(f)
            except OSError:
                continue
            if seen is None:
                continue
            size, digest = (len(seen), hashlib.sha256(seen).digest()) if isinstance(seen, bytes) else seen
            h.update(f"file {rel} {size}\n".encode())
            h.update(digest)
    return h.hexdigest()


def cargo_config_files(start: Path) -> list[Path]:
    """Cargo config files cargo reads when run in `start` (ancestors, then CARGO_HOME)."""
    out = []
    for d in (start, *start.parents):
        for name in ("config", "config.toml"):
            f = d / ".cargo" / name
            if f.is_file():
                out.append(f)
    home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
    for name in ("config", "config.toml"):
        f = home / name
        if f.is_file() and f not in out:
            out.append(f)
    return out


def _build_view(f: Path, raw_manifests: bool) -> bytes | None:
    """A file's bytes as a build sees them: None for auditor's own config files, a
    manifest without its `[package|workspace.metadata.auditor]` tables (cargo never reads
    those); raw bytes when a build script could read them (`raw_manifests`)."""
    if raw_manifests:
        return f.read_bytes()
    if f.name in AUDITOR_CONFIGS:
        return None
    data = f.read_bytes()
    if f.name != "Cargo.toml" or b"auditor" not in data:
        return data
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return data  # cargo will say what is wrong with it
    for table in ("package", "workspace"):
        meta = (doc.get(table) or {}).get("metadata")
        if isinstance(meta, dict):
            meta.pop("auditor", None)
    return b"parsed manifest\n" + json.dumps(doc, sort_keys=True, default=str).encode()


class HashMemo:
    """File hashes remembered by (size, mtime, ctime, inode), so a warm re-scan of a big
    tree (a vendor directory, say) reads only what changed. Like git's index, an entry
    is trusted only when the file was last modified at least 2 s before it was hashed
    (a write within the filesystem's timestamp granularity cannot hide behind it); any
    write changes ctime, which no tool can set back."""

    RACY_NS = 2_000_000_000

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list] = {}
        self.dirty = False
        if path is not None:
            try:
                self.entries = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}

    def digest(self, f: Path) -> tuple[int, bytes]:
        """(size, sha256 digest) of the file's bytes."""
        st = f.stat()
        sig = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        key = str(f)
        hit = self.entries.get(key)
        if hit is not None and hit[:4] == sig:
            return st.st_size, bytes.fromhex(hit[4])
        data = f.read_bytes()
        d = hashlib.sha256(data).digest()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > self.RACY_NS and len(data) == st.st_size:
            self.entries[key] = sig + [d.hex()]
            self.dirty = True
        return len(data), d

    MAX_ENTRIES = 200_000

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        if len(self.entries) > self.MAX_ENTRIES:  # bounded: start over rather than grow forever
            self.entries = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self.entries), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
        self.dirty = False


def build_fingerprint(paths: list[Path], skip: Set[Path] = frozenset(), *, raw_manifests: bool = False,
                      memo: HashMemo | None = None) -> str:
    """Content hash of what a build reads under the given dirs (files given directly are
    hashed raw): as `fingerprint`, without auditor's own settings (see `_build_view`)."""

    def view(f: Path) -> bytes | tuple[int, bytes] | None:
        if memo is not None and f.name != "Cargo.toml" and (raw_manifests or f.name not in AUDITOR_CONFIGS):
            return memo.digest(f)
        return _build_view(f, raw_manifests)

    return _tree_digest(paths, skip, view)


def config_sources(configs: list[Path]) -> list[Path]:
    """Directories cargo config files make build inputs: `[source.*] directory` and
    `local-registry` (vendored crates), `paths` overrides and `[patch.*]` paths.
    Relative paths are relative to the directory holding `.cargo/` (cargo's rule)."""
    out: list[Path] = []
    for cfg in configs:
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        base = cfg.parent.parent
        found: list[str] = [p for p in data.get("paths") or [] if isinstance(p, str)]
        for src in (data.get("source") or {}).values():
            if isinstance(src, dict):
                found += [src[k] for k in ("directory", "local-registry") if isinstance(src.get(k), str)]
        for reg in (data.get("patch") or {}).values():
            if isinstance(reg, dict):
                found += [d["path"] for d in reg.values() if isinstance(d, dict) and isinstance(d.get("path"), str)]
        for p in found:
            d = Path(os.path.normpath(base / p))
            if d not in out:
                out.append(d)
    return out
