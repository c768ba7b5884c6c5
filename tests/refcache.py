"""Results of slow reference computations, cached on disk by the content of the code and
of the input that made them.

WHY: the exactness tests compare a fast path with the slower code it must equal (the
regex walk of the code against the parse pass's pairs, the Python pass against the
compiled reader, the code a speed-up replaced) on the npm modules and the spec corpus,
and the slow side is most of their CPU: ~10 CPU-s of the quick subset recomputed the
same answers from the same bytes by the same code every session. The fast side, the
one under test, still runs every time; only the reference's answer is remembered.

cached(name, key, compute, code=()) returns compute() unless an entry exists for:
  - `name` (which reference) and `key` (anything with a stable repr: a digest of the
    input bytes, the options), and the Python version;
  - the code: every file under auditor/ and rules/ (path and bytes; the reference may
    call any of it, so ANY edit there makes every entry miss — never a stale answer);
    `tree=WASM_STAGE` narrows that to the wasm stage, what the import rule lets it
    import (tests/test_architecture.py enforces it, nested imports included) and the
    rules files it reads (tests/test_refcache.py checks its load_rules_file calls), `None`
    to nothing, for a reference that runs none of auditor's code; plus the source of
    each object in `code` (a reference function kept in the test file, or a file path:
    the test file itself when the reference reads its module-level tables).
A miss computes and stores the answer (pickle, written atomically); per name only the
KEEP newest entries stay, so the directory does not grow with every edit.

The cache is the directory $AUDITOR_TEST_REFERENCE_CACHE (tests/conftest.py sets it to
~/.cache/auditor/test-reference-results unless set; "off" or empty: always compute).
It can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

ENV = "AUDITOR_TEST_REFERENCE_CACHE"
REPO = Path(__file__).resolve().parent.parent
#: Entries kept per reference name (the worktrees of a machine share the directory).
KEEP = 12

T = TypeVar("T")


#: Every source of auditor and its data.
ALL = ("auditor", "rules")
#: What the wasm stage's code can run: auditor/wasm and what tests/test_architecture.py
#: lets it import (the records and the helper modules, which import nothing of ours), and
#: the rules files it reads (tests/test_refcache.py checks both lists against the code).
#: A reference that only calls auditor.wasm code is keyed by these, so the other stages'
#: edits (and their rules files) do not make it miss.
WASM_STAGE = ("auditor/wasm", "auditor/records", "auditor/__init__.py", "auditor/errors.py", "auditor/units.py",
              "auditor/data.py", "auditor/io.py", "auditor/config/view.py",
              "rules/allocators.toml", "rules/data_strings.toml", "rules/wasm_opcodes.toml", "rules/wasm_types.toml")


@cache
def code_identity(tree: tuple[str, ...] = ALL) -> str:
    """sha256 over every file under `tree` (relative path and bytes)."""
    digest = hashlib.sha256()
    for top in tree:
        root = REPO / top
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _source(obj: Any) -> str:
    if isinstance(obj, (str, Path)):
        return hashlib.sha256(Path(obj).read_bytes()).hexdigest()
    return inspect.getsource(obj)


def _root() -> Path | None:
    value = os.environ.get(ENV, "")
    return None if value in ("", "off") else Path(value)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_raw(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def cached(name: str, key: object, compute: Callable[[], T], code: Iterable[Any] = (),
           tree: tuple[str, ...] | None = ALL) -> T:
    """compute(), or its answer stored for the same name, key, code and files under
    `tree` (ALL; WASM_STAGE for a reference that calls only auditor.wasm; None only for
    one that runs none of auditor's code, like a parser of a tool's output)."""
    root = _root()
    if root is None:
        return compute()
    h = hashlib.sha256(repr((name, key, sys.version, code_identity(tree) if tree else "",
                             [_source(c) for c in code])).encode()).hexdigest()
    folder = root / name
    entry = folder / f"{h}.pickle"
    try:
        with open(entry, "rb") as f:
            value: T = pickle.load(f)
        os.utime(entry)  # recently used: kept by _prune
        return value
    except Exception:  # missing, truncated, or naming a class that moved: computed again
        pass
    value = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, entry)
        _prune(folder)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return value


def _prune(folder: Path) -> None:
    entries = []
    for p in folder.glob("*.pickle"):
        try:
            entries.append((p.stat().st_mtime, p))
        except OSError:
            continue
    for _, p in sorted(entries, reverse=True)[KEEP:]:
        p.unlink(missing_ok=True)
