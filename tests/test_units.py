"""Human units (auditor/units.py): decimal kB/MB vs binary KiB/MiB, pages, percentages.

The definitions budgets are written in: "1.5 MB" is 1,500,000 bytes, "1.5 MiB" is
1,572,864; a page is 65,536 bytes. Expected values are computed here by hand.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.units import PAGE, parse_bytes, parse_pages, parse_percent_or_bytes


@pytest.mark.parametrize("text,expected", [
    ("150 KiB", 150 * 1024),
    ("150 kB", 150_000),
    ("1.5 MB", 1_500_000),
    ("1.5 MiB", 1_572_864),
    ("2 GB", 2_000_000_000),
    ("2 GiB", 2 * 1024**3),
    ("60 kB", 60_000),
    ("20 pages", 20 * 65536),
    ("1 page", 65536),
    ("512", 512),
    ("512 B", 512),
    ("512 bytes", 512),
    ("12KiB", 12288),  # no space
    (" 12 kib ", 12288),  # case and spaces
    ("1 KB", 1000),  # KB is read as kB: decimal
    ("1 k", 1000),
    ("0", 0),
    (4096, 4096),
])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


def test_mb_and_mib_differ_by_the_documented_factor():
    assert parse_bytes("1.5 MiB") - parse_bytes("1.5 MB") == 72_864
    assert PAGE == 64 * 1024


@pytest.mark.parametrize("bad,message", [
    ("5 parsecs", "unknown unit 'parsecs'"),
    ("1.5.5 MB", "cannot read '1.5.5 MB' as a size"),
    ("", "cannot read '' as a size"),
    ("-5 KiB", "cannot read '-5 KiB' as a size"),
    (-1, "negative size -1"),
    (True, "expected a size, got True"),
])
def test_parse_bytes_errors_are_value_errors_naming_the_input(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_bytes(bad, what="size")


@pytest.mark.parametrize("value,expected", [
    (17, 17),
    ("20 pages", 20),
    ("4 MiB", 64),
    ("4 MB", 62),  # 4,000,000 / 65,536 = 61.04 -> rounded up
    ("1 B", 1),
    ("0", 0),
])
def test_parse_pages(value, expected):
    assert parse_pages(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("5%", ("percent", 5.0)),
    (" 2.5 % ", ("percent", 2.5)),
    ("10 KiB", ("bytes", 10240.0)),
    ("2 kB", ("bytes", 2000.0)),
    (300, ("bytes", 300.0)),
])
def test_parse_percent_or_bytes(value, expected):
    assert parse_percent_or_bytes(value) == expected


def test_parse_percent_errors():
    with pytest.raises(ValueError, match="cannot read 'five%' as a percentage"):
        parse_percent_or_bytes("five%")


@given(st.integers(0, 10**6), st.sampled_from([("KiB", 1024), ("MiB", 1024**2), ("kB", 1000), ("MB", 1000**2)]))
def test_whole_numbers_in_any_unit(n, unit):
    name, factor = unit
    assert parse_bytes(f"{n} {name}") == n * factor


# Defects found in review and fixed: numbers and strings agree, non-finite values are
# ValueErrors, percentages are finite and not negative.

def test_parse_pages_bare_string_number_is_pages():
    assert parse_pages("20") == parse_pages(20) == 20


def test_float_and_string_agree():
    assert parse_bytes(1.7) == parse_bytes("1.7")


def test_infinite_size_is_a_value_error():
    with pytest.raises(ValueError):
        parse_bytes(float("inf"))


def test_percent_must_be_finite_and_not_negative():
    for bad in ("nan%", "inf%", "-5%"):
        with pytest.raises(ValueError):
            parse_percent_or_bytes(bad)


def test_parse_pages_numbers():
    assert parse_pages(17.0) == 17
    for bad in (17.5, -1, float("nan")):
        with pytest.raises(ValueError):
            parse_pages(bad)
