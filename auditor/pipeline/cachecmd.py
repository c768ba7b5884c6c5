"""`auditor cache info|prune`: the build stage's cache, reported and trimmed."""

from __future__ import annotations

from pathlib import Path

from auditor.build.cache import default_cache_dir
from auditor.build.cache_targets import CacheReport
from auditor.build.cache_targets import cache_info as _info
from auditor.build.cache_targets import cache_prune as _prune
from auditor.errors import AuditorError
from auditor.units import parse_bytes


def cache_info(cache_dir: str | None = None) -> CacheReport:
    """What the cache holds: result entries by kind, and the kept target dirs per crate."""
    return _info(Path(cache_dir) if cache_dir else default_cache_dir())


def cache_prune(cache_dir: str | None = None, max_size: str | None = None, everything: bool = False) -> CacheReport:
    """Remove kept target dirs (least recently used first) down to max_size (default: all
    of them that no running scan holds); `everything` drops the cached results too."""
    try:
        limit = parse_bytes(max_size, what="--max-size") if max_size is not None else 0
    except ValueError as e:
        raise AuditorError(str(e)) from None
    return _prune(Path(cache_dir) if cache_dir else default_cache_dir(), limit, everything)
