"""Builds the project's test fixtures (Rust crates, .wat, C, malformed corpus) on demand.

Every build happens in a cache directory, never in the repository: the whole
`fixtures/` tree is copied there once (so workspace members and path dependencies
outside a crate keep their relative layout). Results are memoised per process and stored
on disk under a key of everything the build reads, so a session builds each variant
once, and so does a machine when the cache is kept.

The cache lives in a temporary directory removed at the end of the session (one per
pytest session, shared by its xdist workers), unless the environment variable
AUDITOR_FIXTURE_CACHE names a directory to keep between sessions. Keys include the
sources, the toolchain (`rustc -vV`, `cargo -V`, paths, env) and every build argument,
so a kept cache is never stale; entries are flock-ed, so sessions of several worktrees
can share one.

Rust fixtures build with a `Toolchain`: `rust163` (Debian's `/usr/bin/cargo` +
`/usr/bin/rustc`, overridable with AUDITOR_FIXTURE_CARGO / AUDITOR_FIXTURE_RUSTC) is the
default; `rust196` (Debian's rustc-web, unpacked into a prefix) comes from
AUDITOR_RUST196_PREFIX. AUDITOR_TOOLCHAINS ("1.63", "1.63,1.96") chooses which ones
the toolchain-parametrised tests run on; a chosen toolchain that is missing is an error.
"""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cargo_watch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CRATES = FIXTURES / "crates"
ALLOCATORS = FIXTURES / "allocators"
REAL = FIXTURES / "real"
#: Where a bare crate name is looked up, in order.
CRATE_DIRS = (CRATES, ALLOCATORS, REAL)
WAT_DIR = FIXTURES / "wat"
C_DIR = FIXTURES / "c"
MALFORMED_DIR = FIXTURES / "malformed"

CLANG = os.environ.get("AUDITOR_FIXTURE_CLANG", "clang-16")
CLANGXX = os.environ.get("AUDITOR_FIXTURE_CLANGXX", "clang++-16")

WASM32 = "wasm32-unknown-unknown"
WASI = "wasm32-wasi"
#: Allocator fixture crates by short name (the `probe` crate's cargo features).
ALLOCATOR_FEATURES = ("bump", "freelist", "arena")
#: wat2wasm flags for a .wat without a `;; wat2wasm:` line.
DEFAULT_WAT_FLAGS = ("--enable-all",)
#: Repository files outside fixtures/ that fixture crates use (copied along with them).
REPO_FILES_FOR_FIXTURES = ("auditor/runtime/probe_exports.rs",)
#: clang flags every C fixture gets (the file's `// clang:` line adds to them).
BASE_CLANG_FLAGS = ("--target=wasm32-unknown-unknown", "-nostdlib", "-Wl,--no-entry")

# Inherited variables that would change what cargo builds; tests set their own.
_SCRUBBED_ENV = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER",
                 "RUSTC_WORKSPACE_WRAPPER", "RUSTUP_TOOLCHAIN", "RUSTDOCFLAGS")


class FixtureError(RuntimeError):
    """A fixture could not be built; the message carries the command and its output."""


# --------------------------------------------------------------------------- cache

_memo: dict[str, Path] = {}
#: Set by tests/conftest.py for a session (and inherited by its xdist workers): a
#: directory of that session, removed at its end.
SESSION_DIR_ENV = "AUDITOR_FIXTURE_SESSION_DIR"


@cache
def session_dir() -> Path:
    """This session's own directory (scan caches; fixture builds unless kept)."""
    named = os.environ.get(SESSION_DIR_ENV)
    if named:
        root = Path(named).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root
    root = Path(tempfile.mkdtemp(prefix="auditor-fixtures-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@cache
def cache_dir() -> Path:
    """Root of the fixture builds: AUDITOR_FIXTURE_CACHE when set (kept), else session_dir()."""
    kept = os.environ.get("AUDITOR_FIXTURE_CACHE")
    if kept:
        root = Path(kept).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root
    return session_dir()


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _tree_digest(root: Path) -> str:
    """Hash of every file under root (paths and contents), skipping target/ dirs."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if "target" in rel.parts:
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialises work on one cache entry across processes sharing a kept cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ignore_targets(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "target"]


def _cached_file(kind: str, inputs: object, filename: str, make: Callable[[Path], None],
                 root: Path | None = None) -> Path:
    """ROOT/KIND/<hash of inputs>/FILENAME, made once by make(path) unless present
    (ROOT: cache_dir(), or the caller's)."""
    key = _digest(kind, inputs)
    if key not in _memo:
        out = (root or cache_dir()) / kind / key / filename
        with _locked(out.parent):
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_name(out.name + ".partial")
                make(partial)  # renamed only when complete: a failed tool leaves no `out`
                partial.rename(out)
        _memo[key] = out
    return _memo[key]


def cached_dir(kind: str, inputs: object, make: Callable[[Path], None]) -> Path:
    """cache/KIND/<hash of inputs>/, filled once by make(empty_dir) and then reused.

    For one-time setup several tests (or xdist workers, or concurrent sessions on a kept
    cache) may ask for at once (a vendored registry, a converted corpus): the first
    caller makes it under a lock, into a temporary dir renamed when complete, and every
    other caller waits and gets the finished directory. `inputs` must name everything
    the contents depend on (JSON-serialisable).
    """
    key = _digest(kind, inputs)
    if key not in _memo:
        out = cache_dir() / kind / key
        with _locked(out):
            if not out.is_dir():
                partial = out.with_name(out.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                make(partial)
                partial.rename(out)
        _memo[key] = out
    return _memo[key]


#: A directory that keeps the .wat and C fixtures' builds between sessions (tests/conftest.py
#: sets it to ~/.cache/auditor/test-tool-builds unless set; unset, "off" or empty: cache_dir()).
#: WHY: ~200 wat2wasm and ~40 clang runs a session made the same bytes from the same
#: sources. Their keys name the tool by its binary's bytes and its version line (not by
#: the name on PATH, as the session cache's do), the source and its absolute path, the
#: flags and the working directory (DWARF records the last two), so a kept build is the one
#: the tool would make now.
TOOL_BUILDS_ENV = "AUDITOR_TEST_TOOL_BUILDS"


def _tool_builds() -> Path | None:
    value = os.environ.get(TOOL_BUILDS_ENV, "")
    return None if value in ("", "off") else Path(value)


@cache
def tool_identity(tool: str) -> tuple[str, str]:
    """(name:size:sha256 of the resolved binary, first line of `tool --version`)."""
    found = shutil.which(tool) or tool
    real = os.path.realpath(found)
    digest = hashlib.sha256()
    try:
        with open(real, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        size = os.path.getsize(real)
        version = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return (tool, "missing")
    return (f"{os.path.basename(real)}:{size}:{digest.hexdigest()}", version.split("\n", 1)[0])


@cache
def fixtures_digest() -> str:
    h = hashlib.sha256(_tree_digest(FIXTURES).encode())
    for rel in REPO_FILES_FOR_FIXTURES:
        path = REPO / rel
        h.update(rel.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-"))
    return h.hexdigest()[:20]


@cache
def fixture_tree() -> Path:
    """The session's copy of `fixtures/` (plus REPO_FILES_FOR_FIXTURES); builds run in it.

    The copy keeps the repository layout, so relative paths between fixtures (and the
    probe crate's include! of the runtime's probe exports) resolve as in the repo.
    """
    root = cache_dir() / f"src-{fixtures_digest()}"
    dest = root / "fixtures"
    with _locked(root / "copy"):
        if not dest.is_dir():
            for rel in REPO_FILES_FOR_FIXTURES:
                if (REPO / rel).is_file():
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(REPO / rel, root / rel)
            tmp = root / "fixtures.partial"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(FIXTURES, tmp, ignore=_ignore_targets)
            tmp.rename(dest)
    return dest


def _run(cmd: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
         what: str = "") -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, input="")
    except FileNotFoundError as exc:
        raise FixtureError(f"{what or cmd[0]}: {exc}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        raise FixtureError(f"{what or cmd[0]} failed (exit {proc.returncode}):\n"
                           f"$ {shlex.join(cmd)}\n{tail}")
    return proc


# --------------------------------------------------------------------------- toolchains

#: Environment variable naming the prefix of the second toolchain (rustc-web 1.96);
#: unset, the prefix is RUST196_DEFAULT_PREFIX (the link scripts/setup.sh makes).
RUST196_PREFIX_ENV = "AUDITOR_RUST196_PREFIX"
RUST196_DEFAULT_PREFIX = REPO / ".toolchains" / "rust-1.96"
#: Environment variable choosing the toolchains of toolchain-parametrised tests
#: ("1.63", "1.63,1.96", or names: "rust163"); unset means REQUIRED_TOOLCHAINS.
TOOLCHAINS_ENV = "AUDITOR_TOOLCHAINS"
#: Toolchains CI has, because scripts/setup.sh installs them: a missing one fails the
#: tests that use it. rustc 1.96 comes with scripts/rust_web.sh.
REQUIRED_TOOLCHAINS = ("rust163", "rust196") if (REPO / "scripts" / "rust_web.sh").is_file() else ("rust163",)
#: Every toolchain the library knows, by name; aliases accepted by AUDITOR_TOOLCHAINS.
KNOWN_TOOLCHAINS = ("rust163", "rust196")
_ALIASES = {"1.63": "rust163", "163": "rust163", "1.96": "rust196", "196": "rust196"}


@dataclass(frozen=True)
class Toolchain:
    """One cargo + rustc pair and what a build with it needs.

    `env` is added to every build's environment (e.g. LD_LIBRARY_PATH for an unpacked
    prefix, RUSTC_BOOTSTRAP); `rustflags` go before any RUSTFLAGS a test passes (e.g.
    `--sysroot DIR` when the wasm32 std is not in rustc's own sysroot). Frozen and
    hashable: the version queries below are cached per toolchain.
    """

    name: str
    cargo: str
    rustc: str
    env: tuple[tuple[str, str], ...] = ()
    rustflags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)

    def environ(self) -> dict[str, str]:
        return dict(self.env)

    def with_env(self, **env: str) -> Toolchain:
        """The same toolchain with more build environment (another fingerprint, so
        other cache keys), e.g. cargo 1.65's sparse-registry switches for crates.io."""
        return dataclasses.replace(self, env=tuple(sorted({**self.environ(), **env}.items())))

    @property
    def rustc_vv(self) -> str:
        """`rustc -vV` of exactly this toolchain (part of every cache key)."""
        return _tool_output(self, self.rustc, "-vV")

    @property
    def cargo_version(self) -> str:
        return _tool_output(self, self.cargo, "-V")

    @property
    def release(self) -> str:
        """"1.63.0" (from `rustc -vV`'s `release:` line)."""
        for line in self.rustc_vv.splitlines():
            if line.startswith("release:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    @property
    def sysroot(self) -> Path:
        flags = list(self.rustflags)
        if "--sysroot" in flags[:-1]:
            return Path(flags[flags.index("--sysroot") + 1])
        return Path(_tool_output(self, self.rustc, "--print", "sysroot").strip())

    def has_target(self, target: str) -> bool:
        """Whether this toolchain's sysroot holds a std for `target`."""
        return (self.sysroot / "lib" / "rustlib" / target / "lib").is_dir()

    @property
    def fingerprint(self) -> str:
        """Digest of everything that makes this toolchain's output what it is."""
        return _digest(self.name, self.cargo, self.rustc, self.env, self.rustflags,
                       self.rustc_vv, self.cargo_version)


@cache
def _tool_output(tc: Toolchain, program: str, *args: str) -> str:
    env = {**os.environ, **tc.environ()}
    return _run([program, *args], env=env, what=f"{tc.name}: {Path(program).name} {' '.join(args)}").stdout


def _rust163() -> Toolchain:
    cargo = os.environ.get("AUDITOR_FIXTURE_CARGO", "/usr/bin/cargo")
    rustc = os.environ.get("AUDITOR_FIXTURE_RUSTC", "/usr/bin/rustc")
    return Toolchain("rust163", cargo, rustc, note="Debian's rustc 1.63 / cargo 1.65 at /usr/bin")


def _rust196() -> Toolchain:
    """rustc-web 1.96 unpacked by scripts/setup.sh: PREFIX/bin/{cargo,rustc} are wrappers
    that set their own LD_LIBRARY_PATH, and the wasm32 std is in rustc's sysroot, so the
    pair needs no extra environment or flags."""
    named = os.environ.get(RUST196_PREFIX_ENV)
    root = Path(named) if named else RUST196_DEFAULT_PREFIX
    where = f"{RUST196_PREFIX_ENV}={named}" if named else f"{RUST196_PREFIX_ENV} unset, so {root}"
    cargo, rustc = root / "bin" / "cargo", root / "bin" / "rustc"
    for tool in (cargo, rustc):
        if not os.access(tool, os.X_OK):
            raise FixtureError(f"toolchain rust196: {tool} is missing or not executable ({where}); "
                               f"run scripts/setup.sh, or set {TOOLCHAINS_ENV}=1.63 to run without it")
    return Toolchain("rust196", str(cargo), str(rustc), note=f"rustc-web 1.96 in {root}")


_FACTORIES: dict[str, Callable[[], Toolchain]] = {"rust163": _rust163, "rust196": _rust196}


def toolchain_name(name: str) -> str:
    """"rust163" for "rust163", "1.63" or "163"; FixtureError for an unknown name."""
    canonical = _ALIASES.get(name, name)
    if canonical not in KNOWN_TOOLCHAINS:
        raise FixtureError(f"unknown toolchain {name!r} (known: {', '.join(KNOWN_TOOLCHAINS)})")
    return canonical


def toolchain(name: str = "rust163") -> Toolchain:
    """The toolchain called `name` ("rust163", "rust196"; "1.63" and "1.96" work too).

    Raises FixtureError with a one-line reason when it is not installed or cannot
    build wasm32 (no std in its sysroot, rustc that does not run).
    """
    return _toolchain(toolchain_name(name))


@cache
def _toolchain(name: str) -> Toolchain:
    tc = _FACTORIES[name]()
    try:
        _ = (tc.rustc_vv, tc.cargo_version)  # both must run
    except FixtureError as exc:
        raise FixtureError(f"toolchain {name}: its rustc or cargo does not run: {exc}") from None
    if not tc.has_target(WASM32):
        raise FixtureError(f"toolchain {name}: no {WASM32} std under {tc.sysroot}/lib/rustlib "
                           f"(run scripts/setup.sh, or set {TOOLCHAINS_ENV} to leave {name} out)")
    return tc


def selected_toolchains() -> tuple[str, ...]:
    """Names chosen by AUDITOR_TOOLCHAINS (default REQUIRED_TOOLCHAINS), in KNOWN order."""
    raw = os.environ.get(TOOLCHAINS_ENV, "").replace(" ", "")
    if not raw:
        return REQUIRED_TOOLCHAINS
    names = {_ALIASES.get(part, part) for part in raw.split(",") if part}
    unknown = sorted(names - set(KNOWN_TOOLCHAINS))  # named in the error as written
    if unknown:
        raise FixtureError(f"{TOOLCHAINS_ENV}={raw}: unknown toolchain(s) {', '.join(unknown)} "
                           f"(known: 1.63, 1.96)")
    return tuple(n for n in KNOWN_TOOLCHAINS if n in names)


def _as_toolchain(tc: Toolchain | str | None) -> Toolchain:
    if tc is None:
        return toolchain("rust163")
    return tc if isinstance(tc, Toolchain) else toolchain(tc)


# --------------------------------------------------------------------------- Rust

CARGO = _rust163().cargo
RUSTC = _rust163().rustc


def rustc_version() -> str:
    """`rustc -vV` of the default toolchain (rust163)."""
    return toolchain("rust163").rustc_vv


def fixture_crate(name: str) -> Path:
    """fixtures/crates/NAME, fixtures/allocators/NAME or fixtures/real/NAME, in that order."""
    for base in CRATE_DIRS:
        if (base / name / "Cargo.toml").is_file():
            return base / name
    raise FixtureError(f"no fixture crate named {name!r} in {', '.join(map(str, CRATE_DIRS))}")


# Inherited variables that change what a build produces without being cargo's own:
# C compilers and flags for build scripts (cc crate), rustc bootstrap switches. They are
# part of every cache key; everything else inherited (PATH, HOME, ...) is not.
_KEYED_ENV = re.compile(r"^(CC|CXX|AR|CFLAGS|CXXFLAGS|CPPFLAGS|LDFLAGS|(CC|CXX|AR|CFLAGS|CXXFLAGS)_.*"
                        r"|TARGET_(CC|CXX|AR|CFLAGS|CXXFLAGS)|CRATE_CC_NO_DEFAULTS|RUSTC_BOOTSTRAP"
                        r"|SOURCE_DATE_EPOCH|CARGO_HOME|LD_LIBRARY_PATH)$")


def cargo_env(target_dir: Path, env: Mapping[str, str] | None = None, *,
              toolchain: Toolchain | str | None = None) -> dict[str, str]:
    """Environment for a reproducible fixture build with `toolchain` (default rust163).

    Inherited RUSTFLAGS, CARGO_* (except CARGO_HOME), RUSTC_WRAPPER and RUSTUP_TOOLCHAIN
    are dropped; the toolchain's env comes next, `env` last. The toolchain's rustflags
    are joined with an `env` RUSTFLAGS (theirs first).
    """
    tc = _as_toolchain(toolchain)
    out = {k: v for k, v in os.environ.items()
           if k not in _SCRUBBED_ENV and not (k.startswith("CARGO_") and k != "CARGO_HOME")}
    out.update(CARGO=tc.cargo, RUSTC=tc.rustc, CARGO_INCREMENTAL="0", CARGO_TERM_COLOR="never",
               CARGO_TARGET_DIR=str(target_dir))
    out.update(tc.environ())
    out.update(env or {})
    if tc.rustflags:
        out["RUSTFLAGS"] = shlex.join(tc.rustflags) + (f" {env['RUSTFLAGS']}" if env and env.get("RUSTFLAGS") else "")
    return out


def cargo_command(*, profile: str = "release", config: Iterable[str] = (),
                  target: str | None = WASM32, package: str | None = None,
                  features: Iterable[str] = (), no_default_features: bool = False,
                  mangling: str = "legacy", locked: bool = False, offline: bool = True,
                  toolchain: Toolchain | str | None = None) -> list[str]:
    """The `cargo build` argv build_crate runs (also handy to show in failures)."""
    if mangling not in ("legacy", "v0"):
        raise ValueError(f"mangling must be 'legacy' or 'v0', not {mangling!r}")
    cmd = [_as_toolchain(toolchain).cargo]
    for item in config:
        cmd += ["--config", item]
    if mangling == "v0":
        # Stable since rustc 1.59: no -Z / RUSTC_BOOTSTRAP needed. Only crates compiled
        # in this build get v0 names; the prebuilt std keeps legacy `_ZN` names.
        cmd += ["--config", 'build.rustflags=["-C", "symbol-mangling-version=v0"]']
    cmd += ["build", *(["--offline"] if offline else []), "--message-format=json-render-diagnostics"]
    if locked:
        cmd.append("--locked")
    if profile == "release":
        cmd.append("--release")
    elif profile != "dev":
        cmd += ["--profile", profile]
    if target:
        cmd += ["--target", target]
    if package:
        cmd += ["-p", package]
    features = list(features)
    if features:
        cmd += ["--features", ",".join(features)]
    if no_default_features:
        cmd.append("--no-default-features")
    return cmd


def _artifact_messages(stdout: str) -> list[dict]:
    msgs = (json.loads(line) for line in stdout.splitlines() if line.startswith("{"))
    return [m for m in msgs if m.get("reason") == "compiler-artifact"]


def _wasm_artifacts(messages: list[dict]) -> list[Path]:
    found = []
    for msg in messages:
        kinds = msg["target"]["kind"]
        if "cdylib" in kinds or "bin" in kinds:
            found += [Path(f) for f in msg["filenames"] if f.endswith(".wasm")]
    return found


def _has_lockfile(crate: Path, top: Path) -> bool:
    """A Cargo.lock in the crate dir or an ancestor up to `top` (a workspace root's)."""
    return any((d / "Cargo.lock").is_file() for d in (crate, *crate.parents)
               if d == top or top in d.parents)


def _source_of(crate: Path) -> tuple[Path, str, bool]:
    """Where to build `crate` from: (dir in the cache, source digest, --locked?)."""
    crate = crate.resolve()
    try:
        rel = crate.relative_to(FIXTURES.resolve())
    except ValueError:
        digest = _tree_digest(crate)
        dest = cache_dir() / f"ext-{digest}" / crate.name
        with _locked(dest.parent / "copy"):
            if not dest.is_dir():
                shutil.copytree(crate, dest, ignore=_ignore_targets)
        return dest, digest, False
    # Committed lock files must be current: build fixtures with --locked.
    return fixture_tree() / rel, fixtures_digest(), _has_lockfile(crate, FIXTURES.resolve())


def _outer_cargo_configs(source: Path, env: Mapping[str, str]) -> str:
    """Digest of the cargo config files a build in `source` reads from outside the copied
    sources: `.cargo/config[.toml]` of the cache's parent directories and $CARGO_HOME's."""
    home = Path(env.get("CARGO_HOME") or Path.home() / ".cargo")
    dirs = [d for d in source.parents if not d.is_relative_to(cache_dir())]
    files = [d / ".cargo" / n for d in dirs for n in ("config", "config.toml")]
    files += [home / "config", home / "config.toml"]
    return _digest([(str(f), f.read_bytes().hex() if f.is_file() else None) for f in files])


def _profile_dir(profile: str) -> str:
    return {"dev": "debug", "test": "debug", "bench": "release"}.get(profile, profile)


def _clear_final_artifacts(target_dir: Path, target: str | None, profile: str) -> None:
    """Deletes the .wasm files a previous build left where cargo writes cdylibs/bins.

    WHY: cargo names a path package's cdylib without its metadata hash
    (`deps/NAME.wasm`), so two builds of one crate with different features, or two
    crates with one lib name, write the same file, and cargo trusts a fresh fingerprint
    without looking at the file's contents. Removing the file makes cargo rebuild the
    top crate (an output it recorded is missing), while compiled dependencies (hashed
    .rlib names) stay shared.
    """
    base = target_dir / target if target else target_dir
    for d in (base / _profile_dir(profile), base / _profile_dir(profile) / "deps"):
        if d.is_dir():
            for wasm in d.glob("*.wasm"):
                wasm.unlink()


def build_crate(crate_dir: Path | str, *, profile: str = "release", config: Iterable[str] = (),
                target: str | None = WASM32, package: str | None = None,
                env: Mapping[str, str] | None = None, features: Iterable[str] = (),
                no_default_features: bool = False, mangling: str = "legacy",
                toolchain: Toolchain | str | None = None, offline: bool = True) -> Path:
    """Builds a COPY of a crate (cached per arguments) and returns its .wasm.

    crate_dir: a path, or a bare fixture name ("minimal", "bump"). Crates under
    fixtures/ build inside the session copy of the whole tree (with `--locked` when a
    Cargo.lock is committed for them); other crates are copied alone, so their path
    dependencies must be absolute. `config` items are passed as `cargo --config ITEM`;
    `mangling="v0"` builds with `-C symbol-mangling-version=v0`; `toolchain` is a
    Toolchain or its name (default "rust163"); `offline=False` lets cargo download
    registry crates the committed Cargo.lock pins (a fresh machine has none cached). The returned file is read-only: copy it
    before changing it. Raises FixtureError when cargo fails or the build yields no
    single .wasm (e.g. no cdylib crate-type, or a workspace built without `package`).
    """
    tc = _as_toolchain(toolchain)
    if isinstance(crate_dir, str) and "/" not in crate_dir:
        crate_dir = fixture_crate(crate_dir)
    source, digest, locked = _source_of(Path(crate_dir))
    config = tuple(config)
    features = tuple(sorted(set(features)))
    env = dict(env or {})
    build_env = cargo_env(Path("/"), env, toolchain=tc)
    keyed_env = sorted((k, v) for k, v in build_env.items() if _KEYED_ENV.match(k))
    # Builds that may share a target dir: same toolchain and everything that changes
    # how every unit is compiled. Different crates, packages and features share it.
    shared = _digest(tc.fingerprint, target, profile, config, mangling, sorted(env.items()), keyed_env)
    key = _digest(str(source.relative_to(cache_dir())), digest, package, features,
                  no_default_features, shared, _outer_cargo_configs(source, build_env))
    cargo_watch.record(f"fixturelib build_crate {source.name} {profile} {tc.name}")
    if key in _memo:
        return _memo[key]
    work = cache_dir() / "builds" / key
    result_file = work / "result.json"
    with _locked(work):
        if result_file.is_file():
            wasm = Path(json.loads(result_file.read_text())["wasm"])
            if wasm.is_file():
                _memo[key] = wasm
                return wasm
        cmd = cargo_command(profile=profile, config=config, target=target, package=package,
                            features=features, no_default_features=no_default_features,
                            mangling=mangling, locked=locked, offline=offline, toolchain=tc)
        target_dir = cache_dir() / "targets" / f"{tc.name}-{shared}"
        with _locked(target_dir):  # one cargo at a time here, and the copy before the next
            _clear_final_artifacts(target_dir, target, profile)
            started = time.monotonic()
            proc = _run(cmd, cwd=source, env=cargo_env(target_dir, env, toolchain=tc),
                        what=f"cargo build of {source} ({tc.name})")
            seconds = round(time.monotonic() - started, 3)
            messages = _artifact_messages(proc.stdout)
            wasm_files = _wasm_artifacts(messages)
            if len(wasm_files) != 1:
                names = ", ".join(p.name for p in wasm_files) or "none"
                hint = ('is [lib] crate-type = ["cdylib"] set?' if not wasm_files
                        else "pass package= to pick one workspace member")
                raise FixtureError(f"cargo build of {source} produced {len(wasm_files)} .wasm "
                                   f"artifacts ({names}): {hint}\n$ {shlex.join(cmd)}")
            out = work / "out" / wasm_files[0].name
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.exists():
                out.chmod(0o644)
            shutil.copyfile(wasm_files[0], out)
        out.chmod(0o444)
        record = {"wasm": str(out), "command": cmd, "toolchain": tc.name, "target_dir": str(target_dir),
                  "seconds": seconds,
                  "compiled": sorted({m["target"]["name"] for m in messages if not m.get("fresh")}),
                  "fresh": sorted({m["target"]["name"] for m in messages if m.get("fresh")})}
        result_file.write_text(json.dumps(record, indent=1))
    _memo[key] = out
    return out


def build_record(wasm: Path) -> dict:
    """What build_crate recorded for the .wasm it returned: `command`, `toolchain`,
    `target_dir`, `seconds`, and cargo's own word on which targets it `compiled` and
    which were `fresh` (reused from the shared target dir)."""
    return json.loads((Path(wasm).parent.parent / "result.json").read_text())


def build_with_allocator(allocator: str, **kwargs) -> Path:
    """The `probe` crate (auditor's probe exports) linked with one fixture allocator.

    allocator: "default" (std's dlmalloc) or one of ALLOCATOR_FEATURES.
    """
    if allocator == "default":
        features: tuple[str, ...] = ()
    elif allocator in ALLOCATOR_FEATURES:
        features = (allocator,)
    else:
        raise ValueError(f"unknown fixture allocator {allocator!r}")
    return build_crate(CRATES / "probe", features=features, **kwargs)


# --------------------------------------------------------------------------- auditor scan

_scans: dict[str, subprocess.CompletedProcess] = {}


def scan_env(toolchain: Toolchain | str | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for `auditor scan` pinned to `toolchain` (CARGO/RUSTC set: auditor's
    explicit choice, so what rustup or PATH holds on this machine does not matter)."""
    tc = _as_toolchain(toolchain)
    out = {k: v for k, v in os.environ.items()
           if k not in _SCRUBBED_ENV and not (k.startswith("CARGO_") and k != "CARGO_HOME")}
    out.update(CARGO=tc.cargo, RUSTC=tc.rustc)
    out.update(tc.environ())
    if tc.rustflags:
        out["RUSTFLAGS"] = shlex.join(tc.rustflags)
    out.update(env or {})
    return out


def scan_cache_dir() -> Path:
    """The session's `auditor scan --cache-dir`: every scan a test runs through it shares
    the variants it has built (entries are keyed by sources, toolchain and settings)."""
    return session_dir() / "auditor-scan-cache"


@contextmanager
def scan_lock(crate: Path) -> Iterator[None]:
    """Held around a scan of `crate` into scan_cache_dir(): the xdist workers share that
    cache, and two scans of one crate at once each build its variants (the second in
    throw-away target dirs, at other paths) and the last one's files replace the first's
    in the cache — a test that reads a cached module after its own scan (a debug-info
    twin's DWARF) could read the other build's. Serialised, the second scan finds the
    first one's variants in the cache."""
    with _locked(scan_cache_dir().with_name("auditor-scan-locks") / Path(crate).resolve().name):
        yield


def scan(crate: Path | str, *args: str, toolchain: Toolchain | str | None = None,
         env: Mapping[str, str] | None = None, expect: Iterable[int] = (0, 1)) -> subprocess.CompletedProcess:
    """`python -m auditor scan CRATE ARGS` on `toolchain`, run once per session per arguments.

    The scan cache (`--cache-dir`) is the session's, shared by every call, so variants
    two calls have in common are built once; a test about caching itself must use its
    own `--cache-dir` and run auditor directly. crate: a path or a fixture name. An exit
    code outside `expect` raises FixtureError with auditor's stderr. The result is
    shared: do not modify it.
    """
    tc = _as_toolchain(toolchain)
    if isinstance(crate, str) and "/" not in crate:
        crate = fixture_crate(crate)
    crate = Path(crate).resolve()
    sources = fixtures_digest() if crate.is_relative_to(FIXTURES.resolve()) else _tree_digest(crate)
    env = dict(env or {})
    key = _digest("scan", str(crate), sources, args, tc.fingerprint, sorted(env.items()))
    cargo_watch.record(f"fixturelib scan {crate.name} {tc.name}")
    if key not in _scans:
        cmd = [sys.executable, "-m", "auditor", "scan", str(crate), "--cache-dir", str(scan_cache_dir()), *args]
        with scan_lock(crate):
            _scans[key] = subprocess.run(cmd, env=scan_env(tc, env), capture_output=True, text=True,
                                         stdin=subprocess.DEVNULL)
    proc = _scans[key]
    if proc.returncode not in tuple(expect):
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise FixtureError(f"auditor scan of {crate} ({tc.name}) exited {proc.returncode}:\n"
                           f"$ {shlex.join(proc.args)}\n{tail}")
    return proc


def scan_report(crate: Path | str, *args: str, **kwargs) -> dict:
    """scan(CRATE, "--format", "json", *ARGS) parsed: the `auditor.scan/1` report (a fresh copy)."""
    return json.loads(scan(crate, "--format", "json", *args, **kwargs).stdout)


# --------------------------------------------------------------------------- .wat

def _header_values(path: Path, prefix: str) -> list[str]:
    """Values of header comment lines starting with `prefix` (e.g. ';; wat2wasm:')."""
    return [line[len(prefix):].strip() for line in path.read_text().splitlines()
            if line.startswith(prefix)]


def wat_path(name: str) -> Path:
    path = WAT_DIR / f"{name}.wat"
    if not path.is_file():
        raise FixtureError(f"no fixture {path}")
    return path


def wat_flags(name: str) -> list[str]:
    """wat2wasm flags from the file's `;; wat2wasm: FLAGS` line (default: all features)."""
    lines = _header_values(wat_path(name), ";; wat2wasm:")
    return shlex.split(lines[0]) if lines else list(DEFAULT_WAT_FLAGS)


def wat_facts(name: str) -> dict:
    """The hand-computed facts in the file's `;; @fact KEY = JSON` lines."""
    facts = {}
    for value in _header_values(wat_path(name), ";; @fact "):
        key, _, raw = value.partition("=")
        facts[key.strip()] = json.loads(raw)
    return facts


def wat_names() -> list[str]:
    return sorted(p.stem for p in WAT_DIR.glob("*.wat"))


def wat(name: str) -> Path:
    """fixtures/wat/NAME.wat assembled by wat2wasm with the flags its header names."""
    src = wat_path(name)
    flags = wat_flags(name)

    def make(out: Path) -> None:
        _run(["wat2wasm", *flags, str(src), "-o", str(out)], what=f"wat2wasm {src.name}")

    kept = _tool_builds()
    if kept is None:
        return _cached_file("wat", (src.read_text(), flags), f"{name}.wasm", make)
    return _cached_file("wat", (src.read_text(), flags, tool_identity("wat2wasm")), f"{name}.wasm", make, kept)


# --------------------------------------------------------------------------- C / C++

def c_path(name: str) -> Path:
    """fixtures/c/NAME.c or NAME.cpp; NAME may carry its suffix ("bulk_simd.c")."""
    candidates = [C_DIR / name] if name.endswith((".c", ".cpp")) else \
        [C_DIR / f"{name}.c", C_DIR / f"{name}.cpp"]
    for path in candidates:
        if path.is_file():
            return path
    raise FixtureError(f"no fixture {C_DIR / name}(.c|.cpp)")


@cache
def _linker_flags() -> tuple[str, ...]:
    """Points clang at lld-16's wasm-ld when no `wasm-ld` is on PATH."""
    if shutil.which("wasm-ld"):
        return ()
    for candidate in ("/usr/lib/llvm-16/bin/wasm-ld", "/usr/bin/wasm-ld-16"):
        if Path(candidate).exists():
            return (f"-fuse-ld={candidate}",)
    return ()


def clang_flags(name: str, flags: Iterable[str] = ()) -> list[str]:
    """All clang flags for fixtures/c/NAME: base + the file's `// clang:` line + flags."""
    src = c_path(name)
    own = [f for line in _header_values(src, "// clang:") for f in shlex.split(line)]
    return [*BASE_CLANG_FLAGS, *_linker_flags(), *own, *flags]


def clang_module(name: str, flags: Iterable[str] = ()) -> Path:
    """fixtures/c/NAME.c (clang-16) or NAME.cpp (clang++-16) linked to a .wasm.

    `flags` come after the file's own, so they win (e.g. "-O0" over its "-O2").
    """
    src = c_path(name)
    all_flags = clang_flags(name, flags)
    compiler = CLANGXX if src.suffix == ".cpp" else CLANG

    def make(out: Path) -> None:
        obj = out.with_suffix(".o")
        # From the source's directory: DWARF's compilation directory and how
        # llvm-dwarfdump names the file then do not depend on the process's cwd
        # (a test that chdirs before the first build would otherwise change them).
        _run([compiler, *all_flags, "-c", str(src), "-o", str(obj)], cwd=src.parent,
             what=f"{compiler} -c {src.name}")
        # Link without -O: an optimising clang driver runs wasm-opt after wasm-ld
        # whenever one is on PATH, which drops the name section and makes the output
        # depend on the machine.
        link_flags = [f for f in all_flags if not f.startswith("-O")]
        _run([compiler, *link_flags, str(obj), "-o", str(out)],
             what=f"{compiler} (link) {src.name}")

    kept = _tool_builds()
    if kept is None:
        return _cached_file("c", (src.read_text(), compiler, all_flags), f"{src.stem}.wasm", make)
    linker = next((f.split("=", 1)[1] for f in all_flags if f.startswith("-fuse-ld=")), "wasm-ld")
    tools = (tool_identity(compiler), tool_identity(linker))
    return _cached_file("c", (src.read_text(), str(src), compiler, all_flags, tools), f"{src.stem}.wasm",
                        make, kept)


def c_names() -> list[str]:
    return sorted(p.stem for p in C_DIR.iterdir() if p.suffix in (".c", ".cpp"))


# --------------------------------------------------------------------------- malformed

def malformed_corpus(tmpdir: Path | str) -> list[tuple[Path, str]]:
    """Runs wast2json on fixtures/malformed/*.wast into tmpdir.

    Returns one (module.wasm, expected message) pair per `assert_malformed` of a
    `(module binary ...)`, in file then source order; text-format cases are skipped.
    """
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    cases = []
    for wast in sorted(MALFORMED_DIR.glob("*.wast")):
        json_out = tmpdir / f"{wast.stem}.json"
        _run(["wast2json", str(wast), "-o", str(json_out)], what=f"wast2json {wast.name}")
        for command in json.loads(json_out.read_text())["commands"]:
            if command["type"] == "assert_malformed" and command.get("module_type") == "binary":
                cases.append((tmpdir / command["filename"], command["text"]))
    return cases


@cache
def real_modules() -> tuple[Path, ...]:
    """The four real Rust/Go modules from the npm registry (biome, swc, lightningcss,
    esbuild), fetched once by scripts/real_modules.sh and cached outside the repository."""
    proc = subprocess.run(["bash", str(REPO / "scripts" / "real_modules.sh")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, f"scripts/real_modules.sh failed: {proc.stderr[-2000:]}"
    paths = tuple(Path(p) for p in proc.stdout.split())
    assert len(paths) == 4, paths
    return paths
