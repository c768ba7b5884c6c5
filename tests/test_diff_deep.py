"""`auditor diff`'s per-file and per-directory deltas (the `deep` object of each module,
README "Deep deltas"), with expectations computed from llvm-dwarfdump-16 --debug-line
of each side (tests/dwarfdump.py), never from auditor's own DWARF reader:

- two .wasm files: a three-file C program (two directories, a header whose inline
  function is counted where it was written) built with -g, then changed: a header
  function grows (its bytes move with the inlined copies), a file gains a function,
  one file is left alone; DWARF 5 and DWARF 4;
- two scan reports carrying an `attribution` block (`scan --attribute`): the demo crate
  on rustc 1.63 and on 1.96; the expectations come from llvm-dwarfdump of the two
  debug-info twins the blocks name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from auditor.wasm.parse import parse_module

import clirun
import dwarfdump
import fixturelib

OLD = {
    "src/main.c": """#include "util/geom.h"
int area(int w, int h) { return scale(w) * h; }
int perimeter(int w, int h) { return 2 * (scale(w) + scale(h)); }
""",
    "src/util/geom.h": """static inline int scale(int v) { return v * 3 + 1; }
""",
    "lib/extra.c": """int extra(int x) { return x ^ 0x55; }
""",
    "lib/same.c": """int same(int x) { return x + 7; }
""",
}
NEW = {
    **OLD,
    "src/util/geom.h": """static inline int scale(int v) {
    int r = v;
    for (int i = 0; i < v; i++) r = r * 31 + (i ^ v);
    return r;
}
""",
    "lib/extra.c": """int extra(int x) { return x ^ 0x55; }
int extra2(const int *p, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += p[i] * (i + 1);
    return s;
}
""",
}


def build(root: Path, sources: dict[str, str], out: Path, dwarf: str) -> Path:
    """The program linked from `sources` written under `root` (the same paths both
    sides: the DWARF file names must match), every function exported."""
    for rel, text in sources.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    flags = [*fixturelib.BASE_CLANG_FLAGS, *fixturelib._linker_flags(), dwarf]
    objects = []
    for rel in sorted(rel for rel in sources if rel.endswith(".c")):
        obj = out.parent / f"{out.stem}-{Path(rel).stem}.o"
        subprocess.run([fixturelib.CLANG, *flags, "-O1", "-c", rel, "-o", str(obj)], cwd=root, check=True)
        objects.append(str(obj))
    # linked without -O: an optimising driver runs wasm-opt after wasm-ld when one is on
    # PATH, which empties the line programs (as fixturelib.clang_module says)
    subprocess.run([fixturelib.CLANG, *flags, "-Wl,--export-all", *objects, "-o", str(out)], cwd=root, check=True)
    return out


def per_file(path: Path) -> dict[str, int]:
    mod = parse_module(path.read_bytes(), str(path))
    base = mod.section("code").payload_offset
    return dwarfdump.file_bytes(path, [(f.code_offset - base, f.end - base) for f in mod.functions])


def expected_table(old: dict[str, int], new: dict[str, int]) -> tuple[dict[str, tuple], int]:
    """name -> (old, new) of the rows that changed (None: absent), and how many did not."""
    changed = {k: (old.get(k), new.get(k)) for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return changed, len(old.keys() | new.keys()) - len(changed)


def got_table(table: dict) -> tuple[dict[str, tuple], int]:
    rows = {r["name"]: (r["old"], r["new"]) for r in table["rows"]}
    assert all(r["delta"] == (r["new"] or 0) - (r["old"] or 0) for r in table["rows"])
    deltas = [abs(r["delta"]) for r in table["rows"]]
    assert deltas == sorted(deltas, reverse=True)  # largest change first
    return rows, table["unchanged"]


def diff_json(old: Path, new: Path, *args: str) -> dict:
    proc = clirun.run(["diff", old, new, "--format", "json", *args])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("dwarf", ["-gdwarf-5", "-gdwarf-4"])
def test_file_and_directory_deltas_of_two_modules_equal_llvm_dwarfdump(tmp_path, dwarf):
    root = tmp_path / "proj"
    old = build(root, OLD, tmp_path / "old.wasm", dwarf)
    new = build(root, NEW, tmp_path / "new.wasm", dwarf)
    fo, fn = per_file(old), per_file(new)
    main, geom, extra, same = (str(root / p) for p in ("src/main.c", "src/util/geom.h", "lib/extra.c", "lib/same.c"))
    # the preconditions, from llvm-dwarfdump alone: the header's inlined code is its own,
    # it and extra.c grew, same.c did not
    assert {main, geom, extra, same} <= fo.keys() and {main, geom, extra, same} <= fn.keys()
    assert fn[geom] > fo[geom] and fn[extra] > fo[extra] and fn[same] == fo[same]

    deep = diff_json(old, new, "--top", "0")["modules"][0]["deep"]
    assert got_table(deep["files"]) == expected_table(fo, fn)
    do, dn = dwarfdump.directory_bytes(fo), dwarfdump.directory_bytes(fn)
    assert got_table(deep["directories"]) == expected_table(do, dn)
    assert {str(root / "src"), str(root / "src/util"), str(root / "lib")} <= do.keys()
    assert got_table(deep["files"])[0][geom] == (fo[geom], fn[geom])

    # --top 1: the largest change only, the rest summed
    top1 = diff_json(old, new, "--top", "1")["modules"][0]["deep"]["files"]
    changed, _ = expected_table(fo, fn)
    biggest = max(changed, key=lambda k: (abs((changed[k][1] or 0) - (changed[k][0] or 0)), k))
    assert [r["name"] for r in top1["rows"]] == [biggest] and top1["omitted"] == len(changed) - 1
    assert top1["omitted_delta"] == sum((n or 0) - (o or 0) for k, (o, n) in changed.items() if k != biggest)

    text = clirun.run(["diff", old, new, "--top", "0"]).stdout
    assert "Code per source file" in text and "Code per source directory" in text
    assert "geom.h" in text.split("Code per source file")[1]


@pytest.mark.cargo
def test_deltas_of_two_scan_reports_with_attribution_equal_llvm_dwarfdump(tmp_path):
    """The demo crate scanned with `--attribute release/*` on rustc 1.63 and on 1.96
    (the two scans test_deep_commands' attribution test runs): the per-file and
    per-directory deltas of the two debug-info twins, per llvm-dwarfdump; the crate
    deltas are the two blocks' rows."""
    args = ("--profiles", "release", "--allocators", "default", "--no-runtime", "--attribute", "release/*")
    reports = {}
    for name in ("rust163", "rust196"):
        proc = fixturelib.scan("demo", "--format", "json", *args, toolchain=name)
        reports[name] = tmp_path / f"{name}.json"
        reports[name].write_text(proc.stdout)
    old_att, new_att = (json.loads(reports[n].read_text())["attribution"] for n in ("rust163", "rust196"))
    twins = [Path(a["wasm_path"]) for a in (old_att, new_att)]
    fo, fn = per_file(twins[0]), per_file(twins[1])

    j = diff_json(reports["rust163"], reports["rust196"], "--top", "0")
    [module] = j["modules"]
    assert module["variant"] == "release/default"
    deep = module["deep"]
    assert "retained" not in deep  # a scan report keeps only its largest items
    assert got_table(deep["files"]) == expected_table(fo, fn)
    assert got_table(deep["directories"]) == expected_table(dwarfdump.directory_bytes(fo),
                                                              dwarfdump.directory_bytes(fn))
    for view in ("defining", "instantiating"):
        o = {r["name"]: r["bytes"] for r in old_att["crates"][view]}
        n = {r["name"]: r["bytes"] for r in new_att["crates"][view]}
        assert got_table(deep[f"{view}_crates"]) == expected_table(o, n)
    # a report whose attribution is of another variant contributes no deep deltas
    other = json.loads(reports["rust196"].read_text())
    other["attribution"]["variant"] = "opt-z/default"
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert "deep" not in diff_json(reports["rust163"], tmp_path / "other.json")["modules"][0]
    assert "deep" not in diff_json(reports["rust163"], reports["rust196"], "--no-deep")["modules"][0]
