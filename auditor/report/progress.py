"""The scan's progress on stderr: notices, per-variant progress lines and the live
status line, drawn for a terminal. The pipeline reports events through its `Progress`
protocol (auditor/pipeline/progress.py); `auditor scan` hands it this `Reporter`.

The status line (`[3/36] 41s elapsed, about 7m 10s left | build release/talc, analyse
opt-z/default`) is drawn only when stderr is a terminal (and not with -q): one line,
redrawn in place (`\\r` + erase-line) by a ticker thread twice a second while the runner
works, always narrower than the terminal (variant names cut in the middle, the figures
never), and erased before any other line goes to stderr and when the run ends, however
it ends (error, Ctrl-C, SIGTERM)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from auditor import io as _io
from auditor.io import log

CLEAR = "\r\x1b[K"  # back to column 0, erase to the end of the line
TICK = 0.5  # seconds between redraws
MIN_NAME = 9  # a variant name is never cut below this many characters ("min-s…alc")
VERBS = {"variant": "build", "probe": "probe", "analyse": "analyse"}  # what an active task shows as


class Reporter:
    """Notices (unless --quiet), per-variant progress lines (TTY only) and the live status
    line (TTY only) on stderr.

    Workers call `started(kind, id)` / `ended(kind, id)` (thread-safe; a start redraws);
    `step(id, what)` ends the variant's analysis and writes its finished line; between
    `live_start()` and `live_stop()` a ticker thread redraws the status line. `stream`,
    `clock` and `width` are for tests (default: sys.stderr at write time, time.monotonic,
    the terminal's width)."""

    def __init__(self, quiet: bool, progress: bool | None, total: int = 0, *, stream: TextIO | None = None,
                 clock: Callable[[], float] | None = None, width: Callable[[], int] | None = None):
        self.quiet = quiet
        self._stream = stream
        self._clock = clock
        self._width = width
        self.progress = (not quiet and _isatty(self.stream)) if progress is None else (progress and not quiet)
        self.total = total
        self.done = 0
        self.t0 = self._now()
        self._active: dict[tuple[str, str], None] = {}  # (kind, id), in start order
        self._lock = threading.RLock()
        self._live = False
        self._shown = ""  # the status text on the terminal now ("" = none)
        self._stop: threading.Event | None = None
        self._ticker: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    # ------------------------------------------------------------ lines that stay
    def notice(self, msg: str) -> None:
        if not self.quiet:
            self._line(f"auditor: {msg}")

    def step(self, vid: str, what: str) -> None:
        """Variant `vid` is finished: its analysis is no longer active; with progress on,
        its line `[k/N] vid: what (T elapsed), about E left` (on a live terminal, cut to fit,
        see _fit_finished)."""
        with self._lock:
            self.done += 1
            self._active.pop(("analyse", vid), None)
        if self.progress:
            elapsed = self._now() - self.t0
            head = f"[{self.done}/{self.total}] "
            tail = f": {_clean(what)}"
            extra = [f" ({elapsed:.1f}s elapsed)"]
            left = self.total - self.done
            if left > 0:  # the mean time per finished variant so far, times the variants left
                extra.append(f", about {_duration(elapsed / self.done * left)} left")
            name = _clean(vid)
            if self._live:
                name, extra = _fit_finished(head, name, tail, extra, self._columns() - 1)
            self._line(head + name + tail + "".join(extra))

    # ------------------------------------------------------------ what runs now
    def started(self, kind: str, vid: str) -> None:
        """`kind` ("variant" build, "probe" build, "analyse") of variant `vid` began (any
        thread; shown at once, so even a build shorter than a tick is seen)."""
        with self._lock:
            self._active[(kind, vid)] = None
            self.redraw()

    def ended(self, kind: str, vid: str) -> None:
        with self._lock:
            self._active.pop((kind, vid), None)

    # ------------------------------------------------------------ the status line
    def live_start(self) -> None:
        """Start redrawing the status line (only with progress on and stderr a terminal
        that understands erase-line: not TERM=dumb, as in an Emacs shell buffer)."""
        if not self.progress or self._live or not _isatty(self.stream) or os.environ.get("TERM") == "dumb":
            return
        with self._lock:
            self._live = True
            _io.set_log_hook(self._log_above)
            self.redraw()
        stop = self._stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK):
                self.redraw()

        self._ticker = threading.Thread(target=tick, name="auditor-progress", daemon=True)
        self._ticker.start()

    def live_stop(self) -> None:
        """Stop redrawing and erase the status line (safe to call more than once)."""
        if self._stop is not None:
            self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)
        self._ticker = self._stop = None
        with self._lock:
            if self._live:
                _io.set_log_hook(None)
                self._live = False
            self._erase()

    def redraw(self) -> None:
        with self._lock:
            if not self._live:
                return
            text = self.status(self._columns())
            if text != self._shown:
                self._write(CLEAR + text)
                self._shown = text

    def status(self, columns: int) -> str:
        """The status line for a terminal `columns` wide (at most columns - 1 characters,
        so the cursor never reaches the last column and the line never wraps)."""
        with self._lock:
            active = list(self._active)
            done = self.done
        elapsed = self._now() - self.t0
        return render_status(done, self.total, elapsed, [(VERBS.get(k, k), _clean(v)) for k, v in active],
                             columns - 1)

    def _columns(self) -> int:
        return self._width() if self._width is not None else terminal_columns(self.stream)

    def _line(self, msg: str) -> None:
        """A line that stays: through auditor.io.log (which the live status line hooks), or
        to the injected stream."""
        if self._stream is None:
            log(msg)
        else:
            self._log_above(msg)

    def _log_above(self, msg: str) -> None:
        """auditor.io.log while the status line is live: erase it, write the line, redraw."""
        with self._lock:
            self._erase()
            print(msg, file=self.stream, flush=True)
            self.redraw()

    def _erase(self) -> None:
        if self._shown:
            self._write(CLEAR)
            self._shown = ""

    def _write(self, s: str) -> None:
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal: nothing to draw on
            pass


def render_status(done: int, total: int, elapsed: float, active: list[tuple[str, str]], width: int) -> str:
    """`[done/total] T elapsed, about E left | verb name, verb name, +k` in at most `width`
    characters: names cut in the middle (down to MIN_NAME), then the last names replaced by
    `+k`; the figures are never cut (shorter wordings first: `[2/4] 12s, ~30s left`,
    `[2/4] 12s`, `[2/4]`)."""
    left = total - done
    eta = _duration(elapsed / done * left) if done and left > 0 else None
    forms = [f"[{done}/{total}] {_duration(elapsed)} elapsed" + (f", about {eta} left" if eta else ""),
             f"[{done}/{total}] {_duration(elapsed)}" + (f", ~{eta} left" if eta else ""),
             f"[{done}/{total}] {_duration(elapsed)}", f"[{done}/{total}]"]
    fits = [f for f in forms if len(f) <= width]
    if not fits:
        return forms[-1][:max(width, 0)]
    if not active:
        return fits[0]
    both = [f for f in forms[:2] if len(f) <= width]  # the wordings with elapsed and ETA
    for figures in both:  # every name (cut), with the longest wording that leaves room
        line = _with_names(figures, active, width, partial=False)
        if line:
            return line
    return (_with_names(both[-1], active, width, partial=True) if both else "") or fits[0]


def _with_names(figures: str, active: list[tuple[str, str]], width: int, partial: bool) -> str:
    room = width - len(figures) - len(" | ")
    for shown in range(len(active), 0 if partial else len(active) - 1, -1):
        more = f", +{len(active) - shown}" if shown < len(active) else ""
        items = active[:shown]
        fixed = sum(len(verb) + 1 for verb, _ in items) + 2 * (shown - 1) + len(more)
        names = _cut_names([name for _, name in items], room - fixed)
        if names is not None:
            return figures + " | " + ", ".join(f"{v} {n}" for (v, _), n in zip(items, names)) + more
    return ""


def _cut_names(names: list[str], room: int) -> list[str] | None:
    """The names cut in the middle so that together they take at most `room` characters
    (the longest cut first, none below MIN_NAME), or None when they cannot fit."""
    lens = [len(n) for n in names]
    floor = [min(n, MIN_NAME) for n in lens]
    if sum(floor) > room:
        return None
    while sum(lens) > room:
        i = max(range(len(lens)), key=lambda j: lens[j])
        lens[i] -= 1
    return [middle(n, k) for n, k in zip(names, lens)]


def _fit_finished(head: str, name: str, tail: str, extra: list[str], width: int) -> tuple[str, list[str]]:
    """A finished line for a terminal: the whole line if it fits, else without its ETA
    clause (the status line below shows a fresher one), then the name cut in the middle
    (down to MIN_NAME), then without the elapsed clause too."""
    extra = list(extra)

    def room() -> int:
        return width - len(head) - len(tail) - sum(map(len, extra))

    if len(name) <= room():
        return name, extra
    if len(extra) > 1:
        extra.pop()
    while extra and room() < min(len(name), MIN_NAME):
        extra.pop()
    return middle(name, max(room(), min(len(name), MIN_NAME))), extra


def middle(s: str, width: int) -> str:
    """`s` in at most `width` characters, cut in the middle with an ellipsis."""
    if len(s) <= width:
        return s
    if width <= 1:
        return "…"[:max(width, 0)]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return s[:head] + "…" + (s[-tail:] if tail else "")


def terminal_columns(stream: Any) -> int:
    """The width of the terminal `stream` writes to: COLUMNS when set (but never more than
    the terminal really has: a redrawn line that wraps leaves garbage), else the terminal's
    own width, else 80."""
    real = 0
    try:
        real = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        real = 0
    env = os.environ.get("COLUMNS", "")
    cols = int(env) if env.isdigit() and int(env) > 0 else 0
    if cols and real:
        return min(cols, real)
    return cols or real or 80


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def _clean(s: str) -> str:
    """Names as the terminal may show them: control characters become `?`."""
    return "".join("?" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in s)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"
