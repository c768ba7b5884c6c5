"""Find a cargo + rustc pair that can build wasm32-unknown-unknown.

The common failure is a default toolchain without the wasm32 std (rustup installs only
the host target) while another installed toolchain has it, or a cargo that cannot drive
an older rustc. So every installed pair is looked at, in a fixed order, and the first
that passes a real build of a tiny cdylib wins; doctor shows them all with the command
that fixes each missing piece.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from auditor.build import invocations
from auditor.errors import AuditorError

TARGET = "wasm32-unknown-unknown"
_PROBE_VERSION = 1  # bump when the probe build changes, to drop cached verdicts


class DeferredCheckFailed(Exception):
    """The toolchain picked without its test build failed that build after a real build
    failed: the caller selects again, as if the test build had run first (which gives
    the usual one-line diagnosis, or the next candidate)."""


@dataclass
class Toolchain:
    cargo: str
    rustc: str
    source: str  # where it was found: "CARGO/RUSTC", "default", "rustup toolchain X", "/usr/bin"
    rustup_name: str | None = None
    cargo_version: str | None = None  # "cargo 1.65.0"
    rustc_version: str | None = None  # "rustc 1.63.0"
    rustc_verbose: str = ""  # full `rustc -vV`
    host: str | None = None
    sysroot: str | None = None
    wasm32_std: bool = False
    linker: str | None = None  # rust-lld that rustc will use for wasm32
    can_build: bool | None = None  # None: not tried (no wasm32 std, or broken binaries)
    rust_src: bool = False  # std's sources (lib/rustlib/src/rust/library): what build-std compiles
    build_std: list[str] | None = None  # crates cargo builds from source (-Zbuild-std), when configured
    build_std_from: str | None = None  # where build-std was configured (a config file, scan.build-std, --build-std)
    nightly: bool = False  # a nightly/dev rustc: -Z flags without RUSTC_BOOTSTRAP
    unstable: frozenset[str] = frozenset()  # cargo -Z flags this cargo knows (`cargo -Z help`), when asked
    problem: str | None = None  # why it cannot build
    fixes: list[str] = field(default_factory=list)  # exact commands that fix `problem`
    # The test build was skipped (`discover(defer_check=True)`): the scan's first real
    # build stands in for it; `confirm()` or `check_after_failure()` settles it.
    check_deferred: bool = False

    @property
    def usable(self) -> bool:
        return bool(self.can_build)

    @property
    def key(self) -> str:
        """Identity for caches: paths plus the exact version strings."""
        return "\n".join([self.cargo, self.cargo_version or "", self.rustc, self.rustc_verbose, self.sysroot or ""])

    def label(self) -> str:
        versions = ", ".join(v for v in (self.rustc_version, self.cargo_version) if v) or "unknown versions"
        return f"{self.cargo} + {self.rustc} ({versions})"

    def env(self, base: dict | None = None) -> dict:
        """Environment for running this cargo: RUSTC pinned so cargo cannot pick another."""
        env = dict(os.environ if base is None else base)
        env["RUSTC"] = self.rustc
        env["CARGO"] = self.cargo
        env["CARGO_INCREMENTAL"] = "0"
        if self.build_std and not self.nightly:
            env["RUSTC_BOOTSTRAP"] = "1"  # -Zbuild-std on a stable/beta toolchain
        # A rustup proxy of another toolchain must not redirect our explicit binaries.
        env.pop("RUSTUP_TOOLCHAIN", None)
        return env

    def can_unstable(self) -> bool:
        """-Z flags work: a nightly rustc, or build-std already enabled them (RUSTC_BOOTSTRAP)."""
        return self.nightly or bool(self.build_std)

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "cargo": self.cargo,
            "rustc": self.rustc,
            "cargo_version": self.cargo_version,
            "rustc_version": self.rustc_version,
            "host": self.host,
            "sysroot": self.sysroot,
            "wasm32_std": self.wasm32_std,
            "rust_src": self.rust_src,
            "build_std": self.build_std,
            "build_std_from": self.build_std_from,
            "linker": self.linker,
            "can_build": self.can_build,
            "problem": self.problem,
            "fixes": self.fixes,
        }


@dataclass
class Discovery:
    toolchains: list[Toolchain]
    selected: Toolchain | None
    reason: str  # one line: which pair and why, every skipped candidate named (doctor, errors)
    explicit: bool  # CARGO or RUSTC was set

    def summary(self) -> str:
        """The notice a scan prints on every run: short, because it is read every time
        and the full story (each skipped candidate, its fix) is one `auditor doctor` away."""
        tc = self.selected
        if tc is None:
            return self.reason
        version = (tc.rustc_version or "rustc ?").removeprefix("rustc ")
        where = str(Path(tc.rustc).parent)
        if str(Path(tc.cargo).parent) != where:
            where = f"{where}, cargo in {Path(tc.cargo).parent}"
        line = f"toolchain: rustc {version} ({where})"
        if self.explicit:
            line += " from CARGO/RUSTC"
        skipped = self.toolchains[: self.toolchains.index(tc)] if tc in self.toolchains else []
        if skipped:
            problems = sorted({_short_problem(t.problem) for t in skipped})
            line += f"; {len(skipped)} skipped ({', '.join(problems)})"
        if tc.build_std:
            said = tc.build_std_from or "build-std"
            if said.startswith("/"):  # "<crate>/.cargo/config.toml [unstable] build-std"
                path, _, rest = said.partition(" ")
                said = f"{rest} in {'/'.join(Path(path).parts[-2:])}"
            bootstrap = "" if tc.nightly else ", RUSTC_BOOTSTRAP=1"
            line += f"; std built from source ({said}{bootstrap}: minutes on each profile's first build)"
        if skipped or tc.build_std:
            line += "; details: auditor doctor"
        return line


def _short_problem(problem: str | None) -> str:
    if not problem:
        return "unusable"
    if problem.startswith("no wasm32"):
        return "no wasm32 std"
    return problem.split(":")[0].split("(")[0].strip()[:40]


def _run(argv: list[str], cwd: str | None = None, timeout: float = 30) -> tuple[int, str, str]:
    try:
        # stdin an empty pipe: cargo runs `rustc -` for target info and that rustc inherits
        # cargo's stdin, so anything readable there (a parent's pipe, a /dev/null turned
        # into a regular file) became Rust source.
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, input="",
                           env={k: v for k, v in os.environ.items() if k != "RUSTUP_TOOLCHAIN"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, "", str(e)
    return p.returncode, p.stdout, p.stderr


def _is_rustup_proxy(path: str) -> bool:
    return Path(os.path.realpath(path)).name in ("rustup", "rustup-init")


def _rustup_home() -> Path:
    return Path(os.environ.get("RUSTUP_HOME") or Path.home() / ".rustup")


def _rustup_toolchains() -> list[Path]:
    root = _rustup_home() / "toolchains"
    if not root.is_dir():
        return []
    dirs = [d for d in root.iterdir() if (d / "bin" / "rustc").exists()]
    order = {"stable": 0, "beta": 1, "nightly": 2}
    return sorted(dirs, key=lambda d: (order.get(d.name.split("-")[0], 3), d.name))


def _which_pair(cargo_env: str | None, rustc_env: str | None) -> tuple[str, str]:
    """Complete a half-given pair with the sibling binary, else the one on PATH."""

    def sibling(path: str, name: str) -> str | None:
        cand = Path(path).parent / name
        return str(cand) if cand.exists() else None

    cargo = cargo_env or (rustc_env and sibling(rustc_env, "cargo")) or shutil.which("cargo") or "cargo"
    rustc = rustc_env or (cargo_env and sibling(cargo_env, "rustc")) or shutil.which("rustc") or "rustc"
    return cargo, rustc


def candidates(crate_dir: Path | None = None, include_all: bool = False) -> tuple[list[Toolchain], bool]:
    """Pairs in the order they are tried; True when CARGO/RUSTC made the choice explicit.

    With CARGO/RUSTC set only that pair is tried; `include_all` (doctor) lists the
    others after it anyway, for information.
    """
    cargo_env, rustc_env = os.environ.get("CARGO"), os.environ.get("RUSTC")
    out: list[Toolchain] = []
    seen: set[str] = set()
    explicit = bool(cargo_env or rustc_env)
    if explicit:
        cargo, rustc = _which_pair(cargo_env, rustc_env)
        given = " and ".join(n for n, v in (("CARGO", cargo_env), ("RUSTC", rustc_env)) if v)
        out.append(Toolchain(cargo, rustc, f"{given} environment"))
        seen.add(os.path.realpath(rustc) + "\0" + os.path.realpath(cargo))
        if not include_all:
            return out, True

    def add(tc: Toolchain) -> None:
        ident = os.path.realpath(tc.rustc) + "\0" + os.path.realpath(tc.cargo)
        if ident not in seen:
            seen.add(ident)
            out.append(tc)

    path_cargo, path_rustc = shutil.which("cargo"), shutil.which("rustc")
    if path_cargo and path_rustc:
        cargo, rustc = path_cargo, path_rustc
        if _is_rustup_proxy(rustc):
            # Resolve the proxy where the crate is, so a rust-toolchain.toml there counts,
            # then use that toolchain's real binaries (no proxy decisions later).
            code, sysroot, _ = _run([rustc, "--print", "sysroot"], cwd=str(crate_dir) if crate_dir else None)
            sysroot = sysroot.strip()
            if code == 0 and sysroot and (Path(sysroot) / "bin" / "rustc").exists():
                add(Toolchain(str(Path(sysroot) / "bin" / "cargo"), str(Path(sysroot) / "bin" / "rustc"),
                              f"default rustup toolchain {Path(sysroot).name}", rustup_name=Path(sysroot).name))
            else:
                add(Toolchain(cargo, rustc, "default (PATH)"))
        else:
            add(Toolchain(cargo, rustc, "default (PATH)"))
    for d in _rustup_toolchains():
        add(Toolchain(str(d / "bin" / "cargo"), str(d / "bin" / "rustc"), f"rustup toolchain {d.name}", rustup_name=d.name))
    for prefix in ("/usr/bin", "/usr/local/bin"):
        if Path(prefix, "rustc").exists() and Path(prefix, "cargo").exists():
            add(Toolchain(f"{prefix}/cargo", f"{prefix}/rustc", prefix))
    return out, explicit


def _identity(*paths: str) -> str | None:
    """Binaries' paths and file stats: same identity, same `-vV` answers."""
    parts = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        parts.append(f"{p}\0{os.path.realpath(p)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _versions(tc: Toolchain, cache_dir: Path | None) -> bool:
    """rustc -vV, cargo -V and the sysroot, from the cache when the binaries are unchanged.

    Proxies (rustup) answer per directory and settings, so they are never cached.
    """
    ident = None if _is_rustup_proxy(tc.rustc) or _is_rustup_proxy(tc.cargo) else _identity(tc.rustc, tc.cargo)
    record = cache_dir / "toolchains" / f"describe-{ident}.json" if (cache_dir and ident) else None
    if record and record.is_file():
        try:
            d = json.loads(record.read_text())
            tc.rustc_verbose, tc.host, tc.rustc_version = d["rustc_verbose"], d["host"], d["rustc_version"]
            tc.cargo_version, tc.sysroot = d["cargo_version"], d["sysroot"]
            return True
        except (OSError, ValueError, KeyError):
            pass
    code, out, err = _run([tc.rustc, "-vV"])
    if code != 0:
        return _does_not_run(tc, tc.rustc, out, err)
    tc.rustc_verbose = out
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    tc.host = fields.get("host")
    tc.rustc_version = f"rustc {fields['release']}" if "release" in fields else out.splitlines()[0]
    invocations.count("version")
    code, out, err = _run([tc.cargo, "-V"])
    if code != 0:
        return _does_not_run(tc, tc.cargo, out, err)
    tc.cargo_version = " ".join(out.split()[:2])
    code, out, _ = _run([tc.rustc, "--print", "sysroot"])
    tc.sysroot = out.strip() if code == 0 else None
    if record:
        _write_json(record, {"rustc_verbose": tc.rustc_verbose, "host": tc.host, "rustc_version": tc.rustc_version,
                             "cargo_version": tc.cargo_version, "sysroot": tc.sysroot})
    return True


def _does_not_run(tc: Toolchain, binary: str, out: str, err: str) -> bool:
    msg = (err or out).strip().splitlines()
    tc.problem = f"{binary} does not run: {msg[-1] if msg else 'not found'}"
    tc.fixes = _install_fixes(tc)
    return False


def _write_json(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass


def describe(tc: Toolchain, cache_dir: Path | None = None, build_std: tuple[list[str], str] | None = None) -> None:
    """Fill versions, sysroot, wasm32 std and linker (the std and linker checked live:
    `rustup target add` changes them without touching the binaries). `build_std`: the
    crates build-std compiles and where that was configured; a toolchain without a
    prebuilt wasm32 std but with std's sources is then usable."""
    if not _versions(tc, cache_dir):
        return
    if tc.sysroot:
        lib = Path(tc.sysroot) / "lib" / "rustlib" / TARGET / "lib"
        tc.wasm32_std = lib.is_dir() and any(p.name.startswith("libstd-") for p in lib.iterdir())
        if tc.host:
            bundled = Path(tc.sysroot) / "lib" / "rustlib" / tc.host / "bin" / "rust-lld"
            if bundled.exists():
                tc.linker = str(bundled)
        if tc.linker is None:
            found = shutil.which("rust-lld")
            if found and os.path.exists(os.path.realpath(found)):
                tc.linker = found
    if tc.sysroot:
        tc.rust_src = (Path(tc.sysroot) / "lib" / "rustlib" / "src" / "rust" / "library" / "std").is_dir()
    tc.nightly = "-nightly" in (tc.rustc_version or "") or "-dev" in (tc.rustc_version or "")
    if build_std and tc.rust_src:
        tc.build_std, tc.build_std_from = list(build_std[0]), build_std[1]  # std comes from source
    if not tc.wasm32_std and not tc.build_std:
        tc.problem = f"no {TARGET} standard library"
        tc.fixes = _target_fixes(tc)
        if tc.rust_src and not build_std:
            tc.fixes.append("or build std from source: auditor scan --build-std (or scan.build-std = true, "
                            "or [unstable] build-std in .cargo/config.toml)")
        if build_std and not tc.rust_src:
            tc.problem += " and no std sources for build-std (rust-src)"
            tc.fixes = ([f"rustup component add rust-src --toolchain {tc.rustup_name}"] if tc.rustup_name
                        else []) + tc.fixes
    elif tc.linker is None:
        tc.problem = "no rust-lld linker for wasm32 (rustc links wasm32 with rust-lld)"
        tc.fixes = ["apt-get install lld"] if not tc.rustup_name else [f"rustup component add rustc --toolchain {tc.rustup_name}"]


def _target_fixes(tc: Toolchain) -> list[str]:
    if tc.rustup_name:
        return [f"rustup target add {TARGET} --toolchain {tc.rustup_name}"]
    if tc.sysroot in ("/usr", "/usr/local") and shutil.which("apt-get"):
        return ["apt-get install libstd-rust-dev-wasm32 lld"]
    return [f"install the {TARGET} standard library for {tc.rustc_version or 'this rustc'} "
            f"(with rustup: rustup target add {TARGET})"]


def _install_fixes(tc: Toolchain) -> list[str]:
    if tc.rustup_name:
        return [f"rustup toolchain install {tc.rustup_name} --target {TARGET}"]
    return ["apt-get install rustc cargo libstd-rust-dev-wasm32 lld",
            f"or: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --target {TARGET}"]


_PROBE_TOML = """[package]
name = "auditor_toolchain_probe"
version = "0.0.0"
edition = "2018"
publish = false

[lib]
crate-type = ["cdylib"]

[workspace]
"""
_PROBE_RS = "#[no_mangle]\npub extern \"C\" fn probe(n: usize) -> usize { vec![1u8; n].len() }\n"


def _run_group(argv: list[str], cwd: Path, env: dict, timeout: float = 300) -> tuple[int, str]:
    """(exit code, stderr) of a build in its own process group: on a timeout, Ctrl-C or
    SIGTERM the whole group (cargo and its rustc) is killed and reaped before the caller
    removes the directory they write in."""
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.communicate()
        raise


def _verdict_record(tc: Toolchain, cache_dir: Path | None) -> Path | None:
    digest = hashlib.sha256(f"{_PROBE_VERSION}\n{tc.key}".encode()).hexdigest()[:24]
    return cache_dir / "toolchains" / f"{digest}.json" if cache_dir else None


# Deferred test builds that failed (toolchain key -> problem, fixes). Failures are not
# written to the cache (installing the missing piece does not change the binaries), but
# the scan re-selects right after one and must not build it again: read once, then gone.
_failed_checks: dict[str, tuple[str | None, list[str]]] = {}


def cached_verdict(tc: Toolchain, cache_dir: Path | None) -> bool:
    """Fill the test build's verdict from this process or the cache; False: none known."""
    if tc.key in _failed_checks:
        tc.can_build = False
        tc.problem, fixes = _failed_checks.pop(tc.key)
        tc.fixes = list(fixes)
        return True
    record = _verdict_record(tc, cache_dir)
    if record and record.is_file():
        try:
            data = json.loads(record.read_text())
            tc.can_build, tc.problem, tc.fixes = data["can_build"], data["problem"], data["fixes"]
            return True
        except (OSError, ValueError, KeyError):
            pass
    return False


def confirm(tc: Toolchain, cache_dir: Path | None) -> None:
    """A real wasm32 build with this toolchain succeeded: it can build (the verdict the
    skipped test build would have cached)."""
    tc.can_build, tc.problem, tc.fixes, tc.check_deferred = True, None, [], False
    record = _verdict_record(tc, cache_dir)
    if record:
        _write_json(record, {"can_build": True, "problem": None, "fixes": []})


def check_after_failure(tc: Toolchain, cache_dir: Path | None) -> bool:
    """The first real build failed while the test build was deferred: run it now, to
    tell a broken toolchain (False: `tc.problem` says why) from the crate's own failure."""
    tc.check_deferred = False
    try_build(tc, cache_dir)
    if not tc.can_build:
        _failed_checks[tc.key] = (tc.problem, list(tc.fixes))
    return bool(tc.can_build)


def try_build(tc: Toolchain, cache_dir: Path | None) -> None:
    """Build a tiny std-using cdylib; the verdict is cached per exact toolchain identity."""
    if cached_verdict(tc, cache_dir):
        return
    record = _verdict_record(tc, cache_dir)
    with tempfile.TemporaryDirectory(prefix="auditor-toolchain-") as tmp:
        crate = Path(tmp) / "probe"
        (crate / "src").mkdir(parents=True)
        (crate / "Cargo.toml").write_text(_PROBE_TOML)
        (crate / "src" / "lib.rs").write_text(_PROBE_RS)
        env = tc.env()
        env["CARGO_TARGET_DIR"] = str(Path(tmp) / "target")
        env["TMPDIR"] = tmp  # rustc's temp dirs go (and are removed) with this one
        for k in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"):
            env.pop(k, None)
        invocations.count("toolchain check")
        try:
            code, text = _run_group([tc.cargo, "build", "--offline", "--release", "--target", TARGET], crate, env)
            ok = code == 0
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, text = False, str(e)
    tc.can_build = ok
    if not ok:
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        first = next((l for l in lines if l.startswith("error")), lines[0] if lines else "build failed")
        cause = next((l for l in lines if "unknown print request" in l or "unsupported" in l), None)
        if cause and "unknown print request" in cause:
            tc.problem = (f"{tc.cargo_version} cannot drive {tc.rustc_version} "
                          f"({cause.removeprefix('error: ')}): use the cargo shipped with this rustc")
            sibling = Path(tc.rustc).parent / "cargo"
            tc.fixes = [f"CARGO={sibling} RUSTC={tc.rustc} auditor scan ..."] if sibling.exists() else _install_fixes(tc)
        else:
            tc.problem = f"a test build of a tiny cdylib failed: {first[:300]}"
            tc.fixes = tc.fixes or [f"run: cargo build --target {TARGET} in a new cdylib crate to see the full error"]
    else:
        tc.problem, tc.fixes = None, []
    if record and ok:  # failures are re-tried: installing a missing piece does not change the binaries
        _write_json(record, {"can_build": tc.can_build, "problem": tc.problem, "fixes": tc.fixes})


def discover(crate_dir: Path | None = None, cache_dir: Path | None = None, *, all_of_them: bool = False,
             build_std: tuple[list[str], str] | None = None, defer_check: bool = False) -> Discovery:
    """Describe candidates in order and pick the first that builds.

    `all_of_them` (doctor) describes and test-builds every candidate instead of stopping
    at the first usable one. `defer_check` (scan): a candidate with a wasm32 std and a
    linker whose verdict is not known yet is taken without its test build
    (`check_deferred`); the caller's first real build confirms it, and if that build
    fails, `check_after_failure` runs the test build then.
    """
    cands, explicit = candidates(crate_dir, include_all=all_of_them)
    selected = None
    for i, tc in enumerate(cands):
        if selected is not None and not all_of_them:
            break
        describe(tc, cache_dir, build_std)
        if tc.wasm32_std and tc.linker and tc.problem is None:
            if defer_check and not all_of_them and not cached_verdict(tc, cache_dir):
                tc.can_build, tc.check_deferred = True, True
            else:
                try_build(tc, cache_dir)
        elif tc.build_std and tc.linker and tc.problem is None:
            # A test build would compile std (minutes): trusted, and said so on stderr.
            tc.can_build = True
        if tc.usable and selected is None and (i == 0 or not explicit):
            selected = tc
    if explicit and selected is None:
        given = " ".join(n for n in ("CARGO", "RUSTC") if os.environ.get(n))
        unset = f"unset {given} and let auditor pick an installed toolchain"
        if cands[0].problem and "does not run" in cands[0].problem:
            cands[0].fixes = [f"point {given} at an existing cargo/rustc pair, or {unset}"]
        else:
            cands[0].fixes.append(f"or {unset}")
        cands = cands[:1] if not all_of_them else cands
    if selected is None:
        return Discovery(cands, None, _no_toolchain_reason(cands, explicit), explicit)
    if selected.build_std:
        why_std = (f"; no prebuilt {TARGET} std: cargo builds {','.join(selected.build_std)} from source "
                   f"(build-std, configured in {selected.build_std_from}"
                   f"{', RUSTC_BOOTSTRAP=1' if not selected.nightly else ''}; the first build of each profile "
                   "takes minutes)")
    else:
        why_std = ""
    if explicit:
        why = "CARGO/RUSTC set in the environment"
    elif selected is cands[0]:
        why = "the default toolchain"
    else:
        skipped = [f"{tc.source} ({tc.rustc_version or '?'}) has {tc.problem}" if (tc.problem or "").startswith("no ")
                   else f"{tc.source} ({tc.rustc_version or '?'}): {tc.problem}" for tc in cands[: cands.index(selected)]]
        why = "; ".join(skipped)
    return Discovery(cands, selected, f"using {selected.label()}: {why}{why_std}", explicit)


def _no_toolchain_reason(cands: list[Toolchain], explicit: bool) -> str:
    if not cands:
        return f"no Rust toolchain found (fix: {_install_fixes(Toolchain('cargo', 'rustc', ''))[0]})"
    parts = []
    for tc in cands[:1] if explicit else cands:
        fix = f" (fix: {'; '.join(tc.fixes)})" if tc.fixes else ""
        parts.append(f"{tc.source} {tc.rustc_version or ''}: {tc.problem}{fix}")
    head = "CARGO/RUSTC toolchain cannot build " if explicit else "no installed toolchain can build "
    return head + TARGET + ": " + "; ".join(parts) + " (see `auditor doctor`)"


def select(crate_dir: Path | None = None, cache_dir: Path | None = None,
           build_std: tuple[list[str], str] | None = None, defer_check: bool = False) -> Discovery:
    """The toolchain a scan uses, or AuditorError saying what is missing and how to fix it."""
    found = discover(crate_dir, cache_dir, build_std=build_std, defer_check=defer_check)
    if found.selected is None:
        raise AuditorError(found.reason)
    return found


def _ar_symbols(path: Path) -> set[str]:
    """Names in an ar archive's symbol index (GNU `/` or `/SYM64/` first member): the
    global symbols its objects define. Empty when the archive has no index."""
    try:
        with open(path, "rb") as f:
            head = f.read(8 + 60)
            if len(head) < 68 or head[:8] != b"!<arch>\n":
                return set()
            name, size_field = head[8:24].strip(), head[56:66].strip()
            if name not in (b"/", b"/SYM64/") or not size_field.isdigit():
                return set()
            data = f.read(int(size_field))
    except OSError:
        return set()
    width = 8 if name == b"/SYM64/" else 4
    if len(data) < width:
        return set()
    count = int.from_bytes(data[:width], "big")
    names = data[width + count * width:].split(b"\0")[:count]
    return {n.decode("utf-8", "replace") for n in names if n}


_std_cache: dict[str, frozenset[str]] = {}


def std_symbols(tc: Toolchain) -> frozenset[str]:
    """Global symbols of the toolchain's prebuilt wasm32 std (every rlib's archive index
    in the sysroot): what tells std's private dlmalloc from the dlmalloc crate. Empty
    when there is no prebuilt std (build-std builds it per target dir)."""
    if not tc.sysroot:
        return frozenset()
    lib = Path(tc.sysroot) / "lib" / "rustlib" / TARGET / "lib"
    key = str(lib)
    if key not in _std_cache:
        out: set[str] = set()
        if lib.is_dir():
            for p in sorted(lib.glob("*.rlib")):
                out |= _ar_symbols(p)
        _std_cache[key] = frozenset(out)
    return _std_cache[key]


def configured_build_std(package_dir: Path, configured: object = None, where: str | None = None,
                         config_files: list[Path] | None = None) -> tuple[list[str], str] | None:
    """Crates to build from source and where that was said: auditor's `scan.build-std`
    (or --build-std; true means std,panic_abort), else `[unstable] build-std` in a cargo
    config file cargo reads for the crate. None: not configured."""
    if configured:
        crates = ["std", "panic_abort"] if configured is True else [str(c) for c in configured]  # type: ignore[attr-defined]  # noqa: E501
        return crates, where or "scan.build-std"
    import tomllib

    for f in config_files or []:
        try:
            data = tomllib.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        listed = (data.get("unstable") or {}).get("build-std")
        if listed:
            return [str(c) for c in listed], f"{f} [unstable] build-std"
    return None


_panic_cache: dict[str, str | None] = {}


def target_panic(tc: Toolchain, cache_dir: Path | None) -> str | None:
    """The panic strategy rustc uses for TARGET when cargo passes no `-C panic`
    (`rustc --print cfg --target TARGET`), None when rustc does not say.

    Cargo passes `-C panic=abort` for `panic = "abort"` and nothing for `"unwind"`, so
    on a target whose default is abort (wasm32-unknown-unknown on every rustc measured)
    both settings compile the same panic path; the scan's probe builds rely on it.
    Kept per toolchain next to the test build's verdict: 40 ms of rustc, once."""
    if tc.key in _panic_cache:
        return _panic_cache[tc.key]
    digest = hashlib.sha256(f"print-cfg\n{TARGET}\n{tc.key}".encode()).hexdigest()[:24]
    record = cache_dir / "toolchains" / f"cfg-{digest}.json" if cache_dir else None
    value: str | None = None
    try:
        value = json.loads(record.read_text())["panic"] if record else None
        found = record is not None
    except (OSError, ValueError, KeyError, TypeError):
        found = False
    if not found:
        code, out, _ = _run([tc.rustc, "--print", "cfg", "--target", TARGET])
        cfg = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if code == 0 else {}
        value = cfg.get("panic", "").strip('"') or None
        if record and code == 0:
            _write_json(record, {"panic": value})
    _panic_cache[tc.key] = value
    return value


_unstable_cache: dict[str, frozenset[str]] = {}


def cargo_unstable_flags(tc: Toolchain) -> frozenset[str]:
    """The -Z flags this cargo knows (`cargo -Z help` with RUSTC_BOOTSTRAP=1)."""
    if tc.cargo not in _unstable_cache:
        env = {k: v for k, v in os.environ.items() if k != "RUSTUP_TOOLCHAIN"}
        env["RUSTC_BOOTSTRAP"] = "1"
        try:
            p = subprocess.run([tc.cargo, "-Z", "help"], capture_output=True, text=True, timeout=30, input="", env=env)
            text = p.stdout + p.stderr
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        flags = {line.split()[1] for line in text.splitlines() if line.strip().startswith("-Z ") and len(line.split()) > 1}
        _unstable_cache[tc.cargo] = frozenset(flags)
    return _unstable_cache[tc.cargo]
