"""`auditor fix`: exact rewrite keeping the file's shape, idempotent, atomic, member-safe."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_lint import run, write

BEFORE = """\
# top comment
[package]
name = "c"      # the crate
version = "0.1.0"

[lib]
crate-type = ["cdylib"]

[profile.release]
# keep this comment
opt-level = 3   # was speed
debug = true
lto = "fat"  # already fine

[dependencies]
"""

AFTER = """\
# top comment
[package]
name = "c"      # the crate
version = "0.1.0"

[lib]
crate-type = ["cdylib"]

[profile.release]
# keep this comment
opt-level = "z"   # was speed
debug = false
lto = "fat"  # already fine
codegen-units = 1
strip = true

[dependencies]
"""


def crate(tmp_path: Path, text: str = BEFORE) -> Path:
    d = tmp_path / "c"
    write(d / "Cargo.toml", text)
    write(d / "src/lib.rs", "")
    return d


def test_exact_rewrite_keeps_comments_order_and_spacing(tmp_path):
    d = crate(tmp_path)
    r = run("fix", cwd=d)
    assert r.returncode == 0, r.stderr
    assert (d / "Cargo.toml").read_text() == AFTER
    assert r.stdout.startswith("--- a/Cargo.toml\n+++ b/Cargo.toml\n")
    assert '\n-opt-level = 3   # was speed\n' in r.stdout and '\n+opt-level = "z"   # was speed\n' in r.stdout
    assert "+strip = true\n" in r.stdout
    assert "wrote Cargo.toml" in r.stderr


def test_idempotent_and_lint_clean_after(tmp_path):
    d = crate(tmp_path)
    run("fix", cwd=d)
    first = (d / "Cargo.toml").read_bytes()
    r = run("fix", cwd=d)
    assert r.returncode == 0 and r.stdout == "" and "already has the recommended settings" in r.stderr
    assert (d / "Cargo.toml").read_bytes() == first
    rep = json.loads(run("lint", "--format", "json", cwd=d).stdout)
    profile_rules = {f["rule"] for f in rep["findings"]} & {f"AUD1{n:02d}" for n in range(1, 10)}
    assert profile_rules == set()


def test_dry_run_writes_nothing(tmp_path):
    d = crate(tmp_path)
    before = hashlib.sha256((d / "Cargo.toml").read_bytes()).hexdigest()
    r = run("fix", "--dry-run", cwd=d)
    assert r.returncode == 0 and "+strip = true" in r.stdout and "dry run" in r.stderr
    assert hashlib.sha256((d / "Cargo.toml").read_bytes()).hexdigest() == before


def test_atomic_write_keeps_permissions(tmp_path):
    d = crate(tmp_path)
    m = d / "Cargo.toml"
    os.chmod(m, 0o640)
    inode = m.stat().st_ino
    assert run("fix", str(d)).returncode == 0
    assert m.stat().st_mode & 0o777 == 0o640
    assert m.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert [p.name for p in d.iterdir() if p.name.startswith(".Cargo.toml")] == []


def test_creates_missing_profile_and_named_profile(tmp_path):
    d = crate(tmp_path, '[package]\nname = "c"\nversion = "0.1.0"\n\n[profile.dev]\nopt-level = 1\n\n[dependencies]\n')
    assert run("fix", cwd=d).returncode == 0
    text = (d / "Cargo.toml").read_text()
    assert text == ('[package]\nname = "c"\nversion = "0.1.0"\n\n[profile.dev]\nopt-level = 1\n\n'
                    '[profile.release]\nopt-level = "z"\nlto = true\ncodegen-units = 1\npanic = "abort"\nstrip = true\n\n'
                    '[dependencies]\n')
    assert run("fix", "--profile", "wasm", cwd=d).returncode == 0
    prof = tomllib.loads((d / "Cargo.toml").read_text())["profile"]
    # inherits release, which is already tuned: nothing else to set
    assert prof["wasm"] == {"inherits": "release"}


def test_refuses_member_and_names_root(tmp_path):
    write(tmp_path / "Cargo.toml", '[workspace]\nmembers = ["m"]\n')
    d = crate(tmp_path)
    (tmp_path / "c").rename(tmp_path / "m")
    before = (tmp_path / "m/Cargo.toml").read_text()
    r = run("fix", "m", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == ("auditor: m/Cargo.toml: a workspace member: cargo reads profiles only from "
                                "the workspace root Cargo.toml (run `auditor fix .`)")
    assert (tmp_path / "m/Cargo.toml").read_text() == before
    del d


def test_config_override_is_not_edited_and_disabled_rules_kept(tmp_path):
    d = crate(tmp_path)
    write(d / ".cargo/config.toml", '[profile.release]\nopt-level = 2\n')
    write(d / "auditor.toml", '[rules]\nAUD109 = "off"\n')
    r = run("fix", cwd=d)
    assert "opt-level is set in .cargo/config.toml:2, which overrides Cargo.toml: edit it there" in r.stderr
    prof = tomllib.loads((d / "Cargo.toml").read_text())["profile"]["release"]
    assert prof["opt-level"] == 3 and "panic" not in prof and prof["strip"] is True


@pytest.mark.parametrize("before, after", [
    # new keys go after the last setting, not after the comment that heads the next table
    ('[profile.release]\nopt-level = "z"\n\n# Dependencies\n[dependencies]\n',
     '[profile.release]\nopt-level = "z"\nlto = true\ncodegen-units = 1\nstrip = true\n\n# Dependencies\n[dependencies]\n'),
    # indentation of the table's keys is kept
    ('[profile.release]\n  opt-level = "s"\n[profile.release.package.foo]\nopt-level = 1\n',
     '[profile.release]\n  opt-level = "s"\n  lto = true\n  codegen-units = 1\n  strip = true\n'
     '[profile.release.package.foo]\nopt-level = 1\n'),
    # a table with only a comment: settings under the comment
    ('[profile.release]\n# small\n\n[dependencies]\n',
     '[profile.release]\n# small\nopt-level = "z"\nlto = true\ncodegen-units = 1\nstrip = true\n\n[dependencies]\n'),
    # dotted keys stay dotted
    ('[profile]\nrelease.opt-level = 3\nrelease.debug = true\ndev.opt-level = 1\n',
     '[profile]\nrelease.opt-level = "z"\nrelease.lto = true\nrelease.codegen-units = 1\nrelease.strip = true\n'
     'release.debug = false\ndev.opt-level = 1\n'),
    # inline tables stay inline, spaced like hand-written ones, comment kept
    ('[profile]\nrelease = { opt-level = 3, debug = true }  # size\n',
     '[profile]\nrelease = { opt-level = "z", debug = false, lto = true, codegen-units = 1, strip = true }  # size\n'),
    # CRLF files stay CRLF
    ('[profile.release]\r\nopt-level = "z"\r\nlto = true\r\ncodegen-units = 1\r\n',
     '[profile.release]\r\nopt-level = "z"\r\nlto = true\r\ncodegen-units = 1\r\nstrip = true\r\n'),
])
def test_table_styles_are_kept(tmp_path, before, after):
    head = '[package]\nname = "c"\nversion = "0.1.0"\n\n'
    if "\r\n" in before:
        head = head.replace("\n", "\r\n")
    d = tmp_path / "c"
    d.mkdir()
    (d / "Cargo.toml").write_bytes((head + before).encode())
    r = run("fix", cwd=d)
    assert r.returncode == 0, r.stderr
    assert (d / "Cargo.toml").read_bytes().decode() == head + after
    assert run("fix", cwd=d).stdout == ""  # idempotent in every style


def test_diff_applies_with_patch_even_without_final_newline(tmp_path):
    """The diff is real unified diff: GNU patch (independent) turns the old file into the new."""
    d = tmp_path / "c"
    d.mkdir()
    old = '[package]\nname = "c"\n\n[profile.release]\nopt-level = 3'
    (d / "Cargo.toml").write_text(old)
    r = run("fix", "--dry-run", cwd=d)
    assert "\\ No newline at end of file" in r.stdout
    p = subprocess.run(["patch", "-p1", "--dry-run", "-o", str(tmp_path / "patched")], input=r.stdout, cwd=d,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    run("fix", cwd=d)
    assert (tmp_path / "patched").read_text() == (d / "Cargo.toml").read_text()


keys = st.fixed_dictionaries({}, optional={
    "opt-level": st.sampled_from([0, 1, 2, 3, '"s"', '"z"']),
    "lto": st.sampled_from(["true", "false", '"thin"', '"fat"', '"off"']),
    "codegen-units": st.integers(1, 256),
    "panic": st.sampled_from(['"unwind"', '"abort"']),
    "strip": st.sampled_from(["true", "false", '"none"', '"debuginfo"', '"symbols"']),
    "debug": st.sampled_from(["true", "false", "0", "1", "2", '"full"', '"limited"']),
    "overflow-checks": st.sampled_from(["true", "false"]),
    "debug-assertions": st.sampled_from(["true", "false"]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys, st.booleans(), st.booleans())
def test_any_profile_fixes_to_lint_clean_in_one_pass(tmp_path_factory, settings_, comments, spaced):
    from auditor.manifest import toml
    from auditor.manifest.workspace import profile_facts
    from auditor.rules.fix import plan_fix

    d = tmp_path_factory.mktemp("p")
    eq = " = " if spaced else "="
    lines = ['[package]', 'name = "p"', 'version = "0.1.0"', '', '[profile.release]']
    for k, v in settings_.items():
        lines.append(f"{k}{eq}{v}" + ("  # note" if comments else ""))
    lines += ["", "[dependencies]", ""]
    (d / "Cargo.toml").write_text("\n".join(lines))
    res = plan_fix(d)
    (d / "Cargo.toml").write_text(res.new)
    # untouched lines are byte-identical
    new_lines = res.new.splitlines()
    for line in lines:
        key = line.split("=")[0].strip()
        if line and key not in {c.split(":")[0] for c in res.changes}:
            assert line in new_lines
    eff = profile_facts(toml.parse(res.new, d / "Cargo.toml"), "release")["effective"]
    assert eff["opt-level"] in ("s", "z") and eff["lto"] in (True, "fat") and eff["codegen-units"] == 1
    assert eff["strip"] in (True, "symbols")
    assert eff["panic"] == "abort" or "panic" not in settings_  # unset panic: AUD109 is quiet
    assert eff["debug"] in (False, 0) and eff["overflow-checks"] is False and eff["debug-assertions"] is False
    assert plan_fix(d).changes == []
