"""Rust source paths in data segments, found in linear time.

rustc stores panic locations in data: `src/lib.rs`, `/rustc/<hash>/library/core/src/...`,
`~/.cargo/registry/src/.../foo-1.0/src/x.rs`. `inspect` has looked for them with

    (?:[/~][\\w./+-]*/)?(?:src|library)/[\\w./+-]+\\.rs

which backtracks at every `/` of a long path-like run (a 64 KB data segment of `ab/`
repeated took 73 s: issue 16). This module finds exactly the same matches without a
backtracking regex: the greedy pattern can match at most once per maximal run of path
characters (its tail always reaches the run's last `.rs`), so each run is one possessive
regex match plus a few C-level `find`s, and where the match starts follows from the
run's first `/` (or a `~` just before the run) and its first `src/` / `library/` that has
a tail. tests/test_source_paths.py holds it equal to the pattern on random inputs and
times it on 1 MB adversarial runs; `inspect` reads every data segment with it.
"""

from __future__ import annotations

import re

PATTERN = re.compile(rb"(?:[/~][\w./+-]*/)?(?:src|library)/[\w./+-]+\.rs")  # the reference semantics
_RUN = re.compile(rb"~?[\w./+-]++")
_ANCHOR = re.compile(rb"(?=(?:src|library)/)")
_ANCHORS = re.compile(rb"(?:src|library)/")
ANCHORS = _ANCHORS  # every match holds one, whole, inside the range searched: a range without one has none
_RUN_END = re.compile(rb"[\w./+-]*+")
_RUN_START_REVERSED = re.compile(rb"[\w./+-]*+~?")  # matched on the reversed bytes, from an anchor leftwards
_SLASH, _TILDE = 0x2F, 0x7E


def find_source_paths(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    """(offset, path bytes) of every match of PATTERN in data[start:end], in order.

    Only the runs of path characters that hold a `src/` or `library/` can match: they are
    found from those anchors (a C-level search) and each is read once, so data without
    paths costs one search and a run of any length is scanned a constant number of times.
    """
    end = len(data) if end is None else end
    out: list[tuple[int, bytes]] = []
    reversed_data: bytes | None = None
    done = start  # runs before this offset are read
    for a in _ANCHORS.finditer(data, start, end):
        q = a.start()
        if q < done:
            continue  # inside a run already read
        if reversed_data is None:
            reversed_data = data[start:end][::-1]
        # The run around the anchor: path characters on both sides, and a `~` just before.
        back = _RUN_START_REVERSED.match(reversed_data, end - q)
        run_start = q - (back.end() - back.start()) if back else q
        m = _RUN_END.match(data, q, end)
        run_end = m.end() if m else q
        done = run_end
        hit = _in_run(data, run_start, run_end)
        if hit is not None:
            out.append(hit)
    return out


def _in_run(data: bytes, run_start: int, run_end: int) -> tuple[int, bytes] | None:
    """The one match of PATTERN inside a maximal run of path characters, if any."""
    tilde = data[run_start] == _TILDE
    body = run_start + 1 if tilde else run_start
    last_rs = data.rfind(b".rs", body, run_end)
    if last_rs < 0:
        return None
    first_slash = data.find(b"/", body, run_end)
    # With a prefix the match starts at the `~` or the run's first `/`: the earliest
    # a match in this run can start.
    earliest_prefix = run_start if tilde else first_slash
    best = None
    for a in _ANCHOR.finditer(data, body, last_rs):
        q = a.start()
        if last_rs < q + (4 if data.startswith(b"src/", q) else 8) + 1:
            break  # no `[\w./+-]+\.rs` tail after this anchor, nor after later ones
        cand = q
        # The prefix `[/~][\w./+-]*/` ends with the `/` just before the anchor and
        # starts at a `~`, or at an earlier `/` (it needs two slashes).
        if q > body and data[q - 1] == _SLASH and (tilde or 0 <= first_slash < q - 1):
            cand = earliest_prefix
        best = cand if best is None else min(best, cand)
        if best == earliest_prefix or earliest_prefix < 0:
            break  # nothing later can start earlier
    if best is None:
        return None
    return best, data[best : last_rs + 3]


def find_source_paths_by_runs(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    """The same, reading every run of path characters (the first linear version; the
    tests hold both equal to PATTERN)."""
    end = len(data) if end is None else end
    out = []
    for m in _RUN.finditer(data, start, end):
        hit = _in_run(data, *m.span())
        if hit is not None:
            out.append(hit)
    return out
