"""The independent tools' output, cached on disk by the input's content.

WHY: the suite checks auditor's readers against wasm-tools and wabt, thousands of times
on inputs that never change (the spec testsuite, the .wat fixtures): about 11 CPU-s a
session went to starting `wasm-tools dump` and `wasm-objdump` on the same bytes again.
A tool's output is a function of the tool's binary, its arguments and the input's
bytes; that is the key here, so a cached answer is the one the tool gave on these exact
bytes. The check itself is unchanged: auditor's reading is compared with it as before.

run(tool, args, path) runs `tool *args path` (check=False, text) unless the cache holds
the answer. The key: the tool's resolved binary (file name, size and sha256 of its
bytes, so every checkout's copy of the same release shares the entries), the arguments,
the input's basename and sha256. The input's path is stored as a placeholder and put back,
so an answer cached from one directory reads as if the tool ran on this one.

The cache is the directory $AUDITOR_TOOL_OUTPUT_CACHE (tests/conftest.py sets it to
~/.cache/auditor/test-tool-output unless set; "off" or empty: no cache). Entries are
written atomically; the directory can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

ENV = "AUDITOR_TOOL_OUTPUT_CACHE"
_PLACEHOLDER = "\0input\0"


@cache
def _tool_identity(tool: str) -> str:
    """The tool's binary by content: its size and sha256 (its file name too, as a tool may
    answer by the name it is started under). Not its path or mtime: every checkout's
    .venv installs its own copy of wasm-tools, the same bytes, and a fresh clone (a CI run)
    would otherwise miss every entry. Hashed once per process (~20 ms for 17 MB)."""
    found = shutil.which(tool) or tool
    real = os.path.realpath(found)
    digest = hashlib.sha256()
    with open(real, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"{os.path.basename(real)}:{os.path.getsize(real)}:{digest.hexdigest()}"


def identity(tool: str) -> str:
    """The tool's binary by content (what the cache keys on): for callers that key their
    own answers derived from its output (tests/refcache.py)."""
    return _tool_identity(tool)


def _root() -> Path | None:
    value = os.environ.get(ENV, "")
    return None if value in ("", "off") else Path(value)


def _entry(root: Path, tool: str, args: list[str], path: str) -> Path:
    data = Path(path).read_bytes()
    key = hashlib.sha256(json.dumps([_tool_identity(tool), args, os.path.basename(path)]).encode()
                         + b"\0" + hashlib.sha256(data).digest()).hexdigest()
    return root / key[:2] / f"{key}.json"


def warm(tool: str, args: list[str], paths: Iterable[Path | str], jobs: int = 2) -> None:
    """Runs the tool, `jobs` at a time, on the paths it has no cached answer for: a
    caller that then reads thousands of answers in order needs no thread pool of its
    own (threads cost ~0.3 CPU-s per 1,800 cached answers on the spec corpus)."""
    root = _root()
    if root is None:
        return  # no cache: each run() runs the tool itself
    missing = [p for p in paths if not _entry(root, tool, args, str(p)).is_file()]
    if missing:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda p: run(tool, args, p), missing))


def run(tool: str, args: list[str], path: Path | str) -> subprocess.CompletedProcess[str]:
    """`tool *args path`, from the cache when the same binary read the same bytes."""
    path = str(path)
    argv = [tool, *args, path]
    root = _root()
    if root is None:
        return subprocess.run(argv, check=False, capture_output=True, text=True)
    entry = _entry(root, tool, args, path)
    try:
        saved = json.loads(entry.read_text())
    except (OSError, ValueError):
        saved = None
    if saved is None:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True)
        if proc.returncode < 0:  # killed by a signal: an answer of the machine, not of the tool
            return proc
        saved = {"returncode": proc.returncode, "stdout": proc.stdout.replace(path, _PLACEHOLDER),
                 "stderr": proc.stderr.replace(path, _PLACEHOLDER)}
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(saved, f)
        os.replace(tmp, entry)
    return subprocess.CompletedProcess(argv, saved["returncode"], saved["stdout"].replace(_PLACEHOLDER, path),
                                       saved["stderr"].replace(_PLACEHOLDER, path))


def run_checked(tool: str, args: list[str], path: Path | str) -> str:
    """stdout of `tool *args path`; raises CalledProcessError as check=True would."""
    proc = run(tool, args, path)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc.stdout
