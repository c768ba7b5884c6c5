"""The scan's worker: cargo builds in threads, analyses on the main thread as they finish.

For each variant (profile x allocator) the build stage gives the measured module from a
shadow copy of the workspace: exactly the user's crate plus the allocator. With the
runtime stage on, each allocator also gets one probe module (probe exports on) per
behaviour setting (plan.ProbePlan), shared by every variant it stands for: linked from a
measured build's link inputs where it can be (build/relink.py), else a probe build;
sizes come only from the measured builds, so probes never distort them. Build records are cached by
the plan's keys; analyses with the analysing code's hash on top, runtime results once per
probe build. Builds run in worker threads (one target dir per profile, kept in the cache
between scans) while the main thread inspects and runs finished modules.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from auditor.build import invocations, relink
from auditor.build import toolchain as tc_mod
from auditor.build.cache import VariantCache, code_hash, digest, file_sha256
from auditor.build.cargo import (
    BuildOutcome,
    ProcessRegistry,
    RustcInfo,
    dep_info,
    display_command,
    env_inputs,
    run_cargo,
)
from auditor.build.result import VariantResult
from auditor.build.shadow import ShadowSet, Tree
from auditor.build.toolchain import TARGET, Toolchain, std_symbols
from auditor.build.workspace import CrateInfo, cargo_config_files, config_sources
from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.pipeline.module_file import ModuleFile
from auditor.pipeline.plan import Plan, ProbePlan, ScanOptions, injected, on_release
from auditor.pipeline.progress import Progress
from auditor.pipeline.ship import ship_variant
from auditor.records.inspect import AllocatorRecord, InspectRecord
from auditor.records.run import AllocatorCodeRecord, RunRecord
from auditor.records.scan import BuildRecord
from auditor.rules.allocator import allocator_check, resolve_siblings
from auditor.runtime.options import RuntimeOptions, Scenario
from auditor.runtime.options import from_config as scenarios_from_config
from auditor.wasm.allocator import StdSymbols
from auditor.wasm.reader import uleb_at

if TYPE_CHECKING:
    from auditor.wasm.model import Module

Task = tuple[str, Any]  # ("variant", Plan) or ("probe", ProbePlan)


def work_units(todo: list[Plan], probes: list[ProbePlan], jobs: int) -> list[tuple[str, list[Task]]]:
    """Work units, named after their target dir: one per profile (dependencies are
    compiled per profile), split further only when there are fewer units than parallel
    jobs. `probes`: the probe builds whose base build (same profile and allocator) is not
    in this scan (the others follow their base on its thread: Runner._build_unit); each
    goes in its profile's unit, so it reuses that target dir's compiled dependencies."""
    by_profile: dict[str, list[Task]] = {}
    for p in todo:
        by_profile.setdefault(p.profile.name, []).append(("variant", p))
    for q in probes:
        tasks = by_profile.setdefault(q.profile.name, [])
        same = [i for i, (k, t) in enumerate(tasks) if k == "variant" and t.allocator.name == q.allocator.name]
        tasks.insert(same[-1] + 1 if same else len(tasks), ("probe", q))
    out = list(by_profile.items())
    while len(out) < jobs and any(len(g) > 1 for _, g in out):
        i = max(range(len(out)), key=lambda j: len(out[j][1]))
        name, big = out[i]
        out[i:i + 1] = [(name, big[: len(big) // 2]), (f"{name}~{len(out)}", big[len(big) // 2:])]
    return out


def _section(data: bytes, sid: int) -> bytes | None:
    """The payload of a module's first section with id `sid` (None: none)."""
    pos = 8
    while pos < len(data):
        kind = data[pos]
        size, pos = uleb_at(data, pos + 1)
        if kind == sid:
            return data[pos:pos + size]
        pos += size
    return None


def _faithful(measured: Path, probes: Path, names: list[str]) -> str | None:
    """None when the relinked probe module is the measured build plus the probe exports:
    the same imports, byte for byte (an LTO build's internalised allocator symbols would
    have become imports under rust-lld's --allow-undefined), and every probe export."""
    try:
        a, b = measured.read_bytes(), probes.read_bytes()
    except OSError as e:
        return f"cannot read the relinked module: {e.strerror}"
    try:
        if _section(a, 2) != _section(b, 2):
            return "the relinked module's imports differ from the measured build's"
        exports = _section(b, 7) or b""
    except IndexError:
        return "the relinked module is truncated"
    missing = [n for n in names if bytes([len(n)]) + n.encode() not in exports]
    return f"the relinked module lacks {', '.join(missing)}" if missing else None


def unshadow(text: str | None, tree: Tree) -> str | None:
    """Compiler messages with the user's paths instead of the shadow copy's."""
    if not text:
        return text
    if tree.glue is not None:
        text = text.replace(str(tree.glue), "<auditor_injected_glue>")
    return text.replace(str(tree.mirror), "")


class Runner:
    """Builds in worker threads (one profile's builds per unit, so dependencies build
    once per target dir); inspection and probes on the main thread as builds finish."""

    def __init__(self, crate: CrateInfo, tc: Toolchain, options: ScanOptions, runtime_on: bool,
                 config: ConfigView, rep: Progress, jobs: int, cache_root: Path | None = None,
                 immutable_inputs: str = ""):
        self.crate, self.tc, self.options, self.runtime_on = crate, tc, options, runtime_on
        self.config, self.rep, self.jobs = config, rep, max(1, int(jobs))
        self.cache_root = cache_root
        self.immutable_inputs = immutable_inputs  # see cache_targets.TargetStore.acquire
        self.registry = ProcessRegistry()
        self.shadows: ShadowSet | None = None
        self.builds = 0
        self._count_lock = threading.Lock()
        self.notices: list[str] = []
        self._runtime: tuple[RuntimeOptions, list[Scenario]] | None = None  # checked on first use
        self._std: StdSymbols | None = None  # the toolchain's std symbols, read on first use
        self._ran: dict[str, tuple[RunRecord | None, str | None]] = {}  # probe key -> (record, error)
        self.toolchain_notice: str | None = None  # said once the first build settles a deferred test build
        self._tc_lock = threading.Lock()
        # Probe modules linked from the measured build's link inputs (build/relink.py):
        # None when allowed, else why not (then every probe module is a cargo probe build).
        self.relink_blocked: str | None = None
        self._linker: Path | None = None  # the wrapper cargo gets as the wasm32 linker
        self._bases: dict[tuple[str, str], ProbePlan] = {}  # (profile, allocator) of a probe's base build
        self._captures: dict[str, tuple[relink.Capture, Plan, BuildRecord]] = {}  # probe key -> its base's link
        self._object_lock = threading.Lock()
        self._configs: list[dict[str, Any]] | str = []  # the cargo config files, parsed (or why not)
        self._base_records: dict[str, BuildRecord] = {}  # probe key -> its base build's record, this scan
        # cargo's rustc info cache, shared by the target dirs (one per profile): see RustcInfo
        self.rustc_info = RustcInfo(cache_root / "toolchains" / f"rustc-info-{digest([tc.key])[:24]}.json"
                                    if cache_root is not None else None)

    # ---------------------------------------------------------------- orchestration
    def run(self, plans: list[Plan]) -> list[VariantResult]:
        results: dict[int, VariantResult] = {}
        probes = list({p.probe.key: p.probe for p in plans if p.probe is not None}.values())
        todo = [p for p in plans if p.need_clean]
        todo_probes = [q for q in probes if q.need_build]
        # need_clean is `record is None`: every plan not to build has its stored record
        measured: dict[int, BuildRecord] = {p.index: p.record for p in plans if p.record is not None and not p.need_clean}
        probed: dict[str, BuildRecord] = {q.key: q.record for q in probes if q.record is not None and not q.need_build}
        done_q: queue.Queue[Any] = queue.Queue()

        def finish_ready() -> None:
            for p in plans:
                if p.index in results or p.index not in measured:
                    continue
                if p.probe is not None and p.probe.key not in probed:
                    continue
                results[p.index] = self._analyse(p, measured[p.index], probed.get(p.probe.key) if p.probe else None,
                                                 cached=not p.need_clean)

        self.rep.live_start()  # the status line on a terminal (erased in the finally below)
        try:
            if todo or todo_probes:
                self.shadows = ShadowSet(self.crate, self.options.tmp_dir, self.cache_root, self.immutable_inputs)
                self._set_up_relink(todo, todo_probes)
            # A probe whose base build (same profile and allocator) is in this scan runs
            # on that build's thread right after it (_build_unit); only the others are tasks.
            units = work_units(todo, [q for q in todo_probes if q not in self._bases.values()], self.jobs)
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="auditor-build") as pool:
                futures = [pool.submit(self._build_unit, name, tasks, done_q) for name, tasks in units]
                try:
                    finish_ready()
                    left = len(todo) + len(todo_probes)
                    while left:
                        try:
                            kind, task, rec, exc = done_q.get(timeout=0.5)
                        except queue.Empty:
                            if all(f.done() for f in futures) and done_q.empty():
                                for f in futures:
                                    f.result()  # re-raises what stopped a unit outside its tasks
                                raise AuditorError("a build thread stopped without reporting its builds") from None
                            continue
                        if exc is not None:
                            raise exc
                        if kind == "variant":
                            measured[task.index] = rec
                        else:
                            task.record = rec
                            probed[task.key] = rec
                        left -= 1
                        finish_ready()
                except BaseException:
                    self.registry.stop_all()
                    for f in futures:
                        f.cancel()
                    raise
        finally:
            self.rep.live_stop()
            if self.shadows is not None:
                self.registry.stop_all()
                self.shadows.close()
        out = [results[p.index] for p in plans]
        resolve_siblings(out)
        return out

    def _set_up_relink(self, todo: list[Plan], probes: list[ProbePlan]) -> None:
        """Decide once per scan whether its builds link through the wrapper (every build
        when they do: the same linker path from scan to scan, so cargo's fingerprints do
        not change with what each probe then does), and which probe modules come right
        after their base build, on its thread: each that has its base in this scan, linked
        from it where probe_blocked allows, else a cargo probe build in the same target dir."""
        shadows = self.shadows_or_fail()
        self._configs = relink.config_tables(cargo_config_files(self.crate.package_dir))
        self.relink_blocked = relink.wrapper_blocked(self.tc, self._configs, dict(os.environ))
        if self.relink_blocked is None:
            try:
                self._linker = relink.install_wrapper(self.cache_root or shadows.base, self.tc)
            except OSError as e:
                self.relink_blocked = f"cannot write the linker wrapper: {e.strerror or e}"
        building = {(p.profile.name, p.allocator.name) for p in todo}
        self._bases = {(q.profile.name, q.allocator.name): q for q in probes
                       if (q.profile.name, q.allocator.name) in building}

    def _build_unit(self, name: str, tasks: list[Task], done_q: queue.Queue[Any]) -> None:
        """One unit's builds, in one target dir, so their dependencies build once; a probe
        module whose base is one of them right after that build. Every task ends in one
        message on `done_q`, its record or the exception that stops the scan."""
        target: Path | None = None
        for kind, task in tasks:
            follow = [("probe", self._bases[(task.profile.name, task.allocator.name)])] \
                if kind == "variant" and (task.profile.name, task.allocator.name) in self._bases else []
            for k, t in [(kind, task), *follow]:
                started = False
                try:
                    self.rep.started(k, t.id)  # shown on the status line until ended
                    started = True
                    if target is None:
                        target = self.shadows_or_fail().target_dir(name)
                    rec = self._build(t, target) if k == "variant" else self._build_probe(t, target)
                    done_q.put((k, t, rec, None))
                except BaseException as e:  # handed to the main thread, which stops the scan
                    done_q.put((k, t, None, e))
                    return
                finally:
                    if started:
                        self.rep.ended(k, t.id)

    # ---------------------------------------------------------------- building (worker threads)
    def _env(self, target_dir: Path) -> dict[str, str]:
        env = self.tc.env()
        env.pop(relink.CAPTURE_ENV, None)
        if self._linker is not None:
            env[relink.LINKER_ENV] = str(self._linker)
        if self.shadows is not None:
            # rustc's own temp dirs (rustcXXXXXX) go inside the scan's temp dir, which is
            # removed even when a build is killed half-way (Ctrl-C, SIGTERM).
            tmp = self.shadows.base / "tmp"
            tmp.mkdir(exist_ok=True)
            env["TMPDIR"] = str(tmp)
        env["CARGO_TARGET_DIR"] = str(target_dir)
        env["CARGO_TERM_COLOR"] = "never"
        env["CARGO_TERM_PROGRESS_WHEN"] = "never"
        return env

    def _cargo(self, tree: Tree, args: list[str], target_dir: Path, kind: str = "build",
               capture: Path | None = None) -> BuildOutcome:
        with self._count_lock:
            if kind in ("build", "probe build"):
                self.builds += 1
        invocations.count(kind)
        self.rustc_info.seed(target_dir)
        env = self._env(target_dir)
        if capture is not None:
            env[relink.CAPTURE_ENV] = str(capture)
        out = run_cargo(self.tc.cargo, args, tree.manifest.parent, env, tree.manifest, self.registry)
        self.rustc_info.learn(target_dir)
        if out.interrupted:
            raise KeyboardInterrupt
        self._settle_toolchain(out)
        return out

    def _settle_toolchain(self, out: BuildOutcome) -> None:
        """With the toolchain's test build deferred, the first finished build settles it:
        a success is the verdict; a failure runs the test build now, and when that fails
        too the scan stops (DeferredCheckFailed: the scanner selects again, as if the
        test build had run first)."""
        if not self.tc.check_deferred:
            return
        with self._tc_lock:
            if not self.tc.check_deferred:
                return
            if out.ok:
                tc_mod.confirm(self.tc, self.cache_root)
            elif not tc_mod.check_after_failure(self.tc, self.cache_root):
                raise tc_mod.DeferredCheckFailed(self.tc.problem)
            self.say_toolchain()

    def say_toolchain(self) -> None:
        """The toolchain notice held back while its test build was deferred (once)."""
        if self.toolchain_notice is not None:
            self.rep.notice(self.toolchain_notice)
            self.toolchain_notice = None

    def _tree(self, plan: Plan | ProbePlan, probes: bool) -> Tree:
        shadows, alloc = self.shadows_or_fail(), plan.allocator
        if alloc.inject:
            return shadows.tree(alloc.name, alloc, glue=True)
        return shadows.tree("plain+probes" if probes else "plain", None, glue=probes)

    def shadows_or_fail(self) -> ShadowSet:
        assert self.shadows is not None  # run() makes them before any build starts
        return self.shadows

    def _record(self, out: BuildOutcome, tree: Tree, vc: VariantCache, module: str) -> BuildRecord:
        rec: BuildRecord = {"status": "ok" if out.ok else "failed", "error": unshadow(out.error, tree),
                               "build_seconds": round(out.seconds, 3), "compile_error": out.compile_error}
        if out.ok and out.wasm is not None:
            vc.put_file(module, out.wasm)
            rec["sha256"] = file_sha256(vc.path(module))
            rec["extra_inputs"] = self._extra_inputs(tree, out.wasm)
            rec["env_inputs"] = env_inputs(out.wasm, dict(os.environ))
        if not out.ok and not out.compile_error:
            # Not the code's fault (network, registry, disk): do not cache, retry next time.
            rec["transient"] = True
        return rec

    def _build(self, plan: Plan, target: Path) -> BuildRecord:
        tree = self._tree(plan, probes=False)
        vc = plan.cache
        previous = vc.previous_record()
        base_of = self._bases.get((plan.profile.name, plan.allocator.name)) if self._linker is not None else None
        capture = self.shadows_or_fail().base / "link" / base_of.key[:24] if base_of is not None else None
        if capture is not None:
            # A probe module is linked from this build: cargo must link it now, also when
            # its target dir is up to date (`--no-cache` over a kept one), else there is
            # nothing to catch and the probe module would cost a cargo build instead.
            where = "debug" if plan.profile.name == "dev" else plan.profile.name
            (target / TARGET / where / "deps" / f"{self.crate.lib_name}.wasm").unlink(missing_ok=True)
        out = self._cargo(tree, plan.args, target, capture=capture)
        rec = self._record(out, tree, vc, "module.wasm")
        if base_of is not None and capture is not None and rec.get("status") == "ok":
            self._captures[base_of.key] = (relink.Capture(capture, f"{self.crate.lib_name}.wasm"), plan, rec)
        if base_of is not None:
            self._base_records[base_of.key] = rec
        if rec.get("sha256"):
            if self.options.check_reproducible:
                again = self.shadows_or_fail().scratch_dir(f"r-{plan.index}")
                out2 = self._cargo(tree, plan.args, again, kind="reproducibility build")
                rec["reproducible"] = out2.wasm is not None and file_sha256(out2.wasm) == rec["sha256"]
                shutil.rmtree(again, ignore_errors=True)
            elif previous and previous.get("sha256"):
                rec["reproducible"] = previous["sha256"] == rec["sha256"]
        if not rec.get("transient"):
            vc.put_json("record.json", rec)
        return rec

    def _build_probe(self, probe: ProbePlan, target: Path) -> BuildRecord:
        base = self._base_records.get(probe.key)
        if base is not None and base.get("status") != "ok" and base.get("compile_error"):
            # the same sources with the probe feature fail the same way: not built again
            return {"status": "failed", "error": f"the measured build {probe.id} failed to compile",
                    "build_seconds": 0.0, "compile_error": True, "method": "cargo",
                    "relink_skipped": "its measured build failed"}
        linked, why = self._link_probe(probe)
        if linked is not None:
            probe.cache.put_json("record.json", linked)
            return linked
        tree = self._tree(probe, probes=True)
        out = self._cargo(tree, probe.args, target, kind="probe build")
        rec = self._record(out, tree, probe.cache, "probes.wasm")
        rec["method"] = "cargo"
        rec["relink_skipped"] = why
        if not rec.get("transient"):
            probe.cache.put_json("record.json", rec)
        return rec

    def _link_probe(self, probe: ProbePlan) -> tuple[BuildRecord | None, str]:
        """The probe module linked from its base build's link inputs and the probe object
        (build/relink.py): (record, "") or (None, why it is built by cargo instead)."""
        if self.relink_blocked is not None:
            return None, self.relink_blocked
        declared = relink.manifest_profile(self.crate.workspace_root / "Cargo.toml", probe.profile.name)
        settings = {**declared, **{k: v for k, v in probe.profile.settings.items() if k != "inherits"}}
        release_based = on_release(probe.profile) and declared.get("inherits", "release") == "release"
        why = relink.probe_blocked(self.tc, self._configs, dict(os.environ), settings, probe.profile.name,
                                   release_based, probe.target_panic)
        if why is not None:
            return None, why
        caught = self._captures.pop(probe.key, None)
        if caught is None:
            return None, f"the measured build {probe.id} was not linked by cargo in this scan"
        capture, base, base_rec = caught
        t0 = time.monotonic()
        env = self.tc.env()
        env.pop(relink.CAPTURE_ENV, None)
        flags = relink.object_flags(settings) or []
        with self._object_lock:
            obj, why = relink.probe_object(self.cache_root or self.shadows_or_fail().base, self.tc, flags, env)
        if obj is None:
            return None, why or "no probe object"
        out = capture.directory / "probes.wasm"
        why = relink.link(capture, obj, out, env)
        if why is None:
            why = _faithful(base.cache.path("module.wasm"), out, relink.exports())
        if why is not None:
            return None, why
        probe.cache.put_file("probes.wasm", out)
        shutil.rmtree(capture.directory, ignore_errors=True)
        rec: BuildRecord = {"status": "ok", "error": None, "build_seconds": round(time.monotonic() - t0, 3),
                            "compile_error": False, "sha256": file_sha256(probe.cache.path("probes.wasm")),
                            "extra_inputs": base_rec.get("extra_inputs") or {},
                            "env_inputs": base_rec.get("env_inputs") or {},
                            "method": "relink", "linked_from": base.id}
        return rec, ""

    def _extra_inputs(self, tree: Tree, wasm: Path) -> dict[str, str | None]:
        """Files rustc read outside everything the cache key hashes (an include! that
        leaves the workspace, a manifest read by include_str!): recorded with their raw
        hashes and checked on a cache hit."""
        shadows = self.shadows_or_fail()
        hashed = [self.crate.workspace_root, *self.crate.outside_paths,
                  *config_sources(cargo_config_files(self.crate.package_dir))]
        roots = [*hashed, shadows.base,
                 Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")]  # registry sources never change
        if self.tc.sysroot:
            roots.append(Path(self.tc.sysroot))
        out: dict[str, str | None] = {}
        for dep in dep_info(wasm):
            orig = tree.original(dep)
            # Auditor's own settings are left out of the key: a file the build read anyway counts.
            if orig.name not in ("Cargo.toml", "auditor.toml", ".auditor.toml") and any(
                    orig == r or r in orig.parents for r in roots):
                continue
            try:
                out[str(orig)] = file_sha256(orig)
            except OSError:
                out[str(orig)] = None
        return out

    # ---------------------------------------------------------------- analysis (main thread)
    def _analyse(self, plan: Plan, rec: BuildRecord, probe_rec: BuildRecord | None,
                 cached: bool) -> VariantResult:
        self.rep.started("analyse", plan.id)  # until rep.step below
        a = plan.allocator
        v = VariantResult(
            profile=plan.profile.name, allocator=a.name, status=rec.get("status", "failed"), error=rec.get("error"),
            build_seconds=rec.get("build_seconds"), cached=cached, command=display_command(plan.args),
            injected=injected(a), reproducible=rec.get("reproducible"), sha256=rec.get("sha256"),
        )
        if v.status == "ok":
            # Each module file read here is parsed at most once: its ModuleFile goes to
            # every step that reads it, and the first that parses keeps the parse there.
            module = ModuleFile(plan.cache.path("module.wasm"))
            probes = ModuleFile(plan.probe.cache.path("probes.wasm")) if plan.probe is not None else None
            v.wasm_path = str(module.path)
            # Everything after cargo is a function of the module's bytes: kept by its sha256.
            by_module = self._by_module(rec.get("sha256"), plan.cache)
            v.wasm = self._inspect(by_module, plan, module)
            if self.runtime_on and plan.probe is not None and probes is not None:
                self._run(plan.probe, probe_rec, v, probes)
            self._check_allocator(plan, probe_rec, v, probes)  # on cargo's module, which keeps the most names
            # bindgen CLI, wasm-opt: v.wasm becomes the shipped module's
            shipped = ship_variant(self, by_module, v, module)
            v.allocator_code = self._allocator_code(by_module, shipped, v.wasm,
                                                    sha=v.sha256 if shipped is module else None)
        self.rep.step(v.id, "from cache" if cached else (f"built in {v.build_seconds:.1f}s" if v.status == "ok"
                                                            else "FAILED"))
        return v

    def _by_module(self, sha: str | None, fallback: VariantCache) -> VariantCache:
        """Where results that depend only on a module's bytes are kept (inspect, the runtime
        record, shipping stages, allocator code): `<cache>/modules/<sha256>/`. A re-scan
        after an edit that leaves a module byte-identical (a comment, a test, an unused
        item) redoes its cargo build, incrementally, and nothing after it."""
        if not sha or self.cache_root is None:
            return fallback
        return VariantCache(self.cache_root, sha, read=self.options.use_cache, kind="modules")

    def _inspect(self, cache: VariantCache, plan: Plan, module: ModuleFile) -> InspectRecord:
        # Named where the user's own `cargo build --profile P` would put it; the real file
        # is the variant's `wasm_path` (in the cache).
        shown = f"target/{TARGET}/{plan.profile.name}/{self.crate.lib_name}.wasm"
        name = f"inspect-{digest([code_hash('auditor.wasm', ('allocators.toml',)), self.options.compression, shown])[:20]}.json"
        cached = cache.analysis(name)
        if cached is not None:
            return cast(InspectRecord, cached)  # written by the line below, with this code's hash in its name
        data = module.inspect(shown, self.options.compression).to_json()  # its parse kept for the next steps
        cache.put_json(name, data)
        return data

    def _check_allocator(self, plan: Plan, probe_rec: BuildRecord | None, v: VariantResult,
                         probes: ModuleFile | None) -> None:
        """allocator_check: the module's names, else its name-keeping twin (the probe
        build serving it, `probes`: same injected static, names kept), with the
        toolchain's std symbols and the churn verdict to narrow."""
        a = plan.allocator
        if self._std is None:
            self._std = StdSymbols(std_symbols(self.tc))
        twin = None
        det: dict[str, Any] = dict(v.wasm["allocator"]) if v.wasm else {}
        decided = det.get("name") not in (None, "unknown", "none") and not det.get("ambiguous_with")
        probe = plan.probe
        if not decided and probe is not None and probes is not None and probe_rec is not None \
                and probe_rec.get("status") == "ok":
            if probes.path.is_file():
                name = f"twin-{digest([code_hash('auditor.wasm', ('allocators.toml',)), file_sha256(probes.path)])[:20]}.json"
                by_module = self._by_module(probe_rec.get("sha256"), probe.cache)
                cached = by_module.analysis(name)
                if cached is not None:
                    twin = cast(AllocatorRecord, cached)
                else:
                    from auditor.wasm.allocator import detect_module

                    twin = detect_module(probes.module())  # the runtime harness's parse, when it ran
                    by_module.put_json(name, twin)
        run: dict[str, Any] = dict(v.runtime) if v.runtime else {}
        churn = (run.get("churn") or {}).get("verdict")
        assert v.wasm is not None  # only ok variants are checked
        v.allocator_check = allocator_check(a.name, a.candidates, v.wasm, twin=twin, churn=churn, std=self._std)

    def _allocator_code(self, cache: VariantCache, module: ModuleFile, wasm: InspectRecord,
                        sha: str | None = None) -> AllocatorCodeRecord:
        """What the allocator costs in the shipped module's code (allocspeed; cached like inspect).
        `sha`: the module's sha256 when known (the build record's, for the measured module)."""
        # Keyed by the module too: with shipping stages, one variant has several modules.
        key = digest([code_hash("auditor.wasm", ("allocators.toml",)), wasm["allocator"],
                      sha or file_sha256(module.path)])
        name = f"alloccode-{key[:20]}.json"
        cached = cache.analysis(name)
        if cached is not None:
            return cast("AllocatorCodeRecord", cached)  # what an earlier call put there
        from auditor.wasm.allocator_cost import allocator_code_json

        # the parse inspect just made of these very bytes, else a parse of the file
        data = allocator_code_json(module.module(), wasm["allocator"])
        cache.put_json(name, data)
        return data

    def runtime_setup(self) -> tuple[RuntimeOptions, list[Scenario]]:
        """Runtime options and scenarios, checked before the first build (config errors
        exit 2). wasmtime is looked for, not imported: a warm scan never loads it."""
        if self._runtime is None:
            import importlib.util

            if importlib.util.find_spec("wasmtime") is None:
                raise AuditorError("runtime probes need the wasmtime Python package (not installed): "
                                   "python -m pip install wasmtime, or scan with --no-runtime")
            ropts = RuntimeOptions.from_config(self.config, self.options.runtime_overrides)
            scen = scenarios_from_config(self.config) if self.config is not None else []
            self._runtime = (ropts, scen)
        return self._runtime

    def _run(self, probe: ProbePlan, rec: BuildRecord | None, v: VariantResult, probes: ModuleFile) -> None:
        """The runtime record of the variant's probe build (`probes`): run once per probe
        build (and cached with the runtime code's hash and options), shared by the
        variants it serves."""
        v.probe_build = probe.to_json()
        if rec is None or rec.get("status") != "ok":
            first = ((rec.get("error") if rec else None) or "not built").splitlines()[0]
            v.runtime_error = f"probe build failed: {first}"
            return
        v.probes_path = str(probes.path)
        if probe.key not in self._ran:
            self._ran[probe.key] = self._run_probe(self._by_module(rec.get("sha256"), probe.cache), probes)
        # The same record for every variant it serves: nothing downstream modifies records
        # (the rules put findings in the scan's lists), so it is shared, not copied.
        v.runtime, v.runtime_error = self._ran[probe.key]

    def _run_probe(self, cache: VariantCache, probes: ModuleFile) -> tuple[RunRecord | None, str | None]:
        ropts, scen = self.runtime_setup()
        name = f"runtime-{digest([code_hash('auditor.runtime'), asdict(ropts), [asdict(s) for s in scen]])[:20]}.json"
        cached = cache.analysis(name)
        if cached is not None:
            # kept by the module's bytes: the same bytes may sit in another probe entry now
            return cast(RunRecord, {**cached, "file": str(probes.path)}), None  # written below, with this code's hash in its name
        from auditor.runtime.api import run_module

        try:
            # A module this scan built from the user's crate: trusted as far as its build was.
            # The harness runs the parse kept for the twin's detection (or parses, and keeps it).
            data = run_module(probes.path, ropts, scen, trusted=True, parsed=_parse_or_none(probes)).to_json()
        except AuditorError as e:
            return None, e.line()
        cache.put_json(name, data)
        return data, None


def _parse_or_none(module: ModuleFile) -> Module | None:
    """The module parsed (or the parse kept); None when it does not parse, so the runtime
    harness reads the file itself and says why (its record, not a failed scan)."""
    try:
        return module.module()
    except AuditorError:
        return None
