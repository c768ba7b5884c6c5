"""One exception type for every user-facing failure.

The CLI turns it into a single stderr line and exit code 2 (or the code given), so no
stage ever prints a traceback for bad input.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Bad input, usage or configuration: `where` is a file (with :line:col or @offset)."""

    def __init__(self, what: str, where: str | None = None, exit_code: int = 2):
        super().__init__(what)
        self.what = what
        self.where = where
        self.exit_code = exit_code

    def line(self) -> str:
        return f"{self.where}: {self.what}" if self.where else self.what


class NoMatch(AuditorError):
    """A NAME|REGEX query matched no item: in one core module of a component that only
    means the others are asked; in every one (or in a module), the one-line error."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs (builds stopped, temp dirs
    removed); the CLI exits 128 + `signum` (143) instead of Ctrl-C's 130."""

    def __init__(self, signum: int = 15):
        super().__init__(signum)
        self.signum = signum
