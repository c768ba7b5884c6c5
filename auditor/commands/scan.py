"""`auditor scan [CRATE]`: build every size profile x allocator and compare the modules."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.commands.options import output_options, render_and_emit


def _split(values: tuple[str, ...]) -> list[str] | None:
    items = [x.strip() for v in values for x in v.split(",") if x.strip()]
    return items or None


@click.command("scan")
@click.argument("crate", default=".", type=click.Path(file_okay=True, dir_okay=True))
@click.option("-p", "--package", default=None, help="Workspace member to scan (default: the crate at CRATE, "
              "or the workspace's only cdylib member).")
@click.option("--features", multiple=True, help="Cargo features (comma or space separated; repeatable).")
@click.option("--all-features", is_flag=True, help="Pass --all-features to cargo.")
@click.option("--no-default-features", is_flag=True, help="Pass --no-default-features to cargo.")
@click.option("--profiles", multiple=True, help="Profiles to build, e.g. release,opt-z (default: scan.profiles, else all).")
@click.option("--allocators", multiple=True, help="Allocators to inject, e.g. default,wee_alloc "
              "(default: scan.allocators, else every matrix entry).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Builds in parallel, each in its own target dir (default: scan.jobs, else 2 or the core count if lower).")
@click.option("--runtime/--no-runtime", default=None,
              help="Run the runtime probes on every variant (default: scan.runtime, else on).")
@click.option("--speed/--no-speed", default=None,
              help="Allocator speed probe on every variant's probe build (default: runtime.speed, else on).")
@click.option("--memory-limit", default=None, help="Runtime memory cap, e.g. \"16 MiB\" or \"256 pages\".")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache directory: results and kept cargo target dirs (default: $XDG_CACHE_HOME/auditor; see `auditor cache`).")
@click.option("--no-cache", is_flag=True, help="Rebuild every variant (the cache is still updated).")
@click.option("--check-reproducible", is_flag=True,
              help="Build each variant twice in fresh target dirs and report whether the .wasm is byte-identical.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="Auditor config file (profiles, allocators, scenarios, budgets).")
@click.option("--shard", default=None, help="Build only slice K of N of the matrix, e.g. 2/4 (merge with `auditor merge`).")
@click.option("--gate", is_flag=True, help="Also evaluate budgets and the baseline (like `auditor check`).")
@click.option("--baseline", type=click.Path(dir_okay=False), default=None, help="Baseline scan report for --gate.")
@click.option("--max-increase", default=None, help="Allowed growth against the baseline, e.g. 5% or \"2 KiB\".")
@click.option("--compression", type=click.Choice(["auto", "exact", "fast", "none"]), default="auto", show_default=True,
              help="gzip/brotli columns: exact (gzip -9, brotli -q 11), fast (gzip -5, brotli -q 5), none, "
                   "or auto: exact for modules up to 1 MiB, fast above (brotli -q 11 takes ~6 s on 5 MB of DWARF).")
@click.option("--stage", type=click.Choice(["shipped", "cargo", "bindgen", "wasm-opt"]), default=None,
              help="Which shipping stage the table, recommendation, budgets and diffs read (default: ship.stage, "
                   "else shipped = the last stage that ran).")
@click.option("--bindgen/--no-bindgen", default=None,
              help="Run the wasm-bindgen CLI on crates that use wasm-bindgen (default: ship.bindgen, else on).")
@click.option("--bindgen-target", default=None, help="wasm-bindgen --target (default: ship.bindgen-target, else web).")
@click.option("--wasm-opt/--no-wasm-opt", "wasm_opt", default=None,
              help="Run wasm-opt (default: ship.wasm-opt, else after the wasm-bindgen CLI only).")
@click.option("--wasm-opt-level", type=click.Choice(["-O", "-O0", "-O1", "-O2", "-O3", "-O4", "-Os", "-Oz"]),
              default=None, help="wasm-opt level (default: ship.wasm-opt-level, else -O as wasm-pack).")
@click.option("--build-std", "build_std", is_flag=True, default=None,
              help="Build std from source (-Zbuild-std=std,panic_abort; RUSTC_BOOTSTRAP=1 on stable): a toolchain "
                   "without a prebuilt wasm32 std is then usable (config: scan.build-std).")
@click.option("--print-commands", "print_commands_only", is_flag=True, help="Print each variant's cargo command and exit without building.")
@click.option("-q", "--quiet", is_flag=True, help="No notices or progress on stderr.")
@click.option("--attribute", "attribute", default=None, metavar="VARIANT",
              help='Build a debug-info twin of VARIANT ("profile/allocator", a glob naming one) and add its '
                   "per-crate, per-file, retained-size and data attribution to the report.")
@click.option("--why", "why", default=None, metavar="NAME|REGEX",
              help="With --attribute: also the shortest root paths to the items NAME names or REGEX matches "
                   "in that variant's module (as `auditor paths`).")
@output_options("scan")
def command(crate, package, features, all_features, no_default_features, profiles, allocators, jobs, runtime,
            speed, memory_limit, cache_dir, no_cache, check_reproducible, config_file, shard, gate, baseline,
            max_increase, compression, stage, bindgen, bindgen_target, wasm_opt, wasm_opt_level, build_std,
            print_commands_only, quiet, attribute, why, fmt, output, color) -> int:
    """Build CRATE for wasm32 under each size profile x global allocator and compare.

    Nothing in CRATE is written: builds happen in a shadow copy in a temp dir, removed
    afterwards. Exit 0 when every variant built (and no error findings or budget
    breaches), 1 when a variant failed or a finding/budget says so, 2 on bad input.
    """
    from auditor.pipeline import BuildOptions, ScanOptions, parse_shard, print_commands, scan
    from auditor.report.progress import Reporter

    if (baseline or max_increase) and not gate:
        from auditor.errors import AuditorError

        raise AuditorError("--baseline and --max-increase only take effect with --gate")
    if why is not None and not attribute:
        from auditor.errors import AuditorError

        raise AuditorError("--why only takes effect with --attribute VARIANT")
    shard_kn = parse_shard(shard) if shard else None
    feats = [f for v in features for f in v.replace(",", " ").split()]
    options = ScanOptions(
        profiles=_split(profiles), allocators=_split(allocators),
        build=BuildOptions(package=package, features=feats, all_features=all_features,
                           no_default_features=no_default_features),
        jobs=jobs, runtime=runtime, runtime_overrides={"memory-limit": memory_limit, "speed": speed},
        cache_dir=Path(cache_dir) if cache_dir else None, use_cache=not no_cache,
        check_reproducible=check_reproducible, quiet=quiet,
        config_file=Path(config_file) if config_file else None, shard=shard_kn,
        gate=gate, baseline=Path(baseline) if baseline else None, max_increase=max_increase,
        compression=compression, build_std=build_std, reporter=Reporter,
        ship={"stage": stage, "bindgen": bindgen, "bindgen_target": bindgen_target, "wasm_opt": wasm_opt,
              "wasm_opt_level": wasm_opt_level},
    )
    if print_commands_only:
        render_and_emit(print_commands(crate, options), fmt, output, color)
        return 0
    result = scan(crate, options)
    if attribute:
        from auditor.pipeline.deep import attribute_variant

        result.attribution = attribute_variant(result, attribute, options, why)
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
