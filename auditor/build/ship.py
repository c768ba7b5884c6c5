"""Shipping stages after cargo: the wasm-bindgen CLI, then wasm-opt (issue 11).

What a team deploys is not cargo's module: wasm-pack runs the wasm-bindgen CLI (which
removes the `__wbindgen_describe*` functions and the `__wasm_bindgen_unstable` section
and writes the JS glue) and then `wasm-opt -O`. These functions find the tools, install
the exact versions into auditor's tool cache when missing, and run them. They take plain
data only: the module's features (for wasm-opt's `--enable-…` flags) are read by the wasm
stage and handed in by the pipeline (build/ never imports wasm/).

Tool cache layout (`tools_dir()`; `scripts/setup-ship.sh` fills it the same way):
  <tools>/wasm-bindgen-cli/<version>/bin/wasm-bindgen      (cargo install --root)
  <tools>/binaryen/<version>/node_modules/binaryen/bin/wasm-opt   (npm install binaryen@<major>)
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.io import log

Say = Callable[[str], None]


def _stderr(msg: str) -> None:
    # through io.log: during a scan it erases the live status line first
    log(f"auditor: {msg}")


@dataclass
class ShipOptions:
    """Which shipping stages run and how (config `[ship]`, scan options override)."""

    bindgen: bool = True  # when the crate depends on wasm-bindgen
    bindgen_target: str = "web"
    bindgen_args: list[str] = field(default_factory=list)
    wasm_opt: bool | None = None  # None ("auto"): when the bindgen stage applies, as wasm-pack does
    wasm_opt_level: str = "-O"  # wasm-pack's release default
    wasm_opt_args: list[str] = field(default_factory=list)
    install: bool = True  # install missing tools into the tool cache (else: stage skipped, notice)
    stage: str = "shipped"  # the stage the table, recommendation, budgets and diffs read

    def key(self) -> list[object]:
        return [self.bindgen, self.bindgen_target, self.bindgen_args, self.wasm_opt, self.wasm_opt_level,
                self.wasm_opt_args]


@dataclass(frozen=True)
class Tool:
    name: str  # "wasm-bindgen" | "wasm-opt"
    path: str
    version: str
    source: str  # "PATH" | "cache" | "installed" | "env"


def tools_dir() -> Path:
    """Where auditor keeps the tools it installs: $AUDITOR_TOOLS_DIR, else
    $XDG_CACHE_HOME/auditor/tools (~/.cache/auditor/tools)."""
    env = os.environ.get("AUDITOR_TOOLS_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "auditor" / "tools"


def ship_rules() -> dict:
    return load_rules_file("ship.toml")


# ------------------------------------------------------------------ versions
def locked_version(lock: Path, package: str) -> str | None:
    """The version of `package` that a Cargo.lock resolved (None: no lock or not in it).
    Several versions: the highest (wasm-bindgen refuses two schemas in one module anyway)."""
    try:
        doc = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    versions = [p.get("version", "") for p in doc.get("package", []) if p.get("name") == package]
    if not versions:
        return None
    return max(versions, key=lambda v: [int(x) if x.isdigit() else 0 for x in re.split(r"[.+-]", v)])


def _version_of(path: str, args: Iterable[str] = ("--version",)) -> str | None:
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"(\d+(?:\.\d+)*)", out.stdout or "")
    return m.group(1) if out.returncode == 0 and m else None


class _Lock:
    """An flock on `<path>.lock`, so two scans install a tool once."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# ------------------------------------------------------------------ wasm-bindgen CLI
def bindgen_cached_path(version: str, tools: Path | None = None) -> Path:
    return (tools or tools_dir()) / "wasm-bindgen-cli" / version / "bin" / "wasm-bindgen"


def find_wasm_bindgen(version: str, *, cargo: str | None, rustc: str | None, install: bool = True,
                      say: Say = _stderr, tools: Path | None = None) -> Tool:
    """The wasm-bindgen CLI of exactly `version`: $AUDITOR_WASM_BINDGEN, PATH, the tool
    cache, else `cargo install wasm-bindgen-cli --version X` into the cache (saying so).
    `cargo`/`rustc` are the toolchain that installs (the scan's own)."""
    env = os.environ.get("AUDITOR_WASM_BINDGEN")
    if env:
        got = _version_of(env)
        if got != version:
            raise AuditorError(f"AUDITOR_WASM_BINDGEN={env} is wasm-bindgen {got or '?'}, the crate resolves "
                               f"wasm-bindgen {version}: the CLI must be the same version")
        return Tool("wasm-bindgen", env, version, "env")
    on_path = shutil.which("wasm-bindgen")
    if on_path and _version_of(on_path) == version:
        return Tool("wasm-bindgen", on_path, version, "PATH")
    cached = bindgen_cached_path(version, tools)
    if cached.is_file() and _version_of(str(cached)) == version:
        return Tool("wasm-bindgen", str(cached), version, "cache")
    if not install:
        raise AuditorError(f"wasm-bindgen CLI {version} not found on PATH or in {cached.parent.parent} "
                           "(tool installs are off)")
    if not cargo:
        raise AuditorError(f"wasm-bindgen CLI {version} not found and no cargo to install it with")
    root = cached.parent.parent
    with _Lock(root):
        if cached.is_file() and _version_of(str(cached)) == version:
            return Tool("wasm-bindgen", str(cached), version, "cache")
        cmd = [cargo, "install", "wasm-bindgen-cli", "--version", version, "--locked", "--debug",
               "--no-default-features", "--bin", "wasm-bindgen", "--root", str(root)]
        say(f"installing wasm-bindgen CLI {version} (matches the crate's wasm-bindgen) into {root}: "
            f"{' '.join(cmd)} (about 2 CPU-minutes, once)")
        env2 = dict(os.environ)
        if rustc:
            env2["RUSTC"] = rustc
        env2.pop("RUSTUP_TOOLCHAIN", None)
        env2.pop("RUSTFLAGS", None)
        env2.pop("CARGO_TARGET_DIR", None)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env2)
        if out.returncode != 0 or not cached.is_file():
            tail = (out.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise AuditorError(f"installing wasm-bindgen-cli {version} failed: {tail[0]}")
    return Tool("wasm-bindgen", str(cached), version, "installed")


@dataclass
class BindgenOutput:
    wasm: Path
    js: Path | None
    files: list[Path]


def run_bindgen(tool: Tool, wasm: Path, out_dir: Path, out_name: str, target: str = "web",
                extra: Iterable[str] = ()) -> BindgenOutput:
    """`wasm-bindgen --target T --out-dir D --out-name N MODULE`: D/N_bg.wasm and the glue."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    cmd = [tool.path, "--target", target, "--out-dir", str(out_dir), "--out-name", out_name, *extra, str(wasm)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        first = ((out.stderr or "").strip().splitlines() or ["no output"])[0]
        raise AuditorError(f"wasm-bindgen {tool.version} failed on {wasm.name}: {first}")
    bg = out_dir / f"{out_name}_bg.wasm"
    if not bg.is_file():  # --target bundler/deno/experimental-nodejs-module may name it otherwise
        cands = sorted(out_dir.glob("*.wasm"))
        if not cands:
            raise AuditorError(f"wasm-bindgen wrote no .wasm into {out_dir}")
        bg = cands[0]
    js = out_dir / f"{out_name}.js"
    return BindgenOutput(bg, js if js.is_file() else None, sorted(out_dir.iterdir()))


# ------------------------------------------------------------------ wasm-opt
def _version_key(v: str) -> list[int]:
    return [int(x) if x.isdigit() else 0 for x in re.split(r"[.]", v)]


def find_wasm_opt(*, install: bool = True, say: Say = _stderr, tools: Path | None = None) -> Tool | None:
    """The newest wasm-opt: $AUDITOR_WASM_OPT, the tool cache (npm binaryen), an npm install
    of the version rules/ship.toml names, else one on PATH (Debian's 108 is old: noticed).
    None when there is none at all."""
    env = os.environ.get("AUDITOR_WASM_OPT")
    if env:
        return Tool("wasm-opt", env, _version_of(env) or "?", "env")
    root = (tools or tools_dir()) / "binaryen"
    want = str(ship_rules()["wasm-opt"]["npm-version"])

    def cached() -> Tool | None:
        if not root.is_dir():
            return None
        for d in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: _version_key(p.name), reverse=True):
            exe = d / "node_modules" / "binaryen" / "bin" / "wasm-opt"
            v = _version_of(str(exe)) if exe.is_file() else None
            if v:
                return Tool("wasm-opt", str(exe), v, "cache")
        return None

    found = cached()
    if found is None and install and shutil.which("npm"):
        dest = root / want
        with _Lock(dest):
            found = cached()
            if found is None:
                cmd = ["npm", "install", "--prefix", str(dest), "--no-audit", "--no-fund", f"binaryen@{want.split('.')[0]}"]
                say(f"installing wasm-opt (npm binaryen@{want.split('.')[0]}) into {dest}: {' '.join(cmd)}")
                subprocess.run(cmd, capture_output=True, text=True)
                found = cached()
                if found is not None:
                    found = Tool("wasm-opt", found.path, found.version, "installed")
    if found is not None:
        return found
    on_path = shutil.which("wasm-opt")
    if on_path:
        return Tool("wasm-opt", on_path, _version_of(on_path) or "?", "PATH")
    return None


def feature_flags(features: Iterable[str]) -> list[str]:
    """wasm-opt `--enable-…` flags for the module's features (target_features names and
    opcode proposals, as the wasm stage reports them); unknown names give nothing."""
    table: dict[str, str] = ship_rules()["wasm-opt"]["enable"]
    out: list[str] = []
    for f in features:
        flag = table.get(f.lstrip("+"))
        if flag and flag not in out:
            out.append(flag)
    return sorted(out)


def supported_flags(tool: Tool) -> set[str]:
    """The `--enable-…` flags this wasm-opt knows (an old one lacks newer features)."""
    return set(_enable_flags(str(tool.path), _stat_key(tool.path)))


def _stat_key(path: str | Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=8)
def _enable_flags(path: str, _stat: tuple[int, int]) -> frozenset[str]:
    """Asked once per wasm-opt binary and process: npm's binaryen (wasm run by node)
    takes 1-1.5 s to print its --help, and a scan ran it once per variant."""
    try:
        out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r"--enable-[a-z0-9-]+", out or ""))


def run_wasm_opt(tool: Tool, wasm: Path, out: Path, level: str = "-O", features: Iterable[str] = (),
                 extra: Iterable[str] = ()) -> list[str]:
    """`wasm-opt LEVEL --enable-… IN -o OUT` (flags this wasm-opt does not know are left
    out: it then fails on such a module, naming the feature); returns the command."""
    known = supported_flags(tool)
    flags = [f for f in feature_flags(features) if not known or f in known]
    cmd = [tool.path, level, *flags, *extra, str(wasm), "-o", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not out.is_file():
        first = ((res.stderr or "").strip().splitlines() or ["no output"])[0]
        raise AuditorError(f"wasm-opt {tool.version} failed on {wasm.name}: {first}")
    return cmd
