"""Every cargo process auditor starts, counted by what it was for.

`auditor scan` reports these on stderr ("N cargo invocations: ..."), so the count is
honest: variant builds, probe builds, the toolchain's test build, `cargo metadata`,
`cargo -V`. Process-wide; a caller takes a `snapshot()` before and `since(snapshot)` after.
Other tools the scan runs in cargo's place are counted apart (`count_other`): the
rust-lld runs that link probe modules and the rustc run that compiles their object.
"""

from __future__ import annotations

import threading
from collections import Counter

_counts: Counter[str] = Counter()
_other: Counter[str] = Counter()
_lock = threading.Lock()

# display order and names
KINDS = ("build", "probe build", "reproducibility build", "toolchain check", "metadata", "version")


def count(kind: str) -> None:
    with _lock:
        _counts[kind] += 1


def count_other(kind: str) -> None:
    with _lock:
        _other[kind] += 1


def snapshot(other: bool = False) -> dict[str, int]:
    with _lock:
        return dict(_other if other else _counts)


def since(before: dict[str, int], other: bool = False) -> dict[str, int]:
    now = snapshot(other)
    return {k: now.get(k, 0) - before.get(k, 0) for k in now if now.get(k, 0) - before.get(k, 0)}


def describe_other(counts: dict[str, int]) -> str:
    """"1 probe link, 1 rustc (probe object)" / "" when none ran."""
    return ", ".join(f"{n} {k}{'s' if n != 1 and k == 'probe link' else ''}" for k, n in sorted(counts.items()))


def describe(counts: dict[str, int]) -> str:
    """"12 cargo invocations (9 builds, 2 probe builds, 1 metadata)" / "0 cargo invocations"."""
    total = sum(counts.values())
    head = f"{total} cargo invocation{'s' if total != 1 else ''}"
    if not total:
        return head
    parts = []
    for k in sorted(counts, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k)):
        n = counts[k]
        plural = k + ("es" if k.endswith("ch") else "s") if n != 1 and k not in ("metadata", "version") else k
        parts.append(f"{n} {plural}")
    return f"{head} ({', '.join(parts)})"
