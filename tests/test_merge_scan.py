"""A real sharded scan of a fixture crate, merged, equals the unsharded scan."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from auditor.gate.report import variant_id
from fixturelib import fixture_crate

# no compression: brotli of the 5 MB release module (std's DWARF) would dominate the run
SCAN = ["--profiles", "release,strip,min-size-z", "--allocators", "default", "--no-runtime", "--compression", "none",
        "--format", "json", "-q"]


def run(*args, cwd):
    # the Debian pair that has the wasm32 std here (see DESIGN.md), named explicitly
    env = dict(os.environ, CARGO="/usr/bin/cargo", RUSTC="/usr/bin/rustc")
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    work = tmp_path_factory.mktemp("shards")
    crate = fixture_crate("minimal")
    cache = work / "cache"
    out = {}
    for name, extra in (("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"]), ("full", [])):
        r = run("scan", crate, *SCAN, "--cache-dir", cache, "-o", work / f"{name}.json", *extra, cwd=work)
        assert r.returncode in (0, 1), r.stderr  # 1: the fixture has findings (no max memory, ...)
        out[name] = json.loads((work / f"{name}.json").read_text())
    return work, crate, out


def test_shards_split_the_matrix(scans):
    _, _, s = scans
    ids = [variant_id(v) for v in s["full"]["variants"]]
    assert ids == s["full"]["matrix"] == ["release/default", "strip/default", "min-size-z/default"]
    assert [variant_id(v) for v in s["s1"]["variants"]] == ["release/default", "min-size-z/default"]
    assert [variant_id(v) for v in s["s2"]["variants"]] == ["strip/default"]
    # cross-variant fields a shard computes from its slice alone: merge must redo them
    assert s["s2"]["variants"][0]["delta"] is None  # the reference build is in the other shard
    assert s["s2"]["baseline_variant"] is None and s["s1"]["summary"]["variants"] == 2
    assert s["full"]["variants"][1]["delta"]["raw"]["bytes"] < 0


def test_merged_equals_unsharded(scans):
    work, crate, s = scans
    r = run("merge", work / "s2.json", work / "s1.json", "--crate", crate, cwd=work)
    assert r.returncode == 0, r.stderr
    merged, full = json.loads(r.stdout), s["full"]
    for a, b in zip(merged["variants"], full["variants"], strict=True):
        # build time is a measurement of the run, not a property of the variant (equal
        # here when the second run reuses the first one's cached builds, not otherwise)
        a, b = dict(a, build_seconds=None), dict(b, build_seconds=None)
        assert a == b, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    merged["variants"], full["variants"] = None, None
    assert merged == full, {k: (merged.get(k), full.get(k)) for k in merged if merged.get(k) != full.get(k)}
