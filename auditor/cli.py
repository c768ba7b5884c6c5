"""Thin command line: parse arguments, call one stage or the pipeline, format, exit.

Commands are imported lazily so `auditor lint` (a pre-commit hook) never pays for
wasmtime or the wasm reader. Each command lives in `auditor/commands/<name>.py` as a
click command called `command`.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import re
import signal
import sys
import threading
from types import FrameType

import click

from auditor import __version__
from auditor import io as auditor_io
from auditor.errors import AuditorError, Terminated

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
    "report": ("auditor.commands.report", "A saved scan or inspect report as one self-contained HTML page."),
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


class _Stopped(BaseException):
    """Ctrl-C or SIGTERM, carried past click's own KeyboardInterrupt handling."""

    def __init__(self, cause: KeyboardInterrupt):
        super().__init__(cause)
        self.cause = cause


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

    def invoke(self, ctx):
        # click turns Ctrl-C into Abort after printing a blank line; auditor says one line.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise _Stopped(e) from None

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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_PATH_PROBLEM = re.compile(r"^(?:File|Directory|Path) (['\"])(.*)\1 (.*?)\.?$", re.S)


def _param_name(param: click.Parameter | None, hint: object) -> str:
    if isinstance(param, click.Option):
        return "/".join(param.opts)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return str(hint or "").strip("'\"")


def usage_line(e: click.UsageError) -> str:
    """Click's usage error as one line naming the command, the option or argument and the
    problem: `--format: 'bogus' is not one of text, json, ...` (click prints a
    four-line usage block; the help is one `--help` away)."""
    cmd = e.ctx.command_path.removeprefix("auditor").strip() if e.ctx is not None else ""
    where = f"{cmd}: " if cmd else ""
    msg = _one_line(e.message)
    if isinstance(e, click.NoSuchOption):
        more = f" (did you mean {', '.join(e.possibilities)}?)" if e.possibilities else ""
        return f"{where}no such option {e.option_name}{more}"
    if isinstance(e, click.MissingParameter):
        return f"{where}missing {e.param_type or 'argument'} {_param_name(e.param, e.param_hint)}" + (
            f" (usage: {e.ctx.command_path} {' '.join(e.ctx.command.collect_usage_pieces(e.ctx))})" if e.ctx else "")
    if isinstance(e, click.BadParameter):
        name = _param_name(e.param, e.param_hint)
        head, sep, choices = msg.partition(" is not one of ")
        if sep:
            msg = f"{head}{sep}{choices.replace(chr(39), '').rstrip('.')}"
        m = _PATH_PROBLEM.match(msg)
        if m:
            msg = f"{m.group(2)}: {m.group(3)}"
        msg = msg.rstrip(".")
        msg = msg if msg.startswith(("'", '"')) else msg[:1].lower() + msg[1:]
        # an option names itself (`--format: ...`, as auditor's own option errors read);
        # an argument is named with its command (`diff OLD: ...`)
        return f"{name}: {msg}" if isinstance(e.param, click.Option) else f"{cmd + ' ' if cmd else ''}{name}: {msg}"
    if msg.startswith("No such command"):
        group = e.ctx.command if e.ctx is not None else None
        names = group.list_commands(e.ctx) if isinstance(group, click.Group) and e.ctx is not None else list(COMMANDS)
        return f"{where}{msg[:1].lower() + msg[1:].rstrip('.')} (commands: {', '.join(names)})"
    m = re.match(r"Got unexpected extra arguments? \((.*)\)$", msg)
    if m:
        return f"{where}unexpected extra argument: {m.group(1)}"
    return f"{where}{msg[:1].lower() + msg[1:]}"


def _quiet_echo(msg: str) -> None:
    try:
        click.echo(msg, err=True)
    except OSError:  # stderr gone with the terminal
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None, *, loaded_without_gc: bool = False) -> None:
    if loaded_without_gc:  # `python -m auditor` (auditor/__main__.py) loaded us with the collector off
        gc.freeze()
        gc.enable()
    # SIGTERM unwinds like Ctrl-C (every `finally` removes its temp dirs and stops its
    # children), then exits 143 where Ctrl-C exits 130.
    old = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() else None
    auditor_io.skip_teardown(False)
    auditor_io.set_program(argv is None)
    try:
        _main(argv)
    except SystemExit as e:
        if argv is None and auditor_io.teardown_skippable() and isinstance(e.code, int):
            _end_now(e.code)
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _end_now(code: int) -> None:
    """Exit at once, without the interpreter's teardown (auditor.io.skip_teardown): the
    output is flushed first; if that fails, the normal exit path reports it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def _main(argv: list[str] | None) -> None:
    try:
        rv = cli.main(args=argv, prog_name="auditor", standalone_mode=False)
    except AuditorError as e:
        click.echo(f"auditor: {e.line()}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("auditor: interrupted", err=True)
        sys.exit(130)
    except (_Stopped, KeyboardInterrupt) as e:
        cause = e.cause if isinstance(e, _Stopped) else e
        if isinstance(cause, Terminated):
            _quiet_echo(f"auditor: terminated (signal {cause.signum})")
            sys.exit(128 + cause.signum)
        _quiet_echo("auditor: interrupted")
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"auditor: {usage_line(e)}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"auditor: {_one_line(e.format_message())}", err=True)
        sys.exit(2 if e.exit_code not in (0, 1) else e.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
