"""Config layering, sources, exact key locations and schema errors."""

from __future__ import annotations

import os

import pytest

from auditor.config import load_config
from auditor.errors import AuditorError

from test_lint import line_of, write


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A workspace with config in every layer, each giving a different value."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "auditor.toml", """
        [scan]
        jobs = 4
        profiles = ["from-auditor-toml"]
        allocators = ["a1"]
        default-variant = "x/y"
        [runtime]
        fuel = 7
    """)
    write(tmp_path / "Cargo.toml", """
        [workspace]
        members = ["crates/app"]

        [workspace.metadata.auditor.scan]
        profiles = ["from-workspace"]
        allocators = ["a2"]
        [workspace.metadata.auditor.runtime]
        memory-limit = "8 MiB"
    """)
    write(tmp_path / "crates/app/Cargo.toml", """
        [package]
        name = "app"
        version = "0.1.0"

        [lib]
        crate-type = ["cdylib"]

        # size budgets
        [package.metadata.auditor.scan]
        profiles = ["from-package"]

        [[package.metadata.auditor.budget]]
        name = "main"
        raw = "150 KiB"

        [[package.metadata.auditor.budget]]
        name = "second"
        gzip = "60 kB"
        crate = { core = "20 KiB" }

        [package.metadata.auditor.rules]
        AUD103 = "error"
    """)
    write(tmp_path / "crates/app/src/lib.rs", "")
    write(tmp_path / "extra.toml", """
        rules.AUD104 = "off"
        [scan]
        jobs = 2
    """)
    return tmp_path


def test_precedence_first_found_wins_per_key(ws):
    crate = ws / "crates/app"
    cfg = load_config(crate, config_file=ws / "extra.toml", cli={"scan.runtime": False, "scan.jobs": None})
    assert cfg.get("scan.runtime") is False
    assert cfg.source("scan.runtime") == "command line"
    assert cfg.get("scan.jobs") == 2  # --config beats auditor.toml; None on the CLI is "not given"
    assert cfg.source("scan.jobs") == "--config extra.toml"
    assert cfg.get("scan.profiles") == ["from-package"]
    assert cfg.source("scan.profiles") == "crates/app/Cargo.toml [package.metadata.auditor]"
    assert cfg.get("scan.allocators") == ["a2"]
    assert cfg.source("scan.allocators") == "Cargo.toml [workspace.metadata.auditor]"
    assert cfg.get("scan.default-variant") == "x/y"
    assert cfg.source("scan.default-variant") == "auditor.toml"
    assert cfg.get("runtime") == {"fuel": 7, "memory-limit": "8 MiB"}  # tables merge per key
    assert cfg.get("rules.AUD103") == "error" and cfg.rule_level("AUD103") == "error"
    assert cfg.rule_level("AUD104") == "off"
    assert cfg.rule_level("AUD105") is None
    assert cfg.get("nothing.here", 5) == 5
    assert cfg.source("nothing.here") == "default"
    assert cfg.location("nothing.here") is None


def test_locations_are_exact_lines(ws):
    crate = ws / "crates/app"
    manifest = crate / "Cargo.toml"
    cfg = load_config(crate, config_file=ws / "extra.toml", cli={"scan.runtime": True})
    assert cfg.location("scan.runtime") is None
    assert cfg.location("scan.profiles") == ("crates/app/Cargo.toml", line_of(manifest, 'profiles = ["from-package"]'))
    assert cfg.location("budget") == ("crates/app/Cargo.toml", line_of(manifest, "[[package.metadata.auditor.budget]]"))
    assert cfg.location("budget.1") == ("crates/app/Cargo.toml", line_of(manifest, 'name = "main"') + 3)
    assert cfg.location("budget.1.gzip") == ("crates/app/Cargo.toml", line_of(manifest, "gzip ="))
    assert cfg.location("budget.1.crate.core") == ("crates/app/Cargo.toml", line_of(manifest, "crate = {"))
    assert cfg.location("rules.AUD103") == ("crates/app/Cargo.toml", line_of(manifest, "AUD103"))
    assert cfg.location("rules.AUD104") == ("extra.toml", 1)
    assert cfg.location("scan.allocators") == ("Cargo.toml", line_of(ws / "Cargo.toml", 'allocators = ["a2"]'))
    assert cfg.location("runtime.fuel") == ("auditor.toml", line_of(ws / "auditor.toml", "fuel"))
    assert cfg.get("budget") == [{"name": "main", "raw": "150 KiB"},
                                 {"name": "second", "gzip": "60 kB", "crate": {"core": "20 KiB"}}]


def test_manifest_path_accepted_and_items_listed(ws):
    cfg = load_config(ws / "crates/app/Cargo.toml")
    items = {k: (v, s, loc) for k, v, s, loc in cfg.items()}
    assert items["scan.profiles"][0] == ["from-package"]
    assert items["scan.jobs"] == (4, "auditor.toml", ("auditor.toml", 2))
    assert items["rules.AUD103"][1].endswith("[package.metadata.auditor]")
    assert "budget" in items
    js = cfg.to_json()
    assert js["layers"][0] == "crates/app/Cargo.toml [package.metadata.auditor]"


def test_auditor_toml_found_walking_up_and_hidden_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a/.auditor.toml", "[gate]\nmax-increase = \"5%\"\n")
    write(tmp_path / "a/b/c/Cargo.toml", "[package]\nname = \"c\"\nversion = \"0.1.0\"\n")
    cfg = load_config(tmp_path / "a/b/c")
    assert cfg.get("gate.max-increase") == "5%"
    assert cfg.location("gate.max-increase") == ("a/.auditor.toml", 2)
    write(tmp_path / "a/auditor.toml", "")
    with pytest.raises(AuditorError, match="both auditor.toml and .auditor.toml"):
        load_config(tmp_path / "a/b/c")


def test_excluded_member_does_not_use_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "Cargo.toml", """
        [workspace]
        members = []
        exclude = ["standalone"]
        [workspace.metadata.auditor.scan]
        jobs = 3
    """)
    write(tmp_path / "standalone/Cargo.toml", "[package]\nname = \"s\"\nversion = \"0.1.0\"\n")
    assert load_config(tmp_path / "standalone").get("scan.jobs") is None
    write(tmp_path / "member/Cargo.toml", "[package]\nname = \"m\"\nversion = \"0.1.0\"\n")
    assert load_config(tmp_path / "member").get("scan.jobs") == 3


@pytest.mark.parametrize("body, pos, message", [
    ('[scan]\nprofile = ["x"]\n', "2:1", "unknown config key 'profile' in [scan]"),
    ('[scna]\njobs = 1\n', "1:1", "unknown config key 'scna' at top level"),
    ('[rules]\nAUD999 = "off"\n', "2:1", "unknown rule id 'AUD999'"),
    ('[rules]\nAUD103 = "loud"\n', "2:1", "rules.AUD103: expected one of error, warning, note, off"),
    ('[scan]\njobs = "two"\n', "2:1", "scan.jobs: expected a positive integer"),
    ('# c\n\n[[budget]]\nname = "x"\nraw = "150 KBs"\n', "5:1", "unknown unit"),
    ('[[budget]]\nname = "x"\ncrate = { core = true }\n', "3:11", "budget.0.crate.core"),
    ('[[scenario]]\nargs = [1]\n', "1:1", "'export' is required"),
    ('[[scenario]]\nexport = "f"\nexpect = "crash"\n', "3:1", "expected one of \"ok\", \"graceful-error\", \"trap\""),
    ('[profile.tiny]\nopt-level = "x"\n', "2:1", "profile.tiny.opt-level"),
    ('[allocator.mine]\ncrate = "m"\nitme = "m::A"\n', "3:1", "unknown config key 'itme' in [allocator.mine]"),
    ('[rules.AUD105]\nmax = "many"\n', "2:1", "rules.AUD105.max: expected int"),
    ('[rules.AUD105]\nmin = 2\n', "2:1", "unknown setting 'min' for rule AUD105"),
    # a cap `auditor run` / `scan` refuse is refused when the config loads (`auditor config` too)
    ('[runtime]\nmemory-limit = "0 pages"\n', "2:1", "runtime.memory-limit: '0 pages' is below one 64 KiB page"),
    ('[runtime]\nmemory-limit = 1000\n', "2:1", 'below one 64 KiB page (a bare number is bytes: "1000 pages" is pages)'),
    ('[[scenario]]\nexport = "f"\nmemory-limit = "60 KiB"\n', "3:1", "scenario.0.memory-limit: '60 KiB' is below"),
    # [[scenario]] tables get the checks Scenario.from_dict runs (config/schema.py scenario_problem)
    ('[[scenario]]\nexport = "f"\nargs = 5\n', "3:1", "scenario.0.args: expected a list of numbers"),
    ('[[scenario]]\nexport = "f"\nfuel = 18446744073709551616\n', "3:1",
     "scenario.0.fuel: expected an integer from 1 to 18446744073709551615"),
    ('[[scenario]]\nexport = "f"\nexpect = "graceful-error"\n', "3:1",
     'scenario.0.expect: expect = "graceful-error" needs `error-value`'),
])
def test_schema_errors_name_file_line_col(tmp_path, monkeypatch, body, pos, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "crate/Cargo.toml", "[package]\nname = \"c\"\nversion = \"0.1.0\"\n")
    cf = write(tmp_path / "cfg.toml", body)
    with pytest.raises(AuditorError) as e:
        load_config(tmp_path / "crate", config_file=cf)
    assert message in e.value.what
    assert e.value.where == f"cfg.toml:{pos}"
    assert e.value.exit_code == 2


def test_errors_in_package_metadata_point_into_cargo_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "Cargo.toml", """
        [package]
        name = "c"
        version = "0.1.0"

        [package.metadata.auditor]
        scan.jobs = 1
        runtime = { fuel = 1, unknown-imports = "explode" }
    """)
    with pytest.raises(AuditorError) as e:
        load_config(tmp_path)
    line = (tmp_path / "Cargo.toml").read_text().splitlines()[6]
    assert e.value.where == f"Cargo.toml:7:{line.index('unknown-imports') + 1}"
    assert "runtime.unknown-imports" in e.value.what


def test_threshold_override_and_level_in_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "auditor.toml", '[rules.AUD105]\nlevel = "error"\nmax = 4\n')
    cfg = load_config(tmp_path)
    assert cfg.rule_level("AUD105") == "error"
    assert cfg.rule_thresholds("AUD105") == {"max": 4}


def test_rule_level_and_thresholds_are_keys_of_their_own(tmp_path, monkeypatch):
    """First found wins per key: a threshold set above does not hide a level set below."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "auditor.toml", '[rules]\nAUD403 = "error"\nAUD105 = { max = 2, level = "note" }\n')
    write(tmp_path / "Cargo.toml", '[package]\nname = "c"\nversion = "0.1.0"\n'
          '[package.metadata.auditor.rules]\nAUD403 = { max_bytes = 100 }\nAUD105 = "off"\n')
    cfg = load_config(tmp_path)
    assert (cfg.rule_level("AUD403"), cfg.rule_thresholds("AUD403")) == ("error", {"max_bytes": 100})
    assert (cfg.rule_level("AUD105"), cfg.rule_thresholds("AUD105")) == ("off", {"max": 2})
    # and `auditor config` shows each of them with its own source line
    shown = {k: (v, loc) for k, v, _, loc in cfg.items()}
    assert shown["rules.AUD403.level"] == ("error", ("auditor.toml", 2))
    assert shown["rules.AUD403.max_bytes"] == (100, ("Cargo.toml", 5))
    assert shown["rules.AUD105.level"] == ("off", ("Cargo.toml", 6))
    assert shown["rules.AUD105.max"] == (2, ("auditor.toml", 3))


def test_malformed_toml_gives_line_and_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "Cargo.toml", '[package]\nname = "c"\nversion = 0.1.0\n')
    with pytest.raises(AuditorError) as e:
        load_config(tmp_path)
    assert e.value.where.startswith("Cargo.toml:3:")
    assert e.value.what.startswith("parse error: ")
    assert "(at line" not in e.value.what


def test_missing_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AuditorError, match="config file not found"):
        load_config(tmp_path, config_file=tmp_path / "nope.toml")


def test_cli_nested_and_bad_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(tmp_path, cli={"runtime": {"fuel": 10, "memory-limit": None}, "scan.jobs": 2})
    assert cfg.get("runtime") == {"fuel": 10}
    assert cfg.location("runtime.fuel") is None
    with pytest.raises(AuditorError) as e:
        load_config(tmp_path, cli={"scan.jobs": 0})
    assert e.value.where == "command line: scan.jobs"
    assert e.value.what == "expected a positive integer"  # the key is named once, by `where`


def test_get_returns_copies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "auditor.toml", '[scan]\nprofiles = ["a"]\n')
    cfg = load_config(tmp_path)
    cfg.get("scan.profiles").append("b")
    assert cfg.get("scan.profiles") == ["a"]


def test_paths_outside_cwd_are_relative_when_near_else_absolute(tmp_path, monkeypatch):
    write(tmp_path / "c/auditor.toml", "[scan]\njobs = 1\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    cfg = load_config(tmp_path / "c")
    assert cfg.location("scan.jobs") == ("../c/auditor.toml", 2)
    monkeypatch.chdir("/usr")
    cfg = load_config(tmp_path / "c")
    assert cfg.location("scan.jobs") == (str(tmp_path / "c/auditor.toml"), 2)
    assert os.path.isabs(cfg.source("scan.jobs"))
