"""Profiles and allocators as data: cargo --config arguments, config overrides, selection."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from auditor.build.matrix import Profile, build_matrix, load_allocators, load_profiles, match_allocator
from auditor.config import load_config
from auditor.errors import AuditorError

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"


def _config(tmp_path: Path, text: str):
    crate = tmp_path / "crate"
    crate.mkdir(exist_ok=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    cfg = tmp_path / "auditor.toml"
    cfg.write_text(text)
    return load_config(crate, config_file=cfg)


def test_builtin_profiles_are_the_issue_list():
    profiles = load_profiles()
    assert list(profiles) == ["release", "opt-s", "opt-z", "lto", "cgu1", "panic-abort", "strip",
                              "min-size-s", "min-size-z", "nightly-min-size"]
    data = tomllib.loads((RULES / "profiles.toml").read_text())["profile"]
    for name in ("min-size-s", "min-size-z"):
        s = data[name]
        assert (s["lto"], s["codegen-units"], s["panic"], s["strip"]) == (True, 1, "abort", True)
    assert (data["min-size-s"]["opt-level"], data["min-size-z"]["opt-level"]) == ("s", "z")
    # issue 9: build-std with optimize_for_size, immediate-abort, no location/fmt-debug detail
    n = data["nightly-min-size"]
    assert n["requires-unstable"] and n["immediate-abort"] and n["opt-level"] == "z" and n["lto"] is True
    assert set(n["rustflags"]) == {"-Zlocation-detail=none", "-Zfmt-debug=none"}
    assert "build-std-features=optimize_for_size" in n["cargo-unstable"]
    args = profiles["nightly-min-size"].config_args()
    assert args[:3] == ["-Zbuild-std=std,panic_abort", "-Zbuild-std-features=optimize_for_size", "-Zprofile-rustflags"]
    assert not any("cargo-unstable" in a or "requires-unstable" in a or "immediate-abort" in a for a in args)


def test_config_args_define_a_custom_profile_inheriting_release():
    assert load_profiles()["release"].config_args() == []  # untouched
    args = load_profiles()["min-size-z"].config_args()
    pairs = [args[i + 1] for i in range(0, len(args), 2)]
    assert set(args[0::2]) == {"--config"}
    assert pairs == ['profile.min-size-z.inherits="release"', 'profile.min-size-z.opt-level="z"',
                     "profile.min-size-z.lto=true", "profile.min-size-z.codegen-units=1",
                     'profile.min-size-z.panic="abort"', "profile.min-size-z.strip=true"]
    # Every value parses back as TOML to the setting it came from.
    for pair in pairs:
        key, value = pair.split("=", 1)
        parsed = tomllib.loads(f"v = {value}")["v"]
        assert load_profiles()["min-size-z"].settings[key.split(".")[-1]] == parsed


def test_nested_and_quoted_keys():
    p = Profile("tiny", {"opt-level": "z", "package": {"*": {"opt-level": 3}}, "build-override": {"debug": False}})
    args = p.config_args()
    assert 'profile.tiny.package."*".opt-level=3' in args
    assert "profile.tiny.build-override.debug=false" in args
    assert 'profile.tiny.inherits="release"' in args  # added when missing


def test_config_overrides_and_adds_profiles(tmp_path):
    cfg = _config(tmp_path, '[profile.opt-z]\ncodegen-units = 1\n[profile.tiny]\nopt-level = "s"\nstrip = "symbols"\n')
    profiles = load_profiles(cfg)
    assert profiles["opt-z"].settings == {"inherits": "release", "opt-level": "z", "codegen-units": 1}
    assert profiles["opt-z"].origin.startswith("--config")
    assert profiles["tiny"].settings == {"opt-level": "s", "strip": "symbols"}
    assert 'profile.tiny.inherits="release"' in profiles["tiny"].config_args()


@pytest.mark.parametrize("text, what", [
    ('[profile.test]\nopt-level = "s"\n', "cannot be a cargo profile"),
    ('[profile.release]\ninherits = "dev"\n', "cargo's own and cannot set `inherits`"),
])
def test_bad_profile_config_is_located(tmp_path, text, what):
    cfg = _config(tmp_path, text)
    with pytest.raises(AuditorError) as e:
        load_profiles(cfg)
    assert what in e.value.what and "auditor.toml:" in e.value.where


def test_default_allocator_selection_follows_the_data():
    table = tomllib.loads((RULES / "allocators.toml").read_text())["allocator"]
    expected = [n for n, e in table.items() if e.get("matrix", True)]
    m = build_matrix(None)
    assert [a.name for a in m.allocators] == expected
    assert "default" in expected and "fixture_bump" not in expected
    assert m.allocators[0].inject is False


def test_allocator_source_override_replaces_the_registry_version(tmp_path):
    cfg = _config(tmp_path, '[allocator.wee_alloc]\npath = "vendor/wee_alloc"\n')
    a = load_allocators(cfg)["wee_alloc"]
    assert a.source == {"path": str((tmp_path / "vendor" / "wee_alloc").resolve())}  # relative to the config file
    assert a.type == "wee_alloc::WeeAlloc" and a.item == "wee_alloc::WeeAlloc::INIT"
    assert a.dependency_line() == f'wee_alloc = {{ path = "{(tmp_path / "vendor" / "wee_alloc").resolve()}" }}'
    bump = load_allocators()["fixture_bump"]
    assert bump.source["path"] == str(REPO / "fixtures" / "allocators" / "bump")  # rules paths: repo-relative


def test_user_allocator_needs_its_keys(tmp_path):
    cfg = _config(tmp_path, '[allocator.mine]\ncrate = "my_alloc"\nversion = "1"\n')
    with pytest.raises(AuditorError) as e:
        load_allocators(cfg)
    assert "allocator 'mine' needs type, item" in e.value.what and "auditor.toml:" in e.value.where


def test_selection_errors_name_the_known_entries(tmp_path):
    with pytest.raises(AuditorError) as e:
        build_matrix(None, profiles=["release", "nope"])
    assert e.value.where == "--profiles" and "unknown profile 'nope'" in e.value.what and "min-size-z" in e.value.what
    cfg = _config(tmp_path, '[scan]\nallocators = ["default", "bogus"]\n')
    with pytest.raises(AuditorError) as e:
        build_matrix(cfg)
    assert "unknown allocator 'bogus'" in e.value.what and "auditor.toml:" in e.value.where
    m = build_matrix(None, profiles="opt-z,release", allocators=["default", "default"])
    assert [(p.name, a.name) for p, a in m.variants()] == [("opt-z", "default"), ("release", "default")]


def test_pinned_type_matching():
    known = load_allocators()
    assert match_allocator("FreeListAlloc", {"auditor_fixture_freelist"}, known).name == "fixture_freelist"
    assert match_allocator("wee_alloc::WeeAlloc", set(), known).name == "wee_alloc"
    assert match_allocator("MyOwnAlloc", {"serde"}, known) is None
