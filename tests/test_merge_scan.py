"""A real sharded scan of a fixture crate, merged, equals the unsharded scan.

Kept cheap without dropping what it proves: the config strips the modules (no std
DWARF, so gzip -9 / brotli -q 11 take milliseconds instead of seconds on 5 MB) and cuts
the churn workload, while compression and the runtime probes stay ON, so the merged
report's recomputed gzip/brotli deltas and its re-evaluated rules (runtime rules
included) are compared with a real unsharded run. Three variants in two shards: shard 2
lacks the reference build, so its deltas are null until merge recomputes them. The
shards build everything (6 cargo builds, ~10 s cold); the unsharded run reads the same
cache, so the comparison is about merge, not about build reproducibility.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from auditor.gate.report import variant_id

from fixturelib import fixture_crate

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

CONFIG = """
[profile.release]
strip = true           # every profile inherits it: small modules, cheap exact compression
[runtime]
churn-rounds = 200
"""
SCAN = ["--profiles", "release,opt-z,min-size-z", "--allocators", "default", "--format", "json", "-q"]


def run(*args, cwd):
    # the Debian pair that has the wasm32 std here (see DESIGN.md), named explicitly
    env = dict(os.environ, CARGO="/usr/bin/cargo", RUSTC="/usr/bin/rustc")
    return subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    work = tmp_path_factory.mktemp("shards")
    (work / "scan.toml").write_text(CONFIG)
    crate = fixture_crate("minimal")
    out = {}
    for name, extra in (("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"]), ("full", [])):
        r = run("scan", crate, *SCAN, "--config", work / "scan.toml", "--cache-dir", work / "cache",
                "-o", work / f"{name}.json", *extra, cwd=work)
        assert r.returncode in (0, 1), r.stderr  # 1: the fixture has findings (no max memory, ...)
        out[name] = json.loads((work / f"{name}.json").read_text())
    return work, crate, out


def test_shards_split_the_matrix(scans):
    _, _, s = scans
    ids = [variant_id(v) for v in s["full"]["variants"]]
    assert ids == s["full"]["matrix"] == ["release/default", "opt-z/default", "min-size-z/default"]
    assert [variant_id(v) for v in s["s1"]["variants"]] == ["release/default", "min-size-z/default"]
    assert [variant_id(v) for v in s["s2"]["variants"]] == ["opt-z/default"]
    # cross-variant fields a shard computes from its slice alone: merge must redo them
    assert s["s2"]["variants"][0]["delta"] is None  # the reference build is in the other shard
    assert s["s2"]["baseline_variant"] is None and s["s1"]["summary"]["variants"] == 2
    # what the comparison below covers is really there: compressed sizes and their
    # deltas, runtime results, and findings the rules drew from them
    full = s["full"]["variants"]
    assert all(v["wasm"]["gzip"] and v["wasm"]["brotli"] and v["runtime"]["churn"]["slope"] is not None for v in full)
    assert full[2]["delta"]["gzip"]["bytes"] != 0 and full[2]["delta"]["brotli"]["bytes"] != 0
    assert s["full"]["findings"]


@pytest.fixture(scope="module")
def merged(scans):
    work, crate, _ = scans
    r = run("merge", work / "s2.json", work / "s1.json", "--crate", crate, "--config", work / "scan.toml",
            "-o", work / "merged.json", cwd=work)
    assert r.returncode == 0, r.stderr
    return work / "merged.json"


def test_merged_equals_unsharded(scans, merged):
    work, _, s = scans
    merged, full = json.loads(merged.read_text()), copy.deepcopy(s["full"])
    for a, b in zip(merged["variants"], full["variants"], strict=True):
        # build and probe times are measurements of the run, not properties of the
        # variant: equal when the unsharded run reads the shards' cache entries, not
        # when it redoes them (the runtime cache key hashes the runtime's own code)
        a, b = (dict(v, build_seconds=None, runtime=dict(v["runtime"], timings=None)) for v in (a, b))
        assert a == b, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    merged["variants"], full["variants"] = None, None
    assert merged == full, {k: (merged.get(k), full.get(k)) for k in merged if merged.get(k) != full.get(k)}


def test_check_and_diff_read_the_merged_report(scans, merged):
    work, _, s = scans
    full = next(v for v in s["full"]["variants"] if variant_id(v) == "min-size-z/default")["wasm"]
    budgets = work / "budgets.toml"
    budgets.write_text(f'[[budget]]\nname = "z"\nvariant = "min-size-z/*"\nbrotli = {full["brotli"]}\n'
                       f'churn-slope = 0.5\n')
    ok = run("check", merged, "--config", budgets, "--format", "json", cwd=work)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [lim["status"] for lim in json.loads(ok.stdout)["budgets"][0]["variants"][0]["limits"]] == ["pass", "pass"]
    budgets.write_text(f'[[budget]]\nname = "z"\nvariant = "min-size-z/*"\nbrotli = {full["brotli"] - 1}\n')
    assert run("check", merged, "--config", budgets, cwd=work).returncode == 1
    d = run("diff", work / "full.json", merged, "--format", "json", cwd=work)
    assert d.returncode == 0, d.stderr
    modules = json.loads(d.stdout)["modules"]
    assert [m["variant"] for m in modules] == ["release/default", "opt-z/default", "min-size-z/default"]
    for m in modules:
        assert all(t["delta"] == 0 for t in m["totals"] if t["delta"] is not None)
        assert m["functions"]["rows"] == [] and m["crates"]["rows"] == []
