"""One module, no build: `auditor inspect` (the wasm stage, then its rules) and `auditor
run` (the runtime stage, then its rules)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.config.loader import load_config
from auditor.errors import AuditorError
from auditor.rules.audit import Audited, audit
from auditor.runtime.options import RuntimeOptions, from_config, parse_spec

if TYPE_CHECKING:
    from auditor.wasm.inspect import InspectResult

# Each flow imports its own stage: `auditor run` never reads a module the inspect way
# (wasm.inspect and the HTML page's retained view: ~20 ms of every `run`'s start-up).


def inspect(path: str | Path, *, compression: str = "auto", dwarf: bool = False, top: int = 20,
            config_file: str | None = None) -> Audited[InspectResult]:
    """Read a module and apply the module rules (config found from the working directory)."""
    from auditor.pipeline.retained import of_module
    from auditor.wasm.inspect import inspect_file

    config = load_config(Path.cwd(), config_file=config_file)
    audited = audit(inspect_file(path, compression=compression, dwarf=dwarf), config, top=top)
    audited.retained_view = of_module(audited.result.module, audited.record)  # the module inspect parsed
    return audited


def run(path: str | Path, *, runtime: dict[str, object] | None = None, workloads: str | None = None,
        scenarios: Sequence[str] = (), config_file: str | None = None, crate_dir: str | Path = ".") -> Audited:
    """Run a module in wasmtime and apply the runtime rules.

    `runtime`: command-line values of `runtime.*` keys (None: not given); they go through
    the config as its top layer, so each is checked once, by the config schema, and a bad
    one is named by its flag. `scenarios`: `--scenario` specs (they replace the config's).
    """
    from auditor.runtime.api import run_module

    cli = {f"runtime.{k}": v for k, v in (runtime or {}).items()}
    try:
        config = load_config(Path(crate_dir), config_file=config_file, cli=cli)
    except AuditorError as e:  # a bad option value: name the flag it came from
        if (e.where or "").startswith("command line: runtime."):
            raise AuditorError(e.what, "--" + (e.where or "").rsplit(".", 1)[1]) from None
        raise
    options = RuntimeOptions.from_config(config, {"workloads": workloads})
    chosen = [parse_spec(s) for s in scenarios] if scenarios else from_config(config)
    return audit(run_module(Path(path), options, chosen), config)
