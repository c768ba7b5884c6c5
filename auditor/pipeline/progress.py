"""What a scan says while it works, and how it stops: notices and per-variant progress on
stderr, and SIGTERM treated like Ctrl-C (builds stopped, temp dirs removed)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from auditor.errors import Terminated
from auditor.io import log


class Reporter:
    """Notices (unless --quiet) and per-variant progress (TTY only) on stderr."""

    def __init__(self, quiet: bool, progress: bool | None, total: int = 0):
        self.quiet = quiet
        self.progress = (not quiet and sys.stderr.isatty()) if progress is None else (progress and not quiet)
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()

    def notice(self, msg: str) -> None:
        if not self.quiet:
            log(f"auditor: {msg}")

    def step(self, vid: str, what: str) -> None:
        self.done += 1
        if self.progress:
            elapsed = time.monotonic() - self.t0
            line = f"[{self.done}/{self.total}] {vid}: {what} ({elapsed:.1f}s elapsed)"
            left = self.total - self.done
            if left > 0:  # the mean time per finished variant so far, times the variants left
                line += f", about {_duration(elapsed / self.done * left)} left"
            log(line)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main
    thread (elsewhere, or where signals cannot be set, nothing changes)."""
    old = None
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, frame: FrameType | None) -> None:
            raise Terminated(signum)

        try:
            old = signal.signal(signal.SIGTERM, handler)
        except ValueError:
            old = None
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
