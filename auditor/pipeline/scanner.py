"""`auditor scan`: the stages composed (build -> wasm -> runtime -> rules -> gate).

`plan` decides what to build (and what the cache already holds), `runner` builds and
reads the variants, and this module puts the result together: size deltas against the
reference variant, the scan record serialised once, the rules and the recommendation
policy over that record, and with --gate the budgets.
"""

from __future__ import annotations

import time
from pathlib import Path

from auditor.build import invocations
from auditor.build.matrix import Allocator, Matrix, Profile
from auditor.build.result import CommandList, ScanResult
from auditor.build.toolchain import TARGET, DeferredCheckFailed, Toolchain
from auditor.config.view import ConfigView
from auditor.pipeline.gate import apply_gate
from auditor.pipeline.plan import Context, Plan, ScanOptions, command_rows, plan_variants, prepare
from auditor.pipeline.progress import sigterm_as_interrupt
from auditor.pipeline.retained import of_record
from auditor.pipeline.runner import Runner
from auditor.records.scan import CommandRowRecord, ScanOptionsRecord, ToolchainRecord, join_id, size_delta
from auditor.rules.engine import evaluate
from auditor.rules.recommend import passed_over, recommended, tradeoff_settings


def scan(crate_dir: str | Path, options: ScanOptions | None = None) -> ScanResult:
    """Build, inspect and run every selected variant of the crate at `crate_dir`."""
    options = options or ScanOptions()
    with sigterm_as_interrupt():
        return _scan(Path(crate_dir), options)


def commands(crate_dir: str | Path, options: ScanOptions | None = None) -> list[CommandRowRecord]:
    """Each selected variant's reproducing cargo command, without building anything:
    `id`, `command`, `cwd`, `injected`."""
    options = options or ScanOptions()
    return command_rows(prepare(Path(crate_dir), options), options)


def print_commands(crate_dir: str | Path, options: ScanOptions | None = None) -> CommandList:
    """`scan --print-commands`: `commands()` as a result the report layer writes."""
    return CommandList(commands(crate_dir, options))


def _scan(crate_dir: Path, options: ScanOptions) -> ScanResult:
    t0 = time.monotonic()
    calls, others = invocations.snapshot(), invocations.snapshot(other=True)
    first: Runner | None = None
    try:
        # The toolchain's test build is deferred on a cold cache: the first real build
        # tells the same (see plan.prepare).
        ctx, plans, runner = _start(crate_dir, options, defer_check=True)
        first = runner
        variants = runner.run(plans)
    except DeferredCheckFailed:
        # The toolchain failed its test build after a real build failed: select again as
        # if the test build had run first (its one-line diagnosis, or the next candidate).
        ctx, plans, runner = _start(crate_dir, options, defer_check=False)
        runner.builds += first.builds if first is not None else 0  # every build counted
        variants = runner.run(plans)
    runner.say_toolchain()  # nothing was built: the held-back notice still goes out

    baseline = reference_variant(ctx.matrix, ctx.chosen)
    base = next((v for v in variants if v.id == baseline and v.status == "ok"), None)
    for v in variants:
        if v.status == "ok" and base is not None and v.wasm is not None and base.wasm is not None:
            v.delta = size_delta(v.wasm, base.wasm, base.id)
    result = ScanResult(
        crate=ctx.crate.to_json(), toolchain=toolchain_json(ctx.toolchain),
        options=options_record(options, ctx.runtime_on),
        profiles=[p.to_json() for p in ctx.matrix.profiles], allocators=[a.to_json() for a in ctx.matrix.allocators],
        matrix=ctx.ids, variants=variants, baseline=baseline if base is not None else None,
        notices=ctx.notices + runner.notices, shard=options.shard, builds=runner.builds,
        allocator_source=ctx.allocator_source,
    )
    judge(result, ctx.config)
    result.retained_view = of_record("scan", result.to_json)  # read when the HTML page asks
    if ctx.gate is not None:
        result.check = apply_gate(ctx.gate, result.facts())
        result.findings += result.check.findings
        result.checks += result.check.checks
    result.seconds = time.monotonic() - t0
    result.cargo_invocations = invocations.since(calls)
    result.other_invocations = invocations.since(others, other=True)
    other = invocations.describe_other(result.other_invocations)
    cached = sum(v.cached for v in variants)
    failed = len(result.failed())
    ctx.rep.notice(f"{len(variants)} variant{'s' if len(variants) != 1 else ''} ({len(variants) - failed} ok, "
                   f"{failed} failed): {runner.builds} cargo build{'s' if runner.builds != 1 else ''}, "
                   f"{cached} from cache; {invocations.describe(result.cargo_invocations)}; "
                   f"{other + '; ' if other else ''}{result.seconds:.1f}s")
    return result


def _start(crate_dir: Path, options: ScanOptions, defer_check: bool) -> tuple[Context, list[Plan], Runner]:
    ctx = prepare(crate_dir, options, defer_check=defer_check)
    plans = plan_variants(ctx, options)
    ctx.rep.total = len(plans)
    runner = Runner(ctx.crate, ctx.toolchain, options, ctx.runtime_on, ctx.config, ctx.rep, ctx.jobs, ctx.cache_root,
                    ctx.inputs.get("config_sources", ""))
    runner.toolchain_notice = ctx.toolchain_notice
    if ctx.runtime_on:
        runner.runtime_setup()  # config errors in runtime options or scenarios exit 2 before any build
    return ctx, plans, runner


def judge(result: ScanResult, config: ConfigView | None) -> None:
    """The rules stage on a scan: its rules (and every variant's module and runtime rules)
    and the recommendation policy, both over the record serialised once."""
    facts = result.facts()
    findings, checks = evaluate("scan", facts, config)
    result.findings += findings
    result.checks += checks
    result.recommended = recommended(facts["variants"], result.matrix, result.profiles, tradeoff_settings(config))
    result.passed_over = passed_over(facts["variants"])


def reference_variant(matrix: Matrix, chosen: list[tuple[Profile, Allocator]]) -> str:
    """The variant deltas are against: the crate's own release build with std's allocator
    (else the first allocator of the matrix, say a pinned one)."""
    alloc = "default" if any(a.name == "default" for a in matrix.allocators) else matrix.allocators[0].name
    return join_id("release", alloc)


def options_record(options: ScanOptions, runtime_on: bool) -> ScanOptionsRecord:
    b = options.build
    return {"package": b.package, "features": b.features, "all_features": b.all_features,
            "no_default_features": b.no_default_features, "runtime": runtime_on,
            "check_reproducible": options.check_reproducible}


def toolchain_json(tc: Toolchain) -> ToolchainRecord:
    return {"rustc": tc.rustc_version, "cargo": tc.cargo_version, "host": tc.host, "target": TARGET,
            "source": tc.source}
