"""`auditor lint`: profile/manifest rules at exact lines, exit codes, bad input, speed guard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import clirun

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "fixtures" / "manifests"
CARGO = "/usr/bin/cargo"
RUSTC = "/usr/bin/rustc"


def run(*args, cwd=None, env=None):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    return clirun.run(args, cwd=cwd, env=e)  # in-process (tests/clirun.py)


def line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def copy_fixture(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(MANIFESTS / name, dst)
    return dst


def findings(out: str) -> list[tuple[str, int, str, str]]:
    """(file, line, rule, level) of each diagnostic line, parsed from the text format."""
    res = []
    for line in out.splitlines():
        if ": AUD" in line and not line.startswith(" "):
            where, rest = line.split(": AUD", 1)
            file, ln, _col = where.rsplit(":", 2)
            rule, level = ("AUD" + rest).split(":")[0].split()
            res.append((file, int(ln), rule, level))
    return res


def test_untuned_crate_findings_at_exact_lines(tmp_path):
    crate = copy_fixture("untuned", tmp_path)
    r = run("lint", cwd=crate)
    assert r.returncode == 1, r.stderr  # AUD110 is error-level
    manifest = crate / "Cargo.toml"
    assert sorted(findings(r.stdout)) == sorted([
        ("Cargo.toml", 1, "AUD101", "warning"),
        ("Cargo.toml", 1, "AUD111", "warning"),
        ("Cargo.toml", 1, "AUD112", "note"),
        ("Cargo.toml", line_of(manifest, "wee_alloc"), "AUD110", "error"),
    ])
    # the source line follows the diagnostic, with a caret under the column
    assert '  10 | wee_alloc = "0.4.5"\n     | ^' in r.stdout
    assert r.stdout.rstrip().endswith("1 error, 2 warnings, 1 note (release profile, 1 workspace: Cargo.toml)")


def test_tuned_crate_is_clean(tmp_path):
    crate = copy_fixture("tuned", tmp_path)
    r = run("lint", str(crate / "Cargo.toml"), "--format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["schema"] == "auditor.lint/1"
    assert rep["findings"] == [] and rep["counts"] == {"error": 0, "warning": 0, "note": 0}
    assert {c["rule"] for c in rep["checks"]} >= {f"AUD1{n:02d}" for n in range(1, 13)}
    assert all(c["status"] == "pass" for c in rep["checks"])


def test_workspace_root_profile_and_member_profile(tmp_path):
    ws = copy_fixture("workspace", tmp_path)
    root, member = ws / "Cargo.toml", ws / "crates/app/Cargo.toml"
    r = run("lint", cwd=ws)
    assert r.returncode == 0, r.stderr  # warnings only
    header = line_of(root, "[profile.release]")
    assert sorted(findings(r.stdout)) == sorted([
        ("Cargo.toml", header, "AUD105", "warning"),  # unset: points at the table header
        ("Cargo.toml", header, "AUD106", "warning"),
        ("Cargo.toml", line_of(root, "debug = true"), "AUD107", "warning"),
        ("Cargo.toml", line_of(root, "overflow-checks = true"), "AUD108", "warning"),
        ("crates/app/Cargo.toml", line_of(member, "[profile.release]"), "AUD102", "warning"),
    ])
    # max memory from build.rs, stack from build.rustflags: no AUD111/AUD112;
    # the rlib member `util` is not a wasm module and is not asked for them.


@pytest.mark.cargo
def test_cargo_itself_ignores_the_member_profile(tmp_path):
    """Independent check of AUD102's premise: cargo warns it ignores that profile."""
    ws = copy_fixture("workspace", tmp_path)
    r = subprocess.run([CARGO, "metadata", "--offline", "--no-deps", "--format-version", "1"],
                       cwd=ws, capture_output=True, text=True, env={**os.environ, "RUSTC": RUSTC})
    assert r.returncode == 0, r.stderr
    assert "profiles for the non root package will be ignored" in r.stderr
    assert "crates/app/Cargo.toml" in r.stderr


def test_member_path_lints_member_and_root_profile(tmp_path):
    ws = copy_fixture("workspace", tmp_path)
    r = run("lint", "crates/app", cwd=ws)
    got = {(f, rule) for f, _, rule, _ in findings(r.stdout)}
    assert ("crates/app/Cargo.toml", "AUD102") in got and ("Cargo.toml", "AUD107") in got
    r2 = run("lint", cwd=ws / "crates/app")
    assert ("../../Cargo.toml", 8, "AUD107", "warning") in findings(r2.stdout)


def test_two_members_of_one_workspace_report_root_findings_once(tmp_path):
    ws = copy_fixture("workspace", tmp_path)
    (ws / "crates/util/src/lib.rs").write_text("pub fn u() -> i32 { 1 }\n")
    r = run("lint", "crates/app/Cargo.toml", "crates/util/Cargo.toml", cwd=ws)
    got = findings(r.stdout)
    assert len([f for f in got if f[2] == "AUD107"]) == 1


def test_strip_debuginfo_still_ships_names(tmp_path):
    write(tmp_path / "Cargo.toml", '[package]\nname = "c"\nversion = "0.1.0"\n[profile.release]\nstrip = "debuginfo"\n')
    write(tmp_path / "src/lib.rs", "")
    out = run("lint", cwd=tmp_path).stdout
    assert 'AUD106 warning: [profile.release] strip = "debuginfo": the name section ships in the .wasm' in out


def test_custom_profile_resolves_inherits(tmp_path):
    ws = copy_fixture("workspace", tmp_path)
    r = run("lint", "--profile", "small", "--format", "json", cwd=ws)
    rep = json.loads(r.stdout)
    rules = {f["rule"] for f in rep["findings"]}
    # small inherits release (lto = true) and overrides everything else: only AUD102
    assert rules == {"AUD102"}, rep["findings"]
    r = run("lint", "--profile", "nope", cwd=ws)
    assert r.returncode == 2 and "no profile 'nope'" in r.stderr


@pytest.mark.cargo
def test_effective_profile_matches_what_cargo_passes_rustc(tmp_path):
    """Independent reader: `cargo build -v` shows the -C flags cargo derived.

    Config-file profile overrides, inherits and target-vs-build rustflags precedence are
    all cargo's rules; compare our facts with the real command line.
    """
    from auditor.manifest import load_workspace

    crate = tmp_path / "c"
    write(crate / "Cargo.toml", """
        [package]
        name = "c"
        version = "0.1.0"
        edition = "2021"
        [lib]
        crate-type = ["cdylib"]
        [profile.release]
        opt-level = "s"
        codegen-units = 4
        [profile.tiny]
        inherits = "release"
        lto = true
    """)
    write(crate / "src/lib.rs", "#[no_mangle] pub extern \"C\" fn f() -> i32 { 1 }\n")
    write(crate / ".cargo/config.toml", """
        [profile.release]
        opt-level = "z"
        [build]
        rustflags = ["-C", "link-arg=--max-memory=1048576"]
        [target.wasm32-unknown-unknown]
        rustflags = ["-C", "link-arg=-zstack-size=65536"]
    """)
    env = {**os.environ, "RUSTC": RUSTC, "CARGO_TARGET_DIR": str(tmp_path / "target"), "CARGO_INCREMENTAL": "0"}
    for v in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(v, None)
    r = subprocess.run([CARGO, "build", "--offline", "-v", "--profile", "tiny", "--target", "wasm32-unknown-unknown"],
                       cwd=crate, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rustc_line = next(l for l in r.stderr.splitlines() if "Running" in l and "--crate-name c " in l)
    os.chdir(crate)
    facts = load_workspace(crate, "tiny").to_json()
    eff = facts["profile"]["effective"]
    assert eff["opt-level"] == "z" and "-C opt-level=z" in rustc_line
    assert eff["codegen-units"] == 4 and "-C codegen-units=4" in rustc_line
    assert eff["lto"] is True and "-C lto" in rustc_line
    assert facts["profile"]["at"]["opt-level"]["file"] == ".cargo/config.toml"
    pkg = facts["packages"][0]
    # target rustflags win, build.rustflags are ignored: cargo agrees
    assert "stack-size=65536" in rustc_line and "--max-memory" not in rustc_line
    assert pkg["stack_size"]["value"] == 65536 and pkg["max_memory"]["set"] is False


def test_max_memory_from_build_rs_and_string_rustflags(tmp_path, monkeypatch):
    from auditor.manifest import load_workspace

    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a/Cargo.toml", '[package]\nname = "a"\nversion = "0.1.0"\nbuild = "tools/link.rs"\n[lib]\ncrate-type = ["cdylib"]\n')
    write(tmp_path / "a/src/lib.rs", "")
    build = write(tmp_path / "a/tools/link.rs", """
        fn main() {
            let n = 64 * 65536;
            println!("cargo:rustc-link-arg-cdylib=--max-memory={}", n);
        }
    """)
    pkg = load_workspace(tmp_path / "a").to_json()["packages"][0]
    assert pkg["max_memory"] == {"set": True, "value": None, "file": "a/tools/link.rs",
                                 "line": line_of(build, "max-memory"), "column": 15, "via": "build.rs"}
    # args for other targets, or commented out, do not bound the cdylib; the old spelling does
    for line, applies in (('// println!("cargo:rustc-link-arg=--max-memory=65536");', False),
                          ('println!("cargo:rustc-link-arg-bins=--max-memory=65536");', False),
                          ('println!("cargo:rustc-link-arg-tests=--max-memory=65536");', False),
                          ('println!("cargo:rustc-cdylib-link-arg=--max-memory=65536");', True)):
        build.write_text("fn main() {\n    " + line + "\n}\n")
        pkg = load_workspace(tmp_path / "a").to_json()["packages"][0]
        assert pkg["max_memory"]["set"] is applies, line
    write(tmp_path / "b/Cargo.toml", '[package]\nname = "b"\nversion = "0.1.0"\n[lib]\ncrate-type = ["cdylib"]\n')
    write(tmp_path / "b/src/lib.rs", "")
    write(tmp_path / "b/.cargo/config", """
        [target.'cfg(target_arch = "wasm32")']
        rustflags = "-Clink-args=--max-memory=2097152 -C link-arg=-z -C link-arg=stack-size=32768"
    """)
    pkg = load_workspace(tmp_path / "b").to_json()["packages"][0]
    assert pkg["max_memory"]["value"] == 2097152 and pkg["max_memory"]["line"] == 2
    assert pkg["stack_size"]["value"] == 32768


@pytest.mark.cargo
def test_build_rs_link_args_match_what_cargo_links(tmp_path, monkeypatch):
    """Independent reader: a real cargo build, and wasm-objdump's memory maximum, decide
    which build.rs instructions bound the cdylib; lint's max_memory fact must agree."""
    from auditor.manifest import load_workspace

    crate = tmp_path / "la"
    write(crate / "Cargo.toml", '[package]\nname = "la"\nversion = "0.1.0"\n[lib]\ncrate-type = ["cdylib"]\n')
    write(crate / "src/lib.rs", '#[no_mangle] pub extern "C" fn f() -> i32 { 1 }\n')
    write(crate / "src/main.rs", "fn main() {}\n")  # so cargo accepts rustc-link-arg-bins
    env = {**os.environ, "RUSTC": RUSTC, "CARGO_TARGET_DIR": str(tmp_path / "target"), "CARGO_INCREMENTAL": "0"}
    for v in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(v, None)
    monkeypatch.chdir(tmp_path)
    for instruction in ("rustc-link-arg-bins", "rustc-cdylib-link-arg", "rustc-link-arg-cdylib", "rustc-link-arg"):
        write(crate / "build.rs", f'fn main() {{ println!("cargo:{instruction}=--max-memory=2097152"); }}\n')
        subprocess.run([CARGO, "build", "--offline", "-q", "--release", "--lib", "--target", "wasm32-unknown-unknown"],
                       cwd=crate, env=env, check=True, stdin=subprocess.DEVNULL)
        wasm = tmp_path / "target/wasm32-unknown-unknown/release/la.wasm"
        memory = subprocess.run(["wasm-objdump", "-x", "-j", "Memory", str(wasm)], capture_output=True, text=True).stdout
        linked_max = "max=32" in memory
        assert load_workspace(crate).to_json()["packages"][0]["max_memory"]["set"] is linked_max, instruction


@pytest.mark.cargo
def test_max_memory_for_a_wasi_crate(tmp_path, monkeypatch):
    """A crate whose cargo config builds for wasm32-wasi: its cfg(target_os = "wasi")
    rustflags bound the module (real build, wasm-objdump), so AUD111 must stay quiet."""
    from auditor.manifest import load_workspace

    crate = tmp_path / "w"
    write(crate / "Cargo.toml", '[package]\nname = "w"\nversion = "0.1.0"\n[lib]\ncrate-type = ["cdylib"]\n')
    write(crate / "src/lib.rs", '#[no_mangle] pub extern "C" fn f() -> i32 { 1 }\n')
    write(crate / ".cargo/config.toml", """
        [build]
        target = "wasm32-wasi"
        [target.'cfg(target_os = "wasi")']
        rustflags = ["-C", "link-arg=--max-memory=2097152"]
    """)
    env = {**os.environ, "RUSTC": RUSTC, "CARGO_TARGET_DIR": str(tmp_path / "target"), "CARGO_INCREMENTAL": "0"}
    for v in ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(v, None)
    subprocess.run([CARGO, "build", "--offline", "-q", "--release"], cwd=crate, env=env, check=True,
                   stdin=subprocess.DEVNULL)
    memory = subprocess.run(["wasm-objdump", "-x", "-j", "Memory", str(tmp_path / "target/wasm32-wasi/release/w.wasm")],
                            capture_output=True, text=True).stdout
    assert "max=32" in memory
    monkeypatch.chdir(tmp_path)
    assert load_workspace(crate).to_json()["packages"][0]["max_memory"]["value"] == 2097152
    # the same flags for a crate that names no wasi target do not apply to wasm32-unknown-unknown
    write(crate / ".cargo/config.toml", """
        [target.'cfg(target_os = "wasi")']
        rustflags = ["-C", "link-arg=--max-memory=2097152"]
    """)
    assert load_workspace(crate).to_json()["packages"][0]["max_memory"]["set"] is False


def test_renamed_and_target_and_workspace_dependencies(tmp_path):
    write(tmp_path / "Cargo.toml", """
        [workspace]
        members = ["m"]
        [workspace.dependencies]
        wa = { version = "0.4", package = "wee_alloc" }
        [profile.release]
        opt-level = "z"
    """)
    m = write(tmp_path / "m/Cargo.toml", """
        [package]
        name = "m"
        version = "0.1.0"
        [lib]
        crate-type = ["cdylib"]
        [dependencies]
        wa = { workspace = true }
        [target.'cfg(target_arch = "wasm32")'.dependencies.alloc2]
        package = "wee_alloc"
        version = "0.4.5"
        [dev-dependencies]
        wee_alloc = "0.4"
    """)
    write(tmp_path / "m/src/lib.rs", "")
    r = run("lint", "--format", "json", cwd=tmp_path)
    got = [(f["file"], f["line"]) for f in json.loads(r.stdout)["findings"] if f["rule"] == "AUD110"]
    assert got == [("m/Cargo.toml", line_of(m, "wa = {")),
                   ("m/Cargo.toml", line_of(m, "dependencies.alloc2"))]  # dev-dependency: not shipped
    assert r.returncode == 1


def test_config_changes_levels_and_disables(tmp_path):
    crate = copy_fixture("untuned", tmp_path)
    with open(crate / "Cargo.toml", "a") as f:
        f.write('\n[package.metadata.auditor.rules]\nAUD110 = "warning"\nAUD112 = "off"\n')
    r = run("lint", cwd=crate)
    assert r.returncode == 0, r.stdout
    rules = {(rule, level) for _, _, rule, level in findings(r.stdout)}
    assert ("AUD110", "warning") in rules and not any(rule == "AUD112" for rule, _ in rules)
    write(tmp_path / "strict.toml", '[rules]\nAUD101 = "error"\n')
    r = run("lint", "--config", str(tmp_path / "strict.toml"), cwd=crate)
    assert r.returncode == 1 and ("Cargo.toml", 1, "AUD101", "error") in findings(r.stdout)


def test_each_package_judged_by_its_own_config_the_profile_by_the_root(tmp_path):
    """Linting the workspace and linting one member (what the pre-commit hook does) agree."""
    ws = copy_fixture("workspace", tmp_path)
    for member, extra in (("app", '\n[package.metadata.auditor.rules]\nAUD110 = "off"\nAUD105 = "off"\n'),
                          ("util", "")):
        text = (ws / f"crates/{member}/Cargo.toml").read_text()
        text = text.replace("[dependencies]\n", "") + '\n[dependencies]\nwee_alloc = "0.4.5"\n' + extra
        (ws / f"crates/{member}/Cargo.toml").write_text(text)
    with open(ws / "Cargo.toml", "a") as f:
        f.write('\n[workspace.metadata.auditor.rules]\nAUD107 = "note"\n')
    got = {}
    for args in ([], ["crates/app"], ["crates/util"], ["crates/app", "crates/util"]):
        r = run("lint", *args, "--format", "json", cwd=ws)
        got[tuple(args)] = sorted((f["rule"], f["file"], f["level"]) for f in json.loads(r.stdout)["findings"])
    root = {("AUD105", "Cargo.toml", "warning"), ("AUD106", "Cargo.toml", "warning"),
            ("AUD107", "Cargo.toml", "note"), ("AUD108", "Cargo.toml", "warning")}
    app = {("AUD102", "crates/app/Cargo.toml", "warning")}
    util = {("AUD110", "crates/util/Cargo.toml", "error")}
    assert set(got[()]) == root | app | util
    assert set(got[("crates/app",)]) == root | app  # app's AUD105 = "off" is about app, not the root
    assert set(got[("crates/util",)]) == root | util
    assert got[("crates/app", "crates/util")] == got[()]


@pytest.mark.parametrize("args, fixture, expect", [
    (["nope"], None, "nope: no such file or directory"),
    ([], "emptydir", ": no Cargo.toml in this directory"),
    (["x.txt"], "file", "x.txt: not a Cargo.toml"),
    ([], "malformed", "Cargo.toml:6:15: parse error: "),
])
def test_bad_input_one_line_exit_2(tmp_path, args, fixture, expect):
    cwd = tmp_path
    if fixture == "emptydir":
        (tmp_path / "e").mkdir()
        cwd = tmp_path / "e"
    elif fixture == "file":
        (tmp_path / "x.txt").write_text("")
    elif fixture:
        cwd = copy_fixture(fixture, tmp_path)
    r = run("lint", *args, cwd=cwd)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert expect in r.stderr


@pytest.mark.parametrize("text, where, expect", [
    ('package = 5\n', "1:1", "package: expected a table"),
    ('[workspace]\nmembers = "crates/*"\n', "2:1", "workspace.members: expected a list of strings"),
    ('[package]\nname = "c"\n[lib]\ncrate-type = "cdylib"\n', "4:1", "lib.crate-type: expected a list of strings"),
    ('[package]\nname = "c"\n[profile]\nrelease = 3\n', "4:1", "profile.release: expected a table"),
    ('[package]\nname = "c"\n[profile.release]\nopt-level = 9\n', "4:1",
     'profile.release.opt-level: expected one of 0, 1, 2, 3, "0", "1", "2", "3", "s", "z" (cargo refuses'),
    ('[package]\nname = "c"\n[profile.release]\nlto = 1\n', "4:1", "profile.release.lto: expected true or false or"),
    ('[package]\nname = "c"\n[profile.release]\ninherits = "dev"\n', "4:1",
     "`inherits` must not be specified in cargo's root profile 'release'"),
])
def test_manifest_cargo_refuses_is_one_line_exit_2(tmp_path, text, where, expect):
    """What `cargo build` refuses is bad input for lint too, at the offending key."""
    write(tmp_path / "c/Cargo.toml", text)
    write(tmp_path / "c/src/lib.rs", "")
    r = run("lint", "c", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (2, "")
    [line] = r.stderr.splitlines()
    assert line.startswith(f"auditor: c/Cargo.toml:{where}: {expect}")


@pytest.mark.cargo
@pytest.mark.parametrize("profiles, where, expect", [
    ('[profile.x]\ninherits = "y"\n[profile.y]\ninherits = "x"\n', "4:1", "profile inheritance loop: x -> y -> x"),
    ('[profile.x]\nopt-level = 1\n', "1:1", "profile 'x' has no `inherits`"),
    ('[profile.x]\ninherits = "nope"\n', "2:1", "profile 'x' inherits 'nope', which is not defined"),
])
def test_custom_profile_errors_match_cargo(tmp_path, profiles, where, expect):
    """Each case is also refused by `cargo build --profile x` (checked here, offline)."""
    write(tmp_path / "Cargo.toml", '[package]\nname = "c"\nversion = "0.1.0"\n')
    write(tmp_path / ".cargo/config.toml", profiles)
    write(tmp_path / "src/lib.rs", "")
    r = run("lint", "--profile", "x", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith(f"auditor: .cargo/config.toml:{where}: {expect}")
    c = subprocess.run([CARGO, "build", "--offline", "--profile", "x"], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "RUSTC": RUSTC, "CARGO_TARGET_DIR": str(tmp_path / "target")})
    assert c.returncode != 0 and "error" in c.stderr


def test_binary_and_rlib_crates_get_profile_and_dependency_rules(tmp_path):
    """A bin-only crate is linted, not refused: the pre-commit hook passes any changed
    Cargo.toml (an xtask, a CLI member), and the root profile applies to it as to any
    build. The link-setting rules (AUD111/AUD112) are for cdylib packages only."""
    crate = copy_fixture("binonly", tmp_path)
    with open(crate / "Cargo.toml", "a") as f:
        f.write('\n[dependencies]\nwee_alloc = "0.4.5"\n')
    r = run("lint", "--format", "json", cwd=crate)
    rep = json.loads(r.stdout)
    assert r.returncode == 1, r.stderr
    assert sorted((f["rule"], f["line"]) for f in rep["findings"]) == [
        ("AUD101", 1), ("AUD110", line_of(crate / "Cargo.toml", "wee_alloc"))]
    pkg = {c["rule"]: c["status"] for c in rep["checks"]}
    assert pkg["AUD111"] == pkg["AUD112"] == "pass"
    # a bin member of a workspace, as pre-commit passes it: the root's profile is linted
    ws = copy_fixture("workspace", tmp_path)
    write(ws / "crates/xtask/Cargo.toml", '[package]\nname = "xtask"\nversion = "0.1.0"\n')
    write(ws / "crates/xtask/src/main.rs", "fn main() {}\n")
    r = run("lint", "crates/xtask/Cargo.toml", cwd=ws)
    assert r.returncode == 0, r.stderr
    assert {rule for _, _, rule, _ in findings(r.stdout)} == {"AUD105", "AUD106", "AUD107", "AUD108"}


def test_malformed_column_matches_tomllib(tmp_path):
    """The column in `parse error` is tomllib's own position (an independent parser)."""
    crate = copy_fixture("malformed", tmp_path)
    text = (crate / "Cargo.toml").read_text()
    line6 = text.splitlines()[5]
    assert line6 == 'opt-level = "z'
    r = run("lint", cwd=crate)
    assert f"Cargo.toml:6:{len(line6) + 1}: parse error: " in r.stderr


def test_lint_never_imports_wasm_runtime_or_wasmtime(tmp_path):
    """lint goes through the pipeline's manifest flows only (auditor.pipeline.manifest),
    never the scan's (plan, runner, scan) nor the build, wasm or runtime stages."""
    crate = copy_fixture("untuned", tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from auditor.cli import cli
        FORMATS = ("text", "json", "sarif", "github", "junit", "markdown")
        for fmt in FORMATS:
            cli.main(args=["lint", {str(crate)!r}, "--format", fmt], standalone_mode=False)
        bad = sorted(m for m in sys.modules if m.split(".")[0] == "wasmtime"
                     or m.startswith(("auditor.wasm", "auditor.runtime", "auditor.build", "auditor.pipeline.scan",
                                      "auditor.pipeline.plan", "auditor.pipeline.runner", "auditor.pipeline.module")))
        print("BAD", bad, file=sys.stderr)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "GITHUB_STEP_SUMMARY": ""})
    assert "BAD []" in r.stderr, r.stderr[-2000:]
    # and the wasm stage really is importable (so the check above can fail)
    r = subprocess.run([sys.executable, "-c", "import sys, auditor.wasm.inspect; print('wasmtime' in sys.modules)"],
                       capture_output=True, text=True)
    assert r.returncode == 0


def test_list_rules(tmp_path):
    r = run("lint", "--list-rules")
    assert r.returncode == 0
    ids = [l.split()[0] for l in r.stdout.splitlines()]
    assert "AUD101" in ids and "AUD501" in ids and len(ids) == len(set(ids))
    rules = {x["id"]: x for x in json.loads(run("lint", "--list-rules", "--format", "json").stdout)["rules"]}
    assert list(rules) == ids
    assert "RUSTSEC-2022-0054" in rules["AUD110"]["why"] and rules["AUD105"]["thresholds"] == {"max": 1}
    assert rules["AUD103"]["autofix"] == {"opt-level": "z"}
    r = run("lint", "--list-rules", "--format", "sarif")
    assert r.returncode == 2 and r.stderr.strip() == "auditor: --list-rules prints text or json, not sarif"


def test_docs_rule_table_is_the_catalogue():
    """The README's rule table lists every rule with its catalogue title, level and category."""
    from auditor.rules.catalog import load_catalog

    readme = (REPO / "README.md").read_text()
    start = readme.index("\n## Rules, `auditor lint`")
    doc = readme[start:readme.index("\n## ", start + 1)]
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| AUD") and len(cells) >= 4:
            rows[cells[0]] = (cells[1].replace("\\|", "|"), cells[2], cells[3])
    assert rows == {r.id: (r.title, r.level, r.category) for r in load_catalog().values()}


def test_color(tmp_path):
    crate = copy_fixture("untuned", tmp_path)
    assert "\x1b[" in run("lint", "--color", "always", cwd=crate).stdout
    assert "\x1b[" not in run("lint", cwd=crate).stdout  # not a TTY
    assert "\x1b[" not in run("lint", "--color", "never", cwd=crate).stdout
