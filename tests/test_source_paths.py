"""auditor.wasm.source_paths: the same matches as the source-path regex, in linear time."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.wasm.source_paths import PATTERN, find_source_paths, find_source_paths_by_runs

PIECES = [b"/", b"~", b"src/", b"library/", b".rs", b"a", b".", b"-", b"+", b" ", b"\x00", b"src", b"rs", b"b/", b"~~",
          b"/rustc/0123abc/library/core/src/fmt/mod.rs", b"src/lib.rs", b"~/.cargo/registry/src/x-1.0/src/a.rs"]


def reference(data: bytes) -> list[tuple[int, bytes]]:
    return [(m.start(), m.group()) for m in PATTERN.finditer(data)]


# Up to 30 pieces, each picked by one byte (one draw of a byte string): the same inputs
# as st.lists(st.sampled_from(PIECES), max_size=30) at half hypothesis's cost (two draws
# per element, ~1 ms an example against a test body of microseconds).
pieces_lists = st.binary(max_size=30).map(lambda picks: [PIECES[b % len(PIECES)] for b in picks])


@settings(max_examples=3000, deadline=None)
@given(pieces_lists)
def test_same_matches_as_the_regex(pieces):
    data = b"".join(pieces)
    assert find_source_paths(data) == reference(data)


def test_same_matches_on_random_runs():
    rng = random.Random(16)
    for _ in range(20000):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 16)))
        assert find_source_paths(data) == reference(data), data


def test_same_matches_inside_bounds():
    """inspect reads each data segment as data[start:end] of the whole module: the anchor
    search and the run it reads stay inside the bounds, like PATTERN.finditer(data, start, end)."""
    rng = random.Random(17)
    for _ in range(20000):
        data = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 16)))
        a, b = sorted((rng.randint(0, len(data)), rng.randint(0, len(data))))
        expected = [(m.start(), m.group()) for m in PATTERN.finditer(data, a, b)]
        assert find_source_paths(data, a, b) == expected, (data, a, b)
        assert find_source_paths_by_runs(data, a, b) == expected, (data, a, b)


def test_real_panic_locations():
    data = (b"\x00src/lib.rsattempt to add with overflow/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/"
            b"src/fmt/mod.rs\x01~/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.0/src/de.rs")
    assert [p for _, p in find_source_paths(data)] == [
        b"src/lib.rs", b"/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/fmt/mod.rs",
        b"~/.cargo/registry/src/index.crates.io-6f17d22bba15001f/serde-1.0.0/src/de.rs"]
    assert find_source_paths(data) == reference(data)


@pytest.mark.parametrize("run", [b"ab/", b"/", b"src/", b"/src/x.rs", b"~/", b"library/", b"a.rs/", b"~"])
def test_one_megabyte_adversarial_runs_in_linear_time(run):
    """The regex took 73 s on 64 KB of `ab/`; 1 MB of any of these runs stays far under 2 s."""
    data = run * (1_000_000 // len(run))
    start = time.process_time()
    find_source_paths(data)
    assert time.process_time() - start < 2.0


@st.composite
def segmented(draw):
    """Data of path pieces cut into segments with gaps between them (a segment's header
    bytes), so anchors fall inside segments, in gaps and across both edges."""
    data = b"".join(draw(pieces_lists)) + b"".join(draw(pieces_lists))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    spans, at = [], 0
    for a, b in zip(cuts[0::2], cuts[1::2]):
        if a >= at:
            spans.append((a, b - a))
            at = b
    return data, spans


@settings(max_examples=1500, deadline=None)
@given(segmented())
def test_inspect_reads_only_the_segments_an_anchor_starts_in(case):
    """inspect's source paths (one anchor search over the data section, then only the
    segments an anchor starts in) are find_source_paths of every segment, in order."""
    from auditor.wasm import model as m
    from auditor.wasm.inspect import InspectResult

    data, spans = case
    mod = m.Module(file="x", data=data)
    mod.data_segments = [m.DataSegment(i, "active", 0, 0, size, at) for i, (at, size) in enumerate(spans)]
    result = InspectResult(mod, None, None, "none", [], [], None, [])  # type: ignore[arg-type]
    expect = [(offset, text) for at, size in spans for offset, text in find_source_paths(data, at, at + size)]
    assert [(p["offset"], p["text"].encode()) for p in result.source_paths()] == expect
