"""Report output: atomic for files, in place for devices, one line for bad paths."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from auditor.errors import AuditorError
from auditor.io import atomic_write


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_device_files_are_written_in_place_not_replaced(tmp_path):
    before = os.stat("/dev/null")
    atomic_write("/dev/null", "discarded")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    atomic_write(fifo, "through the pipe\n")
    assert reader.communicate(timeout=10)[0] == "through the pipe\n"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_cli_output_to_dev_null_keeps_the_device(tmp_path):
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(b"\0asm\1\0\0\0")
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--format", "json", "-o", "/dev/null", str(wasm)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("where", ["dir", "missing-parent"])
def test_bad_output_paths_are_one_clear_error(tmp_path, where):
    path = tmp_path if where == "dir" else tmp_path / "no" / "such" / "r.txt"
    with pytest.raises(AuditorError) as err:
        atomic_write(path, "x")
    assert str(path) in err.value.line()
