"""Options every reporting command shares, so they read the same everywhere, and the one
way a command prints its result: through the report layer's registry."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from auditor.io import emit, is_program, skip_teardown
from auditor.report import formats, render, use_color
from auditor.report.registry import Result

F = TypeVar("F", bound=Callable[..., Any])


def output_options(kind: str) -> Callable[[F], F]:
    """--format (every format registered for results of `kind`), -o and --color."""

    def wrap(f: F) -> F:
        f = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                         help="Colour in text output (NO_COLOR is honoured).")(f)
        f = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                         help="Write the report to FILE (atomically) instead of stdout.")(f)
        f = click.option("--format", "fmt", type=click.Choice(formats(kind)), default="text", show_default=True,
                         help="Report format.")(f)
        return f

    return wrap


def read_only_analysis(f: F) -> F:
    """For a command that reads one module and prints one report (the deep analyses):
    Python's cycle collector stays off while it runs (it allocates 10^5-10^6 objects and
    makes almost no cycles; collections walking them cost ~37 ms of a 0.17 s `auditor
    top` on @swc/wasm, 84 ms on biome), and once it has printed, the program may end
    without the interpreter's teardown (auditor.io.skip_teardown)."""
    import functools
    import gc

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        was = gc.isenabled()
        gc.disable()
        try:
            rv = f(*args, **kwargs)
        except BaseException:
            if was:
                gc.enable()
            raise
        skip_teardown()
        # the program ends now: enabling the collector would first make it walk every
        # object the analysis allocated (~20 ms on swc); in-process, it is back on
        if was and not is_program():
            gc.enable()
        return rv

    return run  # type: ignore[return-value]


def terminal_width() -> int | None:
    """Columns text tables fit on stdout when it is a terminal: COLUMNS when set, else the
    terminal's width. A file or a pipe gets whole names (COLUMNS alone does not count
    there: GNU readline exports it into the environment of every child process)."""
    import os
    import shutil
    import sys

    if not (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()):
        return None
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return shutil.get_terminal_size().columns


def render_and_emit(result: Result, fmt: str, output: str | None, color: str = "never") -> None:
    """The result in `fmt` to -o FILE (atomically) or stdout; colour only in text on a
    terminal; text tables on stdout fit the terminal's width (names cut in the middle)."""
    from auditor.report import stream
    from auditor.report.table import fit_width, fold

    if (not output or output == "-") and stream(result, fmt, sys.stdout):  # JSON: written as it is made
        return
    width = terminal_width() if fmt == "text" and not output else None
    with fit_width(width):
        text = fold(render(result, fmt, color=(fmt == "text" and not output and use_color(color))), width)
    emit(text, output)
