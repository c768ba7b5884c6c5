"""auditor's runtime on the suite's own modules, compiled in the test's process.

WHY: `run_module` and `Harness` compile every module in a sandbox child (`python -m
auditor.runtime.sandbox`), 0.1-0.2 CPU-s and 0.15-0.25 s of wall each, about fifty
times in the quick subset. The runtime tests that use these two check what happens
after the compile (entry detection, workloads, traps, fuel, scenarios) on modules the
suite writes itself, so they compile them in-process, the way a scan compiles its own
probe builds (`trusted`, up to `[sandbox] trusted-in-process` in rules/runtime.toml): the
same engine configuration and the same compiled code. The compile child itself is
tests/test_runtime_sandbox.py's subject (fresh processes, limits, crashes), and every
`auditor run` these tests start through the CLI (clirun) still compiles in the child.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.runtime import api, harness


def run_module(path: str | Path, options: api.RuntimeOptions | None = None, scenarios: Any = (),
               limits: Any = None) -> api.RunResult:
    return api.run_module(path, options, scenarios, limits, trusted=True)


def Harness(path: Path, **kw: Any) -> harness.Harness:  # noqa: N802 (stands in for the class)
    return harness.Harness(path, trusted=True, **kw)
