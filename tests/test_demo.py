"""The README's first command scans fixtures/crates/demo: it must work and say what the
README says it says (scenarios from Cargo.toml metadata, the budget, the fixture
allocators' runtime verdicts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fixturelib

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "crates" / "demo"


@pytest.fixture(scope="module")
def demo_cache() -> Path:
    """The session's scan cache: the toolchain is left to auditor's own discovery, as the
    README's command runs it, and when that finds the toolchain fixturelib pins (Debian's
    1.63 on CI), the variants other tests scan from the demo are built once for all."""
    return fixturelib.scan_cache_dir()


@pytest.fixture(scope="module")
def scan(demo_cache):
    args = [sys.executable, "-m", "auditor", "scan", str(DEMO), "--profiles", "release,min-size-z",
            "--cache-dir", str(demo_cache)]
    with fixturelib.scan_lock(DEMO):  # the other demo scans share the cache
        text = subprocess.run(args + ["--gate"], capture_output=True, text=True)
        js = subprocess.run(args + ["--format", "json"], capture_output=True, text=True)
    return text, js


@pytest.mark.cargo
def test_demo_scan_passes_its_gate(scan):
    text, _ = scan
    assert text.returncode == 0, text.stdout + text.stderr
    out = text.stdout
    assert "safe_allocation(200000000)     graceful-error  graceful-error  8/8" in out
    assert "unguarded_allocation(8000000)  trap            unreachable     8/8" in out
    assert "shipped module" in out  # the budget from [[package.metadata.auditor.budget]]
    assert "AUD501 warning" in out and "fixture_bump" in out  # the bump allocator leaks under churn


@pytest.mark.cargo
def test_demo_scan_json_runtime_verdicts(scan):
    _, js = scan
    report = json.loads(js.stdout)
    verdicts = {v["allocator"]: v["runtime"]["churn"]["verdict"] for v in report["variants"] if v["profile"] == "release"}
    assert verdicts == {"default": "plateau", "fixture_bump": "leak", "fixture_freelist": "plateau",
                        "fixture_arena": "fixed-arena"}
    assert {v["wasm"]["allocator"]["name"] for v in report["variants"] if v["profile"] == "release"} == {
        "default", "fixture_bump", "fixture_freelist", "fixture_arena"}


@pytest.mark.cargo
def test_recommended_variant_skips_leaks_and_arenas(scan):
    _, js = scan
    report = json.loads(js.stdout)
    rec, small = report["recommended"], report["smallest"]
    assert small["allocator"] == "fixture_bump"  # smallest, but it leaks
    assert rec["runtime_checked"] and rec["allocator"] not in ("fixture_bump", "fixture_arena")
    ok = [v for v in report["variants"] if v["allocator"] not in ("fixture_bump", "fixture_arena")]
    assert rec["bytes"] == min(v["wasm"]["bytes"] for v in ok)
    reasons = {s["reason"]: set(s["variants"]) for s in rec["skipped"]}
    assert reasons["churn leak"] == {v["id"] for v in report["variants"] if v["allocator"] == "fixture_bump"}
    assert any(r.startswith("fixed arena") for r in reasons)


def test_recommended_without_runtime_is_the_smallest():
    from auditor.rules.recommend import recommended

    variants = [
        {"profile": "release", "allocator": "default", "status": "ok", "wasm": {"bytes": 300}},
        {"profile": "opt-z", "allocator": "default", "status": "ok", "wasm": {"bytes": 200}},
        {"profile": "opt-s", "allocator": "default", "status": "failed", "wasm": None},
    ]
    rec = recommended(variants, ["release/default", "opt-z/default", "opt-s/default"], [])
    assert rec["variant"] == "opt-z/default" and rec["runtime_checked"] is False and rec["skipped"] == []


@pytest.mark.cargo
def test_scan_annotations_point_at_the_manifest(demo_cache):
    """Module findings of a scan name the crate's Cargo.toml (a file that exists in the
    repository), not the artifact path the scan never writes."""
    proc = subprocess.run([sys.executable, "-m", "auditor", "scan", str(DEMO), "--profiles", "min-size-z",
                           "--allocators", "default", "--no-runtime", "--cache-dir", str(demo_cache), "--format", "github"],
                          capture_output=True, text=True, cwd=ROOT)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("::")]
    assert lines and all("file=fixtures/crates/demo/Cargo.toml" in l for l in lines), lines


@pytest.mark.cargo
def test_demo_falls_back_to_fixture_allocators_when_cargo_cannot_reach_crates_io(scan):
    """rustc 1.63's cargo 1.65 knows only the git index, which this network cannot reach:
    the demo scans the fixture allocators and says so (stderr and JSON)."""
    text, js = scan
    report = json.loads(js.stdout)
    src = report["allocator_source"]
    assert src["source"] == "fallback" and src["reason"]
    assert src["allocators"] == ["default", "fixture_bump", "fixture_freelist", "fixture_arena"]
    assert {a["name"] for a in report["allocators"]} == set(src["allocators"])
    assert "crates.io not reachable by cargo 1.65" in text.stderr and "scan.allocators" in text.stderr


@pytest.mark.cargo
@pytest.mark.toolchains("rust196")
def test_demo_takes_registry_allocators_when_crates_io_resolves(toolchain):
    """With rustc 1.96's cargo (sparse index) the demo selects the real wee_alloc,
    lol_alloc, talc and dlmalloc from crates.io (no build: --print-commands)."""
    import fixturelib

    p = subprocess.run([sys.executable, "-m", "auditor", "scan", str(DEMO), "--profiles", "min-size-z",
                        "--print-commands", "--format", "json"], env=fixturelib.scan_env(toolchain),
                       capture_output=True, text=True, check=True)
    ids = [v["id"] for v in json.loads(p.stdout)["variants"]]
    assert ids == [f"min-size-z/{a}" for a in ("default", "wee_alloc", "lol_alloc", "talc", "dlmalloc")]
    assert "crates.io reachable: scanning the registry allocators" in p.stderr
