"""Output helpers: reports go to stdout or are written atomically with -o."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

from auditor.errors import AuditorError


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same directory and rename, keeping the old mode.

    Only regular files are replaced that way: `-o /dev/null`, a FIFO or /dev/stdout is
    written in place (renaming over a device node would replace it with a file).
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise AuditorError(f"cannot write: {e.strerror}", str(path)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise AuditorError("is a directory", str(path))
        try:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        except OSError as e:
            raise AuditorError(f"cannot write: {e.strerror}", str(path)) from None
        return
    directory = path.parent if str(path.parent) else Path(".")
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise AuditorError(f"cannot write: {e.strerror}", str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def emit(text: str, output: str | None) -> None:
    """The report: to -o FILE atomically, else stdout."""
    if not text.endswith("\n"):
        text += "\n"
    if output and output != "-":
        atomic_write(output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def log(msg: str) -> None:
    """Progress and notices: stderr, never stdout."""
    print(msg, file=sys.stderr, flush=True)
