"""Output helpers: reports go to stdout or are written atomically with -o."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from auditor.errors import AuditorError


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same directory and rename, keeping the old mode; a
    symlink is followed, and its target replaced that way.

    Only regular files are replaced that way: `-o /dev/null`, a FIFO or /dev/stdout is
    written in place (renaming over a device node would replace it with a file).
    """
    path = Path(path)
    if path.is_symlink():
        # Write through the link to its target (atomically there), like `>` does:
        # renaming over the link itself would replace it with a plain file.
        path = Path(os.path.realpath(path))
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
        import tempfile  # (imports random, shutil: not at start-up)

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


_skip_teardown = False
_program = False


def set_program(program: bool) -> None:
    """cli.main says whether it runs as the program (`auditor ...`, `python -m auditor`)
    or is called in-process (tests): only the program may skip teardown."""
    global _program
    _program = program


def is_program() -> bool:
    return _program


def skip_teardown(skip: bool = True) -> None:
    """Said by a command that has written its whole report and leaves no temporary file,
    child process or thread behind (the deep analyses): `auditor` run as a program may
    then end without the interpreter's teardown, which frees a big module's parsed
    objects one by one (~10-20 ms of a 0.2 s `auditor top`). cli.main acts on it only
    when it is the program (no argv given), never in-process."""
    global _skip_teardown
    _skip_teardown = skip


def teardown_skippable() -> bool:
    return _skip_teardown


_log_hook: Callable[[str], None] | None = None  # set while a live status line is on stderr


def set_log_hook(hook: Callable[[str], None] | None) -> None:
    """Route `log` through `hook` (the scan's live status line erases itself first, see
    report/progress.py); None: straight to stderr again."""
    global _log_hook
    _log_hook = hook


def log(msg: str) -> None:
    """Progress and notices: stderr, never stdout."""
    hook = _log_hook
    if hook is not None:
        hook(msg)
        return
    print(msg, file=sys.stderr, flush=True)


# What a file is, from its first bytes: for errors that say what the user passed instead
# of what was expected ("a WebAssembly text file — assemble it with wat2wasm").
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "gzip data", "decompress it first (gunzip)"),
    (b"\x28\xb5\x2f\xfd", "zstd data", "decompress it first (unzstd)"),
    (b"\xfd7zXZ\x00", "xz data", "decompress it first (unxz)"),
    (b"BZh", "bzip2 data", "decompress it first (bunzip2)"),
    (b"PK\x03\x04", "a zip archive", "extract the file first"),
    (b"\x7fELF", "an ELF executable or object", ""),
    (b"MZ", "a Windows executable", ""),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable", ""),
    (b"\0asm\x0d\x00\x01\x00", "a WebAssembly component (version 0x1000d)", "auditor reads core modules"),
    (b"\0asm", "a WebAssembly module (.wasm)", ""),
)
WAT = ("a WebAssembly text file", "assemble it with wat2wasm")
_WAT = re.compile(rb"^\s*(?:\(\s*(?:module|component)\b|;;|\(;)")


def sniff(head: bytes) -> tuple[str, str] | None:
    """(what the file is, what to do about it) from `head`, a file's first bytes (512 are
    plenty); None for text that is none of the formats auditor knows about."""
    if not head:
        return "an empty file", ""
    for magic, what, advice in _MAGIC:
        if head.startswith(magic):
            return what, advice
    text = head.removeprefix(b"\xef\xbb\xbf")
    if _WAT.match(text):
        return WAT
    stripped = text.lstrip()
    if stripped[:1] in (b"{", b"["):
        if re.match(rb"\[[A-Za-z0-9_.\-\" ]+\]\s*\n", stripped):
            return "a TOML file", ""
        return "JSON", ""
    if b"\0" in head:
        return "binary data", ""
    return None


def describe(head: bytes, expected: str) -> str | None:
    """"is gzip data, not a JSON report — decompress it first (gunzip)", or None."""
    found = sniff(head)
    if found is None:
        return None
    what, advice = found
    return f"is {what}, not {expected}" + (f" — {advice}" if advice else "")

