"""Probe modules linked from the measured build's link inputs (auditor/build/relink.py,
issue 16: a scan builds N modules, not N + one per allocator).

What is checked against something other than auditor's own output:
- the measured module with the linker wrapper is byte for byte cargo's own (hashlib, a
  plain `cargo build` beside it), on both toolchains;
- the relinked probe module's exports and imports as wasm-objdump reads them;
- its runtime behaviour equals the cargo probe build's (AUDITOR_PROBE_RELINK=off: the
  previous method) in every figure the probes measure, fuel included;
- cargo is invoked for the measured builds only (a logging CARGO wrapper counts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_scan_support import copy_crate, exports, objdump

from auditor.build import relink
from auditor.build.toolchain import Toolchain, describe
from auditor.pipeline.runner import _faithful, work_units

import fixturelib

PROBES = set(relink.exports())
# The runtime figures that are the allocator's behaviour (not wall time, not the probe
# module's own bytes or layout).
BEHAVIOUR = ("oom", "churn", "hold_release", "fragmentation", "realloc", "scenarios")


def _scan(crate: Path, cache: Path, tc: fixturelib.Toolchain, *args: str, relinked: bool = True,
          env: dict[str, str] | None = None) -> tuple[dict, str]:
    e = fixturelib.scan_env(tc, {relink.SWITCH_ENV: "on" if relinked else "off", **(env or {})})
    p = subprocess.run([sys.executable, "-m", "auditor", "scan", str(crate), "--format", "json",
                        "--compression", "none", "--cache-dir", str(cache), *args],
                       capture_output=True, text=True, env=e, stdin=subprocess.DEVNULL, timeout=900)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout), p.stderr


def _auditor_toolchain(toolchain: fixturelib.Toolchain) -> Toolchain:
    """auditor's view of a fixture toolchain: versions, sysroot and rust-lld filled in."""
    tc = Toolchain(cargo=toolchain.cargo, rustc=toolchain.rustc, source="test")
    describe(tc)
    assert tc.linker, tc.problem
    return tc


def _imports(path: str | Path) -> list[str]:
    """The import lines of `wasm-objdump -x` (none when the module has no import section)."""
    out, inside = [], False
    for line in objdump("-x", path).splitlines():
        if not line.startswith(" "):
            inside = line.startswith("Import[")
        elif inside:
            out.append(line.strip())
    return out


def _speed_fuel(run: dict) -> dict:
    """Fuel per action of every speed workload: deterministic, unlike its wall time."""
    return {k: {f: w.get(f) for f in ("outcome", "fuel_per_action", "fuel", "loop_fuel", "completed")}
            for k, w in ((run.get("speed") or {}).get("workloads") or {}).items()}


# ------------------------------------------------------------------------ no cargo


def test_exports_are_the_probe_sources_no_mangle_functions():
    src = (Path(relink.__file__).parent.parent / "runtime" / "probe_exports.rs").read_text()
    assert set(relink.exports()) == set(re.findall(r"fn (__auditor_\w+)", src))
    assert {"__auditor_alloc", "__auditor_dealloc", "__auditor_realloc", "__auditor_try_reserve"} <= PROBES


TC = Toolchain(cargo="cargo", rustc="rustc", source="test", linker="/usr/bin/rust-lld")
WASM_LINKER = {"target": {"wasm32-unknown-unknown": {"linker": "x"}}}


@pytest.mark.parametrize("environ, configs, why", [
    ({relink.SWITCH_ENV: "off"}, [], "AUDITOR_PROBE_RELINK=off"),
    ({relink.LINKER_ENV: "/x/ld"}, [], "is set"),
    ({"RUSTFLAGS": "-C linker=/x/ld"}, [], "RUSTFLAGS set a linker"),
    ({"CARGO_ENCODED_RUSTFLAGS": "-Clinker=/x\x1f-O"}, [], "RUSTFLAGS set a linker"),
    ({}, [WASM_LINKER], "sets a linker for wasm32"),
    ({}, [{"target": {"cfg(target_arch = \"wasm32\")": {"rustflags": ["-C", "linker=x"]}}}], "linker for wasm32"),
    ({}, [{"build": {"rustflags": "-Clinker=x"}}], "build.rustflags set a linker"),
    ({}, "cannot read /x/config.toml: bad", "cannot read"),
    # a host linker (mold, clang) in ~/.cargo/config.toml is not wasm32's
    ({}, [{"target": {"x86_64-unknown-linux-gnu": {"linker": "clang", "rustflags": ["-C", "link-arg=-fuse-ld=mold"]}}}],
     None),
    ({"RUSTFLAGS": "-C target-feature=+simd128"}, [], None),
])
def test_what_keeps_the_wrapper_off(environ, configs, why):
    got = relink.wrapper_blocked(TC, configs, environ)
    assert (got is None) if why is None else (why in (got or "")), got
    assert relink.wrapper_blocked(Toolchain(cargo="c", rustc="r", source="t"), [], {}) is not None  # no rust-lld


@pytest.mark.parametrize("environ, configs, settings, release_based, why", [
    ({}, [{"profile": {"release": {"opt-level": 0}}}], {}, True, "cargo config file sets profile keys"),
    ({}, [{"profile": {"opt-z": {"opt-level": 0}}}], {}, True, "cargo config file sets profile keys"),
    ({}, [{"profile": {"dev": {"debug": 0}}}], {}, True, None),  # not this profile's chain
    ({"CARGO_PROFILE_DEV_DEBUG": "0"}, [], {}, True, None),
    ({"CARGO_PROFILE_OPT_Z_LTO": "true"}, [], {}, True, "CARGO_PROFILE_OPT_Z_LTO is set"),
    ({}, [{"build": {"rustflags": ["-O"]}}], {}, True, "cargo config file sets rustflags"),
    ({"CARGO_PROFILE_RELEASE_OPT_LEVEL": "0"}, [], {}, True, "CARGO_PROFILE_RELEASE_OPT_LEVEL is set"),
    ({}, [], {}, False, "not directly on top of release"),
    ({}, [], {"lto": True}, True, "lto = True"),
    ({}, [], {"lto": "thin"}, True, "lto = 'thin'"),
    ({}, [], {"panic": "immediate-abort"}, True, "panic = 'immediate-abort'"),
    ({}, [], {"opt-level": "fast"}, True, "opt-level = 'fast'"),
    ({}, [], {"lto": False, "opt-level": "z", "panic": "abort"}, True, None),
    ({}, [], {"panic": "unwind"}, True, None),  # cargo passes nothing: the target's abort
    ({}, [WASM_LINKER], {}, True, None),  # the wrapper's business, not the probe's
])
def test_what_makes_a_probe_module_a_cargo_build(environ, configs, settings, release_based, why):
    got = relink.probe_blocked(TC, configs, environ, settings, "opt-z", release_based, "abort")
    assert (got is None) if why is None else (why in (got or "")), got
    std = Toolchain(cargo="c", rustc="r", source="t", linker="l", build_std=["std"])
    assert "build-std" in (relink.probe_blocked(std, [], {}, {}, "release", True, None) or "")
    unstable = {"cargo-unstable": ["build-std=std,panic_abort"]}
    assert "build-std" in (relink.probe_blocked(TC, [], {}, unstable, "nightly", True, None) or "")


def test_object_flags_follow_the_profile():
    """Both checks always explicit, as cargo passes them: rustc alone would turn
    debug-assertions on at opt-level 0, and overflow-checks with them."""
    off = ["-C", "debug-assertions=off", "-C", "overflow-checks=off"]
    assert relink.object_flags({}) == ["-C", "opt-level=3", *off]
    assert relink.object_flags({"opt-level": 0}) == ["-C", "opt-level=0", *off]
    assert relink.object_flags({"opt-level": "s", "overflow-checks": True, "debug-assertions": False}) == \
        ["-C", "opt-level=s", "-C", "debug-assertions=off", "-C", "overflow-checks=on"]
    assert relink.object_flags({"opt-level": 1, "debug-assertions": True}) == \
        ["-C", "opt-level=1", "-C", "debug-assertions=on", "-C", "overflow-checks=off"]
    assert relink.object_flags({"opt-level": "fast"}) is None


def test_config_tables_parse_or_say_why(tmp_path):
    good, bad = tmp_path / "a.toml", tmp_path / "b.toml"
    good.write_text('[build]\ntarget-dir = "x"\n')
    bad.write_text("[build\n")
    assert relink.config_tables([good]) == [{"build": {"target-dir": "x"}}]
    assert str(bad) in str(relink.config_tables([good, bad]))


def test_rustflags_follow_cargos_precedence():
    assert relink.rustflags({"CARGO_ENCODED_RUSTFLAGS": "--sysroot\x1f/a b", "RUSTFLAGS": "-O"}) == ["--sysroot", "/a b"]
    assert relink.rustflags({"RUSTFLAGS": "-C  opt-level=1", "CARGO_BUILD_RUSTFLAGS": "-O"}) == ["-C", "opt-level=1"]
    assert relink.rustflags({}) == []


def test_manifest_profile_follows_inherits(tmp_path):
    m = tmp_path / "Cargo.toml"
    m.write_text('[profile.release]\nlto = true\nopt-level = "s"\n[profile.small]\ninherits = "release"\n'
                 'opt-level = "z"\n[profile.mydev]\ninherits = "dev"\n[profile.loop]\ninherits = "loop"\n')
    assert relink.manifest_profile(m, "small") == {"opt-level": "z", "lto": True, "inherits": "release"}
    assert relink.manifest_profile(m, "release") == {"lto": True, "opt-level": "s", "inherits": "release"}
    assert relink.manifest_profile(m, "opt-z") == {"lto": True, "opt-level": "s", "inherits": "release"}
    assert relink.manifest_profile(m, "mydev") == {"inherits": "dev"}
    assert relink.manifest_profile(m, "loop") == {}  # a cycle ends (cargo rejects it anyway)
    m.write_text("not toml [")
    assert relink.manifest_profile(m, "release") == {}


def _link(cap: Path, pid: int, args: list[str], kept: dict[int, bytes | str]) -> None:
    """One link as the wrapper records it: cap/link-PID/{args,linker,in/N}."""
    d = cap / f"link-{pid}"
    (d / "in").mkdir(parents=True)
    (d / "args").write_bytes(b"".join(a.encode() + b"\0" for a in args))
    (d / "linker").write_text("/usr/bin/rust-lld")
    for i, data in kept.items():
        (d / "in" / str(i)).write_bytes(data if isinstance(data, bytes) else data.encode())


def test_capture_expands_response_files_and_uses_kept_inputs(tmp_path):
    cap = tmp_path / "cap"
    _link(cap, 7, ["-flavor", "wasm", "/gone/a.rcgu.o", "@/gone/rsp", "-o", "/t/deps/guarded.wasm"],
          {3: b"obj", 4: "--export 'a b' /lib/x.rlib\n"})
    got = relink.Capture(cap, "guarded.wasm").arguments()
    d = cap / "link-7" / "in"
    assert got == ["-flavor", "wasm", str(d / "3"), "--export", "a b", "/lib/x.rlib", "-o", "/t/deps/guarded.wasm"]
    assert relink.Capture(cap, "guarded.wasm").linker() == "/usr/bin/rust-lld"
    (cap / "link-7" / "args").write_bytes(b"-o\0/t/deps/guarded.wasm")  # cut short: not a complete capture
    assert relink.Capture(cap, "guarded.wasm").arguments() is None


def test_capture_takes_the_link_of_the_artifact_not_a_dependencys(tmp_path):
    """A dependency that is a cdylib too links in the same cargo build: its own directory,
    its own kept inputs, and never taken for the crate's."""
    cap = tmp_path / "cap"
    _link(cap, 5, ["/gone/dep.rcgu.o", "--stack-first", "-o", "/t/deps/dep.wasm"], {1: b"dep"})
    _link(cap, 9, ["--stack-first", "/gone/crate.rcgu.o", "-o", "/t/deps/guarded.wasm"], {2: b"crate"})
    got = relink.Capture(cap, "guarded.wasm").arguments()
    assert got == ["--stack-first", str(cap / "link-9" / "in" / "2"), "-o", "/t/deps/guarded.wasm"]
    assert relink.Capture(cap, "other.wasm").arguments() is None


def _module(imports: bytes, exports_: bytes) -> bytes:
    def section(sid: int, body: bytes) -> bytes:
        return bytes([sid, len(body)]) + body
    return b"\0asm\1\0\0\0" + section(1, b"\1\x60\0\0") + section(2, imports) + section(7, exports_)


def test_faithful_compares_imports_byte_for_byte_and_wants_every_export(tmp_path):
    imp = b"\1\3env\1f\0\0"
    names = ["__auditor_alloc", "__auditor_dealloc"]
    exp = bytes([len(names)]) + b"".join(bytes([len(n)]) + n.encode() + b"\0\0" for n in names)
    a, b, c = tmp_path / "a.wasm", tmp_path / "b.wasm", tmp_path / "c.wasm"
    a.write_bytes(_module(imp, b"\0"))
    b.write_bytes(_module(imp, exp))
    c.write_bytes(_module(b"\2\3env\1f\0\0\3env\14__rust_alloc\0\0", exp))
    assert _faithful(a, b, names) is None
    assert "imports differ" in (_faithful(a, c, names) or "")
    assert "lacks __auditor_realloc" in (_faithful(a, b, [*names, "__auditor_realloc"]) or "")


def test_work_units_put_a_probe_without_its_base_in_its_profiles_unit():
    """The scan hands work_units only probes whose base build is not in this scan (cached,
    or in another shard): each goes in its profile's unit, whose target dir holds that
    profile's compiled dependencies; the others follow their base on its thread."""
    class P:  # the attributes work_units reads
        def __init__(self, prof, alloc):
            self.profile = type("Pr", (), {"name": prof})()
            self.allocator = type("Al", (), {"name": alloc})()
    todo = [P("release", "default"), P("opt-z", "default")]
    units = work_units(todo, [P("release", "talc")], jobs=1)  # type: ignore[arg-type]
    by_unit = {name: [(k, t.allocator.name) for k, t in tasks] for name, tasks in units}
    assert by_unit == {"release": [("variant", "default"), ("probe", "talc")], "opt-z": [("variant", "default")]}


# ------------------------------------------------------------------------ cargo


@pytest.mark.cargo
def test_the_wrapper_leaves_the_measured_module_byte_identical(tmp_path, toolchain):
    """A plain cargo build and one linked through the wrapper (capturing) write the same
    bytes; the capture holds rustc's arguments and the objects rustc deleted."""
    crate = copy_crate("guarded", tmp_path / "src")
    tc = _auditor_toolchain(toolchain)
    wrapper = relink.install_wrapper(tmp_path / "cache", tc)
    assert relink.install_wrapper(tmp_path / "cache", tc) == wrapper and wrapper.is_absolute()  # stable path
    out = {}
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    for name, extra in (("plain", {}), ("wrapped", {relink.LINKER_ENV: str(wrapper),
                                                   relink.CAPTURE_ENV: str(tmp_path / "cap")}),
                        # a capture that cannot be written is dropped; the link still runs
                        ("uncaught", {relink.LINKER_ENV: str(wrapper), relink.CAPTURE_ENV: str(blocker / "cap")})):
        env = fixturelib.cargo_env(tmp_path / f"t-{name}", extra, toolchain=toolchain)
        subprocess.run([toolchain.cargo, "build", "--lib", "--release", "--target", "wasm32-unknown-unknown"],
                       cwd=crate, env=env, check=True, capture_output=True, timeout=600)
        out[name] = (tmp_path / f"t-{name}" / "wasm32-unknown-unknown" / "release" / "guarded.wasm").read_bytes()
    assert out["plain"] == out["wrapped"] == out["uncaught"]
    args = relink.Capture(tmp_path / "cap", "guarded.wasm").arguments()
    assert args is not None and "-o" in args
    kept = [a for a in args if a.startswith(str(tmp_path / "cap"))]
    assert kept and all(Path(a).is_file() for a in kept)  # rustc removed its own copies


def _pair(tmp_path: Path, toolchain: fixturelib.Toolchain, profiles: str, allocators: str, jobs: str) -> dict:
    crate = copy_crate("guarded", tmp_path / "src")
    logs = {}
    reports = {}
    for relinked in (True, False):
        log = tmp_path / f"calls-{relinked}.log"
        wrapbin = tmp_path / f"bin-{relinked}"
        wrapbin.mkdir()
        (wrapbin / "cargo").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {toolchain.cargo} "$@"\n')
        (wrapbin / "cargo").chmod(0o755)
        tc = fixturelib.Toolchain(toolchain.name, str(wrapbin / "cargo"), toolchain.rustc, toolchain.env,
                                  toolchain.rustflags)
        reports[relinked], stderr = _scan(crate, tmp_path / f"c-{relinked}", tc, "--profiles", profiles,
                                          "--allocators", allocators, "--jobs", jobs, relinked=relinked)
        logs[relinked] = (log.read_text().splitlines() if log.exists() else [], stderr)
    return {"crate": crate, "reports": reports, "logs": logs}


@pytest.mark.cargo
def test_probe_modules_are_linked_and_behave_as_the_cargo_probe_builds(tmp_path, toolchain):
    got = _pair(tmp_path, toolchain, "release,opt-z", "default,fixture_freelist", "1")
    linked, built = (fixturelib_variants(got["reports"][k]) for k in (True, False))
    assert set(linked) == set(built) and len(linked) == 4
    for vid, v in linked.items():
        pb = v["probe_build"]
        assert pb["method"] == "relink" and pb["linked_from"] == f"release/{v['allocator']}", pb
        assert built[vid]["probe_build"]["method"] == "cargo"
        assert built[vid]["probe_build"]["relink_skipped"] == f"{relink.SWITCH_ENV}=off"
        # the probe module, read by wasm-objdump: the probe exports, and the measured
        # release module's imports exactly
        probes = Path(pb["path"])
        assert PROBES <= exports(probes)
        base = linked[f"release/{v['allocator']}"]["wasm_path"]
        assert _imports(probes) == _imports(base)
        # what the probes measured: the same on both probe modules
        a, b = v["runtime"], built[vid]["runtime"]
        for k in BEHAVIOUR:
            assert a.get(k) == b.get(k), (vid, k)
        fa, fb = _speed_fuel(a), _speed_fuel(b)
        if toolchain.name == "rust163":  # the allocator shim is the final crate's: same calls
            assert fa == fb, vid
        else:
            # rustc 1.96 emits __rust_alloc & co. in the glue crate, where the cargo probe
            # build's probe code could inline them; the probe object calls them, as the
            # crate's own code does: a few more instructions per action (measured 4.5-5.7
            # fuel on every workload), nothing else.
            assert fa.keys() == fb.keys()
            for w in fa:
                assert {k: fa[w][k] for k in ("outcome", "loop_fuel", "completed")} == \
                    {k: fb[w][k] for k in ("outcome", "loop_fuel", "completed")}, (vid, w)
                assert 0 <= fa[w]["fuel_per_action"] - fb[w]["fuel_per_action"] <= 8, (vid, w)
        # the measured modules are the same builds either way
        assert v["sha256"] == built[vid]["sha256"]
    # cargo ran the 4 measured builds only (counted by the logging wrapper), no probe build
    calls, stderr = got["logs"][True]
    assert not [c for c in calls if "auditor_injected_glue/probes" in c], calls
    assert len([c for c in calls if " build --lib " in f" {c}"]) == 4
    assert "2 probe links, 1 rustc (probe object)" in stderr, stderr
    calls_off, _ = got["logs"][False]
    assert len([c for c in calls_off if "auditor_injected_glue/probes" in c]) == 2


def fixturelib_variants(report: dict) -> dict[str, dict]:
    return {v["id"]: v for v in report["variants"]}


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_probe_modules_follow_their_base_build_on_its_thread(tmp_path, toolchain):
    """One profile, three allocators, two jobs (the profile's unit split between two
    threads): every probe module is linked from its own base build, and a relative
    --cache-dir works (the wrapper's path is absolute: cargo runs in the shadow tree)."""
    crate = copy_crate("guarded", tmp_path / "src")
    e = fixturelib.scan_env(toolchain)
    p = subprocess.run([sys.executable, "-m", "auditor", "scan", str(crate), "--format", "json", "--compression",
                        "none", "--cache-dir", "rel-cache", "--profiles", "release", "--allocators",
                        "default,fixture_bump,fixture_freelist", "--jobs", "2"],
                       capture_output=True, text=True, env=e, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=600)
    assert p.returncode in (0, 1), p.stderr
    rep = json.loads(p.stdout)
    assert [v["status"] for v in rep["variants"]] == ["ok"] * 3
    for v in rep["variants"]:
        assert v["probe_build"]["method"] == "relink", v["probe_build"]
        assert v["probe_build"]["linked_from"] == v["id"]
    assert "3 probe links" in p.stderr
    assert (tmp_path / "rel-cache" / "linker").is_dir()


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_the_probe_object_follows_the_profiles_opt_level(tmp_path, toolchain):
    """[profile.release] opt-level = "z" in the crate's manifest: the probe object is
    compiled at z too, so the linked probe module measures what the cargo probe build
    does, fuel per action included (rustc 1.63: the shim is the final crate's)."""
    crate = copy_crate("guarded", tmp_path / "src")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + '\n[profile.release]\nopt-level = "z"\n')
    runs = {}
    for relinked in (True, False):
        runs[relinked], _ = _scan(crate, tmp_path / f"c-{relinked}", toolchain, "--profiles", "release",
                                  "--allocators", "fixture_freelist", relinked=relinked)
    a, b = (r["variants"][0] for r in (runs[True], runs[False]))
    assert a["probe_build"]["method"] == "relink" and b["probe_build"]["method"] == "cargo"
    assert _speed_fuel(a["runtime"]) == _speed_fuel(b["runtime"])
    for k in BEHAVIOUR:
        assert a["runtime"].get(k) == b["runtime"].get(k), k


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
@pytest.mark.parametrize("where", ["cargo-config", "env"])
def test_profile_keys_it_cannot_see_mean_a_cargo_probe_build(tmp_path, toolchain, where):
    """opt-level set in .cargo/config.toml or CARGO_PROFILE_RELEASE_OPT_LEVEL: the probe
    object could not follow it, so the probe module is a cargo build, and says why."""
    crate = copy_crate("guarded", tmp_path / "src")
    env = {}
    if where == "cargo-config":
        (crate / ".cargo").mkdir()
        (crate / ".cargo" / "config.toml").write_text("[profile.release]\nopt-level = 1\n")
        why = "a cargo config file sets profile keys"
    else:
        env = {"CARGO_PROFILE_RELEASE_OPT_LEVEL": "1"}
        why = "CARGO_PROFILE_RELEASE_OPT_LEVEL is set"
    rep, _ = _scan(crate, tmp_path / "c", toolchain, "--profiles", "release", "--allocators", "default", env=env)
    pb = rep["variants"][0]["probe_build"]
    assert pb["method"] == "cargo" and pb["relink_skipped"] == why, pb


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_an_lto_release_profile_gets_a_cargo_probe_build(tmp_path, toolchain, monkeypatch):
    """The user's [profile.release] sets lto: the allocator symbols are internalised, so
    the probe module comes from cargo, and the report says why."""
    crate = copy_crate("guarded", tmp_path / "src")
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text() + "\n[profile.release]\nlto = true\n")
    rep, _ = _scan(crate, tmp_path / "c", toolchain, "--profiles", "release", "--allocators", "default")
    pb = rep["variants"][0]["probe_build"]
    assert pb["method"] == "cargo" and "lto = True" in pb["relink_skipped"], pb
    assert rep["variants"][0]["runtime"]["oom"]["outcome"] == "unreachable"


@pytest.mark.cargo
def test_an_lto_link_is_caught(tmp_path, toolchain):
    """Relinking an LTO build anyway (set where probe_blocked cannot see it): the allocator
    symbols are internalised, so rustc 1.96's link fails, and rustc 1.63's (which passes
    --allow-undefined) turns them into imports, which _faithful catches."""
    crate = copy_crate("guarded", tmp_path / "src")
    tc = _auditor_toolchain(toolchain)
    wrapper = relink.install_wrapper(tmp_path / "cache", tc)
    env = fixturelib.cargo_env(tmp_path / "t", {relink.LINKER_ENV: str(wrapper),
                                                relink.CAPTURE_ENV: str(tmp_path / "cap"),
                                                "CARGO_PROFILE_RELEASE_LTO": "true"}, toolchain=toolchain)
    subprocess.run([toolchain.cargo, "build", "--lib", "--release", "--target", "wasm32-unknown-unknown"],
                   cwd=crate, env=env, check=True, capture_output=True, timeout=600)
    measured = tmp_path / "t" / "wasm32-unknown-unknown" / "release" / "guarded.wasm"
    obj, why = relink.probe_object(tmp_path / "cache", tc, relink.object_flags({}) or [],
                                   fixturelib.cargo_env(tmp_path / "t2", toolchain=toolchain))
    assert obj is not None, why
    out = tmp_path / "probes.wasm"
    failed = relink.link(relink.Capture(tmp_path / "cap", "guarded.wasm"), obj, out, os.environ.copy())
    if failed is None:
        assert "imports differ" in (_faithful(measured, out, relink.exports()) or "")
        assert any("__rust_alloc" in line for line in _imports(out)), _imports(out)
    else:
        assert "rust-lld" in failed and "undefined symbol" in failed, failed
    shutil.rmtree(tmp_path / "t", ignore_errors=True)


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_a_users_wasm32_linker_is_kept(tmp_path, toolchain):
    """CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER set by the user: every link of the scan
    goes through it (it logs each), none through auditor's wrapper, and the probe module
    is a cargo build that says why."""
    crate = copy_crate("guarded", tmp_path / "src")
    real = shutil.which("rust-lld")
    assert real
    log = tmp_path / "links.log"
    mine = tmp_path / "mine" / "rust-lld"
    mine.parent.mkdir()
    mine.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{real}" "$@"\n')
    mine.chmod(0o755)
    rep, _ = _scan(crate, tmp_path / "c", toolchain, "--profiles", "release,opt-z", "--allocators", "default",
                   env={relink.LINKER_ENV: str(mine)})
    links = log.read_text().splitlines()
    assert len(links) == 3  # two measured builds and the probe build, all with the user's linker
    assert all("-flavor wasm" in line for line in links)
    pb = rep["variants"][0]["probe_build"]
    assert pb["method"] == "cargo" and pb["relink_skipped"] == f"{relink.LINKER_ENV} is set", pb
    assert not (tmp_path / "c" / "linker").exists()


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_no_cache_over_a_fresh_target_dir_still_links(tmp_path, toolchain):
    """`--no-cache` twice: the second scan's cargo finds the target dir up to date, but the
    base build of a probe module is made to link again, so the probe is still linked."""
    crate = copy_crate("guarded", tmp_path / "src")
    for _ in range(2):
        rep, stderr = _scan(crate, tmp_path / "c", toolchain, "--profiles", "release", "--allocators", "default",
                            "--no-cache")
        assert rep["variants"][0]["probe_build"]["method"] == "relink", (rep["variants"][0]["probe_build"], stderr)
        assert "1 probe link" in stderr and "probe build" not in stderr


@pytest.mark.cargo
@pytest.mark.toolchains("1.63")
def test_a_base_that_does_not_compile_gets_no_probe_build(tmp_path, toolchain):
    """The measured build fails to compile: its probe module is reported failed without a
    cargo probe build of the same broken sources (a logging CARGO counts)."""
    crate = copy_crate("guarded", tmp_path / "src")
    lib = crate / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\nfn broken( {\n")
    log = tmp_path / "calls.log"
    wrapbin = tmp_path / "bin"
    wrapbin.mkdir()
    (wrapbin / "cargo").write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {toolchain.cargo} "$@"\n')
    (wrapbin / "cargo").chmod(0o755)
    tc = fixturelib.Toolchain(toolchain.name, str(wrapbin / "cargo"), toolchain.rustc, toolchain.env,
                              toolchain.rustflags)
    e = fixturelib.scan_env(tc)
    p = subprocess.run([sys.executable, "-m", "auditor", "scan", str(crate), "--format", "json", "--compression",
                        "none", "--cache-dir", str(tmp_path / "c"), "--profiles", "release", "--allocators",
                        "default"], capture_output=True, text=True, env=e, stdin=subprocess.DEVNULL, timeout=600)
    assert p.returncode == 1, p.stderr
    (v,) = json.loads(p.stdout)["variants"]
    assert v["status"] == "failed"
    calls = log.read_text().splitlines()
    assert [c for c in calls if " build --lib " in f" {c}" or " rustc --lib " in f" {c}"] and \
        not [c for c in calls if "auditor_injected_glue/probes" in c], calls
