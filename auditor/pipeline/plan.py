"""Everything a scan decides before its first build: options, config, toolchain, crate,
matrix, and per variant the cache key that says whether it must be built at all.

A variant's key hashes every input a build reads (the toolchain, the workspace's sources
and cargo config, directory/vendored sources, the relevant environment, the injected
glue, the profile's settings, the allocator's source) and the cache format; a hit needs
the stored record, its module and unchanged files outside those inputs that rustc was
seen reading. Auditor's own settings (budgets, rules, runtime options: auditor.toml and
`[*.metadata.auditor]`) are not build inputs and are left out.

The runtime stage needs a build with probe exports. Variants whose profiles agree on the
behaviour keys (rules/scan.toml: panic, overflow-checks, debug-assertions) share one
probe build per allocator (`ProbePlan`), built with a selected profile of that behaviour
(`release` when selected), so it reuses that profile's compiled dependencies.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from auditor.build import toolchain as tc_mod
from auditor.build.cache import CACHE_FORMAT, VariantCache, default_cache_dir, digest, file_sha256
from auditor.build.cargo import (
    PROBE_RUSTC_ARGS,
    BuildOptions,
    cargo_args,
    display_command,
    env_unchanged,
    probe_cargo_args,
)
from auditor.build.matrix import Allocator, Matrix, Profile, build_matrix, pin_allocator
from auditor.build.shadow import PROBE_FEATURE, probe_source
from auditor.build.toolchain import TARGET, Toolchain
from auditor.build.workspace import (
    CrateInfo,
    HashMemo,
    build_fingerprint,
    cargo_config_files,
    config_sources,
    find_manifest,
    fingerprint,
    load_crate,
)
from auditor.config.view import ConfigView
from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.pipeline.gate import GatePlan, plan_gate
from auditor.pipeline.progress import Notices, Progress, ProgressFactory
from auditor.records.scan import BuildRecord, CommandRowRecord, InjectedRecord, ProbeBuildRecord, join_id

# Measured on 2 cores (benchmarks/scan_overhead.py, README ("auditor scan")): 27 variants of
# a fixture crate took 11.4 s with 1 job, 6.8-9.1 s with 2. Work units are whole profiles,
# so a second job never compiles a dependency twice; more jobs than cores only contend.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
_ENV_PREFIXES = ("CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_", "CARGO_UNSTABLE_",
                 "CARGO_REGISTRIES_", "CARGO_SOURCE_", "CARGO_PATCH_")
_ENV_KEYS = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_BOOTSTRAP",
             "CARGO_HOME")


@dataclass
class ScanOptions:
    profiles: list[str] | None = None  # None: config scan.profiles, else every profile
    allocators: list[str] | None = None  # None: config scan.allocators, else the default matrix
    build: BuildOptions = field(default_factory=BuildOptions)
    jobs: int | None = None  # None: config scan.jobs, else DEFAULT_JOBS
    runtime: bool | None = None  # None: config scan.runtime, else True
    runtime_overrides: dict[str, Any] = field(default_factory=dict)  # for RuntimeOptions.from_config
    cache_dir: Path | None = None
    use_cache: bool = True
    check_reproducible: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: when stderr is a TTY and not quiet
    # what draws the progress (`auditor scan`: auditor.report.progress.Reporter); None:
    # notices only (pipeline.progress.Notices)
    reporter: ProgressFactory | None = None
    config_file: Path | None = None
    config: ConfigView | None = None  # a loaded auditor.config.Config (else loaded here)
    shard: tuple[int, int] | None = None
    gate: bool = False
    baseline: Path | None = None
    max_increase: str | None = None
    compression: str = "auto"
    tmp_dir: Path | None = None  # where shadow copies go (default: the system temp dir)
    ship: dict[str, Any] = field(default_factory=dict)  # ShipOptions overrides (pipeline/ship.py)
    build_std: bool | None = None  # --build-std (None: config scan.build-std)


@dataclass
class ProbePlan:
    """One probe build (probe exports on) serving every variant of one allocator whose
    profile has the same behaviour settings."""

    allocator: Allocator
    profile: Profile  # the cargo profile it is built with
    behaviour: dict[str, Any]  # the behaviour keys it stands for (on top of [profile.release])
    key: str
    cache: VariantCache
    record: BuildRecord | None
    need_build: bool
    args: list[str]
    variants: list[str] = field(default_factory=list)  # ids of the matrix's variants it serves
    target_panic: str | None = None  # the target's default strategy, when a profile set `panic`

    @property
    def id(self) -> str:
        return join_id(self.profile.name, self.allocator.name)

    def to_json(self) -> ProbeBuildRecord:
        rec = self.record
        status = rec.get("status") if rec else None
        return {"profile": self.profile.name, "allocator": self.allocator.name, "behaviour": self.behaviour,
                "status": status, "sha256": rec.get("sha256") if rec else None,
                "path": str(self.cache.path("probes.wasm")) if status == "ok" else None,
                "command": display_command(self.args), "variants": list(self.variants),
                "target_panic": self.target_panic, "method": rec.get("method", "cargo") if rec else None,
                "linked_from": rec.get("linked_from") if rec else None,
                "relink_skipped": rec.get("relink_skipped") if rec else None}


@dataclass
class Plan:
    """One variant to report: its cache entry, what is stored, what must still be built."""

    index: int
    profile: Profile
    allocator: Allocator
    key: str
    cache: VariantCache
    record: BuildRecord | None
    need_clean: bool
    args: list[str]
    probe: ProbePlan | None = None  # its probe build (None with --no-runtime)

    @property
    def id(self) -> str:
        return join_id(self.profile.name, self.allocator.name)


@dataclass
class Context:
    """A prepared scan: everything before the first build."""

    config: ConfigView
    toolchain: Toolchain
    crate: CrateInfo
    matrix: Matrix
    ids: list[str]  # the whole matrix, canonical order
    chosen: list[tuple[Profile, Allocator]]  # this run's variants (a shard's slice)
    notices: list[str]
    runtime_on: bool
    jobs: int
    rep: Progress
    cache_root: Path
    gate: GatePlan | None = None
    allocator_source: dict[str, Any] | None = None  # scan.registry-allocators: which list was scanned and why
    inputs: dict[str, Any] = field(default_factory=dict)  # build_inputs(), once plan_variants ran
    # The toolchain notice, held back while its test build is deferred (prepare(defer_check=True)):
    # the runner says it once the first real build settled the toolchain.
    toolchain_notice: str | None = None


def prepare(crate_dir: Path, options: ScanOptions, defer_check: bool = False) -> Context:
    """Config, toolchain, crate and matrix: everything before the first build. A bad
    --max-increase or baseline stops the scan here, before any build.

    `defer_check` (a scan that builds): the toolchain's test build is skipped when its
    verdict is not cached yet, since the first real build tells the same; a failure
    before or in that build runs the test build then (`DeferredCheckFailed` when it
    fails too: the caller prepares again without deferring)."""
    manifest = find_manifest(crate_dir)
    config = options.config
    if config is None:
        from auditor.config.loader import load_config

        config = load_config(manifest.parent, config_file=options.config_file)
    rep = (options.reporter or Notices)(options.quiet, options.progress)
    cache_root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    # Errors in what the user asked for come before any notice: unknown profile or
    # allocator names (data only), then a crate cargo cannot build as a cdylib.
    build_matrix(config, options.profiles, options.allocators)
    wanted = options.build_std if options.build_std is not None else config.get("scan.build-std")
    where = "--build-std" if options.build_std else (config.where("scan.build-std") if wanted else None)
    build_std = tc_mod.configured_build_std(manifest.parent, wanted, where, cargo_config_files(manifest.parent))
    found = tc_mod.select(manifest.parent, cache_root, build_std, defer_check=defer_check)
    tc = found.selected
    if tc is None:  # select() raises when nothing usable is found
        raise AuditorError(found.reason)
    try:
        crate, notices = load_crate(manifest, tc.cargo, tc.env(), options.build.package, cache_dir=cache_root,
                                    tool_key=tc.key)
    except AuditorError:
        # `cargo metadata` failed before the deferred test build: a broken toolchain's
        # diagnosis comes first, as it did when the test build ran up front.
        if tc.check_deferred and not tc_mod.check_after_failure(tc, cache_root):
            raise tc_mod.DeferredCheckFailed(tc.problem) from None
        raise
    toolchain_notice = found.summary() if tc.check_deferred else None
    if toolchain_notice is None:
        rep.notice(found.summary())
    wanted_allocators, source = choose_allocators(config, options, tc, rep)
    matrix = build_matrix(config, options.profiles, wanted_allocators)
    notices += unstable_profiles(matrix, tc)
    notices += pin_allocator(crate, matrix, config)
    for n in notices:
        rep.notice(n)
    runtime_on = options.runtime if options.runtime is not None else bool(config.get("scan.runtime", True))
    jobs = options.jobs or config.get("scan.jobs") or DEFAULT_JOBS
    everything = matrix.variants()
    ids = [join_id(p.name, a.name) for p, a in everything]
    chosen = everything
    if options.shard:
        from auditor.gate.shard import select

        keep = set(select(ids, *options.shard))
        chosen = [(p, a) for p, a in everything if join_id(p.name, a.name) in keep]
    gate = None
    if options.gate:
        gate = plan_gate(config, str(options.baseline) if options.baseline else None, options.max_increase,
                         before_scan=str(manifest))
    return Context(config, tc, crate, matrix, ids, chosen, notices, runtime_on, jobs, rep, cache_root, gate,
                   allocator_source=source, toolchain_notice=toolchain_notice)


def choose_allocators(config: ConfigView, options: ScanOptions, tc: Toolchain,
                      rep: Progress) -> tuple[list[str] | None, dict[str, Any] | None]:
    """`scan.registry-allocators` when cargo resolves them from crates.io, else
    `scan.allocators` (the offline fallback); said on stderr and in the JSON
    (`allocator_source`). Explicit --allocators win without a check."""
    registry = config.get("scan.registry-allocators")
    if options.allocators is not None or not registry:
        return options.allocators, None
    from auditor.build.matrix import load_allocators
    from auditor.build.registry import resolves

    known = load_allocators(config)
    unknown = [n for n in registry if n not in known]
    if unknown:
        raise AuditorError(f"unknown allocator {', '.join(map(repr, unknown))} (known: {', '.join(known)})",
                           config.where("scan.registry-allocators"))
    lines = [known[n].dependency_line() for n in registry if known[n].inject and "version" in known[n].source]
    ok, why = resolves(tc, lines)
    fallback = config.get("scan.allocators")
    if ok:
        rep.notice(f"crates.io reachable: scanning the registry allocators {', '.join(registry)} "
                   "(scan.registry-allocators)")
        return list(registry), {"source": "registry", "allocators": list(registry), "reason": None}
    listed = ", ".join(fallback) if fallback else "the default matrix"
    rep.notice(f"crates.io not reachable by {tc.cargo_version} ({why}): scanning {listed} instead (scan.allocators)")
    return fallback, {"source": "fallback", "allocators": list(fallback) if fallback else None, "reason": why}


def unstable_profiles(matrix: Matrix, tc: Toolchain) -> list[str]:
    """Profiles that need -Z flags: left out, with one notice, where they do not work;
    elsewhere given build-std when the toolchain's std comes from scan.build-std, and
    panic = "immediate-abort" in the form this toolchain knows. Every profile gets
    -Zbuild-std when auditor's config (not the crate's cargo config) asked for it."""
    notices: list[str] = []
    def works(p: Profile) -> bool:
        flags = p.settings.get("cargo-unstable") or []
        return tc.can_unstable() and (tc.rust_src or not any(f.startswith("build-std") for f in flags))

    dropped = [p.name for p in matrix.profiles if p.settings.get("requires-unstable") and not works(p)]
    if dropped:
        matrix.profiles[:] = [p for p in matrix.profiles if p.name not in dropped]
        if not matrix.profiles:
            raise AuditorError(f"profile {', '.join(dropped)} needs -Z flags: a nightly toolchain or build-std "
                               f"(scan.build-std / --build-std); {tc.rustc_version} is neither")
        notices.append(f"profile {', '.join(dropped)} left out: it needs -Z flags (a nightly toolchain, or build-std "
                       f"via scan.build-std / --build-std / [unstable] build-std, which sets RUSTC_BOOTSTRAP=1); "
                       f"{tc.rustc_version} is {'without std sources (rust-src)' if tc.can_unstable() else 'stable without build-std'}")
    global_std = tc.build_std and not (tc.build_std_from or "").endswith("[unstable] build-std")
    for p in matrix.profiles:
        flags = list(p.settings.get("cargo-unstable") or [])
        if global_std and not any(f.startswith("build-std=") for f in flags):
            flags.insert(0, f"build-std={','.join(tc.build_std or [])}")
        if p.settings.get("immediate-abort"):
            known = tc_mod.cargo_unstable_flags(tc)
            std_toml = Path(tc.sysroot or "/") / "lib" / "rustlib" / "src" / "rust" / "library" / "std" / "Cargo.toml"
            try:
                std_feature = "panic_immediate_abort" in std_toml.read_text(encoding="utf-8")
            except OSError:
                std_feature = False
            if "panic-immediate-abort" in known:
                p.settings["panic"] = "immediate-abort"
                flags.append("panic-immediate-abort")
            elif std_feature:
                flags = [f + ",panic_immediate_abort" if f.startswith("build-std-features=") else f for f in flags]
            else:
                notices.append(f"profile {p.name}: panic stays \"abort\" ({tc.cargo_version} has no "
                               "panic = \"immediate-abort\" and its std no panic_immediate_abort feature)")
        if flags:
            p.settings["cargo-unstable"] = flags
    return notices


def plan_variants(ctx: Context, options: ScanOptions) -> list[Plan]:
    """Per chosen variant: its key, what the cache holds, and what must be built; with the
    runtime stage on, each variant's shared probe build too."""
    inputs = ctx.inputs = build_inputs(ctx.crate, ctx.toolchain, ctx.cache_root)
    plans = []
    probes: dict[str, ProbePlan] = {}
    # Chosen from the whole matrix, not a shard's slice: every shard names the same probe builds.
    selected = ctx.matrix.profiles
    serves: dict[tuple[str, str], list[str]] = {}
    # Asked only when a profile sets `panic` (40 ms of rustc, then cached per toolchain).
    panic = tc_mod.target_panic(ctx.toolchain, ctx.cache_root) \
        if ctx.runtime_on and any("panic" in p.settings for p in selected) else None
    if ctx.runtime_on:
        for p, a in ctx.matrix.variants():
            serves.setdefault((probe_profile(p, selected, panic)[0].name, a.name), []).append(join_id(p.name, a.name))
    for i, (p, a) in enumerate(ctx.chosen):
        key, vc, rec = _variant_cache(ctx, options, inputs, p, a)
        args = cargo_args(p.config_args(), p.name, ctx.crate.name, options.build)
        plan = Plan(i, p, a, key, vc, rec, rec is None, args)
        if ctx.runtime_on:
            q, behaviour = probe_profile(p, selected, panic)
            pkey = digest([CACHE_FORMAT, inputs, TARGET, "probes", q.name, q.settings, allocator_key(a),
                           options.build.to_json(), PROBE_FEATURE, list(PROBE_RUSTC_ARGS), "twin-strip-override"])
            if pkey not in probes:
                pc = VariantCache(ctx.cache_root, pkey, read=options.use_cache, kind="probes")
                prec = _usable(pc, "probes.wasm")
                pargs = probe_cargo_args(q.config_args(), q.name, ctx.crate.name, options.build, PROBE_FEATURE,
                                         q.settings.get("strip"))
                probes[pkey] = ProbePlan(a, q, behaviour, pkey, pc, prec, prec is None, pargs,
                                         serves.get((q.name, a.name), []), panic)
            plan.probe = probes[pkey]
        plans.append(plan)
    return plans


def _variant_cache(ctx: Context, options: ScanOptions, inputs: dict[str, Any], p: Profile,
                   a: Allocator) -> tuple[str, VariantCache, BuildRecord | None]:
    """A variant's cache key, entry and usable record (None: it must be built)."""
    key = digest([CACHE_FORMAT, inputs, TARGET, p.name, p.settings, allocator_key(a), options.build.to_json()])
    vc = VariantCache(ctx.cache_root, key, read=options.use_cache)
    return key, vc, _usable(vc, "module.wasm")


def _usable(vc: VariantCache, module: str) -> BuildRecord | None:
    """The stored record, when its module is there and what rustc was seen reading
    outside the key (files, environment variables) is unchanged."""
    rec = cast("BuildRecord | None", vc.record())  # what _record stored
    if rec is not None and rec.get("status") == "ok" and not vc.path(module).is_file():
        return None
    if rec is not None and not unchanged(rec.get("extra_inputs") or {}):
        return None
    if rec is not None and not env_unchanged(rec.get("env_inputs") or {}, dict(os.environ)):
        return None
    return rec


def behaviour_keys() -> tuple[str, ...]:
    return tuple(load_rules_file("scan.toml").get("probe", {}).get("behaviour-keys", ["panic"]))


def on_release(p: Profile) -> bool:
    return p.name == "release" or (p.name != "dev" and p.settings.get("inherits", "release") == "release")


def probe_profile(p: Profile, chosen: list[Profile], target_panic: str | None = None) -> tuple[Profile, dict[str, Any]]:
    """The profile variant profile `p`'s probe build uses, and the behaviour it stands for.

    Profiles on top of [profile.release] share a probe build when they agree on the
    behaviour keys: it is built with the first selected profile whose settings are
    exactly those keys (`release` for none, `panic-abort` for panic = "abort": names kept,
    nothing else changed), else the first selected profile with that behaviour (`p`
    itself at worst), so it always reuses a measured profile's compiled dependencies.
    Any other profile (inheriting `dev`, say) probes itself.

    `target_panic`: the target's own panic strategy (toolchain.target_panic). Cargo passes
    `-C panic=abort` for "abort" and nothing for "unwind", so a `panic` equal to it, or
    "unwind", is no behaviour of its own: on wasm32-unknown-unknown, whose default is
    abort, `panic-abort` and the min-size profiles probe with `release`. Unknown (None):
    every `panic` setting counts.
    """
    if not on_release(p):
        return p, {k: v for k, v in p.settings.items() if k != "inherits"}
    keys = behaviour_keys()

    def behaviour(q: Profile) -> dict[str, Any]:
        b = {k: q.settings[k] for k in keys if k in q.settings}
        if target_panic is not None and b.get("panic") in (target_panic, "unwind"):
            del b["panic"]
        return b

    want = behaviour(p)
    same = [q for q in chosen if on_release(q) and behaviour(q) == want]
    exact = [q for q in same if {k: v for k, v in q.settings.items() if k != "inherits"} == want]
    return (exact or same or [p])[0], want


def command_rows(ctx: Context, options: ScanOptions) -> list[CommandRowRecord]:
    """Each chosen variant's reproducing commands (`scan --print-commands`): cargo's, then
    the shipping stages' (wasm-bindgen, wasm-opt) when the scan would run them."""
    from auditor.pipeline.ship import options_from_config, ship_commands

    out = []
    env = reproduce_env(ctx.toolchain)
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    ship = options_from_config(ctx.config, options.ship)
    ships = ship.wasm_opt or (ship.bindgen and (ctx.crate.workspace_root / "Cargo.lock").is_file())
    inputs = build_inputs(ctx.crate, ctx.toolchain, ctx.cache_root) if ships else {}
    for p, a in ctx.chosen:
        args = cargo_args(p.config_args(), p.name, ctx.crate.name, options.build)
        row: CommandRowRecord = {"id": join_id(p.name, a.name), "command": display_command(args),
               "cwd": str(ctx.crate.package_dir), "injected": injected(a), "env": env,
               "shell": f"{assignments} {shlex.join([ctx.toolchain.cargo, *args])}", "ship": []}
        if ships:
            _, vc, rec = _variant_cache(ctx, options, inputs, p, a)
            row["ship"] = ship_commands(ship, ctx.crate.workspace_root, ctx.crate.lib_name,
                                        _cargo_output(ctx.crate, p.name), f"pkg/{p.name}-{a.name}",
                                        vc.path("module.wasm") if rec is not None else None)
        out.append(row)
    return out


def _cargo_output(crate: CrateInfo, profile: str) -> str:
    """Where `cargo build --profile P --target wasm32-unknown-unknown` writes the module,
    relative to the package directory when it is inside it."""
    where = "debug" if profile == "dev" else "release" if profile == "bench" else profile
    path = crate.target_directory / TARGET / where / f"{crate.lib_name}.wasm"
    try:
        return str(path.relative_to(crate.package_dir))
    except ValueError:
        return os.path.relpath(path, crate.package_dir) if path.is_relative_to(crate.workspace_root) else str(path)


def reproduce_env(tc: Toolchain) -> dict[str, str]:
    """The environment a scan's cargo ran with that a clean shell lacks: the toolchain's
    CARGO/RUSTC (cargo otherwise runs the `rustc` on PATH), CARGO_INCREMENTAL=0, what the
    toolchain itself adds (RUSTC_BOOTSTRAP=1 for build-std) and the build-relevant
    variables of this environment (the ones the cache key reads)."""
    full = tc.env({})
    env = {k: full[k] for k in ("CARGO", "RUSTC", "CARGO_INCREMENTAL")}
    env.update({k: v for k, v in full.items() if k not in env})
    env.update({k: v for k, v in sorted(os.environ.items()) if k in _ENV_KEYS or k.startswith(_ENV_PREFIXES)})
    return env


def injected(a: Allocator) -> InjectedRecord | None:
    """What the shadow crate gets for an injected allocator (None: nothing injected)."""
    if not a.inject:
        return None
    return {
        "dependency": a.dependency_line(),
        "global_allocator": a.static_item(),
        "how": "the shadow crate depends on a generated crate holding this static (your files are not edited)",
    }


# --------------------------------------------------------------------------- cache keys


def build_inputs(crate: CrateInfo, tc: Toolchain, cache_root: Path | None = None) -> dict[str, Any]:
    """Everything outside the variant that a build reads.

    Sources: every file of the workspace and of path dependencies outside it (Cargo.lock
    among them: registry checksums, git revisions), with auditor's own settings left out
    (auditor.toml, `[*.metadata.auditor]` in manifests — unless a build script could read
    them); directory, local-registry and `paths` sources named by the cargo config files
    (vendored crates: each file's hash); the config files themselves; the environment
    cargo and rustc read.
    """
    skip = {crate.target_directory.resolve()}
    configs = cargo_config_files(crate.package_dir)
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEYS or k.startswith(_ENV_PREFIXES)}
    roots = [crate.workspace_root] + list(crate.outside_paths)
    memo = HashMemo(cache_root / "filehashes.json" if cache_root is not None else None)
    out = {
        "toolchain": tc.key,
        "package": crate.name,
        "workspace_root": str(crate.workspace_root),
        "sources": build_fingerprint(roots, skip, raw_manifests=crate.has_build_script, memo=memo),
        # also when inside the workspace: this hash keys the kept target dirs too (cargo
        # never rechecks a directory source's files; see cache_targets.TargetStore.acquire)
        "config_sources": build_fingerprint(config_sources(configs), frozenset(), raw_manifests=True, memo=memo),
        "cargo_config": fingerprint(configs),
        "env": env,
        "glue": digest([probe_source(), PROBE_FEATURE]),
    }
    memo.save()
    return out


_path_prints: dict[str, str] = {}


def allocator_key(a: Allocator) -> dict[str, Any]:
    """The allocator's part of a key: its spec, and for a path source the sources' hash."""
    spec: dict[str, Any] = {k: v for k, v in a.to_json().items() if k not in ("origin", "description")}
    path = a.source.get("path")
    if path:
        if path not in _path_prints:
            _path_prints[path] = fingerprint([Path(path)])
        spec["path_sources"] = _path_prints[path]
    return spec


def unchanged(extra_inputs: dict[str, str | None]) -> bool:
    """Files rustc read outside the hashed inputs still hash as recorded."""
    for path, sha in extra_inputs.items():
        try:
            now: str | None = file_sha256(Path(path))
        except OSError:
            now = None
        if now != sha:
            return False
    return True
