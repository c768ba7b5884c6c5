"""Shadow workspaces: what is copied, which paths are rewritten, the generated glue crate."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from auditor.build.matrix import load_allocators
from auditor.build.shadow import GLUE, ShadowSet, probe_source
from auditor.build.workspace import CrateInfo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def layout(tmp_path):
    """outer/{.cargo/config.toml, ext/, ws/{Cargo.toml, a/, lib/, vendor/, target/, .git/}}"""
    outer = tmp_path / "outer"
    ws = outer / "ws"
    for d in ("a/src", "lib/src", "vendor", "target/release", ".git", "a/target/debug"):
        (ws / d).mkdir(parents=True)
    (ws / "target" / "CACHEDIR.TAG").write_text("x")
    (ws / "target" / "release" / "big.bin").write_text("x")
    (ws / ".git" / "HEAD").write_text("ref")
    (ws / "Cargo.toml").write_text('[workspace]\nmembers = ["a"]\n\n[patch.crates-io]\np = { path = "../p3" }\n'
                                   'q = { path = "lib" }\n')
    (ws / "a" / "Cargo.toml").write_text(
        '[package]\nname = "a"\nversion = "0.1.0"\n\n[lib]\ncrate-type = ["cdylib"]\n\n'
        '# keep this comment\n[dependencies]\ninside = { path = "../lib" }\noutside = { path = "../../ext" }\n'
        'reg = "1"\n\n[target.\'cfg(unix)\'.dependencies]\nt = { path = "../../ext2" }\n')
    (ws / "a" / "src" / "lib.rs").write_text("pub fn f() {}\n")
    (ws / "Cargo.lock").write_text("# lock\n")
    (outer / "ext" / "src").mkdir(parents=True)
    (outer / ".cargo").mkdir()
    (outer / ".cargo" / "config.toml").write_text(
        'paths = ["ext"]\n[source.vendored]\ndirectory = "ws/vendor"\n'
        '[env]\nDATA = { value = "ext/data", relative = true }\n')
    (ws / ".cargo").mkdir()
    (ws / ".cargo" / "config.toml").write_text('[source.other]\ndirectory = "../ext"\n')
    crate = CrateInfo(name="a", version="0.1.0", manifest_path=ws / "a" / "Cargo.toml", workspace_root=ws,
                      lib_src=ws / "a" / "src" / "lib.rs", lib_name="a", crate_types=["cdylib"], dependencies=set(),
                      members=["a"], target_directory=ws / "target")
    return tmp_path, outer, ws, crate


def test_copy_rewrites_only_paths_that_leave_the_workspace(layout):
    tmp, outer, ws, crate = layout
    with ShadowSet(crate, tmp / "tmp") as shadows:
        tree = shadows.tree("plain", None, glue=False)
        copy = tree.workspace
        assert copy == tree.mirror / ws.relative_to("/")
        assert not (copy / "target").exists() and not (copy / ".git").exists() and not (copy / "a" / "target").exists()
        assert (copy / "Cargo.lock").read_text() == "# lock\n" and (copy / "vendor").is_dir()
        member = (copy / "a" / "Cargo.toml").read_text()
        assert "# keep this comment" in member
        deps = tomllib.loads(member)
        assert deps["dependencies"]["inside"] == {"path": "../lib"}
        assert deps["dependencies"]["outside"] == {"path": str(outer / "ext")}
        assert deps["dependencies"]["reg"] == "1"
        assert deps["target"]["cfg(unix)"]["dependencies"]["t"] == {"path": str(outer / "ext2")}
        root = tomllib.loads((copy / "Cargo.toml").read_text())
        assert root["patch"]["crates-io"] == {"p": {"path": str(outer / "p3")}, "q": {"path": "lib"}}
        # The workspace's own config: a path leaving the tree becomes absolute.
        assert tomllib.loads((copy / ".cargo" / "config.toml").read_text())["source"]["other"]["directory"] == \
            str(outer / "ext")
        # The parent's config sits at the mirrored place; paths outside the tree made absolute,
        # paths into the tree kept relative (they now reach the copy).
        anc = tomllib.loads((tree.mirror / outer.relative_to("/") / ".cargo" / "config.toml").read_text())
        assert anc["paths"] == [str(outer / "ext")]
        assert anc["source"]["vendored"]["directory"] == "ws/vendor"
        assert anc["env"]["DATA"] == {"value": str(outer / "ext" / "data"), "relative": False}
        # Neighbours outside the workspace are reachable (include! of ../../x) through links.
        link = tree.mirror / outer.relative_to("/") / "ext"
        assert link.is_symlink() and os.readlink(link) == str(outer / "ext")
        assert tree.original(str(copy / "a" / "src" / ".." / "src" / "lib.rs")) == ws / "a" / "src" / "lib.rs"
        base = shadows.base
        assert base.is_dir()
    assert not base.exists() and os.listdir(tmp / "tmp") == []  # nothing left behind


def test_user_files_untouched(layout):
    tmp, outer, ws, crate = layout
    before = {p: p.read_bytes() for p in outer.rglob("*") if p.is_file()}
    alloc = load_allocators()["fixture_bump"]
    with ShadowSet(crate, tmp / "tmp") as shadows:
        shadows.tree("fixture_bump", alloc, glue=True)
        shadows.tree("plain", None, glue=False)
    assert {p: p.read_bytes() for p in outer.rglob("*") if p.is_file()} == before


def test_glue_crate_and_crate_root_wiring(layout):
    tmp, outer, ws, crate = layout
    alloc = load_allocators()["fixture_bump"]
    with ShadowSet(crate, tmp / "tmp") as shadows:
        tree = shadows.tree("fixture_bump", alloc, glue=True)
        assert tree.glue is not None and tree.mirror not in tree.glue.parents  # outside the copied tree
        manifest = tomllib.loads(tree.manifest.read_text())
        assert manifest["dependencies"][GLUE] == {"path": str(tree.glue)}
        lib = (tree.workspace / "a" / "src" / "lib.rs").read_text()
        assert lib.startswith("pub fn f() {}\n")  # the user's lines keep their numbers
        assert lib.rstrip().endswith(f"extern crate {GLUE} as _;")
        glue = tomllib.loads((tree.glue / "Cargo.toml").read_text())
        assert glue["dependencies"]["auditor_fixture_bump"] == {"path": alloc.source["path"]}
        assert glue["features"] == {"probes": []} and "workspace" in glue
        rs = (tree.glue / "src" / "lib.rs").read_text()
        assert "#![no_std]" in rs and alloc.static_item() in rs and '#[cfg(feature = "probes")]' in rs
        assert (tree.glue / "src" / "probes.rs").read_text().endswith(probe_source())
        plain = shadows.tree("plain+probes", None, glue=True)
        assert "#[global_allocator]" not in (plain.glue / "src" / "lib.rs").read_text()
        assert "dependencies" not in tomllib.loads((plain.glue / "Cargo.toml").read_text()) or \
            not tomllib.loads((plain.glue / "Cargo.toml").read_text())["dependencies"]


def test_concurrent_scans_of_one_crate_get_separate_dirs(layout):
    tmp, outer, ws, crate = layout
    with ShadowSet(crate, tmp / "tmp") as a, ShadowSet(crate, tmp / "tmp") as b:
        assert a.base != b.base and a.base.is_dir() and b.base.is_dir()
        b_base = b.base
    assert not a.base.exists() and not b_base.exists()
