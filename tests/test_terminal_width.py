"""Text reports fit the terminal: names cut in the middle, figures never; prose folded;
nothing cut when writing to a pipe or a file (even with COLUMNS in the environment, which
GNU readline exports to every child: pytest's own children get COLUMNS=80)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from auditor.report.table import fit_width, fold, middle, table

ROOT = Path(__file__).resolve().parent.parent
WASM = ROOT / "fixtures" / "reports" / "demo-0.2.0-opt-z.wasm"


def test_middle_cut_keeps_both_ends():
    name = "alloc::collections::btree::node::Handle<NodeRef<Mut,K,V,Leaf>,Edge>::insert_fit"
    cut = middle(name, 30)
    assert len(cut) == 30 and "…" in cut
    head, tail = cut.split("…")
    assert name.startswith(head) and name.endswith(tail) and len(head) >= len(tail) > 10
    assert middle("short", 30) == "short"


def test_table_cuts_names_never_figures():
    rows = [[4455, "14.2%", "dlmalloc", "dlmalloc::dlmalloc::Dlmalloc<A>::malloc_with_a_very_long_generic_tail<T>"],
            [1561, "5.0%", "alloc", "alloc::slice::merge_sort"],
            [12, "-12,345 B (-0.2%)", "core", "core::fmt::Formatter::pad_integral::write_prefix"]]
    full = table(["bytes", "share", "crate", "function"], rows)
    assert table(["bytes", "share", "crate", "function"], rows, width=None) == full
    with fit_width(60):
        fitted = table(["bytes", "share", "crate", "function"], rows)
    lines = fitted.splitlines()
    assert all(len(l) <= 60 for l in lines), fitted
    for r, line in zip(rows, lines[2:]):
        assert str(r[0]) in line and r[1] in line and r[2] in line  # figures and short names whole
        name = line.split(r[2], 1)[1].strip()
        if "…" in name:
            head, tail = name.split("…")
            assert r[3].startswith(head) and r[3].endswith(tail)
        else:
            assert name == r[3]


def test_fold_wraps_prose_not_table_rows():
    text = "\n".join(["word " * 30, "  a  b  c  " + "x" * 100, "short"])
    out = fold(text, 50).splitlines()
    assert all(len(l) <= 50 for l in out if "xxx" not in l)
    assert "  a  b  c  " + "x" * 100 in out  # a table row that could not fit is left whole
    assert out[1].startswith("    word")  # continuation indented
    assert fold(text, None) == text


def inspect_text(columns: str | None, *, tty: bool) -> str:
    """`auditor inspect` with stdout on a pseudo-terminal (tty) or a pipe."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["NO_COLOR"] = "1"
    if columns:
        env["COLUMNS"] = columns
    cmd = [sys.executable, "-m", "auditor", "inspect", str(WASM), "--top", "12"]
    if not tty:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert r.returncode in (0, 1), r.stderr
        return r.stdout
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, env=env, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while select.select([master], [], [], 20)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait()
    os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def function_rows(text: str) -> list[list[str]]:
    block = text[text.index("Functions:"):].split("\n\n")[0].splitlines()[3:]
    return [re.split(r"\s{2,}", l.strip(), maxsplit=3) for l in block if not l.strip().startswith("...")]


def test_inspect_fits_80_columns_with_the_same_figures():
    wide, narrow = inspect_text("80", tty=False), inspect_text("80", tty=True)
    assert max(len(l) for l in wide.splitlines()) > 80  # piped: nothing cut, COLUMNS or not
    assert max(len(l) for l in narrow.splitlines()) <= 80
    w, n = function_rows(wide), function_rows(narrow)
    assert len(w) == len(n) == 12
    cut = 0
    for a, b in zip(w, n):
        assert a[:3] == b[:3]  # bytes, share, crate: whole
        if a[3] != b[3]:
            cut += 1
            head, tail = b[3].split("…")
            assert a[3].startswith(head) and a[3].endswith(tail)
    assert cut > 0


def test_scan_progress_says_how_long_is_left(capsys, monkeypatch):
    """Per-variant progress on a terminal ends with an estimate of the time left."""
    from auditor.report import progress

    clock = iter([100.0, 110.0, 130.0, 160.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    rep = progress.Reporter(quiet=False, progress=True, total=4)
    rep.step("release/default", "built in 10.0s")  # 10 s for 1 of 4: about 30 s for 3
    rep.step("release/talc", "built in 20.0s")  # 30 s for 2: about 30 s for 2
    rep.step("opt-z/default", "from cache")  # 60 s for 3: about 20 s for 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["[1/4] release/default: built in 10.0s (10.0s elapsed), about 30s left",
                   "[2/4] release/talc: built in 20.0s (30.0s elapsed), about 30s left",
                   "[3/4] opt-z/default: from cache (60.0s elapsed), about 20s left"]
    assert progress._duration(125) == "2m 05s"
