"""Cargo target dirs kept between scans, so a re-scan after an edit builds incrementally.

Layout: `<cache>/targets/<crate id>/` (one per scanned workspace + package) holds
`t/<unit>/` (one cargo target dir per work unit: a profile), `crate.json` (what it is
for), `stamps.json` (see below) and `.lock`. A scan holds the lock while it builds; a
second scan of the same crate at the same time, and `auditor cache prune`, leave a
locked store alone (the second scan builds in throw-away target dirs instead).

Cargo decides freshness of path packages by file mtimes. The shadow copy is made anew
by every scan with the user's mtimes preserved, but the files auditor generates or
rewrites (the manifest with the injected dependency, the crate root with its `extern
crate` line, the glue crate) would get a new mtime each time and rebuild everything.
`stamps.json` remembers, per generated file, the hash of its content and the mtime it
was given: identical content gets the same mtime back, new content a new one. Cargo
then rebuilds exactly what changed — never less: a changed file always gets a newer mtime.

The store is bounded: after a scan that built something, the least recently used
crates' dirs are removed until the whole is under `max-target-size` (rules/scan.toml,
or AUDITOR_TARGET_CACHE_SIZE).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.units import parse_bytes

_LAST_USED = ".last-used"


def max_target_size() -> int:
    """The bound on `<cache>/targets` in bytes (env AUDITOR_TARGET_CACHE_SIZE, else data)."""
    raw = os.environ.get("AUDITOR_TARGET_CACHE_SIZE")
    where = "AUDITOR_TARGET_CACHE_SIZE"
    if raw is None:
        raw = load_rules_file("scan.toml").get("cache", {}).get("max-target-size", "2 GiB")
        where = "rules/scan.toml [cache] max-target-size"
    try:
        return parse_bytes(raw.strip() if isinstance(raw, str) else raw, what=where)
    except ValueError as e:
        raise AuditorError(str(e)) from None


def dir_size(path: Path) -> int:
    """Bytes of the regular files under path (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            total += st.st_size
    return total


def _try_lock(path: Path) -> int | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class TargetStore:
    """One crate's persistent target dirs; `acquire()` False means another scan has them."""

    def __init__(self, cache_root: Path, ident: str, about: dict[str, Any]):
        self.root = cache_root / "targets"
        self.dir = self.root / ident
        self.about = about
        self._fd: int | None = None
        self._stamps: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.used = False  # a build ran in it (then the size bound is applied at release)

    def acquire(self, immutable: str = "") -> bool:
        """Lock the store for this scan. `immutable` hashes the sources cargo never checks
        for changes (directory and local-registry sources: vendored crates are fresh by
        version for cargo): when it differs from the last scan's, the target dirs go."""
        fd = _try_lock(self.dir / ".lock")
        if fd is None:
            return False
        self._fd = fd
        marker = self.dir / "immutable-inputs"
        try:
            old = marker.read_text(encoding="utf-8")
        except OSError:
            old = None
        if old != immutable:
            shutil.rmtree(self.dir / "t", ignore_errors=True)
            marker.write_text(immutable, encoding="utf-8")
        try:
            self._stamps = json.loads((self.dir / "stamps.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._stamps = {}
        (self.dir / "crate.json").write_text(json.dumps(self.about), encoding="utf-8")
        (self.dir / _LAST_USED).touch()
        return True

    def target_dir(self, name: str) -> Path:
        d = self.dir / "t" / name
        d.mkdir(parents=True, exist_ok=True)
        self.used = True
        return d

    def stamp(self, path: Path) -> None:
        """Give a generated file the mtime it had when its content was last the same."""
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return
        key = str(path)
        with self._lock:
            old = self._stamps.get(key)
            if old and old[0] == sha:
                os.utime(path, ns=(old[1], old[1]))
            else:
                # A new content: strictly newer than any mtime this path had before.
                now = max(time.time_ns(), (old[1] + 1_000_000) if old else 0)
                os.utime(path, ns=(now, now))
                self._stamps[key] = [sha, now]

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            tmp = tempfile.NamedTemporaryFile("w", dir=self.dir, prefix=".stamps.", delete=False, encoding="utf-8")
            with tmp:
                json.dump(self._stamps, tmp)
            os.replace(tmp.name, self.dir / "stamps.json")
        except OSError:
            pass
        fd, self._fd = self._fd, None
        os.close(fd)
        if self.used:
            prune(self.root.parent, max_target_size(), keep=self.dir)


@dataclass
class StoreInfo:
    path: Path
    bytes: int
    last_used: float
    locked: bool
    about: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "last_used": self.last_used, "in_use": self.locked,
                **{k: self.about.get(k) for k in ("crate", "workspace_root")}}


def stores(cache_root: Path) -> list[StoreInfo]:
    """Every crate's target store, least recently used first."""
    root = cache_root / "targets"
    out = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    for d in entries:
        if not d.is_dir() or d.name.startswith("."):
            continue
        try:
            last = (d / _LAST_USED).stat().st_mtime
        except OSError:
            last = 0.0
        try:
            about = json.loads((d / "crate.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            about = {}
        fd = _try_lock(d / ".lock")
        if fd is not None:
            os.close(fd)
        out.append(StoreInfo(d, dir_size(d), last, fd is None, about))
    out.sort(key=lambda s: s.last_used)
    return out


def prune(cache_root: Path, max_bytes: int, keep: Path | None = None) -> list[StoreInfo]:
    """Remove least recently used target stores until the rest fit in max_bytes; `keep`
    (the store just used) goes last. Stores in use by a running scan are never touched.
    Returns what was removed."""
    infos = stores(cache_root)
    total = sum(s.bytes for s in infos)
    removed: list[StoreInfo] = []
    order = [s for s in infos if s.path != keep] + [s for s in infos if s.path == keep]
    for s in order:
        if total <= max_bytes:
            break
        fd = _try_lock(s.path / ".lock")
        if fd is None:
            continue
        try:
            # Rename first, so no scan can pick up a half-removed store.
            trash = s.path.with_name(f".removing-{s.path.name}-{os.getpid()}")
            os.rename(s.path, trash)
        except OSError:
            os.close(fd)
            continue
        os.close(fd)
        shutil.rmtree(trash, ignore_errors=True)
        total -= s.bytes
        removed.append(s)
    return removed


# --------------------------------------------------------------------------- `auditor cache`

# native: the compiled modules' machine code (auditor.wasm.native: code reader, item graph, demangler), one file per module and wasmtime version
_RESULT_KINDS = ("variants", "probes", "modules", "metadata", "toolchains", "native")


@dataclass
class CacheReport:
    """`auditor cache info` / `auditor cache prune`: what the cache holds (and removed)."""

    KIND = "cache"
    path: Path
    action: str  # info | prune
    results: dict[str, dict[str, int]]  # kind -> {"entries", "bytes"}
    targets: list[StoreInfo]
    max_target_bytes: int
    removed: list[StoreInfo]
    removed_results: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "auditor.cache/1", "path": str(self.path), "action": self.action,
                "results": self.results, "targets": [t.to_json() for t in self.targets],
                "target_bytes": sum(t.bytes for t in self.targets), "max_target_bytes": self.max_target_bytes,
                "removed": [t.to_json() for t in self.removed], "removed_results": self.removed_results}

    def exit_code(self) -> int:
        return 0


def _results(cache_root: Path) -> dict[str, dict[str, int]]:
    out = {}
    for kind in _RESULT_KINDS:
        d = cache_root / kind
        if kind in ("variants", "probes", "modules"):
            entries = sum(1 for sub in d.glob("*/*") if sub.is_dir()) if d.is_dir() else 0
        elif kind == "native":
            entries = sum(1 for _ in d.glob("*.cwasm")) if d.is_dir() else 0
        else:
            entries = sum(1 for _ in d.glob("*.json")) if d.is_dir() else 0
        out[kind] = {"entries": entries, "bytes": dir_size(d) if d.is_dir() else 0}
    return out


def cache_info(cache_root: Path) -> CacheReport:
    return CacheReport(cache_root, "info", _results(cache_root), stores(cache_root), max_target_size(), [], [])


def cache_prune(cache_root: Path, max_bytes: int = 0, everything: bool = False) -> CacheReport:
    """Remove target stores down to max_bytes (0: all that no scan is using); with
    `everything`, the cached results too (every variant is rebuilt next time)."""
    removed = prune(cache_root, max_bytes)
    removed_results = []
    if everything:
        try:
            (cache_root / "filehashes.json").unlink()
        except OSError:
            pass
        for kind in _RESULT_KINDS:
            d = cache_root / kind
            if d.is_dir():
                trash = d.with_name(f".removing-{kind}-{os.getpid()}")
                try:
                    os.rename(d, trash)
                except OSError:
                    continue
                shutil.rmtree(trash, ignore_errors=True)
                removed_results.append(kind)
    return CacheReport(cache_root, "prune", _results(cache_root), stores(cache_root), max_target_size(), removed,
                       removed_results)
