"""Where the TOML knowledge in `rules/` lives, in a checkout and when installed."""

from __future__ import annotations

import os
import sys
import tomllib
from functools import cache
from pathlib import Path

from auditor.errors import AuditorError


def rules_dir() -> Path:
    env = os.environ.get("AUDITOR_RULES_DIR")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parent.parent / "rules",  # checkout / editable install
        Path(sys.prefix) / "share" / "wasm-auditor" / "rules",  # pip install .
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise AuditorError("rules/ data directory not found (set AUDITOR_RULES_DIR)")


@cache
def load_rules_file(name: str) -> dict:
    path = rules_dir() / name
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise AuditorError(f"cannot read: {e.strerror}", str(path)) from None
    except tomllib.TOMLDecodeError as e:
        raise AuditorError(f"parse error: {e}", str(path)) from None
