"""Sharding and merging: shards cover the matrix exactly once; merged == unsharded."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.errors import AuditorError
from auditor.gate.merge import merge_reports
from auditor.gate.report import load_report, variant_id
from auditor.gate.shard import parse_shard, select

import clirun

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
FULL = load_report(REPORTS / "scan-v1.json")


def run(*args, cwd=None):
    """The CLI in-process (tests/clirun.py)."""
    return clirun.run(args, cwd=cwd)


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=60), st.integers(1, 16))
def test_shards_of_any_n_cover_every_variant_exactly_once(ids, n):
    shards = [select(ids, k, n) for k in range(1, n + 1)]
    flat = [v for s in shards for v in s]
    assert sorted(flat) == sorted(ids) and len(flat) == len(ids)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced runners
    for s in shards:  # each shard keeps the canonical order
        assert s == [v for v in ids if v in set(s)]


def test_select_is_deterministic_and_validated():
    ids = ["release/default", "opt-s/default", "opt-z/default", "release/wee_alloc", "opt-z/wee_alloc"]
    assert select(ids, 1, 2) == ["release/default", "opt-z/default", "opt-z/wee_alloc"]
    assert select(ids, 2, 2) == ["opt-s/default", "release/wee_alloc"]
    assert parse_shard(" 2 / 3 ") == (2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(AuditorError, match="--shard"):
            parse_shard(bad)


def shard_reports(full: dict, n: int, matrix=True) -> list[dict]:
    """What `scan --shard K/N` writes: the same scan over select(matrix, K, N), with the
    cross-variant fields (deltas, smallest, summary) computed from that slice alone."""
    ids = [variant_id(v) for v in full["variants"]]
    out = []
    for k in range(1, n + 1):
        r = copy.deepcopy(full)
        keep = set(select(ids, k, n))
        r["variants"] = [v for v in r["variants"] if variant_id(v) in keep]
        r["shard"] = {"index": k, "count": n}
        if "release/default" not in keep:  # no reference build in this shard: no deltas
            r["baseline_variant"] = None
            for v in r["variants"]:
                v["delta"] = None
        ok = [v for v in r["variants"] if v["status"] == "ok"]
        small = min(ok, key=lambda v: v["wasm"]["bytes"], default=None)
        r["smallest"] = small and {"variant": variant_id(small), "bytes": small["wasm"]["bytes"], "delta": small["delta"]}
        r["summary"] = {"variants": len(r["variants"]), "ok": len(ok), "failed": len(r["variants"]) - len(ok)}
        r["notices"] = [f"shard {k} notice", "common notice"]
        if not matrix:
            del r["matrix"]
        out.append(r)
    return out


def expected(full: dict, matrix=True, n=1) -> dict:
    e = copy.deepcopy(full)
    e["notices"] = [f"shard {k} notice" for k in range(1, 2)] + ["common notice"] + [f"shard {k} notice" for k in range(2, n + 1)]
    if not matrix:
        del e["matrix"]
    return e


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("matrix", [True, False])
def test_merged_equals_unsharded_in_any_order(n, matrix):
    shards = shard_reports(FULL, n, matrix)
    assert any(s["baseline_variant"] is None for s in shards) == (n > 1)
    merged = merge_reports([(f"s{i}.json", r) for i, r in enumerate(shards)], rerun_rules=False)
    assert merged == expected(FULL, matrix, n)
    assert merge_reports([(f"s{i}.json", r) for i, r in enumerate(shards[::-1])], rerun_rules=False) == merged


def test_merge_cli_writes_a_report_check_reads(tmp_path):
    from auditor.rules.engine import evaluate

    paths = []
    for i, r in enumerate(shard_reports(FULL, 3)):
        paths.append(tmp_path / f"shard-{i + 1}.json")
        paths[-1].write_text(json.dumps(r))
    r = run("merge", *paths[::-1], "-o", tmp_path / "merged.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "3 reports, 5 variants" in r.stderr
    merged = load_report(tmp_path / "merged.json")
    assert merged["variants"] == FULL["variants"] and merged["smallest"] == FULL["smallest"]
    # the scan rules ran again on the whole matrix, as in an unsharded scan
    clean = copy.deepcopy(FULL)
    findings, checks = evaluate("scan", clean, None)
    assert merged["findings"] == [f.to_json() for f in findings] and merged["checks"] == [c.to_json() for c in checks]
    assert json.loads(run("merge", *paths, cwd=tmp_path).stdout) == merged
    (tmp_path / "auditor.toml").write_text('[[budget]]\nname = "all"\nvariant = "*/default"\nraw = "8 MiB"\n')
    assert run("check", tmp_path / "merged.json", cwd=tmp_path).returncode == 0


def _fail(tmp_path, reports, message):
    paths = []
    for i, r in enumerate(reports):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps(r))
    r = run("merge", *paths, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert message in r.stderr, r.stderr
    return r.stderr


def test_refuses_different_crates(tmp_path):
    a = shard_reports(FULL, 2)[0]
    b = shard_reports(load_report(REPORTS / "scan-v2.json"), 2)[1]
    err = _fail(tmp_path, [a, b], 'different crate than')
    assert '{"name": "demo", "version": "0.2.0"} vs {"name": "demo", "version": "0.1.0"}' in err
    assert "r1.json" in err


def test_refuses_different_options(tmp_path):
    a, b = shard_reports(FULL, 2)
    b["options"]["features"] = ["extra"]
    _fail(tmp_path, [a, b], "different options than")


def test_refuses_different_toolchains(tmp_path):
    a, b = shard_reports(FULL, 2)
    b["toolchain"]["rustc"] = "rustc 1.79.0"
    _fail(tmp_path, [a, b], "different toolchain than")


def test_crate_path_may_differ_between_runners(tmp_path):
    a, b = shard_reports(FULL, 2)
    b["crate"]["manifest_path"] = "/home/runner/work/x/Cargo.toml"
    assert len(merge_reports([("a", a), ("b", b)], rerun_rules=False)["variants"]) == 5


def test_refuses_missing_duplicate_and_overlapping_shards(tmp_path):
    s = shard_reports(FULL, 3)
    _fail(tmp_path, [s[0], s[2]], "shard 2/3 missing")
    _fail(tmp_path, [s[0], s[1], s[1], s[2]], "shard 2/3 given twice")
    overlap = copy.deepcopy(s[2])
    overlap["variants"].append(copy.deepcopy(s[0]["variants"][0]))
    _fail(tmp_path, [s[0], s[1], overlap], "variant release/default is also in")
    mixed = shard_reports(FULL, 2)[0]
    _fail(tmp_path, [s[0], s[1], mixed], "shards of different splits (/2, /3)")
    _fail(tmp_path, [s[0], FULL], "is a whole-matrix report and cannot be merged with shard reports")
    lost = shard_reports(FULL, 3, matrix=False)
    lost[0]["variants"] = lost[0]["variants"][:1]
    _fail(tmp_path, lost, "shard sizes do not fit a 3-way round-robin split")
    bad = copy.deepcopy(s[0])
    bad["shard"] = "1/3"
    _fail(tmp_path, [bad, s[1], s[2]], "field 'shard' must be")
    bad["shard"] = {"index": 4, "count": 3}
    _fail(tmp_path, [bad, s[1], s[2]], 'got {"index": 4, "count": 3}')


def test_matrix_reports_a_lost_variant_by_name(tmp_path):
    s = shard_reports(FULL, 2)
    s[1]["variants"] = s[1]["variants"][1:]
    _fail(tmp_path, s, "variant opt-z/default of the matrix in no shard")


def test_findings_merged_once_in_matrix_order():
    s = shard_reports(FULL, 2)
    note = {"rule": "AUD301", "level": "note", "message": "global"}
    s[0]["findings"] = [{"rule": "AUD203", "level": "warning", "message": "x", "variant": "min-size-z/default"}, note]
    s[1]["findings"] = [note, {"rule": "AUD203", "level": "warning", "message": "y", "variant": "opt-z/default"}]
    merged = merge_reports([("a", s[0]), ("b", s[1])], rerun_rules=False)
    assert [f["message"] for f in merged["findings"]] == ["global", "y", "x"]


def test_whole_scans_of_different_variants_are_concatenated():
    a, b = copy.deepcopy(FULL), copy.deepcopy(FULL)
    a["variants"], a["matrix"] = a["variants"][:2], a["matrix"][:2]
    b["variants"], b["matrix"] = b["variants"][2:], b["matrix"][2:]
    merged = merge_reports([("a", a), ("b", b)], rerun_rules=False)
    assert merged["variants"] == FULL["variants"] and merged["matrix"] == FULL["matrix"]
    assert merged["summary"] == FULL["summary"] and merged["smallest"] == FULL["smallest"]
    with pytest.raises(AuditorError, match="variant release/default is also in a"):
        merge_reports([("a", a), ("b", a)], rerun_rules=False)
