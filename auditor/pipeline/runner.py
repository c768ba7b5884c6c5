"""The scan's worker: cargo builds in threads, analyses on the main thread as they finish.

For each variant (profile x allocator) the build stage gives two modules from a shadow
copy of the workspace: the measured one (exactly the user's crate plus the allocator)
and, when the runtime stage is on, the same build with probe exports added. Sizes come
only from the first, so probes never distort them. Build records are cached by the
plan's key; analyses are cached with the analysing code's hash on top. Builds run in
worker threads while the main thread inspects and runs finished modules, so analysis
time hides behind the next build.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

from auditor.build.cache import code_hash, digest, file_sha256
from auditor.build.cargo import BuildOutcome, ProcessRegistry, cargo_args, dep_info, display_command, run_cargo
from auditor.build.result import VariantResult
from auditor.build.shadow import PROBE_FEATURE, ShadowSet, Tree
from auditor.build.toolchain import TARGET, Toolchain
from auditor.build.workspace import CrateInfo
from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.pipeline.plan import Plan, ScanOptions, injected
from auditor.pipeline.progress import Reporter
from auditor.records.inspect import InspectRecord
from auditor.records.run import RunRecord
from auditor.rules.allocator import allocator_check
from auditor.runtime.options import RuntimeOptions, Scenario
from auditor.runtime.options import from_config as scenarios_from_config


def groups(todo: list[Plan], jobs: int) -> list[list[Plan]]:
    """Work units: one per profile (deps are compiled per profile), split further only
    when there are fewer units than parallel jobs."""
    by_profile: dict[str, list[Plan]] = {}
    for p in todo:
        by_profile.setdefault(p.profile.name, []).append(p)
    out = list(by_profile.values())
    while len(out) < jobs and any(len(g) > 1 for g in out):
        big = max(out, key=len)
        i = out.index(big)
        out[i:i + 1] = [big[: len(big) // 2], big[len(big) // 2:]]
    return out


def unshadow(text: str | None, tree: Tree) -> str | None:
    """Compiler messages with the user's paths instead of the shadow copy's."""
    if not text:
        return text
    if tree.glue is not None:
        text = text.replace(str(tree.glue), "<auditor_injected_glue>")
    return text.replace(str(tree.mirror), "")


class Runner:
    """Builds in worker threads (one profile's variants per unit, so dependencies build
    once per target dir); inspection and probes on the main thread as builds finish."""

    def __init__(self, crate: CrateInfo, tc: Toolchain, options: ScanOptions, runtime_on: bool,
                 config: ConfigView, rep: Reporter, jobs: int):
        self.crate, self.tc, self.options, self.runtime_on = crate, tc, options, runtime_on
        self.config, self.rep, self.jobs = config, rep, max(1, int(jobs))
        self.registry = ProcessRegistry()
        self.shadows: ShadowSet | None = None
        self.builds = 0
        self._count_lock = threading.Lock()
        self._slots = threading.local()
        self._next_slot = 0
        self.notices: list[str] = []
        self._runtime: tuple[RuntimeOptions, list[Scenario]] | None = None  # checked on first use

    # ---------------------------------------------------------------- orchestration
    def run(self, plans: list[Plan]) -> list[VariantResult]:
        results: dict[int, VariantResult] = {}
        todo = [p for p in plans if p.need_clean or p.need_probes]
        done_q: queue.Queue[Any] = queue.Queue()
        try:
            if todo:
                self.shadows = ShadowSet(self.crate, self.options.tmp_dir)
            with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="auditor-build") as pool:
                futures = [pool.submit(self._build_group, g, done_q) for g in groups(todo, self.jobs)]
                try:
                    for p in plans:
                        if p not in todo:
                            results[p.index] = self._analyse(p, p.record or {}, cached=True)
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

    def _build_group(self, group: list[Plan], done_q: queue.Queue[Any]) -> None:
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
    def _env(self, target_dir: Path) -> dict[str, str]:
        env = self.tc.env()
        env["CARGO_TARGET_DIR"] = str(target_dir)
        env["CARGO_TERM_COLOR"] = "never"
        env["CARGO_TERM_PROGRESS_WHEN"] = "never"
        return env

    def _cargo(self, tree: Tree, args: list[str], target_dir: Path) -> BuildOutcome:
        with self._count_lock:
            self.builds += 1
        return run_cargo(self.tc.cargo, args, tree.manifest.parent, self._env(target_dir), tree.manifest, self.registry)

    def _build(self, plan: Plan) -> dict[str, Any]:
        a = plan.allocator
        slot = self._slot()
        shadows = self.shadows
        assert shadows is not None  # run() makes them before any build starts
        target = shadows.target_dir(f"t{slot}")
        rec = dict(plan.record or {})
        vc = plan.cache
        if plan.need_clean:
            tree = shadows.tree(a.name if a.inject else "plain", a if a.inject else None, glue=a.inject)
            out = self._cargo(tree, plan.args, target)
            if out.interrupted:
                raise KeyboardInterrupt
            previous = vc.previous_record()
            rec = {"status": "ok" if out.ok else "failed", "error": unshadow(out.error, tree),
                   "build_seconds": round(out.seconds, 3), "compile_error": out.compile_error}
            if out.ok and out.wasm is not None:
                vc.put_file("module.wasm", out.wasm)
                rec["sha256"] = file_sha256(vc.path("module.wasm"))
                rec["extra_inputs"] = self._extra_inputs(tree, out.wasm, shadows.base)
                if self.options.check_reproducible:
                    again = shadows.target_dir(f"r{slot}")
                    out2 = self._cargo(tree, plan.args, again)
                    if out2.interrupted:
                        raise KeyboardInterrupt
                    rec["reproducible"] = out2.wasm is not None and file_sha256(out2.wasm) == rec["sha256"]
                    shutil.rmtree(again, ignore_errors=True)
                elif previous and previous.get("sha256"):
                    rec["reproducible"] = previous["sha256"] == rec["sha256"]
            if not out.ok and not out.compile_error:
                # Not the code's fault (network, registry, disk): do not cache, retry next time.
                rec["transient"] = True
        if plan.need_probes and rec.get("status") == "ok":
            kind = a.name if a.inject else "plain+probes"
            tree = shadows.tree(kind, a if a.inject else None, glue=True)
            out = self._cargo(tree, cargo_args(plan.profile.config_args(), plan.profile.name, self.crate.name,
                                               self.options.build, [PROBE_FEATURE]), target)
            if out.interrupted:
                raise KeyboardInterrupt
            rec["probe_status"] = "ok" if out.ok else "failed"
            rec["probe_error"] = unshadow(out.error, tree)
            if out.ok and out.wasm is not None:
                vc.put_file("probes.wasm", out.wasm)
        if not rec.get("transient"):
            vc.put_json("record.json", rec)
        return rec

    def _extra_inputs(self, tree: Tree, wasm: Path, shadow_base: Path) -> dict[str, str | None]:
        """Files rustc read outside everything the cache key hashes (an include! that
        leaves the workspace): recorded with their hashes and checked on a cache hit."""
        roots = [self.crate.workspace_root, *self.crate.outside_paths, shadow_base,
                 Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")]  # registry sources never change
        if self.tc.sysroot:
            roots.append(Path(self.tc.sysroot))
        out: dict[str, str | None] = {}
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
    def _analyse(self, plan: Plan, rec: dict[str, Any], cached: bool) -> VariantResult:
        a = plan.allocator
        v = VariantResult(
            profile=plan.profile.name, allocator=a.name, status=rec.get("status", "failed"), error=rec.get("error"),
            build_seconds=rec.get("build_seconds"), cached=cached, command=display_command(plan.args),
            injected=injected(a), reproducible=rec.get("reproducible"), sha256=rec.get("sha256"),
        )
        if v.status == "ok":
            module = plan.cache.path("module.wasm")
            v.wasm_path = str(module)
            v.wasm = self._inspect(plan, module)
            v.allocator_check = allocator_check(a.name, a.candidates, v.wasm)
            v.allocator_code = self._allocator_code(plan, module, v.wasm)
            if self.runtime_on:
                self._run(plan, rec, v)
        self.rep.step(v.id, "from cache" if cached else (f"built in {v.build_seconds:.1f}s" if v.status == "ok"
                                                            else "FAILED"))
        return v

    def _inspect(self, plan: Plan, module: Path) -> InspectRecord:
        # Named where the user's own `cargo build --profile P` would put it; the real file
        # is the variant's `wasm_path` (in the cache).
        shown = f"target/{TARGET}/{plan.profile.name}/{self.crate.lib_name}.wasm"
        name = f"inspect-{digest([code_hash('auditor.wasm', ('allocators.toml',)), self.options.compression, shown])[:20]}.json"
        cached = plan.cache.analysis(name)
        if cached is not None:
            return cast(InspectRecord, cached)  # written by the line below, with this code's hash in its name
        from auditor.wasm.inspect import inspect_file

        data = inspect_file(module, compression=self.options.compression, display_name=shown).to_json()
        plan.cache.put_json(name, data)
        return data

    def _allocator_code(self, plan: Plan, module: Path, wasm: InspectRecord) -> dict[str, Any]:
        """What the allocator costs in the shipped module's code (allocspeed; cached like inspect)."""
        name = f"alloccode-{digest([code_hash('auditor.wasm', ('allocators.toml',)), wasm['allocator']])[:20]}.json"
        cached = plan.cache.analysis(name)
        if cached is not None:
            return cached
        from auditor.wasm.allocator_cost import allocator_code_json
        from auditor.wasm.parse import parse_module

        data = allocator_code_json(parse_module(module.read_bytes(), str(module)), dict(wasm["allocator"]))
        plan.cache.put_json(name, data)
        return data

    def runtime_setup(self) -> tuple[RuntimeOptions, list[Scenario]]:
        """Runtime options and scenarios, checked before the first build (config errors exit 2)."""
        if self._runtime is None:
            try:
                import wasmtime  # noqa: F401  (the probes need it; say so before building anything)
            except ImportError as e:
                raise AuditorError(f"runtime probes need the wasmtime Python package ({e}): "
                                   "python -m pip install wasmtime, or scan with --no-runtime") from None
            ropts = RuntimeOptions.from_config(self.config, self.options.runtime_overrides)
            scen = scenarios_from_config(self.config) if self.config is not None else []
            self._runtime = (ropts, scen)
        return self._runtime

    def _run(self, plan: Plan, rec: dict[str, Any], v: VariantResult) -> None:
        if rec.get("probe_status") != "ok":
            first = (rec.get("probe_error") or "not built").splitlines()[0]
            v.runtime_error = f"probe build failed: {first}"
            return
        probes = plan.cache.path("probes.wasm")
        v.probes_path = str(probes)
        ropts, scen = self.runtime_setup()
        name = f"runtime-{digest([code_hash('auditor.runtime'), asdict(ropts), [asdict(s) for s in scen]])[:20]}.json"
        cached = plan.cache.analysis(name)
        if cached is not None:
            v.runtime = cast(RunRecord, cached)  # written below, with this code's hash in its name
            return
        from auditor.runtime.api import run_module

        try:
            data = run_module(probes, ropts, scen).to_json()
        except AuditorError as e:
            v.runtime_error = e.line()
            return
        plan.cache.put_json(name, data)
        v.runtime = data
