"""Builds the project's test fixtures (Rust crates, .wat, C, malformed corpus) on demand.

Every build happens in a cache directory, never in the repository: the whole
`fixtures/` tree is copied there once (so workspace members and path dependencies
outside a crate keep their relative layout) and each build gets its own
`CARGO_TARGET_DIR`. Results are memoised per process by their arguments, so a test
session builds each variant once.

The cache lives in a temporary directory removed at exit, unless the environment
variable AUDITOR_FIXTURE_CACHE names a directory to keep between sessions; keys include
a hash of the sources and the toolchain version, so a kept cache is never stale.

Rust fixtures are built with Debian's `/usr/bin/cargo` + `/usr/bin/rustc` (rustc 1.63,
the only toolchain here with a wasm32 std), overridable with AUDITOR_FIXTURE_CARGO /
AUDITOR_FIXTURE_RUSTC.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CRATES = FIXTURES / "crates"
ALLOCATORS = FIXTURES / "allocators"
WAT_DIR = FIXTURES / "wat"
C_DIR = FIXTURES / "c"
MALFORMED_DIR = FIXTURES / "malformed"

CARGO = os.environ.get("AUDITOR_FIXTURE_CARGO", "/usr/bin/cargo")
RUSTC = os.environ.get("AUDITOR_FIXTURE_RUSTC", "/usr/bin/rustc")
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


@cache
def cache_dir() -> Path:
    """Root of all fixture outputs (kept only when AUDITOR_FIXTURE_CACHE is set)."""
    kept = os.environ.get("AUDITOR_FIXTURE_CACHE")
    if kept:
        root = Path(kept).resolve()
        root.mkdir(parents=True, exist_ok=True)
        return root
    root = Path(tempfile.mkdtemp(prefix="auditor-fixtures-"))
    atexit.register(shutil.rmtree, root, True)
    return root


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


def _cached_file(kind: str, inputs: object, filename: str, make: Callable[[Path], None]) -> Path:
    """cache/KIND/<hash of inputs>/FILENAME, made once by make(path) unless present."""
    key = _digest(kind, inputs)
    if key not in _memo:
        out = cache_dir() / kind / key / filename
        with _locked(out.parent):
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                partial = out.with_name(out.name + ".partial")
                make(partial)  # renamed only when complete: a failed tool leaves no `out`
                partial.rename(out)
        _memo[key] = out
    return _memo[key]


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


@cache
def rustc_version() -> str:
    return _run([RUSTC, "-vV"]).stdout.strip()


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


# --------------------------------------------------------------------------- Rust

def fixture_crate(name: str) -> Path:
    """fixtures/crates/NAME, or fixtures/allocators/NAME, as a path in the repo."""
    for base in (CRATES, ALLOCATORS):
        if (base / name / "Cargo.toml").is_file():
            return base / name
    raise FixtureError(f"no fixture crate named {name!r} in {CRATES} or {ALLOCATORS}")


def cargo_env(target_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a reproducible fixture build with the Debian toolchain."""
    out = {k: v for k, v in os.environ.items()
           if k not in _SCRUBBED_ENV and not (k.startswith("CARGO_") and k != "CARGO_HOME")}
    out.update(CARGO=CARGO, RUSTC=RUSTC, CARGO_INCREMENTAL="0", CARGO_TERM_COLOR="never",
               CARGO_TARGET_DIR=str(target_dir))
    out.update(env or {})
    return out


def cargo_command(*, profile: str = "release", config: Iterable[str] = (),
                  target: str | None = WASM32, package: str | None = None,
                  features: Iterable[str] = (), no_default_features: bool = False,
                  mangling: str = "legacy", locked: bool = False) -> list[str]:
    """The `cargo build` argv build_crate runs (also handy to show in failures)."""
    if mangling not in ("legacy", "v0"):
        raise ValueError(f"mangling must be 'legacy' or 'v0', not {mangling!r}")
    cmd = [CARGO]
    for item in config:
        cmd += ["--config", item]
    if mangling == "v0":
        # Stable since rustc 1.59: no -Z / RUSTC_BOOTSTRAP needed. Only crates compiled
        # in this build get v0 names; the prebuilt std keeps legacy `_ZN` names.
        cmd += ["--config", 'build.rustflags=["-C", "symbol-mangling-version=v0"]']
    cmd += ["build", "--offline", "--message-format=json-render-diagnostics"]
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


def _wasm_artifacts(stdout: str) -> list[Path]:
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact":
            continue
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


def build_crate(crate_dir: Path | str, *, profile: str = "release", config: Iterable[str] = (),
                target: str | None = WASM32, package: str | None = None,
                env: Mapping[str, str] | None = None, features: Iterable[str] = (),
                no_default_features: bool = False, mangling: str = "legacy") -> Path:
    """Builds a COPY of a crate (cached per arguments) and returns its .wasm.

    crate_dir: a path, or a bare fixture name ("minimal", "bump"). Crates under
    fixtures/ build inside the session copy of the whole tree (with `--locked` when a
    Cargo.lock is committed for them); other crates are copied alone, so their path
    dependencies must be absolute. `config` items are passed as `cargo --config ITEM`;
    `mangling="v0"` builds with `-C symbol-mangling-version=v0`. The returned file is
    read-only: copy it before changing it. Raises FixtureError when cargo fails or
    the build yields no single .wasm (e.g. no cdylib crate-type, or a workspace built
    without `package`).
    """
    if isinstance(crate_dir, str) and "/" not in crate_dir:
        crate_dir = fixture_crate(crate_dir)
    source, digest, locked = _source_of(Path(crate_dir))
    config = tuple(config)
    features = tuple(features)
    key = _digest(str(source.relative_to(cache_dir())), digest, profile, config, target,
                  package, sorted((env or {}).items()), features, no_default_features,
                  mangling, rustc_version())
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
                            mangling=mangling, locked=locked)
        proc = _run(cmd, cwd=source, env=cargo_env(work / "target", env),
                    what=f"cargo build of {source}")
        wasm_files = _wasm_artifacts(proc.stdout)
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
        result_file.write_text(json.dumps({"wasm": str(out), "command": cmd}))
    _memo[key] = out
    return out


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

    return _cached_file("wat", (src.read_text(), flags), f"{name}.wasm", make)


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
        _run([compiler, *all_flags, "-c", str(src), "-o", str(obj)],
             what=f"{compiler} -c {src.name}")
        # Link without -O: an optimising clang driver runs wasm-opt after wasm-ld
        # whenever one is on PATH, which drops the name section and makes the output
        # depend on the machine.
        link_flags = [f for f in all_flags if not f.startswith("-O")]
        _run([compiler, *link_flags, str(obj), "-o", str(out)],
             what=f"{compiler} (link) {src.name}")

    return _cached_file("c", (src.read_text(), compiler, all_flags), f"{src.stem}.wasm", make)


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
