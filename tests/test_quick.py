"""tests/quick.py: the quick subset's budgets for property-based tests and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quick


class Config:
    def __init__(self, markexpr: str) -> None:
        self.markexpr = markexpr

    def getoption(self, name: str, default: object = None) -> object:
        assert name == "markexpr"
        return self.markexpr


@pytest.mark.parametrize(("markexpr", "expected"), [
    ("not cargo", True), ("not   cargo and not fuzz", True), ("fuzz and not cargo", True),
    ("", False), ("cargo", False), ("not cargoes", False), ("fuzz", False),
])
def test_quick_is_a_run_that_deselects_cargo(markexpr, expected, monkeypatch):
    monkeypatch.delenv(quick.SCALE_ENV, raising=False)
    assert quick.is_quick(Config(markexpr)) is expected
    assert quick.examples_scale(Config(markexpr)) == (quick.QUICK_SCALE if expected else 1.0)


def test_the_environment_sets_the_scale_and_rejects_nonsense(monkeypatch):
    monkeypatch.setenv(quick.SCALE_ENV, "4")
    assert quick.examples_scale(Config("not cargo")) == 4.0
    for bad in ("0", "-1", "inf", "nan"):
        monkeypatch.setenv(quick.SCALE_ENV, bad)
        with pytest.raises(pytest.UsageError):
            quick.examples_scale(Config(""))


@pytest.mark.parametrize(("own", "scale", "expected"), [
    (300, 0.25, 75), (3000, 0.25, 750), (100, 0.25, 25), (40, 0.25, 25), (10, 0.25, 10), (300, 1.0, 300),
    (100, 4.0, 400), (1, 0.25, 1),
])
def test_scaled_counts(own, scale, expected):
    assert quick.scaled(own, scale) == expected


def _property(max_examples: int | None):
    calls: list[int] = []

    def body(x: int) -> None:
        calls.append(x)

    test = given(st.integers())(body)
    if max_examples is not None:
        test = settings(max_examples=max_examples, database=None)(test)
    else:
        test = settings(database=None)(test)
    return test, calls


@pytest.mark.parametrize(("own", "scale"), [(200, 0.25), (40, 0.25), (60, 1.0), (30, 2.0)])
def test_a_scaled_property_runs_that_many_examples(own, scale):
    test, calls = _property(own)
    assert quick.scale_examples([test, test], scale) == 1  # one function, changed once
    test()
    assert len(calls) == quick.scaled(own, scale)


def test_a_property_without_its_own_count_scales_the_profiles():
    test, calls = _property(None)
    profile = settings.default.max_examples
    quick.scale_examples([test], 0.25)
    test()
    assert len(calls) == quick.scaled(profile, 0.25)


def test_plain_tests_are_left_alone():
    def plain() -> None:
        pass

    assert quick.scale_examples([plain, object()], 0.25) == 0
    assert not hasattr(plain, "_hypothesis_internal_use_settings")


@given(st.booleans())
def test_present_in_every_session(flag):  # so the next test always has a property to look at
    assert flag in (True, False)


def test_this_sessions_properties_run_the_scaled_counts(request, pytestconfig):
    scale = quick.examples_scale(pytestconfig)
    seen = 0
    for item in request.session.items:
        fn = getattr(item, "obj", None)
        fn = getattr(fn, "__func__", fn)
        if not hasattr(fn, "hypothesis"):
            continue
        seen += 1
        assert fn._hypothesis_internal_use_settings.max_examples == quick.scaled(fn.own_max_examples, scale), item.nodeid
    assert seen >= 1
