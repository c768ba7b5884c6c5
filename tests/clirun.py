"""`auditor ARGS...` in this process: the console script's main(), its exit code and output.

WHY: a child `python -m auditor` costs 0.1-0.2 s of interpreter start-up and imports
before it does anything; hundreds of tests that only read a command's stdout, stderr
and exit code paid that each time. run() calls the same `auditor.cli.main(argv)` the
console script calls, with stdout/stderr/stdin replaced by pipes that are not a TTY (as
under subprocess.run(capture_output=True)), and returns a subprocess.CompletedProcess
with what a child would have given: text decoded as UTF-8 with universal newlines, the
exit code of SystemExit, and for an escaping exception the traceback on stderr and
exit 1 (what the interpreter does).

What needs a real process stays one: signals, the process's own stdout/stderr file
descriptors written by children (wasmtime's compile child), import side effects
(`lint` importing no wasmtime), and a sample of each converted test keeps a real child
to show it exits the same way (test_cli_errors.py runs every error in a real process).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None, cwd: Path | str | None) -> Iterator[None]:
    saved_env = dict(os.environ) if env is not None else None
    saved_cwd = os.getcwd() if cwd is not None else None
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        if saved_cwd is not None:
            os.chdir(saved_cwd)
        if saved_env is not None:
            os.environ.clear()
            os.environ.update(saved_env)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


#: AUDITOR_TEST_CLI=process runs every run() in a real child instead (the suite as it was).
MODE_ENV = "AUDITOR_TEST_CLI"


def run(args: Sequence[object], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
        input: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    """`auditor *args` in-process; `env` replaces the environment (as subprocess's does)."""
    if os.environ.get(MODE_ENV) == "process":
        return run_process(args, cwd=cwd, env=env, input=input)
    from auditor.cli import main

    argv = [str(a) for a in args]
    out, err = io.BytesIO(), io.BytesIO()
    stdin_bytes = input.encode() if isinstance(input, str) else (input or b"")
    streams = (io.TextIOWrapper(out, encoding="utf-8", write_through=True),
               io.TextIOWrapper(err, encoding="utf-8", write_through=True),
               io.TextIOWrapper(io.BytesIO(stdin_bytes), encoding="utf-8"))
    saved = sys.stdout, sys.stderr, sys.stdin
    code: int
    with _environment(env, cwd):
        sys.stdout, sys.stderr, sys.stdin = streams
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            for s in streams[:2]:
                s.flush()
            sys.stdout, sys.stderr, sys.stdin = saved
    return subprocess.CompletedProcess(["auditor", *argv], code, _text(out.getvalue()), _text(err.getvalue()))


def run_process(args: Sequence[object], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
                input: str | bytes | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The same in a real child (`python -m auditor`), for the tests that keep one."""
    stdin = {"input": input.decode() if isinstance(input, bytes) else input} if input is not None else \
        {"stdin": subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False, **stdin)
