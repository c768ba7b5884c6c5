"""Every CLI error is one line on stderr naming what and where, with exit 2 (nothing on
stdout, no traceback, no usage block); signals exit 128 + N and leave $TMPDIR empty.

Cases that give a private $TMPDIR (every command's bad --format, doctor, scan) and the
signal cases run the real command line in a subprocess; the others call the console
script's main() in-process (tests/clirun.py: the same exit code, stdout and stderr, a
traceback if an exception escaped), which AUDITOR_TEST_CLI=process turns back into
subprocesses."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clirun

REPO = Path(__file__).resolve().parents[1]
FORMATS = "text, json, markdown, sarif, junit, github"


def auditor(*args, cwd: Path | None = None, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    if tmpdir is None:
        return clirun.run(args, cwd=cwd or REPO)
    env = dict(os.environ)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], cwd=cwd or REPO, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command (asserting exit 2 and empty stdout)."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and r.stderr.endswith("\n"), r.stderr
    assert lines[0].startswith("auditor: ") and "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def files(tmp_path):
    """A directory, a valid .wasm (wat2wasm), its .wat text, a gzip of it, a JSON report."""
    d = tmp_path / "dir"
    d.mkdir()
    wat = tmp_path / "names.wat"
    wat.write_text('(module (memory (export "memory") 1) (func (export "f")))\n')
    wasm = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", str(wat), "-o", str(wasm)], check=True)
    gz = tmp_path / "m.wasm.gz"
    gz.write_bytes(gzip.compress(wasm.read_bytes()))
    report = tmp_path / "inspect.json"
    r = auditor("inspect", wasm, "--format", "json", "-o", report)
    assert r.returncode == 0, r.stderr
    return {"dir": d, "wat": wat, "wasm": wasm, "gz": gz, "json": report, "tmp": tmp_path}


# --------------------------------------------------------------------------- paths


def test_doctor_on_a_missing_path(tmp_path):
    line = one_line_error(auditor("doctor", "/nonexistent", tmpdir=tmp_path))
    assert line == "auditor: doctor CRATE: /nonexistent: does not exist"


def test_config_on_a_missing_path_and_an_empty_directory(tmp_path):
    assert one_line_error(auditor("config", "/nonexistent")) == "auditor: /nonexistent: no such file or directory"
    empty = tmp_path / "emptydir"
    empty.mkdir()
    line = one_line_error(auditor("config", empty))
    assert line.startswith(f"auditor: {empty}: no Cargo.toml here and no auditor.toml or .auditor.toml here or above")
    # the same directory with a config file is fine
    (empty / "auditor.toml").write_text('[runtime]\nseed = 3\n')
    ok = auditor("config", empty)
    assert ok.returncode == 0 and "runtime.seed = 3" in ok.stdout


# --------------------------------------------------------------------------- click's usage errors, one line each


def test_directory_where_a_file_is_expected(files):
    d, wasm = files["dir"], files["wasm"]
    assert one_line_error(auditor("diff", d, "x")) == f"auditor: diff OLD: {d}: is a directory"
    assert one_line_error(auditor("check", d)) == f"auditor: check REPORT: {d}: is a directory"
    assert one_line_error(auditor("inspect", wasm, "-o", d)) == f"auditor: -o/--output: {d}: is a directory"


@pytest.mark.parametrize("command,args", [
    ("inspect", ["m.wasm"]), ("run", ["m.wasm"]), ("scan", ["."]), ("doctor", ["."]), ("lint", ["."]),
    ("config", ["."]), ("check", ["inspect.json"]), ("diff", ["m.wasm", "m.wasm"]),
])
def test_bad_format_choice_for_every_command(files, command, args):
    # every command with --format (fix and merge have none: "no such option --format")
    r = auditor(command, *args, "--format", "bogus", cwd=files["tmp"], tmpdir=files["tmp"])
    line = one_line_error(r)
    assert line.startswith("auditor: --format: 'bogus' is not one of text, json"), line
    assert "'text'" not in line


def test_other_usage_errors(files):
    wasm = files["wasm"]
    assert one_line_error(auditor("inspect")) == \
        "auditor: inspect: missing argument WASM (usage: auditor inspect [OPTIONS] WASM)"
    assert one_line_error(auditor("inspect", wasm, "extra")) == "auditor: inspect: unexpected extra argument: extra"
    assert one_line_error(auditor("lint", "--bogus")) == "auditor: lint: no such option --bogus"
    assert one_line_error(auditor("lint", "--prof")) == "auditor: lint: no such option --prof (did you mean --profile?)"
    assert one_line_error(auditor("bogus")).startswith("auditor: no such command 'bogus' (commands: inspect, scan, ")
    assert one_line_error(auditor("cache", "bogus")) == "auditor: cache: no such command 'bogus' (commands: info, prune)"
    assert one_line_error(auditor("run", wasm, "--fuel", "x")) == "auditor: --fuel: 'x' is not a valid integer range"
    assert one_line_error(auditor("inspect", wasm, "--color", "sometimes")) == \
        "auditor: --color: 'sometimes' is not one of auto, always, never"


# --------------------------------------------------------------------------- what the file is


def test_input_sniffing_names_the_file_type(files):
    wat, gz, wasm, js = files["wat"], files["gz"], files["wasm"], files["json"]
    assert one_line_error(auditor("inspect", wat)).endswith(
        ": is a WebAssembly text file, not a WebAssembly binary — assemble it with wat2wasm")
    assert one_line_error(auditor("run", wat)).endswith(
        ": is a WebAssembly text file, not a WebAssembly binary — assemble it with wat2wasm")
    assert one_line_error(auditor("inspect", gz)).endswith(
        ": is gzip data, not a WebAssembly binary — decompress it first (gunzip)")
    assert one_line_error(auditor("run", gz)).startswith(f"auditor: {gz}: not a WebAssembly module: ")
    assert one_line_error(auditor("inspect", js)).endswith(": is JSON, not a WebAssembly binary")
    # where JSON is expected
    assert one_line_error(auditor("diff", wat, wasm)) == (
        f"auditor: {wat}: is a WebAssembly text file, not a .wasm module or a JSON report — assemble it with wat2wasm")
    assert one_line_error(auditor("diff", gz, wasm)) == (
        f"auditor: {gz}: is gzip data, not a .wasm module or a JSON report — decompress it first (gunzip)")
    assert one_line_error(auditor("check", gz)) == \
        f"auditor: {gz}: is gzip data, not a JSON report — decompress it first (gunzip)"
    # `check` gates modules too (issue 11); `merge` takes only JSON reports
    assert one_line_error(auditor("merge", wasm)).startswith(f"auditor: {wasm}: is a .wasm module, not a JSON report")
    assert one_line_error(auditor("merge", wat)) == \
        f"auditor: {wat}: is a WebAssembly text file, not a JSON report — assemble it with wat2wasm"


# --------------------------------------------------------------------------- -o through a symlink


def test_output_through_a_symlink_replaces_the_target_atomically(files):
    tmp, wasm = files["tmp"], files["wasm"]
    out = tmp / "out"
    out.mkdir()
    target = out / "real.json"
    target.write_text("old\n")
    target.chmod(0o640)
    link = out / "link.json"
    link.symlink_to("real.json")
    r = auditor("inspect", wasm, "--format", "json", "-o", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert json.loads(target.read_text())["schema"] == "auditor.inspect/1"
    assert target.stat().st_mode & 0o777 == 0o640  # the target's mode is kept
    assert sorted(p.name for p in out.iterdir()) == ["link.json", "real.json"]  # no temp file left


# --------------------------------------------------------------------------- scan: the user's mistakes first


@pytest.mark.parametrize("option,value,expected", [
    ("--profiles", "nope", "auditor: --profiles: unknown profile 'nope' (known: release, "),
    ("--allocators", "nope", "auditor: --allocators: unknown allocator 'nope' (known: default, "),
])
def test_scan_names_are_checked_before_any_notice(tmp_path, option, value, expected):
    r = auditor("scan", REPO / "fixtures/crates/minimal", option, value, "--cache-dir", tmp_path / "c", tmpdir=tmp_path)
    assert one_line_error(r).startswith(expected)


@pytest.mark.cargo  # the toolchain check before reading the crate builds a probe crate
def test_scan_of_a_crate_without_cdylib_is_one_line(tmp_path):
    r = auditor("scan", REPO / "fixtures/crates/nocdylib", "--cache-dir", tmp_path / "c", tmpdir=tmp_path)
    line = one_line_error(r)
    assert "builds no .wasm" in line and 'crate-type = ["cdylib"]' in line
    assert os.listdir(tmp_path) == ["c"]


# --------------------------------------------------------------------------- signals


LOOP = '(module (memory (export "memory") 1) (func $s (loop $l (br $l))) (start $s))'


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signal_during_a_wasm_call_exits_at_once_and_cleans_tmp(tmp_path, sig, code, word):
    src, wasm = tmp_path / "loop.wat", tmp_path / "loop.wasm"
    src.write_text(LOOP)
    subprocess.run(["wat2wasm", str(src), "-o", str(wasm)], check=True)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # No fuel limit, a 60 s clock: only the signal can end the start function's loop soon.
    p = subprocess.Popen([sys.executable, "-m", "auditor", "run", str(wasm), "--fuel", str(2**64 - 1),
                          "--timeout", "60"], cwd=REPO, env=dict(os.environ, TMPDIR=str(tmpdir)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Compiled (its compile child's auditor-compile-* directory came and went) and
    # looping: then 0.5 s more; at most 3 s in all, as a fixed wait used to be.
    deadline, seen = time.monotonic() + 3, False
    while time.monotonic() < deadline:
        busy = any(n.startswith("auditor-compile-") for n in os.listdir(tmpdir))
        if seen and not busy:
            time.sleep(0.5)
            break
        seen = seen or busy
        time.sleep(0.02)
    assert p.poll() is None
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 5  # not the 60 s deadline
    assert p.returncode == code, err
    assert out == "" and err.splitlines() == [f"auditor: {word}" + (" (signal 15)" if sig == signal.SIGTERM else "")]
    assert os.listdir(tmpdir) == []


def _nested(functions: int, depth: int) -> bytes:
    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def sec(i: int, b: bytes) -> bytes:
        return bytes([i]) + leb(len(b)) + b

    body = b"\x00" + b"\x41\x00\x04\x40" * depth + b"\x0b" * depth + b"\x0b"
    return (b"\0asm\1\0\0\0" + sec(1, b"\x01\x60\x00\x00") + sec(3, leb(functions) + b"\x00" * functions)
            + sec(10, leb(functions) + (leb(len(body)) + body) * functions))


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_compiling_kills_the_child_and_cleans_tmp(tmp_path, sig, code):
    wasm = tmp_path / "slow.wasm"
    wasm.write_bytes(_nested(12, 9000))  # under the depth limit, many seconds to compile
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "auditor", "run", str(wasm)], cwd=REPO,
                         env=dict(os.environ, TMPDIR=str(tmpdir)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(n.startswith("auditor-compile-") for n in os.listdir(tmpdir)):
        time.sleep(0.05)
    time.sleep(0.5)
    child = subprocess.run(["pgrep", "-f", f"auditor.runtime.sandbox {tmpdir}"], capture_output=True, text=True).stdout
    assert child.strip(), "no compile child running"
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert out == "" and len(err.splitlines()) == 1
    assert os.listdir(tmpdir) == []
    for pid in child.split():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
