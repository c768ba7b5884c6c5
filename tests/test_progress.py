"""The scan's live status line on a terminal (auditor/report/progress.py): rendering with
an injected clock and width, the erase-before-log protocol replayed on a model terminal,
and one real `auditor scan` under a pseudo-terminal."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from test_scan_support import CRATES, REPO

from auditor import io as auditor_io
from auditor.report import progress
from auditor.report.progress import Reporter, render_status

CLEAR = "\r\x1b[K"
STATUS = re.compile(r"^\[(\d+)/(\d+)\]( \d+(m \d\ds|s)( elapsed)?(, (about |~)(\d+m \d\ds|\d+s) left)?)?( \| .*)?$")
FINISHED = re.compile(r"^\[(\d+)/(\d+)\] (\S+): (built in [\d.]+s|from cache|FAILED)")


@pytest.fixture(autouse=True)
def a_real_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")  # TERM=dumb turns the status line off


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def play(data: str) -> tuple[list[str], str]:
    """`data` written to a terminal: the finished lines (`\\n`) and the line the cursor is
    on. `\\r` goes back to column 0, `ESC [K` erases to the end of the line, characters
    overwrite; a `\\n` keeps what the line shows (as a terminal does)."""
    lines: list[str] = []
    cur: list[str] = []
    col = 0
    i = 0
    while i < len(data):
        if data.startswith("\x1b[K", i):
            del cur[col:]
            i += 3
            continue
        c = data[i]
        assert c != "\x1b", f"unexpected escape sequence at {i}: {data[i:i + 8]!r}"
        if c == "\r":
            col = 0
        elif c == "\n":
            lines.append("".join(cur))
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = c
            else:
                cur.append(c)
            col += 1
        i += 1
    return lines, "".join(cur)


def segments(data: str) -> list[str]:
    """What was drawn between control characters, in order."""
    return [s for s in re.split(r"\r\n|\r|\n|\x1b\[K", data) if s]


# ---------------------------------------------------------------- rendering

def test_eta_is_the_mean_time_per_finished_variant_times_the_variants_left():
    # 3 of 12 done in 90 s: 30 s each, 9 left -> 270 s = 4m 30s
    assert render_status(3, 12, 90.0, [], 200) == "[3/12] 1m 30s elapsed, about 4m 30s left"
    assert render_status(0, 12, 4.2, [], 200) == "[0/12] 4s elapsed"  # nothing finished: no estimate
    assert render_status(12, 12, 61.0, [], 200) == "[12/12] 1m 01s elapsed"  # nothing left
    assert render_status(1, 3, 10.0, [("build", "release/default")], 200) == \
        "[1/3] 10s elapsed, about 20s left | build release/default"


def test_names_are_cut_in_the_middle_never_the_figures():
    names = ["min-size-z/fixture_bump", "release/dlmalloc_global", "opt-s/talc"]
    active = [("build", names[0]), ("probe", names[1]), ("analyse", names[2])]
    for width in range(8, 140):
        line = render_status(7, 36, 125.0, active, width)
        assert len(line) <= width, (width, line)
        m = STATUS.match(line)
        assert m and m.group(1, 2) == ("7", "36"), line
        if width >= 30:  # room for elapsed and the estimate: 125 s / 7 * 29 = 518 s
            assert "2m 05s" in line and "8m 38s left" in line, line
        if " | " in line:
            shown = line.split(" | ", 1)[1].split(", ")
            more = [s for s in shown if s.startswith("+")]
            items = [s for s in shown if not s.startswith("+")]
            assert len(items) + sum(int(s[1:]) for s in more) == 3
            for (verb, name), item in zip(active, items):
                v, cut = item.split(" ", 1)
                assert v == verb
                if cut != name:  # cut in the middle: a head and a tail of the name around one ellipsis
                    head, tail = cut.split("…")
                    assert name.startswith(head) and name.endswith(tail) and head and tail, (width, line)
                    assert len(cut) >= progress.MIN_NAME
    wide = render_status(7, 36, 125.0, active, 200)
    assert wide == ("[7/36] 2m 05s elapsed, about 8m 38s left | build min-size-z/fixture_bump, "
                    "probe release/dlmalloc_global, analyse opt-s/talc")
    narrow = render_status(7, 36, 125.0, active, 59)
    assert "…" in narrow and narrow.startswith("[7/36] 2m 05s") and len(narrow) <= 59


def test_control_characters_in_names_are_not_sent_to_the_terminal():
    clock = iter([0.0, 1.0, 2.0, 3.0])
    rep = Reporter(False, True, total=2, stream=FakeTTY(), clock=lambda: next(clock), width=lambda: 80)
    rep.started("variant", "release/\x1bcevil")
    assert "\x1b" not in rep.status(80) and "release/?cevil" in rep.status(80)


# ---------------------------------------------------------------- the protocol on a terminal

def live_reporter(width: int = 60, total: int = 4):
    t = [100.0]
    out = FakeTTY()
    rep = Reporter(False, None, total=total, stream=out, clock=lambda: t[0], width=lambda: width)
    return rep, out, t


def test_status_is_erased_before_every_other_line_and_at_the_end(monkeypatch):
    monkeypatch.setattr(progress, "TICK", 3600)  # no ticker redraws: this test redraws by hand
    rep, out, t = live_reporter(width=100)
    assert rep.progress  # stderr (here: the stream) is a terminal
    rep.live_start()
    try:
        rep.started("variant", "release/default")
        rep.started("variant", "min-size-z/fixture_bump")
        t[0] += 1.2
        rep.redraw()
        before = out.getvalue()
        assert before.endswith("[0/4] 1s elapsed | build release/default, build min-size-z/fixture_bump")
        auditor_io.log("auditor: a notice from anywhere")  # io.log erases the status line first
        after = out.getvalue()[len(before):]
        assert after.startswith(CLEAR + "auditor: a notice from anywhere\n")
        rep.ended("variant", "release/default")
        rep.started("analyse", "release/default")
        t[0] += 10
        rep.step("release/default", "built in 9.9s")  # 1 of 4 in 11.2 s: about 34 s for 3
        tail = out.getvalue()[len(before) + len(after):]
        assert tail.startswith(CLEAR + "[0/4] 1s elapsed | build min-size-z/fixture_bump, analyse release/default"
                               + CLEAR + "[1/4] release/default: built in 9.9s (11.2s elapsed), about 34s left\n")
        assert tail.endswith("[1/4] 11s elapsed, about 34s left | build min-size-z/fixture_bump")
    finally:
        rep.live_stop()
    data = out.getvalue()
    assert data.endswith(CLEAR)
    lines, current = play(data)
    assert current == ""  # nothing left on the cursor's line
    assert lines == ["auditor: a notice from anywhere",
                     "[1/4] release/default: built in 9.9s (11.2s elapsed), about 34s left"]
    assert auditor_io._log_hook is None  # io.log writes straight to stderr again


def test_finished_lines_fit_a_narrow_terminal_but_stay_whole_in_logs(monkeypatch, capsys):
    monkeypatch.setattr(progress, "TICK", 3600)
    rep, out, t = live_reporter(width=40)
    rep.live_start()
    t[0] += 20
    rep.step("min-size-z/fixture_bump", "built in 12.3s")
    rep.live_stop()
    lines, current = play(out.getvalue())
    assert current == "" and len(lines) == 1 and len(lines[0]) <= 39
    m = FINISHED.match(lines[0])
    assert m and m.group(1, 2) == ("1", "4") and m.group(4) == "built in 12.3s"
    head, tail = m.group(3).split("…")
    assert "min-size-z/fixture_bump".startswith(head) and "min-size-z/fixture_bump".endswith(tail)
    # wider: only the ETA clause goes (the status line below has a fresher one), the name stays whole
    rep, out, t = live_reporter(width=70)
    rep.live_start()
    t[0] += 20
    rep.step("min-size-z/fixture_bump", "built in 12.3s")
    rep.live_stop()
    assert play(out.getvalue()) == (["[1/4] min-size-z/fixture_bump: built in 12.3s (20.0s elapsed)"], "")
    # progress forced on but stderr not a terminal (a log file): the whole line, no status line
    clock = iter([100.0, 120.0])
    logged = Reporter(False, True, total=4, clock=lambda: next(clock), width=lambda: 40)
    logged.live_start()
    logged.step("min-size-z/fixture_bump", "built in 12.3s")
    logged.live_stop()
    err = capsys.readouterr().err
    assert err == "[1/4] min-size-z/fixture_bump: built in 12.3s (20.0s elapsed), about 1m 00s left\n"


def test_no_status_line_when_not_a_terminal_or_quiet(monkeypatch):
    piped = io.StringIO()
    rep = Reporter(False, None, total=2, stream=piped, clock=lambda: 0.0, width=lambda: 80)
    assert not rep.progress
    rep.live_start()
    rep.started("variant", "release/default")
    rep.redraw()
    rep.step("release/default", "built in 1.0s")
    rep.live_stop()
    assert piped.getvalue() == ""
    tty = FakeTTY()
    quiet = Reporter(True, None, total=2, stream=tty, clock=lambda: 0.0, width=lambda: 80)
    quiet.live_start()
    quiet.started("variant", "release/default")
    quiet.redraw()
    quiet.notice("hello")
    quiet.live_stop()
    assert tty.getvalue() == "" and auditor_io._log_hook is None
    monkeypatch.setenv("TERM", "dumb")  # a terminal without erase-line (an Emacs shell buffer)
    dumb = FakeTTY()
    rep = Reporter(False, None, total=2, stream=dumb, clock=lambda: 0.0, width=lambda: 80)
    rep.live_start()
    rep.started("variant", "release/default")
    rep.redraw()
    rep.step("release/default", "built in 1.0s")
    rep.live_stop()
    assert dumb.getvalue() == "[1/2] release/default: built in 1.0s (0.0s elapsed), about 0s left\n"


def test_a_start_is_drawn_at_once_from_any_thread(monkeypatch):
    monkeypatch.setattr(progress, "TICK", 3600)  # no ticker: only the event draws
    rep, out, t = live_reporter(width=80)
    rep.live_start()
    try:
        worker = threading.Thread(target=rep.started, args=("variant", "release/default"))
        worker.start()
        worker.join()
        assert out.getvalue().endswith(CLEAR + "[0/4] 0s elapsed | build release/default")
        rep.ended("variant", "release/default")
    finally:
        rep.live_stop()
    assert play(out.getvalue()) == ([], "")


def test_an_error_in_the_runner_leaves_no_status_line(monkeypatch):
    """Runner.run erases the status line however it ends: here the shadow copy fails."""
    from types import SimpleNamespace

    from auditor.errors import AuditorError
    from auditor.pipeline import runner as runner_mod

    def broken(*args, **kwargs):
        raise AuditorError("cannot copy the crate", "/nowhere")

    monkeypatch.setattr(runner_mod, "ShadowSet", broken)
    monkeypatch.setattr(progress, "TICK", 3600)
    rep, out, t = live_reporter(width=80, total=1)
    r = runner_mod.Runner(SimpleNamespace(), SimpleNamespace(), SimpleNamespace(tmp_dir=None), False, None, rep, 1)
    plan = SimpleNamespace(index=0, probe=None, need_clean=True, record=None)
    with pytest.raises(AuditorError, match="cannot copy the crate"):
        r.run([plan])
    assert out.getvalue().startswith(CLEAR + "[0/1] 0s elapsed")  # it was up
    assert play(out.getvalue()) == ([], "") and auditor_io._log_hook is None


def test_the_ticker_redraws_without_events(monkeypatch):
    monkeypatch.setattr(progress, "TICK", 0.01)
    rep, out, t = live_reporter(width=60)
    rep.live_start()
    try:
        rep.started("probe", "release/default")
        deadline = time.monotonic() + 10
        while "probe release/default" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        t[0] += 5
        while "[0/4] 5s elapsed" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        rep.live_stop()
    data = out.getvalue()
    assert "[0/4] 0s elapsed | probe release/default" in data and "[0/4] 5s elapsed | probe release/default" in data
    assert play(data) == ([], "")


def test_width_is_the_terminals_and_columns_never_widens_it(monkeypatch):
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 57, 0, 0))
        with os.fdopen(os.dup(slave), "w") as f:
            monkeypatch.delenv("COLUMNS", raising=False)
            assert progress.terminal_columns(f) == 57
            monkeypatch.setenv("COLUMNS", "40")
            assert progress.terminal_columns(f) == 40
            monkeypatch.setenv("COLUMNS", "200")  # stale (exported by a shell before a resize)
            assert progress.terminal_columns(f) == 57
    finally:
        os.close(slave)
        os.close(master)
    monkeypatch.setenv("COLUMNS", "33")
    assert progress.terminal_columns(io.StringIO()) == 33
    monkeypatch.delenv("COLUMNS")
    assert progress.terminal_columns(io.StringIO()) == 80


# ---------------------------------------------------------------- a real scan on a pseudo-terminal

SCAN = ("--profiles", "release,min-size-z", "--allocators", "default,fixture_bump", "--no-runtime",
        "--compression", "none")
COLS = 60


def scan_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(CARGO="/usr/bin/cargo", RUSTC="/usr/bin/rustc", TERM="xterm")
    return env


def scan_on_pty(cache, *, kill_when: bytes | None = None, timeout: float = 600) -> tuple[int, bytes, str]:
    """`auditor scan` with stderr on a pseudo-terminal COLS wide (stdout a pipe): the exit
    code, the raw bytes the terminal received, stdout. With `kill_when`, SIGTERM once
    those bytes were seen."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLS, 0, 0))
    args = [sys.executable, "-m", "auditor", "scan", str(CRATES / "minimal"), *SCAN, "--cache-dir", str(cache)]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, cwd=REPO,
                         env=scan_env())
    os.close(slave)
    raw = b""
    sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:  # read while it runs, so a full terminal buffer never blocks it
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer is gone
                    break
                if not chunk:
                    break
                raw += chunk
                if kill_when is not None and not sent and kill_when in raw:
                    p.send_signal(signal.SIGTERM)
                    sent = True
        out = p.stdout.read().decode() if p.stdout else ""
        return p.wait(timeout=60), raw, out
    finally:
        if p.poll() is None:
            p.kill()
        if p.stdout:
            p.stdout.close()
        os.close(master)


def assert_clean_terminal(text: str) -> None:
    lines, current = play(text)
    assert current == "", f"left on the terminal: {current!r}"
    for line in lines:  # every line that stays is a notice or a finished variant, never a status line
        assert line.startswith("auditor: ") or FINISHED.match(line), line


@pytest.mark.cargo
def test_scan_on_a_terminal_shows_live_status_that_fits_and_leaves_nothing(tmp_path):
    rc, raw, tty_out = scan_on_pty(tmp_path / "cache")
    text = raw.decode()
    assert rc in (0, 1), text
    drawn = segments(text)
    status = [i for i, s in enumerate(drawn) if STATUS.match(s)]
    finished = [i for i, s in enumerate(drawn) if FINISHED.match(s)]
    assert [FINISHED.match(drawn[i]).group(1) for i in finished] == ["1", "2", "3", "4"], drawn
    # the status line was up, naming a build, before the first variant finished
    early = [drawn[i] for i in status if i < finished[0]]
    assert early and all(STATUS.match(s).group(2) == "4" for s in early), drawn
    assert any(" | build " in s for s in early), early
    # nothing drawn by the progress code is wider than the terminal
    for s in drawn:
        if s.startswith("["):
            assert len(s) < COLS, s
    # each status draw starts at column 0 on an erased line, and the terminal ends clean
    assert text.count(CLEAR) >= len(status)
    assert_clean_terminal(text)
    assert "auditor: 4 variants (4 ok, 0 failed)" in text
    # stderr a pipe: no status line, no control characters; the report is byte-identical
    piped = subprocess.run([sys.executable, "-m", "auditor", "scan", str(CRATES / "minimal"), *SCAN,
                            "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, cwd=REPO,
                           env=scan_env(), stdin=subprocess.DEVNULL, timeout=600)
    assert piped.returncode == rc
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr and "[1/4]" not in piped.stderr
    assert "auditor: 4 variants (4 ok, 0 failed)" in piped.stderr
    assert piped.stdout == tty_out and "release/default" in tty_out


@pytest.mark.cargo
def test_sigterm_during_builds_leaves_no_status_line(tmp_path):
    rc, raw, out = scan_on_pty(tmp_path / "cache", kill_when=b" | build ")
    text = raw.decode()
    assert rc == 128 + signal.SIGTERM, text
    assert " | build " in text
    assert_clean_terminal(text)
    assert text.rstrip("\r\n").endswith("auditor: terminated (signal 15)")
    assert out == ""
