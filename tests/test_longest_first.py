"""tests/longest_first.py: the order xdist hands the modules out in (the longest first)."""

from __future__ import annotations

import longest_first

IDS = ["tests/test_a.py::t1", "tests/test_a.py::t2", "tests/test_b.py::t1", "tests/test_c.py::K::t1",
       "tests/test_c.py::K::t2", "tests/test_c.py::t3"]


def test_recorded_durations_order_the_scopes():
    known = {"tests/test_a.py::t1": 1.0, "tests/test_a.py::t2": 1.0, "tests/test_b.py::t1": 5.0,
             "tests/test_c.py::K::t1": 0.5}
    cost = longest_first.costs(IDS, known)
    # test_c.py::K has one recorded test of two: the other counts at the recorded mean
    assert cost == {"tests/test_a.py": 2.0, "tests/test_b.py": 5.0, "tests/test_c.py::K": 1.0,
                    "tests/test_c.py": longest_first.DEFAULT_TEST_SECONDS}
    assert longest_first.longest_first(list(cost), cost) == [
        "tests/test_b.py", "tests/test_a.py", "tests/test_c.py::K", "tests/test_c.py"]


def test_without_records_the_seed_then_the_number_of_tests():
    ids = ["tests/test_small.py::a", "tests/test_small.py::b", "tests/test_fuzz.py::x", "tests/test_one.py::a"]
    cost = longest_first.costs(ids, {})
    assert cost["tests/test_fuzz.py"] == longest_first.SEED["tests/test_fuzz.py"]
    assert longest_first.longest_first(list(cost), cost) == [
        "tests/test_fuzz.py", "tests/test_small.py", "tests/test_one.py"]


def test_a_parameter_id_with_colons_stays_in_its_module():
    assert longest_first.scope_of("tests/test_d.py::test_v0[<a as core::fmt::Display>::fmt]") == "tests/test_d.py"
    assert longest_first.scope_of("tests/test_c.py::K::t[x::y]") == "tests/test_c.py::K"


def test_durations_file_merges_and_survives_garbage(tmp_path, monkeypatch):
    path = tmp_path / "d" / "durations.json"
    monkeypatch.setenv(longest_first.ENV, str(path))
    assert longest_first.load() == {}
    longest_first.save({"x::a": 1.23456, "x::b": 2.0})
    longest_first.save({"x::b": 3.0})
    assert longest_first.load() == {"x::a": 1.235, "x::b": 3.0}
    path.write_text("{not json")
    assert longest_first.load() == {}
    monkeypatch.setenv(longest_first.ENV, "off")
    longest_first.save({"x::a": 1.0})
    assert longest_first.load() == {}
