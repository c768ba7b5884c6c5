"""tests/refcache.py: a stored answer comes back only for the same name, key, code and
sources; WASM_STAGE is what the import rule lets the wasm stage run."""

from __future__ import annotations

import ast
from pathlib import Path

import test_architecture as arch

import refcache

REPO = Path(__file__).resolve().parent.parent


def test_hit_miss_and_off(tmp_path, monkeypatch):
    monkeypatch.setenv(refcache.ENV, str(tmp_path))
    calls = []

    def compute(value):
        calls.append(value)
        return {"answer": value}

    assert refcache.cached("t", 1, lambda: compute("a")) == {"answer": "a"}
    assert refcache.cached("t", 1, lambda: compute("b")) == {"answer": "a"}  # stored
    assert refcache.cached("t", 2, lambda: compute("c")) == {"answer": "c"}  # another key
    assert refcache.cached("u", 1, lambda: compute("d")) == {"answer": "d"}  # another name
    assert refcache.cached("t", 1, lambda: compute("e"), code=[compute]) == {"answer": "e"}  # another code
    assert refcache.cached("t", 1, lambda: compute("f"), tree=refcache.WASM_STAGE) == {"answer": "f"}
    assert calls == ["a", "c", "d", "e", "f"]
    for entry in tmp_path.rglob("*.pickle"):
        entry.write_bytes(b"not a pickle")  # a damaged entry is computed again
    assert refcache.cached("t", 1, lambda: compute("g")) == {"answer": "g"}
    monkeypatch.setenv(refcache.ENV, "off")
    assert refcache.cached("t", 1, lambda: compute("h")) == {"answer": "h"}


def test_a_source_edit_is_another_key(tmp_path, monkeypatch):
    monkeypatch.setenv(refcache.ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(refcache, "REPO", tmp_path)
    (tmp_path / "auditor" / "wasm").mkdir(parents=True)
    source = tmp_path / "auditor" / "wasm" / "x.py"
    source.write_text("A = 1\n")
    tree = ("auditor/wasm",)
    assert refcache.cached("t", 1, lambda: 1, tree=tree) == 1
    assert refcache.cached("t", 1, lambda: 2, tree=tree) == 1
    source.write_text("A = 2\n")
    refcache.code_identity.cache_clear()
    try:
        assert refcache.cached("t", 1, lambda: 3, tree=tree) == 3
    finally:
        refcache.code_identity.cache_clear()


def test_only_the_newest_entries_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(refcache.ENV, str(tmp_path))
    monkeypatch.setattr(refcache, "KEEP", 3)
    for k in range(6):
        refcache.cached("t", k, lambda k=k: k)
    assert len(list((tmp_path / "t").glob("*.pickle"))) == 3


def test_wasm_stage_is_what_the_import_rule_lets_wasm_run():
    """auditor.wasm may import records and the helper modules (which import nothing of
    ours): exactly the code WASM_STAGE hashes; and the rules files it hashes are the ones
    that code reads (every load_rules_file call names a literal file; nothing else lists
    the rules directory)."""
    assert arch.ALLOWED["wasm"] == {"records"} and arch.ALLOWED["records"] == set() == arch.ALLOWED["helpers"]
    helpers = set()
    for module in arch.HELPERS:
        path = REPO / Path(*module.split("."))
        helpers.add(str((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(REPO)))
    code = {p for p in refcache.WASM_STAGE if not p.startswith("rules/")}
    assert code == {"auditor/wasm", "auditor/records"} | helpers
    read = set()
    for top in code:
        for path in [REPO / top] if top.endswith(".py") else sorted((REPO / top).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
                if name == "rules_dir":
                    assert path.name == "data.py", f"{path}: lists the rules directory"
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) \
                        == "load_rules_file":
                    [arg] = node.args
                    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), f"{path}:{node.lineno}"
                    read.add(f"rules/{arg.value}")
    assert read == set(refcache.WASM_STAGE) - code
