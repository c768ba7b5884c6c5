"""The TOML position scanner: every key of any document tomlkit writes is found exactly."""

from __future__ import annotations

import string
import tomllib

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import AuditorError
from auditor.manifest.toml import parse

# Bare keys, [A-Za-z_][A-Za-z0-9_-]{0,8}: built from two draws (st.from_regex of that
# pattern made the same strings at three times the cost, a third of this module's CPU).
_FIRST = string.ascii_letters + "_"
keys = st.one_of(
    st.builds(str.__add__, st.sampled_from(_FIRST), st.text(_FIRST + string.digits + "-", max_size=8)),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6),
)
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)
documents = st.dictionaries(keys, st.one_of(values, st.lists(st.dictionaries(keys, values, min_size=1, max_size=3), min_size=1, max_size=3)), max_size=6)


def key_token(k: str) -> str:
    return tomlkit.key(k).as_string()


def walk(data, path=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield path + (k,), k
            yield from walk(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from walk(v, path + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_every_key_position_points_at_that_key(doc):
    text = tomlkit.dumps(doc)
    assert tomllib.loads(text) == doc  # sanity: the generator round-trips
    parsed = parse(text, "x.toml", "x.toml")
    lines = text.split("\n")
    for path, k in walk(parsed.data):
        pos = parsed.pos(path)
        assert pos is not None, (path, text)
        line, col = pos
        rest = lines[line - 1][col - 1:]
        if rest.startswith("["):
            assert key_token(k) in rest, (path, rest)
        else:
            assert rest.startswith(key_token(k)), (path, rest, text)


def test_multiline_strings_and_comments_do_not_confuse_it():
    text = '''a = """
[not.a.table]
b = 1 \\"""
"""
c = \'\'\'
x = 2
\'\'\'
d = [ # ]
  "]", { e = "}" },
]
[t] # [u]
"k.1" = 1
'''
    d = parse(text, "x.toml", "x.toml")
    assert d.pos(("a",)) == (1, 1)
    assert d.pos(("c",)) == (5, 1)
    assert d.pos(("d",)) == (8, 1)
    assert d.pos(("d", 1, "e")) == (9, 10)
    assert d.pos(("t", "k.1")) == (12, 1)
    assert ("not",) not in d.positions and ("x",) not in d.positions and ("b",) not in d.positions


def test_parse_error_has_line_col_and_invalid_utf8(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        parse("a = 1\nb = [1,\n", "Cargo.toml", "Cargo.toml")
    except AuditorError as e:
        assert e.where.startswith("Cargo.toml:") and e.what.startswith("parse error:")
    else:
        raise AssertionError("no error")
    from auditor.manifest.toml import load

    (tmp_path / "Cargo.toml").write_bytes(b'a = "ok"\nb = "\xff"\n')
    try:
        load(tmp_path / "Cargo.toml")
    except AuditorError as e:
        assert e.where == "Cargo.toml:2:6" and "UTF-8" in e.what
    else:
        raise AssertionError("no error")


# --------------------------------------------------------------------------- the value writer

_VALUES = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_RAW_CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES)
def test_literal_reads_back_with_tomllib(value):
    """Python's tomllib (the independent reader) reads every value back as written, and
    no C0/C1 control character is written raw (they reach terminals through fix's diff)."""
    from auditor.manifest.toml import literal

    text = literal(value)
    assert tomllib.loads(f"x = {text}")["x"] == value
    assert not any(ch in text for ch in _RAW_CONTROL if ch != "\t")


def test_every_toml_value_in_our_output_goes_through_literal():
    """The probe build's `--config` strip override, schema messages and fix's change lines:
    a value with quotes, backslashes and escape sequences stays one TOML value."""
    from auditor.build.cargo import BuildOptions, probe_cargo_args
    from auditor.manifest.schema import CARGO_PROFILE

    hostile = 'sym"bols\\\x1b[31m\x9b2J'
    args = probe_cargo_args([], "release", "demo", BuildOptions(), "probe", strip=hostile)
    override = next(a for a in args if a.startswith('profile.release.package."*".strip='))
    assert tomllib.loads(override)["profile"]["release"]["package"]["*"]["strip"] == hostile
    message = CARGO_PROFILE["split-debuginfo"]("x")
    assert message == 'expected one of "off", "packed", "unpacked"'
    # fix's change lines (cargo's own checks refuse a hostile value before fix runs, so
    # the writer is asked directly, with what tomlkit hands it)
    from auditor.rules.fix import _show

    item = tomlkit.parse(f"v = {literal_of(hostile)}")["v"]
    assert tomllib.loads(f"v = {_show(item)}")["v"] == hostile
    assert "\x1b" not in _show(item) and "\x9b" not in _show(item)


def literal_of(value: str) -> str:
    from auditor.manifest.toml import literal

    return literal(value)
