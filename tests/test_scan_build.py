"""`auditor scan` on real fixture crates: variants, reproducing commands, sizes, allocators."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from test_scan_support import CRATES, REPO, TARGET, auditor, copy_crate, exports, objdump, scan_json, variants

pytestmark = pytest.mark.cargo  # every test here builds Rust (tests/cargo_guard.py checks)

MINIMAL = ["--profiles", "release,min-size-z", "--allocators", "default,fixture_bump", "--no-runtime",
           "--compression", "none"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("scan-cache")


@pytest.fixture(scope="module")
def minimal(cache):
    return scan_json(CRATES / "minimal", *MINIMAL, cache=cache)


def test_report_contract(minimal):
    r = minimal
    assert r["schema"] == "auditor.scan/1"
    assert r["crate"]["name"] == "minimal" and r["crate"]["version"] == "0.1.0"
    assert r["crate"]["package_dir"] == str((CRATES / "minimal").resolve())  # absolute, for `check` elsewhere
    rustc = subprocess.run(["/usr/bin/rustc", "-V"], capture_output=True, text=True).stdout.split()[:2]
    assert r["toolchain"]["rustc"] == " ".join(rustc) and r["toolchain"]["target"] == TARGET
    ids = ["release/default", "release/fixture_bump", "min-size-z/default", "min-size-z/fixture_bump"]
    assert [v["id"] for v in r["variants"]] == ids == r["matrix"]
    for v in r["variants"]:
        assert v["status"] == "ok" and v["error"] is None and v["build_seconds"] > 0
        assert f"{v['profile']}/{v['allocator']}" == v["id"]
        data = Path(v["wasm_path"]).read_bytes()
        assert v["wasm"]["schema"] == "auditor.inspect/1"
        assert v["wasm"]["bytes"] == len(data) and v["sha256"] == hashlib.sha256(data).hexdigest()
        assert v["wasm"]["file"] == f"target/{TARGET}/{v['profile']}/minimal.wasm"
        assert 8 + sum(s["size"] for s in v["wasm"]["sections"]) == len(data)


def test_deltas_and_smallest_from_file_sizes(minimal):
    v = variants(minimal)
    size = {vid: Path(x["wasm_path"]).stat().st_size for vid, x in v.items()}
    base = size["release/default"]
    assert minimal["baseline_variant"] == "release/default"
    for vid, x in v.items():
        assert x["delta"]["raw"]["bytes"] == size[vid] - base
        assert x["delta"]["raw"]["percent"] == round(100.0 * (size[vid] - base) / base, 2)
    smallest = min(size, key=lambda k: (size[k], minimal["matrix"].index(k)))
    assert minimal["smallest"]["variant"] == smallest and minimal["smallest"]["bytes"] == size[smallest]
    assert minimal["smallest"]["settings"]["opt-level"] == "z"


def test_printed_command_reproduces_the_module(minimal, cache, tmp_path):
    p = auditor("scan", CRATES / "minimal", *MINIMAL, "--print-commands", "--format", "json", "--cache-dir", cache)
    assert p.returncode == 0, p.stderr
    cmds = {c["id"]: c for c in json.loads(p.stdout)["variants"]}
    assert set(cmds) == set(minimal["matrix"])
    c = cmds["min-size-z/default"]
    assert c["command"] == minimal["variants"][2]["command"]
    assert c["injected"] is None and cmds["min-size-z/fixture_bump"]["injected"]["dependency"].startswith(
        "auditor_fixture_bump = { path = ")
    argv = shlex.split(c["command"])
    assert argv[0] == "cargo" and "--config" in argv and 'profile.min-size-z.opt-level="z"' in argv
    # Run it ourselves, in a copy of the crate, with the Debian toolchain.
    crate = copy_crate("minimal", tmp_path)
    env = dict(os.environ, RUSTC="/usr/bin/rustc", CARGO_INCREMENTAL="0", CARGO_TARGET_DIR=str(tmp_path / "t"))
    subprocess.run(["/usr/bin/cargo", *argv[1:]], cwd=crate, env=env, check=True, capture_output=True)
    built = tmp_path / "t" / TARGET / "min-size-z" / "minimal.wasm"
    assert hashlib.sha256(built.read_bytes()).hexdigest() == variants(minimal)["min-size-z/default"]["sha256"]
    text = auditor("scan", CRATES / "minimal", *MINIMAL, "--print-commands", "--cache-dir", cache)
    assert "# min-size-z/fixture_bump" in text.stdout and "#[global_allocator]" in text.stdout


def test_injected_allocator_is_linked_and_detected(cache):
    r = scan_json(CRATES / "guarded", "--profiles", "release", "--allocators", "default,fixture_bump,fixture_freelist",
                  "--no-runtime", "--compression", "none", cache=cache)
    v = variants(r)
    for vid, want in (("release/default", None), ("release/fixture_bump", "auditor_fixture_bump"),
                      ("release/fixture_freelist", "auditor_fixture_freelist")):
        names = objdump("-x", "-j", "name", v[vid]["wasm_path"])  # independent reader of the name section
        if want:
            assert want in names
            assert v[vid]["injected"]["global_allocator"].startswith("#[global_allocator]")
        else:
            assert "auditor_fixture" not in names and v[vid]["injected"] is None
        assert v[vid]["allocator_check"]["status"] == "match", v[vid]["allocator_check"]
    assert v["release/fixture_bump"]["allocator_check"]["detected"] == "fixture_bump"


def test_runtime_uses_probe_build_and_sizes_use_clean_build(cache):
    r = scan_json(CRATES / "guarded", "--profiles", "min-size-z", "--allocators", "default,fixture_bump",
                  "--compression", "none", cache=cache)
    v = variants(r)
    probes = {"__auditor_alloc", "__auditor_dealloc", "__auditor_realloc", "__auditor_try_reserve"}
    for x in v.values():
        assert probes <= exports(Path(x["probes_path"]))
        assert not probes & exports(Path(x["wasm_path"]))  # measured module: the crate alone
        assert x["runtime"]["schema"] == "auditor.run/1" and x["runtime_error"] is None
    assert v["min-size-z/fixture_bump"]["runtime"]["churn"]["verdict"] == "leak"
    assert v["min-size-z/default"]["runtime"]["churn"]["verdict"] == "plateau"


def test_no_cdylib_is_a_clear_error(cache):
    p = auditor("scan", CRATES / "nocdylib", "--cache-dir", cache)
    assert p.returncode == 2 and p.stdout == ""
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("auditor: fixtures/crates/nocdylib/Cargo.toml: package nocdylib builds no .wasm "
                           '(its lib is crate-type = ["lib"])')
    assert 'crate-type = ["cdylib"]' in line and "under [lib]" in line and "Traceback" not in p.stderr


def test_workspace_member_selection(cache):
    ws = CRATES / "workspace"
    p = auditor("scan", ws, "--cache-dir", cache, "--no-runtime")
    assert p.returncode == 2 and "choose one with -p: ws_app, ws_tool" in p.stderr
    p = auditor("scan", ws, "-p", "nope", "--cache-dir", cache)
    assert p.returncode == 2 and "-p nope: no such workspace member (members: ws_app, ws_common, ws_tool)" in p.stderr
    args = ("--profiles", "release", "--allocators", "default,fixture_bump", "--no-runtime", "--compression", "none")
    tool = scan_json(ws, "-p", "ws_tool", *args, cache=cache)  # path dep outside the workspace root
    assert tool["crate"]["name"] == "ws_tool"
    assert all(x["status"] == "ok" for x in tool["variants"]), [x["error"] for x in tool["variants"]]
    app = scan_json(ws / "members" / "app", *args, cache=cache)  # the member dir picks the member
    assert app["crate"]["name"] == "ws_app" and all(x["status"] == "ok" for x in app["variants"])
    assert "-p ws_app" in app["variants"][0]["command"]
    # Profiles come from the workspace root: opt-level "s" there, so release is not opt-level 3.
    assert app["crate"]["workspace_root"].endswith("fixtures/crates/workspace")


def test_pinned_allocator_limits_the_column(cache):
    p = auditor("scan", CRATES / "pinned", "--profiles", "release", "--allocators", "default,fixture_bump",
                "--no-runtime", "--compression", "none", "--format", "json", "--cache-dir", cache)
    assert p.returncode in (0, 1), p.stderr
    r = json.loads(p.stdout)
    assert [v["id"] for v in r["variants"]] == ["release/fixture_freelist"]
    assert r["allocators"][0]["pinned_at"] == "fixtures/crates/pinned/src/lib.rs:8"
    assert r["allocators"][0]["inject"] is False
    assert "fixtures/crates/pinned/src/lib.rs:8: the crate declares its own #[global_allocator]" in p.stderr
    assert "not injected: default, fixture_bump" in p.stderr
    v = r["variants"][0]
    assert v["injected"] is None and v["allocator_check"]["status"] == "match"
    assert r["crate"]["own_global_allocator"]["line"] == 8


def test_features_pass_through(cache):
    # The probe fixture picks its #[global_allocator] with a feature.
    args = ("--profiles", "release", "--no-runtime", "--compression", "none")
    bump = scan_json(CRATES / "probe", "--features", "bump", *args, cache=cache)
    free = scan_json(CRATES / "probe", "--features", "freelist", *args, cache=cache)
    assert bump["variants"][0]["wasm"]["allocator"]["name"] == "fixture_bump"
    assert free["variants"][0]["wasm"]["allocator"]["name"] == "fixture_freelist"
    assert "--features bump" in bump["variants"][0]["command"]
    both = scan_json(CRATES / "probe", "--all-features", *args, cache=cache, expect=(1,))
    v = both["variants"][0]
    assert v["status"] == "failed" and "select at most one allocator feature" in v["error"]
    assert "--all-features" in v["command"]
    assert bump["allocators"][0]["name"] == "own"  # three cfg'd declarations: not one known allocator
    # the features picked one of the crate's own declarations: a match, not an AUD201 "mismatch"
    for r, name in ((bump, "fixture_bump"), (free, "fixture_freelist")):
        assert r["variants"][0]["allocator_check"]["status"] == "match"
        assert r["variants"][0]["allocator_check"]["detected"] == name
        assert "AUD201" not in {f["rule"] for f in r["findings"]}


def test_failing_variant_recorded_and_matrix_goes_on(tmp_path):
    crate = copy_crate("minimal", tmp_path)
    (tmp_path / "auditor.toml").write_text(
        '[allocator.broken]\ncrate = "auditor_fixture_bump"\npath = "%s"\n'
        'type = "auditor_fixture_bump::NoSuchAlloc"\nitem = "auditor_fixture_bump::NoSuchAlloc::new()"\n'
        % (REPO / "fixtures" / "allocators" / "bump"))
    p = auditor("scan", crate, "--profiles", "min-size-z", "--allocators", "default,broken", "--no-runtime",
                "--format", "json", "--cache-dir", tmp_path / "c")
    assert p.returncode == 1, p.stderr
    v = variants(json.loads(p.stdout))
    assert v["min-size-z/default"]["status"] == "ok"
    bad = v["min-size-z/broken"]
    assert bad["status"] == "failed" and bad["wasm"] is None
    first = bad["error"].splitlines()[0]
    assert first.startswith("error[E0") and "`NoSuchAlloc`" in first
    assert "auditor-" not in bad["error"]  # shadow paths are shown as the generated crate's name
    text = auditor("scan", crate, "--profiles", "min-size-z", "--allocators", "default,broken", "--no-runtime",
                   "--cache-dir", tmp_path / "c")
    assert text.returncode == 1
    assert "min-size-z/broken" in text.stdout and "FAILED" in text.stdout and "Failed variants" in text.stdout


def test_cargo_config_of_parent_dirs_stays_in_effect(tmp_path):
    outer = tmp_path / "outer"
    crate = copy_crate("minimal", outer)
    (outer / ".cargo").mkdir()
    (outer / ".cargo" / "config.toml").write_text(
        '[target.wasm32-unknown-unknown]\nrustflags = ["-C", "link-arg=--max-memory=4194304"]\n')
    r = scan_json(crate, "--profiles", "min-size-z", "--allocators", "default", "--no-runtime", "--compression", "none",
                  cache=tmp_path / "c")
    path = r["variants"][0]["wasm_path"]
    assert "pages: initial=16 max=64" in objdump("-x", "-j", "Memory", path)  # 4 MiB = 64 pages
    assert r["variants"][0]["wasm"]["memories"][0]["max_pages"] == 64


def test_config_profiles_allocators_and_selection(tmp_path):
    crate = copy_crate("minimal", tmp_path)
    cfg = tmp_path / "cfg" / "scan.toml"
    cfg.parent.mkdir()
    bump = REPO / "fixtures" / "allocators" / "bump"
    # A relative allocator path is relative to the config file that says it.
    cfg.write_text('[scan]\nprofiles = ["tiny"]\nallocators = ["bumpy"]\n'
                   '[profile.tiny]\ninherits = "release"\nopt-level = "z"\nstrip = true\n'
                   f'[allocator.bumpy]\ncrate = "auditor_fixture_bump"\npath = "{os.path.relpath(bump, cfg.parent)}"\n'
                   'type = "auditor_fixture_bump::BumpAlloc"\nitem = "auditor_fixture_bump::BumpAlloc::new()"\n')
    r = scan_json(crate, "--config", cfg, "--no-runtime", "--compression", "none", cache=tmp_path / "c")
    assert [v["id"] for v in r["variants"]] == ["tiny/bumpy"]
    v = r["variants"][0]
    assert v["status"] == "ok", v["error"]
    assert "--config 'profile.tiny.opt-level=\"z\"'" in v["command"]
    assert "--config 'profile.tiny.inherits=\"release\"'" in v["command"]
    assert r["allocators"][0]["source"]["path"] == str(bump.resolve())
    p = auditor("scan", crate, "--config", cfg, "--profiles", "nope", "--cache-dir", tmp_path / "c")
    assert p.returncode == 2 and "unknown profile 'nope'" in p.stderr and "--profiles" in p.stderr


def test_explicit_cargo_rustc(tmp_path):
    env = dict(os.environ, CARGO="/usr/bin/cargo", RUSTC="/usr/bin/rustc")
    p = auditor("scan", CRATES / "minimal", "--profiles", "min-size-z", "--allocators", "default", "--no-runtime",
                "--compression", "none", "--format", "json", "--cache-dir", tmp_path, env=env)
    assert p.returncode in (0, 1), p.stderr
    notice = [line for line in p.stderr.splitlines() if "toolchain:" in line]
    assert notice == ["auditor: toolchain: rustc 1.63.0 (/usr/bin) from CARGO/RUSTC"], p.stderr
    assert json.loads(p.stdout)["variants"][0]["status"] == "ok"
