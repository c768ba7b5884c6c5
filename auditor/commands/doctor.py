"""`auditor doctor`: which Rust toolchains and tools are here, and what a scan would use."""

from __future__ import annotations

import click

from auditor.commands.options import output_options, render_and_emit


@click.command("doctor")
@click.argument("crate", default=".", type=click.Path(exists=True, file_okay=False, dir_okay=True))
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where test-build verdicts are cached (default: $XDG_CACHE_HOME/auditor).")
@click.option("--build-std", "build_std", is_flag=True, default=None,
              help="Accept toolchains without a prebuilt wasm32 std but with std's sources (build-std; "
                   "also scan.build-std or [unstable] build-std in the crate's cargo config).")
@output_options("doctor")
def command(crate: str, cache_dir: str | None, build_std: bool | None, fmt: str, output: str | None,
            color: str) -> int:
    """List every cargo + rustc pair found (CARGO/RUSTC, PATH, rustup toolchains,
    /usr/bin), whether each builds wasm32-unknown-unknown, the linker, wasm-opt and wabt,
    and the exact command that fixes each missing piece.

    CRATE (default: .) matters when it pins a toolchain with rust-toolchain.toml.
    Exit 0 when a scan can run, 2 otherwise.
    """
    from auditor.pipeline import doctor

    result = doctor(crate, cache_dir=cache_dir, build_std=build_std)
    render_and_emit(result, fmt, output, color)
    return result.exit_code()
