"""The quick subset (`pytest -m "not cargo"`): the developer's loop, which runs every
test that builds no crate, with the randomised tests' budgets cut to a quarter.

WHY: property-based tests (Hypothesis) and the libFuzzer campaigns were ~30 % of the
subset's CPU (34 of ~130 CPU-s, measured per test), and their value per example falls
off: the first examples find what a change broke, the long tail is for the full run.
That is Hypothesis's own advice (a small `max_examples` in a "dev" profile, the full
count in CI). The whole suite, which `.ci/run` runs, keeps every test's own count and
the fuzzers' full budget; nothing is skipped in either.

AUDITOR_EXAMPLES_SCALE=F sets the factor for any run (1: the tests' own counts in the
quick subset too; 4: four times as many everywhere).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable

import pytest

#: -m expressions that deselect the tests that run cargo
_QUICK = re.compile(r"\bnot\s+cargo\b")
#: Examples per property-based test in the quick subset: this fraction of its own count,
#: but never fewer than MIN_EXAMPLES (or its own count, when that is smaller).
QUICK_SCALE, MIN_EXAMPLES = 0.25, 25
SCALE_ENV = "AUDITOR_EXAMPLES_SCALE"


def is_quick(config: pytest.Config) -> bool:
    """Whether this run's -m deselects the `cargo` tests."""
    return bool(_QUICK.search(config.getoption("markexpr", "") or ""))


def examples_scale(config: pytest.Config) -> float:
    if os.environ.get(SCALE_ENV):
        value = float(os.environ[SCALE_ENV])
        if not value > 0 or math.isinf(value):
            raise pytest.UsageError(f"{SCALE_ENV}={os.environ[SCALE_ENV]!r}: expected a positive number")
        return value
    return QUICK_SCALE if is_quick(config) else 1.0


def scaled(n: int, scale: float) -> int:
    return n if scale == 1.0 else max(min(n, MIN_EXAMPLES), round(n * scale))


def scale_examples(tests: Iterable[object], scale: float) -> int:
    """Gives each Hypothesis test among `tests` (functions, or pytest items) `scale` times
    its max_examples; returns how many Hypothesis tests there were. A test's settings are its own
    (`@settings(...)`, else the active profile), kept by Hypothesis on the test function;
    a function shared by several items (parametrised) is changed once."""
    import hypothesis

    changed: set[int] = set()
    for test in tests:
        fn = getattr(test, "obj", test)
        fn = getattr(fn, "__func__", fn)
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if own is None or not hasattr(fn, "hypothesis") or id(fn) in changed:
            continue
        changed.add(id(fn))
        fn.own_max_examples = own.max_examples  # type: ignore[attr-defined]
        if scale != 1.0:
            fn._hypothesis_internal_use_settings = hypothesis.settings(  # type: ignore[attr-defined]
                own, max_examples=scaled(own.max_examples, scale))
    return len(changed)
