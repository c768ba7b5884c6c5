"""Deterministic slices of the variant matrix, so N CI runners split one scan.

Round-robin over the canonical matrix order: shard K of N takes positions K-1, K-1+N,
K-1+2N, ... Every variant lands in exactly one shard, shard sizes differ by at most one
(runners finish together), and because the rule is positional, `auditor merge` can put
the shards' variants back into the canonical order from K/N alone.
"""

from __future__ import annotations

import re

from auditor.errors import AuditorError

_SPEC = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")


def parse_shard(spec: str) -> tuple[int, int]:
    """(K, N) from "K/N" (1-based), with a usage error for anything else."""
    m = _SPEC.match(str(spec))
    if not m:
        raise AuditorError(f"--shard: expected K/N like 2/3, got {spec!r}")
    k, n = int(m.group(1)), int(m.group(2))
    _check(k, n)
    return k, n


def _check(k: int, n: int) -> None:
    if n < 1 or not 1 <= k <= n:
        raise AuditorError(f"--shard: K/N needs 1 <= K <= N, got {k}/{n}")


def select(variant_ids: list[str], k: int, n: int) -> list[str]:
    """The variants shard K of N builds, in canonical order."""
    _check(k, n)
    return list(variant_ids[k - 1::n])


def positions(count: int, k: int, n: int) -> list[int]:
    """Canonical matrix positions of a shard's `count` variants (inverse of select)."""
    _check(k, n)
    return [k - 1 + j * n for j in range(count)]
