"""auditor's configuration: `schema` (every key and its check), `loader` (layers, the
effective value of a key and where it came from) and `view` (the read-only Protocol the
stages take, so none of them imports the loader).

`from auditor.config import load_config, Config` still works; the names are looked up
in `loader` on first use, so importing `auditor.config.view` costs nothing.
"""

from __future__ import annotations

from typing import Any

_LOADER_NAMES = ("Config", "Layer", "load_config", "validate", "CONFIG_FILES", "PACKAGE_PREFIX", "WORKSPACE_PREFIX")


def __getattr__(name: str) -> Any:
    if name in _LOADER_NAMES:
        from auditor.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'auditor.config' has no attribute {name!r}")
