"""Real crates.io allocators (fixtures/real/) on both toolchains, checked against
independent readers: the Cargo.lock files as TOML, wasm-objdump for the modules' names,
and V8 (Node) for what the modules do and how their memory grows.

Every variant's allocator_check must be `match`: from the module's own names, else from
its name-keeping twin (the probe build, read here by wasm-objdump too) or a sibling.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest
import v8replay
from realcrates import ALLOCATORS_ON, CRATE_OF, EXPECTED_CHURN, build_feature, locked_versions, scan, toolchain

from fixturelib import REPO

pytestmark = pytest.mark.cargo  # builds Rust with both toolchains

ON = ALLOCATORS_ON
PROFILES = "release,min-size-z"
#: Pins fixtures/real/relock.sh makes for rustc 1.63 (the newest releases it compiles).
PINNED_163 = {"wee_alloc": "0.4.5", "lol_alloc": "0.4.1", "dlmalloc": "0.2.8", "rlsf": "0.2.3",
              "mini-alloc": "0.4.2", "emballoc": "0.2.0", "lock_api": "0.4.12"}


def _scan(tc: str) -> dict:
    allocators = ON[tc] + (["talc"] if tc == "1.63" else [])
    return scan(tc, PROFILES, ",".join(allocators))


def test_lockfiles_pin_each_toolchain():
    old, new = locked_versions("1.63"), locked_versions("1.96")
    for crate, version in PINNED_163.items():
        assert old[crate] == [version], (crate, old.get(crate))
    assert "talc" not in old
    # 1.96 gets current releases: both talc majors, dlmalloc past 0.2.8, mini-alloc 1.x.
    assert sorted(v.split(".")[0] for v in new["talc"]) == ["4", "5"]
    assert tuple(map(int, new["dlmalloc"][0].split("."))) > (0, 2, 8)
    assert new["mini-alloc"][0].startswith("1.") and new["wee_alloc"] == ["0.4.5"]
    # cargo 1.65 cannot read lockfile v4: the 1.63 lock must stay v3.
    assert tomllib.loads((REPO / "fixtures/real/rust-1.63/Cargo.lock").read_text())["version"] == 3


def test_allocator_data_classes_match_expected_verdicts():
    data = tomllib.loads((REPO / "rules" / "allocators.toml").read_text())["allocator"]
    for name, verdict in EXPECTED_CHURN.items():
        assert data[name]["class"] == verdict, name
        if name != "default":
            assert data[name]["crate"] == CRATE_OF[name], name


def _section_names(wasm) -> set[str]:
    out = subprocess.run(["wasm-objdump", "-h", str(wasm)], check=True, capture_output=True, text=True).stdout
    return {line.split('"')[1] for line in out.splitlines() if '"' in line}


def _node_call(wasm, calls: list[tuple[str, int]]) -> list[int]:
    script = ("const fs=require('fs');const i=new WebAssembly.Instance(new WebAssembly.Module("
              "fs.readFileSync(process.argv[1])),{});const c=JSON.parse(process.argv[2]);"
              "console.log(JSON.stringify(c.map(([f,a])=>i.exports[f](a)>>>0)))")
    r = subprocess.run(["node", "-e", script, str(wasm), json.dumps(calls)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("tc_name,feature", [(t, a) for t in ON for a in ON[t]])
def test_fixture_builds_with_its_own_allocator(tc_name, feature):
    """The crate declaring each allocator itself builds on the pinned versions, links that
    crate (legacy and v0 mangled names both spell out the crate's name) and runs in V8."""
    tc = toolchain(tc_name)
    wasm = build_feature(tc, None if feature == "default" else feature)
    names = subprocess.run(["wasm-objdump", "-x", "-j", "Function", str(wasm)], check=True,
                           capture_output=True, text=True).stdout
    if feature != "default":
        ident = CRATE_OF[feature].replace("-", "_")
        assert ident in names, f"no {ident} function in {wasm}"
    # most_frequent(100): 100 keys over 13 buckets -> 9 buckets hold 8; checked_buffer
    # counts its zeroed bytes and refuses anything over 64 MiB.
    assert _node_call(wasm, [("most_frequent", 100), ("checked_buffer", 1000),
                             ("checked_buffer", 64 * 1024 * 1024 + 1)]) == [8, 1000, 0]


@pytest.mark.parametrize("tc_name", ["1.63", "1.96"])
def test_scan_builds_every_injected_allocator(tc_name):
    report = _scan(tc_name)
    got = {v["id"]: v for v in report["variants"]}
    for profile in PROFILES.split(","):
        for a in ON[tc_name]:
            v = got[f"{profile}/{a}"]
            assert v["status"] == "ok", (v["id"], v["error"])
            churn = v["runtime"]["churn"]
            assert churn["verdict"] == EXPECTED_CHURN[a], (v["id"], churn["reason"])
            # Every real allocator aborts on OOM through handle_alloc_error.
            assert v["runtime"]["oom"]["outcome"] == "unreachable", v["id"]
            check = v["allocator_check"]
            assert check["status"] == "match" and check["detected"] == a, (v["id"], check)
            if profile == "min-size-z":  # stripped: the verdict came from elsewhere
                assert check["method"] in ("twin", "sibling"), (v["id"], check)
                assert "name" not in _section_names(v["wasm_path"])
                if check["method"] == "twin" and a != "default":
                    # wasm-objdump finds the allocator's crate in the twin's name section
                    names = subprocess.run(["wasm-objdump", "-x", "-j", "name", v["probes_path"]], check=True,
                                           capture_output=True, text=True).stdout
                    assert CRATE_OF[a].replace("-", "_") in names, v["id"]
    if tc_name == "1.63":
        for profile in PROFILES.split(","):
            v = got[f"{profile}/talc"]
            assert v["status"] == "failed" and "requires rustc 1.64" in v["error"], v["error"]


@pytest.mark.parametrize("tc_name", ["1.63", "1.96"])
def test_v8_churn_pages_equal_auditors(tc_name):
    """Independent runtime truth: the churn workload re-run in V8 on the very probe
    modules auditor ran gives the same page after every round; the OOM ramp of std and
    wee_alloc stops at the same request with the same pages and an `unreachable` trap."""
    report = _scan(tc_name)
    checked = 0
    for v in report["variants"]:
        if v["status"] != "ok":
            continue
        rt = v["runtime"]
        cap = rt["oom"]["cap_pages"]
        plan = v8replay.churn_plan(rt["options"]["seed"], rt["options"]["churn_rounds"], cap)
        node = v8replay.replay(v["probes_path"], plan)
        churn = rt["churn"]
        assert node["curve"] == churn["curve"], v["id"]
        assert node["allocations"] == churn["allocations"], v["id"]
        if churn["outcome"] == "ok":
            assert node["failure"] is None, (v["id"], node["failure"])
        else:  # emballoc's 64 KiB arena cannot hold the live set: both stop at one request
            assert node["failure"]["kind"] == "trap" and churn["outcome"] in node["failure"]["message"], v["id"]
        if v["allocator"] in ("default", "wee_alloc"):
            ramp = v8replay.replay(v["probes_path"], v8replay.ramp_plan(cap))
            assert ramp["curve"] == rt["oom"]["curve"], v["id"]
            assert ramp["failure"]["kind"] == "trap" and "unreachable" in ramp["failure"]["message"]
            assert ramp["failure"]["op"][2] == rt["oom"]["request"]
        checked += 1
    assert checked == 2 * len(ON[tc_name])


@pytest.mark.parametrize("tc_name", ["1.63", "1.96"])
def test_inspect_names_stds_allocator_in_legacy_and_v0_modules(tc_name):
    """rustc 1.96's std is v0-mangled (`<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc`,
    `__rustc::__rdl_alloc`), 1.63's legacy: both are std's dlmalloc. wasm-objdump confirms
    which mangling the module carries."""
    v = next(v for v in _scan(tc_name)["variants"] if v["id"] == "release/default")
    raw = subprocess.run(["wasm-objdump", "-x", "-j", "Function", v["wasm_path"]], capture_output=True,
                         text=True, check=True).stdout
    assert ("8dlmalloc8dlmallocINtB" in raw) == (tc_name == "1.96")  # v0 path of Dlmalloc<System>
    r = subprocess.run(["auditor", "inspect", v["wasm_path"], "--format", "json"], capture_output=True, text=True,
                       check=True)
    info = json.loads(r.stdout)["allocator"]
    assert info["name"] == "default", info
    assert any("malloc" in e["function"] and "Dlmalloc" in e["function"] for e in info["evidence"])


#: The issue's acceptance scan: five allocators x release, min-size-z on rustc 1.96.
ACCEPTANCE = ("release,min-size-z", "default,wee_alloc,lol_alloc,talc,dlmalloc")


@pytest.mark.toolchains("rust196")
def test_acceptance_scan_matches_all_ten_variants(toolchain):
    """`--allocators default,wee_alloc,lol_alloc,talc,dlmalloc --profiles release,min-size-z`
    on rustc 1.96: all ten variants `match` (the builds are the wider scan's, same cache).
    Independently: wasm-objdump finds each injected crate in the module or its twin, and no
    injected crate in the default variants; the stripped ones have no name section."""
    report = scan("1.96", *ACCEPTANCE)
    got = {v["id"]: v for v in report["variants"]}
    assert len(got) == 10
    for vid, v in got.items():
        assert v["status"] == "ok", (vid, v["error"])
        assert v["allocator_check"]["status"] == "match", (vid, v["allocator_check"])
        module = v["wasm_path"] if v["profile"] == "release" else v["probes_path"]
        names = subprocess.run(["wasm-objdump", "-x", "-j", "name", module], check=True, capture_output=True,
                               text=True).stdout
        for other in ("wee_alloc", "lol_alloc", "talc"):
            # v0 and legacy paths spell a crate `9lol_alloc`, inside `<...>` legacy writes `lol_alloc..`
            present = f"{len(other)}{other}" in names or f"{other}.." in names
            assert present == (v["allocator"] == other), (vid, other)
    # AUD202 follows the verified allocator: the stripped, shipped wee_alloc variant has it too.
    aud202 = {f["variant"] for f in report["findings"] if f["rule"] == "AUD202"}
    assert aud202 == {"release/wee_alloc", "min-size-z/wee_alloc"}
