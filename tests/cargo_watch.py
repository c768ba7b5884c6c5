"""Logs every cargo run started by the test process or by any Python process below it.

WHY: the `cargo` marker (see cargo_guard.py) must say which tests run cargo, and must
stay true as tests change. Guessing from file names goes stale; watching process starts
does not. CPython's audit hooks see every process this interpreter starts
(`subprocess.Popen`, `os.exec*`, `os.posix_spawn`, `os.system`); the Python processes
the tests start (`python -m auditor scan`, pre-commit and its hook environments) run
the same hook through `cargo_watch_site/sitecustomize.py`, which the session puts first
on PYTHONPATH. cargo started by a non-Python process (a shell script named in an argv)
is seen at that script's start when its argv or `-c` text names cargo.

The log is one file per pytest session, named by AUDITOR_TEST_CARGO_LOG at the time of
each event (so a nested session, e.g. pytester's, logs to its own file). Each line is
one whole `os.write` to an O_APPEND file, so concurrent writers never interleave.
Standard library only: this module is loaded into every instrumented process.
"""

from __future__ import annotations

import os
import re
import sys

ENV_LOG = "AUDITOR_TEST_CARGO_LOG"
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cargo_watch_site")

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}
# `cargo` as a command word in shell text: start, or after a separator or a path.
_CARGO_WORD = re.compile(r"(?:^|[\s/;&|(`'\"])cargo(?=[\s;&|)`'\"]|$)")
# cargo/rustc runs that only ask for a version (or rustc's sysroot, cfgs) build nothing.
_VERSION_QUERIES = {"-V", "-vV", "-Vv", "--version"}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def _only_queries(args: list[str]) -> bool:
    """`-V`, `-vV`, `--version`, `--print X`, `--print=X` and nothing else."""
    if not args:
        return False
    it = iter(args)
    for arg in it:
        if arg == "--print":
            next(it, None)
        elif not (arg in _VERSION_QUERIES or arg.startswith("--print=")):
            return False
    return True


def cargo_argv(executable: object, argv: object) -> bool:
    """True when a process start runs cargo or rustc (other than a version or --print
    query), or a shell whose command text runs cargo."""
    if isinstance(argv, (str, bytes)):  # shell=True / os.system: the whole command line
        return bool(_CARGO_WORD.search(_text(argv)))
    args = [_text(a) for a in (argv or ())]
    program = _text(executable) if executable else (args[0] if args else "")
    name = os.path.basename(program)
    if name in ("cargo", "rustc") or name.startswith(("cargo-", "rustc-")):
        return not _only_queries(args[1:])
    if name in _SHELLS:
        return any(_CARGO_WORD.search(a) for a in args[1:])
    return False


def record(line: str) -> None:
    """Appends one line to the session's log (no-op when no session is watching)."""
    path = os.environ.get(ENV_LOG)
    if not path:
        return
    data = (f"{os.getpid()}\t" + line.replace("\n", " ") + "\n").encode("utf-8", "replace")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _hook(event: str, args: tuple) -> None:
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
    elif event in ("os.exec", "os.posix_spawn"):
        executable, argv = args[0], args[1]
    elif event == "os.spawn":
        executable, argv = args[1], args[2]
    elif event == "os.system":
        executable, argv = None, args[0]
    else:
        return
    try:
        if cargo_argv(executable, argv):
            shown = argv if isinstance(argv, (str, bytes)) else " ".join(_text(a) for a in argv)
            record(f"exec {_text(shown)[:300]}")
    except Exception:  # an audit hook must never break the process it watches
        pass


def install() -> None:
    """Adds the audit hook to this interpreter, once (audit hooks cannot be removed)."""
    if getattr(sys, "_auditor_cargo_watch", False):
        return
    sys._auditor_cargo_watch = True  # type: ignore[attr-defined]
    sys.addaudithook(_hook)


def log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path: str, offset: int) -> list[str]:
    """Log lines written at or after byte `offset`, without their pid column."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return []
    return [line.split("\t", 1)[-1] for line in data.decode("utf-8", "replace").splitlines()]
