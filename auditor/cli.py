"""Thin command line: parse arguments, call one stage or the pipeline, format, exit.

Commands are imported lazily so `auditor lint` (a pre-commit hook) never pays for
wasmtime or the wasm reader. Each command lives in `auditor/commands/<name>.py` as a
click command called `command`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from auditor import __version__
from auditor.errors import AuditorError

# name -> (module, one-line help shown by `auditor --help` without importing it)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("auditor.commands.inspect", "Read a .wasm file: sizes, memory, interface, functions, allocator."),
    "scan": ("auditor.commands.scan", "Build a crate under every size profile x allocator and compare."),
    "run": ("auditor.commands.run", "Run a .wasm in wasmtime: OOM behaviour and memory growth."),
    "doctor": ("auditor.commands.doctor", "Find Rust toolchains and tools; say what is missing."),
    "lint": ("auditor.commands.lint", "Fast static lint of Cargo.toml profiles (no build)."),
    "fix": ("auditor.commands.fix", "Rewrite [profile.release] to the recommended settings."),
    "config": ("auditor.commands.config", "Print the effective configuration and its sources."),
    "check": ("auditor.commands.check", "Gate a scan report against budgets and a baseline."),
    "diff": ("auditor.commands.diff", "Compare two reports or two .wasm files."),
    "merge": ("auditor.commands.merge", "Merge shard reports into one."),
    "cache": ("auditor.commands.cache", "Show or prune the scan cache and its kept cargo target dirs."),
    # deep size analysis (README "Deep size analysis")
    "top": ("auditor.commands.top", "Largest items of a .wasm by shallow or retained size."),
    "dominators": ("auditor.commands.dominators", "The dominator tree of a .wasm, with retained sizes."),
    "paths": ("auditor.commands.paths", "Why is this item here? Shortest paths from the roots."),
    "garbage": ("auditor.commands.garbage", "Items of a .wasm no root reaches, with their bytes."),
    "monos": ("auditor.commands.monos", "Monomorphized copies grouped by generic function."),
    "crates": ("auditor.commands.crates", "Code bytes per defining and per instantiating crate."),
    "sources": ("auditor.commands.sources", "Code bytes per source file, directory and line (DWARF)."),
    "data": ("auditor.commands.data", "Data segment bytes: panic messages, paths, format strings, tables."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name, (mod, _) in COMMANDS.items() if _available(mod)]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, _ = COMMANDS[name]
        try:
            return importlib.import_module(module).command
        except ModuleNotFoundError as e:
            if e.name == module:
                return None
            raise

    def format_commands(self, ctx, formatter):
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def cli() -> None:
    """Audit Rust crates compiled to WebAssembly.

    Exit codes: 0 ok, 1 findings or budget exceeded, 2 usage, config or input error.
    """


def main(argv: list[str] | None = None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="auditor", standalone_mode=False)
    except AuditorError as e:
        click.echo(f"auditor: {e.line()}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("auditor: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if e.exit_code not in (0, 1) else e.exit_code)
    except KeyboardInterrupt:
        click.echo("auditor: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
