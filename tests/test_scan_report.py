"""The scan report for people (text, progress on a TTY) and the --gate / --shard hooks."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from test_scan_support import CRATES, REPO, auditor

ARGS = ("--profiles", "release,min-size-z", "--allocators", "default,fixture_bump", "--no-runtime",
        "--compression", "none")


@pytest.mark.cargo
def test_text_report_marks_smallest_and_settings(tmp_path):
    p = auditor("scan", CRATES / "guarded", *ARGS, "--cache-dir", tmp_path)
    assert p.returncode in (0, 1), p.stderr
    lines = p.stdout.splitlines()
    rows = {l.lstrip("* ").split()[0]: l for l in lines if l.lstrip("* ").startswith(("release/", "min-size-z/"))}
    starred = [l for l in lines if l.startswith("*")]
    assert len(starred) == 1 and "min-size-z/fixture_bump" in starred[0]
    assert "Δ raw vs release/default" in p.stdout
    assert "smallest: min-size-z/fixture_bump" in p.stdout
    assert ('profile min-size-z: opt-level = "z", lto = true, codegen-units = 1, panic = "abort", strip = true '
            "(on top of [profile.release])") in p.stdout
    assert "allocator fixture_bump: auditor_fixture_bump as #[global_allocator]" in p.stdout
    assert len(rows) == 4 and rows["release/fixture_bump"].count("fixture_bump") == 2  # the detected column


@pytest.mark.cargo
def test_progress_only_on_a_tty_and_never_with_quiet(tmp_path):
    args = [sys.executable, "-m", "auditor", "scan", str(CRATES / "minimal"), *ARGS, "--cache-dir", str(tmp_path)]
    master, slave = pty.openpty()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave, cwd=REPO, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    tty_err = b"".join(chunks).decode()
    assert p.returncode in (0, 1)
    for k in range(1, 5):
        assert f"[{k}/4] " in tty_err
    assert "elapsed)" in tty_err
    piped = auditor("scan", CRATES / "minimal", *ARGS, "--cache-dir", tmp_path)
    assert "[1/4]" not in piped.stderr and "auditor: 4 variants (4 ok, 0 failed)" in piped.stderr
    quiet = auditor("scan", CRATES / "minimal", *ARGS, "--cache-dir", tmp_path, "-q")
    assert quiet.stderr == "" and quiet.stdout == piped.stdout


@pytest.mark.cargo
def test_gate_evaluates_budgets(tmp_path):
    cfg = tmp_path / "budgets.toml"
    cfg.write_text('[[budget]]\nname = "tiny"\nvariant = "min-size-z/default"\nraw = "50 B"\n')
    args = ("scan", CRATES / "minimal", "--profiles", "min-size-z", "--allocators", "default", "--no-runtime",
            "--compression", "none", "--cache-dir", tmp_path / "c", "--config", cfg, "--gate")
    p = auditor(*args, "--format", "json")
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    assert report["check"]["schema"] == "auditor.check/1" and report["check"]["passed"] is False
    assert any(f["rule"] == "AUD901" for f in report["findings"])
    cfg.write_text('[[budget]]\nname = "roomy"\nvariant = "min-size-z/default"\nraw = "1 MiB"\n')
    ok = auditor(*args, "--format", "json")
    assert json.loads(ok.stdout)["check"]["passed"] is True
    assert ok.returncode == (1 if any(f["level"] == "error" for f in json.loads(ok.stdout)["findings"]) else 0)


@pytest.mark.cargo
def test_shard_builds_a_slice(tmp_path):
    r = [json.loads(auditor("scan", CRATES / "minimal", *ARGS, "--cache-dir", tmp_path, "--format", "json",
                            "--shard", f"{k}/2").stdout) for k in (1, 2)]
    assert [v["id"] for v in r[0]["variants"]] == ["release/default", "min-size-z/default"]
    assert [v["id"] for v in r[1]["variants"]] == ["release/fixture_bump", "min-size-z/fixture_bump"]
    assert r[0]["shard"] == {"index": 1, "count": 2} and r[0]["matrix"] == r[1]["matrix"]
    bad = auditor("scan", CRATES / "minimal", "--shard", "3/2", "--cache-dir", tmp_path)
    assert bad.returncode == 2 and "1 <= K <= N" in bad.stderr


def _variant(profile, allocator, size, churn):
    from auditor.build.result import VariantResult

    wasm = {"bytes": size, "gzip": None, "brotli": None, "sections": [{"id": 10, "size": size - 8}],
            "memories": [{"initial_pages": 17, "max_pages": None}]}
    return VariantResult(profile, allocator, "ok", wasm=wasm, runtime={"churn": {"verdict": churn}},
                         delta=None, allocator_check={"requested": allocator, "detected": allocator, "status": "ok"})


def test_no_recommendation_says_why_in_text_and_markdown():
    """Every variant ruled out by its probes: the report says so instead of going quiet."""
    from auditor.build.result import ScanResult
    from auditor.report import render

    res = ScanResult(crate={"name": "c", "version": "0.1.0", "manifest_path": "Cargo.toml"},
                     toolchain={"rustc": "rustc 1.63.0", "cargo": "cargo 1.65.0", "target": "wasm32-unknown-unknown"},
                     options={}, profiles=[], allocators=[], matrix=["release/arena", "release/bump"],
                     variants=[_variant("release", "arena", 900, "fixed-arena"), _variant("release", "bump", 800, "leak")],
                     baseline="release/arena")
    from auditor.pipeline.scanner import judge

    judge(res, None)  # the rules stage: no recommendation, and why (kept on the result for the report)
    assert res.to_json()["recommended"] is None
    text = render(res, "text")
    assert ("recommended: none — the runtime probes found a problem in every variant\n"
            "  passed over: fixed arena (the heap cannot grow past it) (release/arena)\n"
            "  passed over: churn leak (release/bump)\n") in text
    md = render(res, "markdown")
    assert ("recommended: none, the runtime probes found a problem in every variant "
            "(fixed arena (the heap cannot grow past it); churn leak)") in md
