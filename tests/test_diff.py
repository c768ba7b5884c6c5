"""`auditor diff`: hash-insensitive function matching, sorting, --top, marks, inputs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from auditor.gate.diff import normalise
from auditor.pipeline.reports import diff as diff_reports  # loads each side, then gate.diff compares

import clirun
from objdump import sections

REPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
V1, V2 = REPORTS / "scan-v1.json", REPORTS / "scan-v2.json"
WASM1, WASM2 = REPORTS / "demo-0.1.0-opt-z.wasm", REPORTS / "demo-0.2.0-opt-z.wasm"  # opt-z/default of each
HASH = re.compile(r"17h[0-9a-f]{16}E(\.llvm\.[0-9]+)?$")


def run(*args, cwd=None):
    """The CLI in-process (tests/clirun.py)."""
    return clirun.run(args, cwd=cwd)


def objdump_functions(path: Path) -> dict[str, tuple[int, int]]:
    """Mangled name with the hash cut off -> (bytes, count): an independent grouping."""
    out = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(path)], capture_output=True, text=True,
                         check=True).stdout
    groups: dict[str, tuple[int, int]] = {}
    for m in re.finditer(r"func\[\d+\] size=(\d+)(?: <(.*)>)?", out):
        key = HASH.sub("", m.group(2)) if m.group(2) else "(unnamed)"
        size, count = groups.get(key, (0, 0))
        groups[key] = (size + int(m.group(1)), count + 1)
    return groups


def test_hash_changes_do_not_split_functions():
    old, new = objdump_functions(WASM1), objdump_functions(WASM2)
    # the precondition: the two builds really name the same function with different hashes
    raw1 = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(WASM1)], capture_output=True, text=True).stdout
    raw2 = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(WASM2)], capture_output=True, text=True).stdout
    h1 = set(re.findall(r"hash_one17h([0-9a-f]{16})E", raw1))
    h2 = set(re.findall(r"hash_one17h([0-9a-f]{16})E", raw2))
    assert h1 and h2 and not h1 & h2
    pairs = [(old[k][0] if k in old else -1, new[k][0] if k in new else -1) for k in old.keys() | new.keys()]
    expected = sorted(p for p in pairs if p[0] != p[1])
    [module] = diff_reports(str(V1), str(V2), top=0, variant="opt-z/default").modules
    got = sorted((-1 if r.old is None else r.old, -1 if r.new is None else r.new) for r in module.functions.rows)
    assert got == expected
    assert not any(re.search(r"::h[0-9a-f]{16}", r.name) for r in module.functions.rows)
    assert "core::hash::BuildHasher::hash_one" not in {r.name for r in module.functions.rows}  # 504 B both
    added = {r.name for r in module.functions.rows if r.status == "added"}
    assert "sorted_report" in added and not any(r.status == "removed" and r.name in added for r in module.functions.rows)


def test_sorted_by_absolute_delta_and_top():
    full = diff_reports(str(V1), str(V2), top=0, variant="min-size-z/default").modules[0].functions
    deltas = [abs(r.delta) for r in full.rows]
    assert deltas == sorted(deltas, reverse=True) and full.omitted == 0
    top = diff_reports(str(V1), str(V2), top=5, variant="min-size-z/default").modules[0].functions
    assert [r.name for r in top.rows] == [r.name for r in full.rows[:5]]
    assert top.omitted == len(full.rows) - 5
    assert top.omitted_delta == sum(r.delta for r in full.rows[5:])
    assert top.unchanged == full.unchanged > 0


def _leb_len(n: int) -> int:
    return max(1, -(-n.bit_length() // 7))


def test_totals_and_sections_against_wasm_objdump():
    [module] = diff_reports(str(V1), str(V2), variant="opt-z/default").modules
    totals = {r.name: (r.old, r.new) for r in module.totals}
    assert totals["raw"] == (WASM1.stat().st_size, WASM2.stat().st_size)

    def code_bytes(p):
        return sum(1 + _leb_len(size) + size for name, _, size in sections(p) if name == "Code")

    assert totals["code"] == (code_bytes(WASM1), code_bytes(WASM2))
    assert {r.name: (r.old, r.new) for r in module.sections.rows}["code"] == totals["code"]


def test_scan_variant_table_marks_failed_and_new_variants(tmp_path):
    new = json.loads(V2.read_text())
    new["variants"] = [v for v in new["variants"] if v["profile"] != "opt-z" or v["allocator"] != "bump"]
    new["variants"].append(dict(new["variants"][0], profile="opt-s"))
    (tmp_path / "new.json").write_text(json.dumps(new))
    result = diff_reports(str(V1), str(tmp_path / "new.json"))
    rows = {v["variant"]: v for v in result.variants}
    assert rows["opt-s/default"]["old_status"] is None and rows["opt-s/default"]["raw"]["delta"] is None
    assert rows["opt-z/bump"]["new_status"] is None
    assert rows["release/talc"]["new_status"] == "failed"
    assert [m.variant for m in result.modules] == ["release/default", "opt-z/default", "min-size-z/default"]
    text = run("diff", V1, tmp_path / "new.json", "--color", "never").stdout
    assert re.search(r"opt-s/default\s+-\s+5,057,941 B\s+-\s+-\s+new variant", text)
    assert re.search(r"opt-z/bump\s+27,686 B\s+-\s+-\s+-\s+removed", text)


def test_scan_against_inspect_needs_one_variant(tmp_path):
    result = diff_reports(str(V1), str(REPORTS / "inspect-v2.json"), variant="opt-z/default")
    assert result.modules[0].variant == "opt-z/default"
    assert {r.name: r.new for r in result.modules[0].totals}["raw"] == WASM2.stat().st_size
    r = run("diff", V1, REPORTS / "inspect-v2.json", "--variant", "opt-z/*")
    assert r.returncode == 2 and "matches 2" in r.stderr and "Traceback" not in r.stderr
    r = run("diff", V1, REPORTS / "inspect-v2.json", "--variant", "release/talc")
    assert r.returncode == 2 and "variant release/talc failed to build" in r.stderr


def test_cli_text_and_json(tmp_path):
    r = run("diff", REPORTS / "inspect-v1.json", REPORTS / "inspect-v2.json", "--top", "3", "--color", "never")
    assert r.returncode == 0, r.stderr
    assert "Functions (symbol hashes ignored)" in r.stdout
    assert re.search(r"raw\s+40,379 B\s+48,905 B\s+\+8,526 B \(\+21\.1%\)", r.stdout)
    j = json.loads(run("diff", REPORTS / "inspect-v1.json", REPORTS / "inspect-v2.json", "--format", "json").stdout)
    assert j["schema"] == "auditor.diff/1" and j["old"]["kind"] == "inspect"
    fn = j["modules"][0]["functions"]
    assert len(fn["rows"]) == 10 and set(fn) == {"rows", "omitted", "omitted_delta", "unchanged"}
    assert set(fn["rows"][0]) >= {"name", "status", "old", "new", "delta", "delta_percent", "old_count", "new_count"}


def test_bad_input_exit_2(tmp_path):
    (tmp_path / "x.json").write_text("{\n  oops\n}")
    r = run("diff", tmp_path / "x.json", V1)
    assert r.returncode == 2 and f"{tmp_path / 'x.json'}:2:3: not valid JSON" in r.stderr
    r = run("diff", V1, REPORTS / "scan-v2.json", "--variant", "opt-s/*")
    assert r.returncode == 2 and "--variant 'opt-s/*' matches no variant built in both reports" in r.stderr


@pytest.mark.parametrize("name,key", [
    ("core::fmt::write::h0123456789abcdef", "core::fmt::write"),
    ("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"),
    ("_ZN4core3fmt5write17h0123456789abcdefE.llvm.1234567", "core::fmt::write"),
    (None, "(unnamed functions)"),
])
def test_normalise(name, key):
    assert normalise({"name": name, "size": 1}) == key
    assert normalise({"name": "x", "demangled": name, "size": 1}) == (key if name else "x")


def test_two_wasm_files_hash_insensitive_against_objdump():
    """.wasm inputs go through auditor inspect; the grouping matches wasm-objdump's names."""
    old, new = objdump_functions(WASM1), objdump_functions(WASM2)
    pairs = [(old[k][0] if k in old else -1, new[k][0] if k in new else -1) for k in old.keys() | new.keys()]
    result = diff_reports(str(WASM1), str(WASM2), top=0)
    assert (result.old_kind, result.new_kind) == ("wasm", "wasm")
    [module] = result.modules
    got = sorted((-1 if r.old is None else r.old, -1 if r.new is None else r.new) for r in module.functions.rows)
    assert got == sorted(p for p in pairs if p[0] != p[1])
    assert {r.name: (r.old, r.new) for r in module.totals}["raw"] == (WASM1.stat().st_size, WASM2.stat().st_size)
    r = run("diff", WASM1, REPORTS / "inspect-v2.json", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["old"]["kind"] == "wasm"


def test_v0_disambiguators_do_not_split_functions(tmp_path):
    """v0 symbols of one function from two builds differ only in the crate disambiguator."""
    def record(names_sizes):
        return {"schema": "auditor.inspect/1", "file": "m.wasm", "bytes": 100, "gzip": 50, "brotli": 40,
                "sections": [], "memories": [], "crates": [],
                "functions": [{"index": i, "name": n, "size": s} for i, (n, s) in enumerate(names_sizes)]}

    old = record([("_RNvCsbmNqQUJIY6D_7mycrate3foo", 100), ("_RNvCsbmNqQUJIY6D_7mycrate3bar", 50)])
    new = record([("_RNvCs4fqI2P2rA04_7mycrate3foo", 130), ("_RNvCs4fqI2P2rA04_7mycrate3bar", 50),
                  ("mycrate[1a2b3c4d5e6f7a8b]::baz", 7)])
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    [module] = diff_reports(str(tmp_path / "old.json"), str(tmp_path / "new.json"), top=0).modules
    assert [(r.name, r.old, r.new, r.status) for r in module.functions.rows] == [
        ("mycrate::foo", 100, 130, "changed"), ("mycrate::baz", None, 7, "added")]
    assert module.functions.unchanged == 1


def test_no_maximum_on_both_sides_is_unchanged_not_added():
    from auditor.gate.diff import Row

    assert Row("max-pages", None, None).status == "unchanged"
    assert Row("max-pages", None, 64).status == "added" and Row("max-pages", 64, None).status == "removed"
