"""`auditor scan`: the stages composed (build -> wasm -> runtime -> rules -> gate).

For each variant (profile x allocator) the build stage gives two modules from a shadow
copy of the workspace: the measured one (exactly the user's crate plus the allocator)
and, when the runtime stage is on, the same build with probe exports added. Sizes come
only from the first, so probes never distort them. Results are cached by a hash of the
build inputs; analyses are cached with the analysing code's hash on top. Builds run in
worker threads while the main thread inspects and runs finished modules, so analysis
time hides behind the next build.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

from auditor.build import toolchain as tc_mod
from auditor.build.cache import CACHE_FORMAT, VariantCache, code_hash, default_cache_dir, digest, file_sha256
from auditor.build.cargo import BuildOptions, ProcessRegistry, cargo_args, dep_info, display_command, run_cargo
from auditor.build.matrix import Allocator, Matrix, Profile, build_matrix, load_allocators, match_allocator
from auditor.build.result import ScanResult, VariantResult, size_delta
from auditor.build.shadow import PROBE_FEATURE, ShadowSet, probe_source
from auditor.build.toolchain import TARGET
from auditor.build.workspace import CrateInfo, cargo_config_files, find_manifest, fingerprint, load_crate
from auditor.errors import AuditorError
from auditor.io import log

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
    runtime_overrides: dict = field(default_factory=dict)  # for RuntimeOptions.from_config
    cache_dir: Path | None = None
    use_cache: bool = True
    check_reproducible: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: when stderr is a TTY and not quiet
    config_file: Path | None = None
    config: object | None = None  # a loaded auditor.config.Config (else loaded here)
    shard: tuple[int, int] | None = None
    gate: bool = False
    baseline: Path | None = None
    max_increase: str | None = None
    compression: str = "auto"
    tmp_dir: Path | None = None  # where shadow copies go (default: the system temp dir)


@dataclass
class _Plan:
    index: int
    profile: Profile
    allocator: Allocator
    key: str
    cache: VariantCache
    record: dict | None
    need_clean: bool
    need_probes: bool
    args: list[str]

    @property
    def id(self) -> str:
        return f"{self.profile.name}/{self.allocator.name}"


class _Reporter:
    """Notices (unless --quiet) and per-variant progress (TTY only) on stderr."""

    def __init__(self, quiet: bool, progress: bool | None, total: int = 0):
        self.quiet = quiet
        self.progress = (not quiet and sys.stderr.isatty()) if progress is None else (progress and not quiet)
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()

    def notice(self, msg: str) -> None:
        if not self.quiet:
            log(f"auditor: {msg}")

    def step(self, vid: str, what: str) -> None:
        self.done += 1
        if self.progress:
            log(f"[{self.done}/{self.total}] {vid}: {what} ({time.monotonic() - self.t0:.1f}s elapsed)")


def _install_sigterm():
    """SIGTERM ends a scan like Ctrl-C: builds stopped, temp dirs removed."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


def scan(crate_dir, options: ScanOptions | None = None) -> ScanResult:
    """Build, inspect and run every selected variant of the crate at `crate_dir`."""
    options = options or ScanOptions()
    old_term = _install_sigterm()
    try:
        return _scan(Path(crate_dir), options)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


@dataclass
class _Context:
    config: object
    toolchain: object
    crate: CrateInfo
    matrix: Matrix
    ids: list[str]  # the whole matrix, canonical order
    chosen: list[tuple[Profile, Allocator]]  # this run's variants (a shard's slice)
    notices: list[str]
    runtime_on: bool
    jobs: int
    rep: _Reporter
    cache_root: Path
    gate: tuple | None = None  # (baseline report, its path) from gate.budgets.prepare


def _prepare(crate_dir: Path, options: ScanOptions) -> _Context:
    """Config, toolchain, crate and matrix: everything before the first build."""
    manifest = find_manifest(crate_dir)
    config = options.config
    if config is None:
        from auditor.config import load_config

        config = load_config(manifest.parent, config_file=options.config_file)
    rep = _Reporter(options.quiet, options.progress)
    cache_root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    found = tc_mod.select(manifest.parent, cache_root)
    tc = found.selected
    rep.notice(found.reason)
    crate, notices = load_crate(manifest, tc.cargo, tc.env(), options.build.package)
    matrix = build_matrix(config, options.profiles, options.allocators)
    notices += _pin_allocator(crate, matrix, config)
    for n in notices:
        rep.notice(n)
    runtime_on = options.runtime if options.runtime is not None else bool(config.get("scan.runtime", True))
    jobs = options.jobs or config.get("scan.jobs") or DEFAULT_JOBS
    everything = matrix.variants()
    ids = [f"{p.name}/{a.name}" for p, a in everything]
    chosen = everything
    if options.shard:
        from auditor.gate.shard import select

        keep = set(select(ids, *options.shard))
        chosen = [(p, a) for p, a in everything if f"{p.name}/{a.name}" in keep]
    gate = None
    if options.gate:  # a bad --max-increase or baseline stops the scan before any build
        from auditor.gate.budgets import prepare

        gate = prepare(config, str(options.baseline) if options.baseline else None, options.max_increase)
        allowance = options.max_increase or config.get("gate.max-increase")
        if not config.get("budget") and not (gate[0] is not None and allowance):
            raise AuditorError("--gate has nothing to check: no [[budget]] tables and no baseline with a "
                               "max-increase (--baseline/--max-increase or gate.baseline/gate.max-increase)",
                               str(manifest))
    return _Context(config, tc, crate, matrix, ids, chosen, notices, runtime_on, jobs, rep, cache_root, gate)


def commands(crate_dir, options: ScanOptions | None = None) -> list[dict]:
    """Each selected variant's reproducing cargo command, without building anything."""
    options = options or ScanOptions()
    ctx = _prepare(Path(crate_dir), options)
    out = []
    for p, a in ctx.chosen:
        args = cargo_args(p.config_args(), p.name, ctx.crate.name, options.build)
        out.append({"id": f"{p.name}/{a.name}", "command": display_command(args), "cwd": str(ctx.crate.package_dir),
                    "injected": _injected(a)})
    return out


def _scan(crate_dir: Path, options: ScanOptions) -> ScanResult:
    t0 = time.monotonic()
    ctx = _prepare(crate_dir, options)
    config, tc, crate, matrix, ids, chosen = ctx.config, ctx.toolchain, ctx.crate, ctx.matrix, ctx.ids, ctx.chosen
    notices, runtime_on, jobs, rep, cache_root = ctx.notices, ctx.runtime_on, ctx.jobs, ctx.rep, ctx.cache_root

    inputs = _inputs(crate, tc)
    plans = []
    for i, (p, a) in enumerate(chosen):
        key = digest([CACHE_FORMAT, inputs, TARGET, p.name, p.settings, _allocator_key(a), options.build.to_json()])
        vc = VariantCache(cache_root, key, read=options.use_cache)
        rec = vc.record()
        if rec is not None and rec.get("status") == "ok" and not vc.path("module.wasm").is_file():
            rec = None
        if rec is not None and not _unchanged(rec.get("extra_inputs") or {}):
            rec = None
        need_clean = rec is None
        probes_done = rec is not None and (rec.get("probe_status") == "failed" or (
            rec.get("probe_status") == "ok" and vc.path("probes.wasm").is_file()))
        need_probes = runtime_on and (need_clean or (rec.get("status") == "ok" and not probes_done))
        args = cargo_args(p.config_args(), p.name, crate.name, options.build)
        plans.append(_Plan(i, p, a, key, vc, rec, need_clean, need_probes, args))

    rep.total = len(plans)
    runner = _Runner(crate, tc, options, runtime_on, config, rep, jobs)
    if runtime_on:
        runner._runtime_setup()
    variants = runner.run(plans)

    baseline = _baseline_id(matrix, chosen)
    base = next((v for v in variants if v.id == baseline and v.status == "ok"), None)
    for v in variants:
        if v.status == "ok" and base is not None:
            v.delta = size_delta(v.wasm, base.wasm, base.id)
    result = ScanResult(
        crate=crate.to_json(), toolchain=_toolchain_json(tc), options=_options_json(options, jobs, runtime_on),
        profiles=[p.to_json() for p in matrix.profiles], allocators=[a.to_json() for a in matrix.allocators],
        matrix=ids, variants=variants, baseline=baseline if base is not None else None,
        notices=notices + runner.notices, shard=options.shard, builds=runner.builds,
    )
    _apply_rules(result, config)
    if options.gate:
        _apply_gate(result, config, options, *ctx.gate)
    result.seconds = time.monotonic() - t0
    cached = sum(v.cached for v in variants)
    failed = len(result.failed())
    rep.notice(f"{len(variants)} variant{'s' if len(variants) != 1 else ''} ({len(variants) - failed} ok, {failed} failed): "
               f"{runner.builds} cargo build{'s' if runner.builds != 1 else ''}, {cached} from cache, "
               f"{result.seconds:.1f}s")
    return result


def _inputs(crate: CrateInfo, tc) -> dict:
    """Everything outside the variant that a build reads."""
    skip = {crate.target_directory.resolve()}
    configs = cargo_config_files(crate.package_dir)
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEYS or k.startswith(_ENV_PREFIXES)}
    return {
        "toolchain": tc.key,
        "package": crate.name,
        "workspace_root": str(crate.workspace_root),
        "sources": fingerprint([crate.workspace_root] + list(crate.outside_paths), skip),
        "cargo_config": fingerprint(configs),
        "env": env,
        "glue": digest([probe_source(), PROBE_FEATURE]),
    }


_path_prints: dict[str, str] = {}


def _allocator_key(a: Allocator) -> dict:
    spec = a.to_json()
    spec.pop("origin", None)
    spec.pop("description", None)
    path = a.source.get("path")
    if path:
        if path not in _path_prints:
            _path_prints[path] = fingerprint([Path(path)])
        spec["path_sources"] = _path_prints[path]
    return spec


def _groups(todo: list[_Plan], jobs: int) -> list[list[_Plan]]:
    """Work units: one per profile (deps are compiled per profile), split further only
    when there are fewer units than parallel jobs."""
    groups: dict[str, list[_Plan]] = {}
    for p in todo:
        groups.setdefault(p.profile.name, []).append(p)
    out = list(groups.values())
    while len(out) < jobs and any(len(g) > 1 for g in out):
        big = max(out, key=len)
        i = out.index(big)
        out[i:i + 1] = [big[: len(big) // 2], big[len(big) // 2:]]
    return out


def _unshadow(text: str | None, tree) -> str | None:
    """Compiler messages with the user's paths instead of the shadow copy's."""
    if not text:
        return text
    if tree.glue is not None:
        text = text.replace(str(tree.glue), "<auditor_injected_glue>")
    return text.replace(str(tree.mirror), "")


def _unchanged(extra_inputs: dict) -> bool:
    for path, sha in extra_inputs.items():
        try:
            now = file_sha256(Path(path))
        except OSError:
            now = None
        if now != sha:
            return False
    return True


def _pin_allocator(crate: CrateInfo, matrix: Matrix, config) -> list[str]:
    """A crate with its own #[global_allocator] gets only that allocator, not injected ones."""
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


def _baseline_id(matrix: Matrix, chosen) -> str:
    alloc = "default" if any(a.name == "default" for a in matrix.allocators) else matrix.allocators[0].name
    return f"release/{alloc}"


def _toolchain_json(tc) -> dict:
    return {"rustc": tc.rustc_version, "cargo": tc.cargo_version, "host": tc.host, "target": TARGET,
            "source": tc.source}


def _options_json(options: ScanOptions, jobs: int, runtime_on: bool) -> dict:
    return {**options.build.to_json(), "runtime": runtime_on, "check_reproducible": options.check_reproducible}


def _allocator_check(a: Allocator, wasm: dict) -> dict:
    """Does the module link the allocator we asked for? (names survive only unstripped)"""
    det = wasm.get("allocator") or {}
    detected = det.get("name")
    expected = None if a.name == "own" else a.name
    if expected is None and detected in a.candidates:
        expected = detected  # one of the crate's cfg-chosen allocators: the build's features picked it
    if detected in (None, "unknown"):
        status, why = "unverified", "no allocator names in the module (stripped?)"
    elif detected == "none":
        status, why = "unverified", "no allocator code linked (the crate does not allocate)"
    elif expected is None:
        status, why = "unverified", f"the crate's own allocator is not a known entry; detected {detected}"
    elif detected == expected or expected in (det.get("ambiguous_with") or []):
        status, why = "match", None
    else:
        status, why = "mismatch", f"requested {expected} but the module links {detected}"
    return {"requested": expected, "detected": detected, "status": status, "message": why}


class _Runner:
    def __init__(self, crate: CrateInfo, tc, options: ScanOptions, runtime_on: bool, config, rep: _Reporter, jobs: int):
        self.crate, self.tc, self.options, self.runtime_on = crate, tc, options, runtime_on
        self.config, self.rep, self.jobs = config, rep, max(1, int(jobs))
        self.registry = ProcessRegistry()
        self.shadows: ShadowSet | None = None
        self.builds = 0
        self._count_lock = threading.Lock()
        self._slots = threading.local()
        self._next_slot = 0
        self.notices: list[str] = []
        self._runtime = None  # (module, options, scenarios), loaded on first use

    # ---------------------------------------------------------------- orchestration
    def run(self, plans: list[_Plan]) -> list[VariantResult]:
        results: dict[int, VariantResult] = {}
        todo = [p for p in plans if p.need_clean or p.need_probes]
        done_q: queue.Queue = queue.Queue()
        try:
            if todo:
                self.shadows = ShadowSet(self.crate, self.options.tmp_dir)
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="auditor-build") as pool:
                futures = [pool.submit(self._build_group, g, done_q) for g in _groups(todo, self.jobs)]
                try:
                    for p in plans:
                        if p not in todo:
                            results[p.index] = self._analyse(p, p.record, cached=True)
                    left = len(todo)
                    while left:
                        try:
                            p, rec, exc = done_q.get(timeout=0.5)
                        except queue.Empty:
                            continue
                        if exc is not None:
                            raise exc
                        results[p.index] = self._analyse(p, rec, cached=False)
                        left -= 1
                except BaseException:
                    self.registry.stop_all()
                    for f in futures:
                        f.cancel()
                    raise
        finally:
            if self.shadows is not None:
                self.registry.stop_all()
                self.shadows.close()
        return [results[p.index] for p in plans]

    def _build_group(self, group: list[_Plan], done_q: queue.Queue) -> None:
        """Variants of one profile, in one target dir, so their dependencies build once."""
        for p in group:
            try:
                done_q.put((p, self._build(p), None))
            except BaseException as e:  # handed to the main thread, which stops the scan
                done_q.put((p, None, e))
                return

    def _slot(self) -> int:
        if not hasattr(self._slots, "n"):
            with self._count_lock:
                self._slots.n = self._next_slot
                self._next_slot += 1
        return self._slots.n

    # ---------------------------------------------------------------- building (worker threads)
    def _env(self, target_dir: Path) -> dict:
        env = self.tc.env()
        env["CARGO_TARGET_DIR"] = str(target_dir)
        env["CARGO_TERM_COLOR"] = "never"
        env["CARGO_TERM_PROGRESS_WHEN"] = "never"
        return env

    def _cargo(self, tree, args: list[str], target_dir: Path):
        with self._count_lock:
            self.builds += 1
        return run_cargo(self.tc.cargo, args, tree.manifest.parent, self._env(target_dir), tree.manifest, self.registry)

    def _build(self, plan: _Plan) -> dict:
        a = plan.allocator
        slot = self._slot()
        target = self.shadows.target_dir(f"t{slot}")
        rec = dict(plan.record or {})
        vc = plan.cache
        if plan.need_clean:
            tree = self.shadows.tree(a.name if a.inject else "plain", a if a.inject else None, glue=a.inject)
            out = self._cargo(tree, plan.args, target)
            if out.interrupted:
                raise KeyboardInterrupt
            previous = vc.previous_record()
            rec = {"status": "ok" if out.ok else "failed", "error": _unshadow(out.error, tree),
                   "build_seconds": round(out.seconds, 3), "compile_error": out.compile_error}
            if out.ok:
                vc.put_file("module.wasm", out.wasm)
                rec["sha256"] = file_sha256(vc.path("module.wasm"))
                rec["extra_inputs"] = self._extra_inputs(tree, out.wasm)
                if self.options.check_reproducible:
                    again = self.shadows.target_dir(f"r{slot}")
                    out2 = self._cargo(tree, plan.args, again)
                    if out2.interrupted:
                        raise KeyboardInterrupt
                    rec["reproducible"] = out2.ok and file_sha256(out2.wasm) == rec["sha256"]
                    shutil.rmtree(again, ignore_errors=True)
                elif previous and previous.get("sha256"):
                    rec["reproducible"] = previous["sha256"] == rec["sha256"]
            if not out.ok and not out.compile_error:
                # Not the code's fault (network, registry, disk): do not cache, retry next time.
                rec["transient"] = True
        if plan.need_probes and rec.get("status") == "ok":
            kind = a.name if a.inject else "plain+probes"
            tree = self.shadows.tree(kind, a if a.inject else None, glue=True)
            out = self._cargo(tree, cargo_args(plan.profile.config_args(), plan.profile.name, self.crate.name,
                                               self.options.build, [PROBE_FEATURE]), target)
            if out.interrupted:
                raise KeyboardInterrupt
            rec["probe_status"] = "ok" if out.ok else "failed"
            rec["probe_error"] = _unshadow(out.error, tree)
            if out.ok:
                vc.put_file("probes.wasm", out.wasm)
        if not rec.get("transient"):
            vc.put_json("record.json", rec)
        return rec

    def _extra_inputs(self, tree, wasm: Path) -> dict:
        """Files rustc read outside everything the cache key hashes (an include! that
        leaves the workspace): recorded with their hashes and checked on a cache hit."""
        roots = [self.crate.workspace_root, *self.crate.outside_paths, self.shadows.base,
                 Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")]  # registry sources never change
        if self.tc.sysroot:
            roots.append(Path(self.tc.sysroot))
        out = {}
        for dep in dep_info(wasm):
            orig = tree.original(dep)
            if any(orig == r or r in orig.parents for r in roots):
                continue
            try:
                out[str(orig)] = file_sha256(orig)
            except OSError:
                out[str(orig)] = None
        return out

    # ---------------------------------------------------------------- analysis (main thread)
    def _analyse(self, plan: _Plan, rec: dict, cached: bool) -> VariantResult:
        a = plan.allocator
        v = VariantResult(
            profile=plan.profile.name, allocator=a.name, status=rec.get("status", "failed"), error=rec.get("error"),
            build_seconds=rec.get("build_seconds"), cached=cached, command=display_command(plan.args),
            injected=_injected(a), reproducible=rec.get("reproducible"), sha256=rec.get("sha256"),
        )
        if v.status == "ok":
            module = plan.cache.path("module.wasm")
            v.wasm_path = str(module)
            v.wasm = self._inspect(plan, module)
            v.allocator_check = _allocator_check(a, v.wasm)
            if self.runtime_on:
                self._run(plan, rec, v)
        self.rep.step(v.id, "from cache" if cached else (f"built in {v.build_seconds:.1f}s" if v.status == "ok"
                                                            else "FAILED"))
        return v

    def _inspect(self, plan: _Plan, module: Path) -> dict:
        # Named where the user's own `cargo build --profile P` would put it; the real file
        # is the variant's `wasm_path` (in the cache).
        shown = f"target/{TARGET}/{plan.profile.name}/{self.crate.lib_name}.wasm"
        name = f"inspect-{digest([code_hash('auditor.wasm', ('allocators.toml',)), self.options.compression, shown])[:20]}.json"
        data = plan.cache.analysis(name)
        if data is None:
            from auditor.wasm.inspect import inspect_file

            data = inspect_file(module, compression=self.options.compression, display_name=shown).to_json()
            plan.cache.put_json(name, data)
        return data

    def _runtime_setup(self):
        """Runtime options and scenarios, checked before the first build (config errors exit 2)."""
        if self._runtime is None:
            try:
                from auditor.runtime import api
                from auditor.runtime import scenarios as sc
            except ImportError as e:
                raise AuditorError(f"runtime probes need the wasmtime Python package ({e}): "
                                   "python -m pip install wasmtime, or scan with --no-runtime") from None

            ropts = api.RuntimeOptions.from_config(self.config, self.options.runtime_overrides)
            scen = sc.from_config(self.config) if self.config is not None else []
            self._runtime = (api, ropts, scen)
        return self._runtime

    def _run(self, plan: _Plan, rec: dict, v: VariantResult) -> None:
        if rec.get("probe_status") != "ok":
            first = (rec.get("probe_error") or "not built").splitlines()[0]
            v.runtime_error = f"probe build failed: {first}"
            return
        probes = plan.cache.path("probes.wasm")
        v.probes_path = str(probes)
        api, ropts, scen = self._runtime_setup()
        opts_json = asdict(ropts) if is_dataclass(ropts) else repr(ropts)
        scen_json = [asdict(s) if is_dataclass(s) else repr(s) for s in scen]
        name = f"runtime-{digest([code_hash('auditor.runtime'), opts_json, scen_json])[:20]}.json"
        data = plan.cache.analysis(name)
        if data is None:
            try:
                data = api.run_module(probes, ropts, scen).to_json()
            except AuditorError as e:
                v.runtime_error = e.line()
                return
            plan.cache.put_json(name, data)
        v.runtime = data


def _injected(a: Allocator) -> dict | None:
    if not a.inject:
        return None
    return {
        "dependency": a.dependency_line(),
        "global_allocator": a.static_item(),
        "how": "the shadow crate depends on a generated crate holding this static (your files are not edited)",
    }


def _apply_rules(result: ScanResult, config) -> None:
    from auditor.rules.engine import evaluate

    findings, checks = evaluate("scan", result.to_json(), config)
    result.findings += findings
    result.checks += checks


def _apply_gate(result: ScanResult, config, options: ScanOptions, baseline, baseline_path) -> None:
    from auditor.gate.budgets import evaluate, nothing_to_gate

    check = evaluate(result.to_json(), config, baseline, options.max_increase, baseline_name=baseline_path)
    error = nothing_to_gate(check, config)
    if error is not None:
        raise error
    result.check = check
    result.findings += check.findings
    result.checks += check.checks
