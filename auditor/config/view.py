"""What a stage may ask of the configuration: the read side of `auditor.config.loader.Config`.

Stages take a `ConfigView` instead of importing the loader, so the loader (which reads
manifests and knows every stage's schema) sits above them and no stage is in a cycle
with it; tests pass any object with these methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class ConfigView(Protocol):
    crate_dir: Path | None

    def get(self, key: str, default: Any = None) -> Any:
        """The effective value of a dotted key (tables merged across layers), a copy."""

    def source(self, key: str) -> str:
        """The layer a key comes from ("default" when no layer sets it)."""

    def location(self, key: str) -> tuple[str, int] | None:
        """(file, line) of the winning definition; None for the command line or a default."""

    def where(self, key: str) -> str | None:
        """`file:line:col` of the winning definition, for error messages."""

    def rule_level(self, rule_id: str) -> str | None:
        """Configured level (error/warning/note/off) of a rule, None for its default."""

    def rule_thresholds(self, rule_id: str) -> dict[str, Any]:
        """Thresholds the config overrides for a rule."""

    def files(self) -> list[str]:
        """The config files read, for messages ("config read: ...")."""
