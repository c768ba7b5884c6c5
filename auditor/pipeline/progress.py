"""How a scan reports while it works, and how it stops: the `Progress` protocol the
plan, runner and scanner call (notices, variants started, ended and finished, the live
status line on and off), a plain default (`Notices`: notices only), and SIGTERM treated
like Ctrl-C (builds stopped, temp dirs removed).

Drawing for a terminal (progress lines, the live status line, ANSI erase codes) is the
report's: `auditor scan` passes auditor.report.progress.Reporter as
`ScanOptions.reporter`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Protocol

from auditor.errors import Terminated
from auditor.io import log


class Progress(Protocol):
    """What a scan tells while it works (auditor.report.progress.Reporter draws it)."""

    total: int  # variants this run builds (set once planned)

    def notice(self, msg: str) -> None:
        """A line that stays ("auditor: MSG"), unless quiet."""

    def started(self, kind: str, vid: str) -> None:
        """`kind` ("variant" build, "probe" build, "analyse") of variant `vid` began (any thread)."""

    def ended(self, kind: str, vid: str) -> None:
        """That task ended."""

    def step(self, vid: str, what: str) -> None:
        """Variant `vid` is finished (`what`: "built in 9.9s", "from cache", ...)."""

    def live_start(self) -> None:
        """The runner starts working (a live status line may be drawn)."""

    def live_stop(self) -> None:
        """The runner stopped, however it ended (whatever was drawn is erased)."""


# (quiet, progress) -> a Progress: what ScanOptions.reporter holds
ProgressFactory = Callable[[bool, bool | None], Progress]


class Notices:
    """The default `Progress`: notices on stderr (unless quiet), nothing else."""

    def __init__(self, quiet: bool, progress: bool | None = None) -> None:
        self.quiet = quiet
        self.total = 0

    def notice(self, msg: str) -> None:
        if not self.quiet:
            log(f"auditor: {msg}")

    def started(self, kind: str, vid: str) -> None:
        pass

    def ended(self, kind: str, vid: str) -> None:
        pass

    def step(self, vid: str, what: str) -> None:
        pass

    def live_start(self) -> None:
        pass

    def live_stop(self) -> None:
        pass


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
