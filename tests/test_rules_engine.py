"""The rule engine: its check language, config overrides, and the module/runtime/scan rules
on real modules (figures checked against wasm-objdump) and on documented JSON contracts."""

from __future__ import annotations

import math
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.rules import catalog
from auditor.rules.catalog import load_catalog
from auditor.rules.engine import evaluate, evaluate_rule, select

REPO = Path(__file__).resolve().parents[1]


def rule(**kw):
    base = dict(id="AUD998", title="t", category="size", level="warning", kind="inspect", why="w", fix="f")
    base.update(kw)
    return catalog.Rule(**base)


def rules_dir_with(tmp_path: Path, name: str, text: str) -> Path:
    """A copy of rules/ plus one more rule file: what a user adding a rule does."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / name).write_text(textwrap.dedent(text))
    return rules


def by_rule(findings):
    out: dict = {}
    for f in findings:
        out.setdefault(f.rule, []).append(f)
    return out


# --------------------------------------------------------------------------- the language


def test_select_fans_out_and_keeps_missing_apart():
    facts = {"a": [{"b": [1, 2]}, {"b": [3]}, {}], "d": {"x": {"v": 1}, "y": {"v": 2}}}
    assert select(facts, "a[*].b[*]") == [1, 2, 3]
    assert select(facts, "d[*].v") == [1, 2]
    assert select(facts, "a[1].b[0]") == [3]
    assert select(facts, "nope[*]") == []


def test_conditions_compute_thresholds_and_templates():
    r = rule(
        message="{let.n} big functions, {let.bytes:bytes} total; largest {let.top}; over {threshold.min:bytes}",
        thresholds={"min": 100},
        check={
            "compute": {
                "n": {"op": "count", "from": "functions[*]", "where": [{"path": "size", "op": "ge", "threshold": "min"}]},
                "bytes": {"op": "sum", "from": "functions[*]", "field": "size",
                          "where": [{"path": "size", "op": "ge", "threshold": "min"}]},
                "top": {"op": "max", "from": "functions[*]", "field": "size"},
                "pages": {"expr": "ceil(({let.bytes} + 1) / 65536) + max(1, 2)"},
            },
            "when": [{"path": "let.n", "op": "gt", "value": 0},
                     {"any": [{"path": "let.pages", "op": "eq", "value": 3}, {"path": "x", "op": "exists"}]},
                     {"not": {"path": "name", "op": "matches", "value": "^skip"}}],
        })
    facts = {"name": "m", "functions": [{"size": 50}, {"size": 150}, {"size": 2000}]}
    c = evaluate_rule(r, facts, target="m")
    assert c.status == "fail"
    assert c.findings[0].message == "2 big functions, 2.1 KiB total; largest 2000; over 100 B"
    assert math.ceil((2150 + 1) / 65536) + 2 == 3


def test_template_fallback_for_null_or_missing_values():
    r = rule(message="in {name?an unnamed function}; {gone?n/a}; {size:bytes??}; {name}",
             check={"when": [{"path": "size", "op": "gt", "value": 0}]})
    assert evaluate_rule(r, {"name": None, "size": 2048}, target="x").findings[0].message == \
        "in an unnamed function; n/a; 2.0 KiB; none"
    assert evaluate_rule(r, {"name": "f", "size": 5}, target="x").findings[0].message == "in f; n/a; 5 B; f"


def test_unchecked_grow_in_a_module_without_names_is_not_called_none():
    # grow_sites.wat has no name section; its unchecked sites are functions 1 and 3 at file
    # offsets 135 and 155 (hand-computed in the fixture's header).
    from auditor.wasm.inspect import inspect_file

    from fixturelib import wat

    findings, _ = evaluate("inspect", inspect_file(wat("grow_sites")).to_json())
    assert [f.message for f in findings if f.rule == "AUD303"] == [
        f"memory.grow in an unnamed function (function {i}, offset {o}) is {use}: its -1 failure result is not "
        "compared before use" for i, o, use in ((1, 135, "unchecked"), (3, 155, "dropped"))]


def test_missing_fact_is_not_measured_not_pass():
    r = rule(check={"when": [{"path": "churn.verdict", "op": "eq", "value": "leak"}]})
    c = evaluate_rule(r, {"file": "x"}, target="x")
    assert c.status == "error" and "churn.verdict" in c.message
    r2 = rule(check={"measurable": [{"path": "oom.outcome", "op": "ne", "value": "not-probed"}],
                     "when": [{"path": "oom.outcome", "op": "eq", "value": "out-of-bounds"}]})
    assert evaluate_rule(r2, {"oom": {"outcome": "not-probed"}}, target="x").status == "error"
    assert evaluate_rule(r2, {"oom": {"outcome": "null"}}, target="x").status == "pass"
    # an empty list is a measured zero, a missing list is not
    r3 = rule(check={"for-each": "memory_grow_sites[*]", "when": [{"path": "checked", "op": "eq", "value": False}]})
    assert evaluate_rule(r3, {"memory_grow_sites": []}, target="x").status == "pass"
    assert evaluate_rule(r3, {}, target="x").status == "error"


def test_bools_are_not_numbers():
    r = rule(check={"when": [{"path": "v", "op": "in", "value": [1, 0]}]})
    assert evaluate_rule(r, {"v": True}, target="x").status == "pass"
    assert evaluate_rule(r, {"v": 1}, target="x").status == "fail"


def test_config_overrides_level_threshold_and_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "auditor.toml").write_text('[rules]\nAUD403 = { level = "error", max_bytes = 10 }\nAUD402 = "off"\n')
    cfg = load_config(tmp_path)
    facts = {"file": "m.wasm", "bytes": 1000, "named_functions": {"count": 2},
             "sections": [{"name": "name", "custom": True, "size": 40}],
             "functions": [{"demangled": "core::fmt::write", "size": 11}, {"demangled": "app::f", "size": 5}]}
    findings, checks = evaluate("inspect", facts, cfg)
    got = by_rule(findings)
    assert got["AUD403"][0].level == "error" and "threshold 10 B" in got["AUD403"][0].message
    assert "AUD402" not in got and "AUD402" not in {c.rule for c in checks}
    findings, _ = evaluate("inspect", facts)  # defaults: 11 bytes is under 4096, name section is a note
    assert "AUD403" not in by_rule(findings) and by_rule(findings)["AUD402"][0].level == "note"


def test_a_new_rule_needs_no_python(tmp_path, monkeypatch):
    rules = rules_dir_with(tmp_path, "extra.toml", '''
        [[rule]]
        id = "AUD499"
        title = "Too many exports"
        category = "size"
        level = "warning"
        kind = "inspect"
        why = "each export keeps its function alive"
        fix = "export less"
        message = "{let.n} exports (limit {threshold.max})"
        [rule.thresholds]
        max = 1
        [rule.check]
        compute.n = { op = "count", from = "exports[*]", where = [{ path = "kind", op = "eq", value = "func" }] }
        when = [{ path = "let.n", op = "gt", threshold = "max" }]
    ''')
    monkeypatch.setenv("AUDITOR_RULES_DIR", str(rules))
    load_catalog.cache_clear()
    try:
        findings, _ = evaluate("inspect", {"file": "m.wasm", "exports": [{"kind": "func"}, {"kind": "func"}, {"kind": "memory"}]})
        assert [f.message for f in findings if f.rule == "AUD499"] == ["2 exports (limit 1)"]
        monkeypatch.chdir(tmp_path)
        (tmp_path / "auditor.toml").write_text('[rules]\nAUD499 = "off"\n')  # and config knows its id
        assert load_config(tmp_path).rule_level("AUD499") == "off"
    finally:
        load_catalog.cache_clear()


def test_a_new_manifest_rule_through_lint_config_sarif_and_fix(tmp_path):
    """End to end in subprocesses: a rule file dropped into the rules directory is listed,
    reported at its line, levelled by config, described in SARIF and applied by fix."""
    import json
    import os
    import sys

    rules = rules_dir_with(tmp_path, "local.toml", '''
        [[rule]]
        id = "AUD199"
        title = "Incremental compilation in the shipped profile"
        category = "profile"
        level = "warning"
        kind = "manifest"
        why = "incremental builds split code like codegen-units do"
        fix = "Set incremental = false."
        message = "[profile.{profile.name}] {profile.show.incremental}"
        autofix = { incremental = false }
        [rule.check]
        when = [{ path = "profile.declared", op = "eq", value = true },
                { path = "profile.effective.incremental", op = "eq", value = true }]
        at = ["profile.at.incremental", "profile"]
    ''')
    crate = tmp_path / "c"
    (crate / "src").mkdir(parents=True)
    (crate / "src/lib.rs").write_text("")
    (crate / "Cargo.toml").write_text('[package]\nname = "c"\nversion = "0.1.0"\n\n[profile.release]\n'
                                      'opt-level = "z"\nincremental = true\n')
    env = {**os.environ, "AUDITOR_RULES_DIR": str(rules)}

    def auditor(*args, env=env):
        return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=crate, env=env,
                              capture_output=True, text=True)

    assert "AUD199" in auditor("lint", "--list-rules").stdout
    out = auditor("lint").stdout
    assert "Cargo.toml:7:1: AUD199 warning: [profile.release] incremental = true\n" in out
    assert "AUD199" not in auditor("lint", env={**env, "AUDITOR_RULES_DIR": str(REPO / "rules")}).stdout
    sarif = json.loads(auditor("lint", "--format", "sarif").stdout)
    [desc] = [r for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "AUD199"]
    assert desc["fullDescription"]["text"] == "incremental builds split code like codegen-units do"
    (tmp_path / "strict.toml").write_text('[rules]\nAUD199 = "error"\n')
    assert auditor("lint", "--config", str(tmp_path / "strict.toml")).returncode == 1
    r = auditor("fix")
    assert "+incremental = false\n" in r.stdout, r.stderr
    assert "AUD199" not in auditor("lint").stdout


@pytest.mark.parametrize("autofix, error", [
    ("{ opt-level = 9 }", "rule AUD198: autofix: opt-level: expected one of"),
    ("{ optlevel = 1 }", "rule AUD198: autofix: optlevel: not a cargo profile key"),
    ("1", "rule AUD198: autofix must be a table"),
])
def test_rule_data_with_a_bad_autofix_is_refused(tmp_path, monkeypatch, autofix, error):
    """`fix` writes autofix values into users' manifests: ones cargo refuses never load."""
    from auditor.errors import AuditorError

    (tmp_path / "bad.toml").write_text(textwrap.dedent(f'''
        [[rule]]
        id = "AUD198"
        title = "t"
        category = "profile"
        level = "note"
        kind = "manifest"
        why = "w"
        fix = "f"
        autofix = {autofix}
        [rule.check]
        when = []
    '''))
    monkeypatch.setenv("AUDITOR_RULES_DIR", str(tmp_path))
    load_catalog.cache_clear()
    try:
        with pytest.raises(AuditorError, match=error.replace("(", r"\(")):
            load_catalog()
    finally:
        load_catalog.cache_clear()


def test_catalogue_is_consistent():
    cat = load_catalog()
    ids = list(cat)
    assert len(ids) == len(set(ids))
    for r in cat.values():
        assert r.why and r.fix and r.title
        assert r.id[3] == {"profile": "1", "manifest": "1", "allocator": "2", "memory": "3", "size": "4",
                           "runtime": "5", "budget": "9"}[r.category] or (r.category in ("allocator", "memory") and r.id[3] == "1")
        if r.kind != "check":
            assert r.check, r.id
            for t in r.check.get("when", []):
                assert "op" in t or {"all", "any", "not"} & set(t)


# --------------------------------------------------------------------------- real modules


def objdump_sections(path):
    from objdump import sections

    return sections(path)


def objdump_memory(path) -> str:
    out = subprocess.run(["wasm-objdump", "-x", "-j", "Memory", str(path)], capture_output=True, text=True, check=True).stdout
    return [l for l in out.splitlines() if "memory[0]" in l][0]


def section_total(path, pred) -> int:
    """Bytes of matching sections, with their id byte and size LEB (as inspect counts them)."""
    data = path.read_bytes()
    total = 0
    for name, _start, size in objdump_sections(path):
        if pred(name):
            # header = id byte + LEB of the payload size (+ name for custom sections, inside the payload)
            header = 1
            n = size
            while True:
                header += 1
                n >>= 7
                if not n:
                    break
            total += size + header
    del data
    return total


@pytest.fixture(scope="module")
def release_minimal():
    from fixturelib import build_crate

    return build_crate("minimal")


@pytest.mark.cargo
def test_debug_and_name_sections_on_an_unstripped_build(release_minimal):
    from auditor.wasm.inspect import inspect_file

    facts = inspect_file(release_minimal, compression="none").to_json()
    findings, checks = evaluate("inspect", facts)
    got = by_rule(findings)
    debug = section_total(release_minimal, lambda n: n.startswith(".debug"))
    name = section_total(release_minimal, lambda n: n == "name")
    assert debug > 0 and name > 0
    count = sum(1 for n, _, _ in objdump_sections(release_minimal) if n.startswith(".debug"))
    from auditor.report.table import human_bytes

    assert got["AUD401"][0].message.startswith(f"{count} .debug_* sections ship {human_bytes(debug)} (")
    assert got["AUD402"][0].message.startswith(f"name section ships {human_bytes(name) if name >= 1024 else f'{name} B'}")
    # no maximum in the memory section (wasm-objdump prints max= only when there is one)
    assert "max=" not in objdump_memory(release_minimal)
    assert len(got["AUD301"]) == 1
    # rustc's layout: initial pages = what stack + data need, so AUD302 stays quiet
    assert "AUD302" not in got
    assert {c.rule: c.status for c in checks}["AUD404"] in ("pass", "fail", "error")


@pytest.mark.cargo
def test_stripped_and_capped_build_is_quiet():
    from auditor.wasm.inspect import inspect_file

    from fixturelib import build_crate

    wasm = build_crate("minimal", config=['profile.release.strip=true',
                                          'target.wasm32-unknown-unknown.rustflags=["-C","link-arg=--max-memory=4194304","-C","link-arg=--initial-memory=1966080"]'])
    assert "max=64" in objdump_memory(wasm) and "initial=30" in objdump_memory(wasm)
    facts = inspect_file(wasm, compression="none").to_json()
    findings, checks = evaluate("inspect", facts)
    got = by_rule(findings)
    assert not {"AUD401", "AUD402", "AUD301"} & set(got)
    # stripped: no names, so the fmt rule cannot measure instead of passing silently
    assert {c.rule: c.status for c in checks}["AUD403"] == "error"
    # 30 initial pages where stack + data need 16 (stack 1 MiB, no data): 14 extra, under 16
    assert math.ceil((facts["stack"]["size"] + facts["static_data_bytes"]) / 65536) == 16
    assert "AUD302" not in got


@pytest.mark.cargo
def test_initial_memory_far_above_need(tmp_path, monkeypatch):
    from auditor.wasm.inspect import inspect_file

    from fixturelib import build_crate

    wasm = build_crate("minimal", config=['target.wasm32-unknown-unknown.rustflags=["-C","link-arg=--initial-memory=4194304"]'])
    assert "initial=64" in objdump_memory(wasm)
    facts = inspect_file(wasm, compression="none").to_json()
    need = math.ceil((facts["stack"]["size"] + facts["static_data_bytes"]) / 65536)
    f = by_rule(evaluate("inspect", facts)[0])["AUD302"][0]
    assert f.message.startswith(f"memory 0: 64 initial pages but stack + data need {need} ({64 - need} pages")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "auditor.toml").write_text("[rules.AUD302]\nextra_pages = 64\n")
    assert "AUD302" not in by_rule(evaluate("inspect", facts, load_config(tmp_path))[0])


@pytest.mark.cargo
def test_panic_fmt_machinery_on_heavy_crate():
    from auditor.wasm.inspect import inspect_file

    from fixturelib import build_crate

    wasm = build_crate("heavy")
    facts = inspect_file(wasm, compression="none").to_json()
    f = by_rule(evaluate("inspect", facts)[0]).get("AUD403")
    assert f, "heavy crate should carry >4 KiB of core::fmt / panic code"
    fmt = [fn for fn in facts["functions"] if fn["demangled"] and "core::fmt::" in fn["demangled"]]
    assert fmt and sum(fn["size"] for fn in fmt) > 0


# --------------------------------------------------------------------------- runtime and scan contracts


RUN_LEAK = {
    "schema": "auditor.run/1", "file": "bump.wasm",
    "oom": {"outcome": "unreachable", "pages": 64},
    "churn": {"verdict": "leak", "pages_after_warmup": 20, "pages_end": 64, "slope": 3.5},
    "hold_release": {"verdict": "plateau", "pages_after_warmup": 18, "pages_end": 18, "steps": 50},
    "fragmentation": {"verdict": "grow", "reason": "grew 1 page"},
    "realloc": {"verdict": "moving"},
    "scenarios": [
        {"name": "safe_allocation(200000000)", "export": "safe_allocation", "expected": "graceful-error",
         "error_value": 0, "observed": "unreachable", "passed": False},
        {"name": "f()", "export": "f", "expected": "ok", "observed": "ok", "passed": True},
        {"name": "g()", "export": "g", "expected": "trap", "observed": "ok", "passed": False},
    ],
}


def test_run_rules():
    findings, checks = evaluate("run", RUN_LEAK)
    got = by_rule(findings)
    assert got["AUD501"][0].message == ("churn: leak: memory went from 20 pages after warm-up to 64 "
                                        "(slope 3.5 pages per 1,000 rounds)")
    assert got["AUD501"][0].file == "bump.wasm"
    assert [f.message for f in got["AUD503"]] == [
        "scenario safe_allocation(200000000): expected a graceful error (0), observed unreachable"]
    assert [f.message for f in got["AUD504"]] == ["scenario g(): expected trap, observed ok"]
    assert "AUD502" not in got and "AUD505" not in got and got["AUD506"][0].level == "note"
    not_probed = {"file": "x.wasm", "oom": {"outcome": "not-probed", "pages": None},
                  "churn": {"verdict": "not-probed", "reason": "no allocation exports"},
                  "hold_release": {"verdict": "not-probed"},
                  "fragmentation": {"verdict": "not-probed"}, "scenarios": []}
    findings, checks = evaluate("run", not_probed)
    assert findings == []
    status = {c.rule: c.status for c in checks}
    assert status["AUD501"] == status["AUD502"] == status["AUD505"] == status["AUD506"] == "error"
    assert status["AUD503"] == "pass"
    why = {c.rule: c.message for c in checks}
    assert why["AUD501"] == "not measured: churn.verdict is not-probed: no allocation exports"
    assert why["AUD502"] == "not measured: hold_release.verdict is not-probed"
    del not_probed["fragmentation"]
    assert {c.rule: c.message for c in evaluate("run", not_probed)[1]}["AUD506"] == \
        "not measured: the report has no fragmentation.verdict"


def wasm_facts(allocator, ambiguous=()):
    return {"schema": "auditor.inspect/1", "file": f"{allocator}.wasm", "bytes": 100, "sections": [],
            "memories": [{"index": 0, "imported": False, "initial_pages": 17, "max_pages": 64}],
            "stack": {"size": 1048576}, "static_data_bytes": 10, "named_functions": {"count": 0},
            "functions": [], "memory_grow_sites": [],
            "allocator": {"name": allocator, "evidence": ["x"], "ambiguous_with": list(ambiguous)}}


def test_scan_rules_tag_variants():
    scan = {"schema": "auditor.scan/1", "crate": {"name": "app", "manifest_path": "app/Cargo.toml"}, "variants": [
        {"profile": "release", "allocator": "wee_alloc", "status": "ok", "wasm": wasm_facts("default")},
        {"profile": "release", "allocator": "dlmalloc", "status": "ok", "wasm": wasm_facts("default", ["dlmalloc"])},
        {"profile": "opt-z", "allocator": "default", "status": "ok", "wasm": wasm_facts("unknown"),
         "runtime": RUN_LEAK},
        {"profile": "opt-z", "allocator": "talc", "status": "failed", "error": "no talc", "wasm": None},
        # a crate that never allocates links no allocator whatever was injected: no mismatch
        {"profile": "opt-s", "allocator": "default", "status": "ok", "wasm": wasm_facts("none")},
        {"profile": "opt-s", "allocator": "talc", "status": "ok", "wasm": wasm_facts("none")},
    ]}
    findings, checks = evaluate("scan", scan)
    got = by_rule(findings)
    assert [(f.variant, f.level) for f in got["AUD201"]] == [("release/wee_alloc", "error")]
    assert "requested allocator wee_alloc but the module links default" in got["AUD201"][0].message
    assert [(c.target, c.status) for c in checks if c.rule == "AUD201"] == [("app/Cargo.toml", "fail")]
    assert [f.variant for f in got["AUD501"]] == ["opt-z/default"]
    failed = [c for c in checks if c.target == "opt-z/talc"]
    assert failed and all(c.status == "error" for c in failed)
    assert not [c for c in checks if c.target == "release/wee_alloc" and c.rule.startswith("AUD5")]  # no runtime


def test_scan_rule_aud201_follows_the_scans_allocator_check():
    """With `allocator_check` in the report (every scan writes one) AUD201 is its
    `mismatch`; the evidence reads as function names, not Python dicts."""
    ev = [{"function": "auditor_fixture_bump::bump_alloc", "size": 225},
          {"function": "auditor_fixture_bump::bump_grow", "size": 85}]
    own = dict(wasm_facts("fixture_bump"), allocator={"name": "fixture_bump", "evidence": ev, "ambiguous_with": []})
    scan = {"schema": "auditor.scan/1", "crate": {"name": "app", "manifest_path": "app/Cargo.toml"}, "variants": [
        # the crate's cfg-chosen #[global_allocator]s: the build's features picked the bump one
        {"profile": "release", "allocator": "own", "status": "ok", "wasm": own,
         "allocator_check": {"requested": "fixture_bump", "detected": "fixture_bump", "status": "match"}},
        {"profile": "opt-z", "allocator": "talc", "status": "ok", "wasm": own,
         "allocator_check": {"requested": "talc", "detected": "fixture_bump", "status": "mismatch"}},
        {"profile": "opt-s", "allocator": "talc", "status": "failed", "wasm": None, "allocator_check": None},
    ]}
    findings, _ = evaluate("scan", scan)
    assert [(f.variant, f.message) for f in findings if f.rule == "AUD201"] == [
        ("opt-z/talc", "variant opt-z/talc: requested allocator talc but the module links fixture_bump "
                       "(evidence: auditor_fixture_bump::bump_alloc, auditor_fixture_bump::bump_grow)")]


def test_unknown_kind():
    from auditor.errors import AuditorError

    with pytest.raises(AuditorError):
        evaluate("nope", {})
