"""`auditor run FILE.wasm`: the runtime stage alone, on any module."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("run")
@click.argument("wasm", type=click.Path(), metavar="FILE.wasm")  # the harness says what is wrong, in one line
@click.option("--memory-limit", default=None, metavar="SIZE",
              help='Memory cap per run: "16 MiB", "4 MB", "64 pages" or bytes (default 16 MiB).')
@click.option("--fuel", type=click.IntRange(min=1), default=None, metavar="N",
              help="Fuel per call into the module; running out is outcome `timeout` (default 2,000,000,000).")
@click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Wall-clock backstop per call, 0 = off (default 10).")
@click.option("--unknown-imports", type=click.Choice(["trap", "default"]), default=None,
              help="Imports other than WASI: stubs that trap when called (default) or return zeros.")
@click.option("--churn-rounds", type=click.IntRange(min=1), default=None, metavar="N",
              help="Rounds of the churn workload (default 2000).")
@click.option("--hold-cycles", type=click.IntRange(min=1), default=None, metavar="N",
              help="Cycles of the hold/release workload (default 48).")
@click.option("--seed", type=int, default=None, metavar="N", help="Seed of the workloads' sizes (default 1).")
@click.option("--workloads", default=None, metavar="LIST",
              help="Comma-separated subset of ramp,churn,hold_release,fragmentation,realloc.")
@click.option("--speed/--no-speed", default=None,
              help="Allocator speed probe: fuel per action, actions/µs, heap efficiency (default: runtime.speed, else on).")
@click.option("--speed-actions", type=click.IntRange(min=1), default=None, metavar="N",
              help="Records per speed workload (default 20000; talc's wasm-perf uses 100000).")
@click.option("--scenario", "scenarios", multiple=True, metavar="SPEC",
              help="export=NAME,args=[1,2],memory-limit=4 MiB,expect=ok|graceful-error|trap,error-value=N "
                   "(repeatable; replaces the config's scenarios).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="auditor config file (keys at top level: [runtime], [[scenario]]).")
@click.option("--crate", "crate_dir", type=click.Path(file_okay=True), default=".", show_default=True, metavar="DIR",
              help="Where to look for Cargo.toml [package.metadata.auditor] and auditor.toml.")
@output_options("run")
def command(wasm, memory_limit, fuel, timeout, unknown_imports, churn_rounds, hold_cycles, seed, workloads,
            speed, speed_actions, scenarios, config_file, crate_dir, fmt, output, color) -> int:
    """Run FILE.wasm in wasmtime: OOM behaviour, memory growth, OOM-guard scenarios.

    Exit 0 when every scenario passes and no rule reports an error, 1 otherwise, 2 when
    FILE is not a module or the options/config are wrong.
    """
    from auditor.pipeline import run

    runtime = {"memory-limit": memory_limit, "fuel": fuel, "timeout": timeout, "unknown-imports": unknown_imports,
               "churn-rounds": churn_rounds, "hold-cycles": hold_cycles, "seed": seed, "speed": speed,
               "speed-actions": speed_actions}
    result = run(wasm, runtime=runtime, workloads=workloads, scenarios=scenarios, config_file=config_file,
                 crate_dir=crate_dir)
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
