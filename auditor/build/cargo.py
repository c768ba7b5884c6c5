"""One cargo build of one variant: the command, its JSON messages, the artifact, errors.

Every cargo runs in its own process group and is registered, so Ctrl-C (or a failing
scan) can stop all of them before the shadow dirs are removed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.build.toolchain import TARGET
from auditor.manifest import toml

MAX_ERROR_LINES = 12


@dataclass
class BuildOptions:
    package: str | None = None  # -p, as the user gave it (None: the manifest's own package)
    features: list[str] = field(default_factory=list)
    all_features: bool = False
    no_default_features: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "features": self.features, "all_features": self.all_features,
                "no_default_features": self.no_default_features}


@dataclass
class BuildOutcome:
    ok: bool
    seconds: float
    wasm: Path | None = None
    error: str | None = None
    compile_error: bool = False  # rustc rejected the code: same inputs fail the same way
    interrupted: bool = False


def cargo_args(profile_args: list[str], profile: str, package: str, opts: BuildOptions,
               extra_features: Sequence[str] = ()) -> list[str]:
    """Arguments after the cargo binary (what a user would type, minus message format)."""
    args = list(profile_args) + ["build", "--lib", "--target", TARGET, "--profile", profile, "-p", package]
    features = list(opts.features) + list(extra_features)
    if features:
        args += ["--features", ",".join(features)]
    if opts.all_features:
        args.append("--all-features")
    if opts.no_default_features:
        args.append("--no-default-features")
    return args


#: The probe build keeps its function names whatever the profile's `strip` says: it is
#: the variant's name-keeping twin (allocator_check method "twin"). `cargo rustc` hands
#: these to the final crate only, so dependencies are shared with the measured build;
#: `strip` never changes code, only whether the name section is written.
PROBE_RUSTC_ARGS = ("-C", "strip=debuginfo")


def probe_cargo_args(profile_args: list[str], profile: str, package: str, opts: BuildOptions,
                     probe_feature: str, strip: Any = None) -> list[str]:
    """The probe build: `cargo rustc` with the measured build's arguments, the probe
    feature and PROBE_RUSTC_ARGS. `strip`: the profile's own `strip` setting, if it has
    one; then the workspace's crates get `strip = false` and every other package keeps
    `strip` (a `package."*"` override), because cargo before 1.7x puts the profile's
    `-C strip` after `cargo rustc`'s flags, and a profile-wide change would rebuild every
    dependency (strip is part of their metadata hash)."""
    extra: list[str] = []
    if strip is not None and strip is not False and strip != "none":
        extra = ["--config", f"profile.{profile}.strip=false",
                 "--config", f'profile.{profile}.package."*".strip={toml.literal(strip)}']
    args = cargo_args(list(profile_args) + extra, profile, package, opts, [probe_feature])
    i = args.index("build")
    return args[:i] + ["rustc"] + args[i + 1:] + ["--", *PROBE_RUSTC_ARGS]


def display_command(args: list[str]) -> str:
    return shlex.join(["cargo"] + args)


RUSTC_INFO = ".rustc_info.json"


class RustcInfo:
    """cargo's rustc info cache (`<target dir>/.rustc_info.json`: `rustc -vV` and the
    target-info queries, ~6 rustc runs), shared between the scan's target dirs.

    A user who builds every profile in one target dir pays those queries once; the scan
    builds each profile in its own target dir and would pay them on every build. cargo
    checks the file itself (a fingerprint of the rustc binary and wrapper, and a hash
    of each query's arguments and environment) and re-runs whatever does not match, so
    copying it into a new target dir never changes a build, only skips repeated queries.
    `store`: where the copy survives between scans (None: this scan only)."""

    def __init__(self, store: Path | None = None):
        self.store = store
        self._data: bytes | None = None
        self._lock = threading.Lock()
        if store is not None:
            try:
                self._data = store.read_bytes()
            except OSError:
                pass

    def seed(self, target_dir: Path) -> None:
        """Give a target dir without a rustc info cache the last one seen."""
        with self._lock:
            data = self._data
        dest = target_dir / RUSTC_INFO
        if data is None or dest.exists():
            return
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f"{RUSTC_INFO}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError:
            pass

    def learn(self, target_dir: Path) -> None:
        """Keep the target dir's rustc info cache (as cargo left it after a build)."""
        try:
            data = (target_dir / RUSTC_INFO).read_bytes()
        except OSError:
            return
        with self._lock:
            if data == self._data:
                return
            self._data = data
        if self.store is not None:
            try:
                self.store.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.store.with_name(f"{self.store.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, self.store)
            except OSError:
                pass


class ProcessRegistry:
    """Live cargo processes, so an interrupt can end them all."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.stopping = False

    def add(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(p)

    def discard(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(p)

    def stop_all(self) -> None:
        self.stopping = True
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            _kill_group(p, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(p, signal.SIGKILL)
                p.wait()


def _kill_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_cargo(cargo: str, args: list[str], cwd: Path, env: dict, manifest: Path,
              registry: ProcessRegistry) -> BuildOutcome:
    """Run `cargo ARGS --message-format=json`; the cdylib .wasm of `manifest`'s package."""
    cut = args.index("--") if "--" in args else len(args)  # `cargo rustc ... -- FLAGS`: ours go before
    argv = [cargo] + args[:cut] + ["--message-format=json"] + args[cut:]
    start = time.monotonic()
    if registry.stopping:
        return BuildOutcome(False, 0.0, error="interrupted", interrupted=True)
    # stdin an empty pipe (see toolchain._run): cargo's `rustc -` must read nothing.
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE, text=True, start_new_session=True)
    assert p.stdin is not None and p.stdout is not None and p.stderr is not None  # all three are pipes
    p.stdin.close()
    registry.add(p)
    stderr_pipe = p.stderr
    try:
        stderr_chunks: list[str] = []
        reader = threading.Thread(target=lambda: stderr_chunks.append(stderr_pipe.read()), daemon=True)
        reader.start()
        wasm, errors = None, []
        manifest_s = str(manifest)
        for line in p.stdout:
            if not line.startswith("{"):
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            reason = msg.get("reason")
            if reason == "compiler-artifact" and msg.get("manifest_path") == manifest_s:
                if "cdylib" in msg.get("target", {}).get("crate_types", []):
                    for fn in msg.get("filenames", []):
                        if fn.endswith(".wasm"):
                            wasm = Path(fn)
            elif reason == "compiler-message":
                m = msg.get("message", {})
                if m.get("level") == "error" and m.get("rendered"):
                    errors.append(m["rendered"])
        code = p.wait()
        reader.join()
    except BaseException:
        _kill_group(p, signal.SIGTERM)
        p.wait()
        raise
    finally:
        registry.discard(p)
    seconds = time.monotonic() - start
    if registry.stopping and code != 0:
        return BuildOutcome(False, seconds, error="interrupted", interrupted=True)
    if code == 0 and wasm is not None and wasm.is_file():
        return BuildOutcome(True, seconds, wasm=wasm)
    if code == 0:
        return BuildOutcome(False, seconds, error="cargo reported success but produced no .wasm for the cdylib target")
    stderr = "".join(stderr_chunks)
    return BuildOutcome(False, seconds, error=first_error(errors, stderr), compile_error=bool(errors))


def first_error(rendered: list[str], stderr: str) -> str:
    """The compiler's first error (rendered), else cargo's own error lines from stderr."""
    real = [r for r in rendered if not r.startswith("error: aborting due to")]
    if real:
        lines = real[0].rstrip().splitlines()
    else:
        all_lines = [l for l in stderr.splitlines() if l.strip()]
        start = next((i for i, l in enumerate(all_lines) if l.lstrip().startswith("error")), None)
        lines = all_lines[start:] if start is not None else all_lines[-MAX_ERROR_LINES:]
    lines = lines[:MAX_ERROR_LINES]
    return "\n".join(lines) if lines else "cargo failed without an error message"


def dep_info(wasm: Path) -> list[str]:
    """Files rustc read for this artifact, from cargo's `.d` file next to it."""
    try:
        text = wasm.with_suffix(".d").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        if ":" not in line:
            continue
        _, deps = line.split(": ", 1) if ": " in line else ("", "")
        token = ""
        for part in deps.split(" "):
            if part.endswith("\\"):
                token += part[:-1] + " "
                continue
            token += part
            if token:
                out.append(token)
            token = ""
    return out


def _escape_env(value: str) -> str:
    """As rustc writes an `# env-dep:NAME=VALUE` line."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def env_inputs(wasm: Path, environ: dict[str, str]) -> dict[str, str | None]:
    """Environment variables the compiled crates read (`env!`, `option_env!`: rustc's
    `# env-dep:` lines in the dep-info files of the artifact's `deps/`) that came from
    `environ` (or were unset in it), with their values: checked on a cache hit. Variables
    cargo or a build script set (`CARGO_PKG_*`, `OUT_DIR`, `cargo:rustc-env`) differ from
    `environ` and are cargo's own business."""
    out: dict[str, str | None] = {}
    for d in sorted((wasm.parent / "deps").glob("*.d")):
        try:
            text = d.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith("# env-dep:"):
                continue
            name, eq, value = line[len("# env-dep:"):].partition("=")
            recorded = value if eq else None
            now = environ.get(name)
            if (now is None and recorded is None) or (now is not None and _escape_env(now) == recorded):
                out[name] = recorded
    # Build scripts' `cargo:rerun-if-env-changed=NAME` (in their `output` files).
    for f in sorted((wasm.parent / "build").glob("*/output")):
        try:
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            for prefix in ("cargo:rerun-if-env-changed=", "cargo::rerun-if-env-changed="):
                if line.startswith(prefix):
                    name = line[len(prefix):].strip()
                    now = environ.get(name)
                    out[name] = None if now is None else _escape_env(now)
    return out


def env_unchanged(recorded: dict[str, str | None], environ: dict[str, str]) -> bool:
    for name, value in recorded.items():
        now = environ.get(name)
        if (None if now is None else _escape_env(now)) != value:
            return False
    return True
