"""The deep analysis commands end to end (`auditor top|dominators|paths|garbage|monos|
crates|sources|data`, `diff`'s deep deltas): every figure is computed by hand in
fixtures/wat/item_graph.wat's header or here, or read with wasm-objdump; JSON schemas
as README "Deep size analysis" documents them; untrusted names escaped in text."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

import clirun
import fixturelib
import objdump

# Hand-computed in fixtures/wat/item_graph.wat (function items: body + size LEB + entry).
SHALLOW = {
    "log": 10, "main": 13, "helper": 9, "shared": 7, "cb": 6, "init": 8, "dead": 10, "dead_child": 4,
    "table[0]": 3, "memory[0]": 2, "g": 5, "element[0]": 7, "data[0]": 11, "data[1]": 9,
    "custom section name": 96, 'export "main"': 7, 'export "mem"': 6,
    "preamble": 8, "type section": 10, "import section header": 3, "function section header": 3,
    "table section header": 3, "memory section header": 3, "global section header": 3,
    "export section header": 3, "start section": 3, "element section header": 3,
    "code section header": 3, "data section header": 3,
}
RETAINED = {"main": 66, 'export "main"': 73, "helper": 30, "table[0]": 16, "element[0]": 13,
            "start section": 11, "g": 5, "log": 10, "data[0]": 11, "cb": 6, "shared": 7}


def auditor(*args, expect=0, timeout=None) -> subprocess.CompletedProcess:
    """The CLI in-process (tests/clirun.py); with a timeout (a run that must end), in a real child."""
    proc = clirun.run(args) if timeout is None else clirun.run_process(args, timeout=timeout)
    assert proc.returncode == expect, proc.stderr
    return proc


def js(*args) -> dict:
    return json.loads(auditor(*args, "--format", "json").stdout)


@pytest.fixture(scope="module")
def graph_wasm() -> Path:
    return fixturelib.wat("item_graph")


# --------------------------------------------------------------------------- top

def test_top_lists_every_item_with_hand_computed_sizes(graph_wasm):
    j = js("top", graph_wasm, "-n", "0")
    assert j["schema"] == "auditor.top/1" and j["sort"] == "shallow"
    items = j["items"]
    assert {it["name"]: it["shallow"] for it in items} == SHALLOW
    assert sum(it["shallow"] for it in items) == graph_wasm.stat().st_size == 261
    for name, value in RETAINED.items():
        assert next(it["retained"] for it in items if it["name"] == name) == value, name
    assert [it["shallow"] for it in items] == sorted((it["shallow"] for it in items), reverse=True)
    assert set(items[0]) >= {"name", "kind", "index", "shallow", "retained"}
    main = next(it for it in items if it["name"] == "main")
    assert (main["kind"], main["index"]) == ("function", 1)


def test_top_retained_is_sorted_by_retained_and_cut_at_n(graph_wasm):
    j = js("top", graph_wasm, "--retained", "-n", "4")
    assert j["sort"] == "retained"
    assert [(it["name"], it["retained"]) for it in j["items"]] == [
        ("custom section name", 96), ('export "main"', 73), ("main", 66), ("helper", 30)]
    assert j["rest"]["items"] == len(SHALLOW) - 4
    assert j["rest"]["shallow"] == 261 - (96 + 7 + 13 + 9)
    text = auditor("top", graph_wasm, "--retained", "-n", "4").stdout
    assert "export \"main\"" in text and "25 more items" in text


def _leb_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


@pytest.mark.cargo
def test_function_items_equal_wasm_objdump_bodies_plus_size_field_and_entry():
    path = fixturelib.build_crate("heavy")
    bodies = objdump.code_sizes(path)  # body size without its size LEB
    j = js("top", path, "-n", "0")
    funcs = {it["index"]: it["shallow"] for it in j["items"] if it["kind"] == "function"}
    # + the size LEB + the function-section entry (a type index below 128: one byte)
    assert {i: funcs[i] for i in bodies} == {i: size + _leb_len(size) + 1 for i, size in bodies.items()}
    assert sum(it["shallow"] for it in j["items"]) == path.stat().st_size


# --------------------------------------------------------------------------- dominators

def test_dominator_tree_by_hand(graph_wasm):
    j = js("dominators", graph_wasm, "--rows", "0")
    assert j["schema"] == "auditor.dominators/1" and j["root"] is None and j["roots"] is None and not j["truncated"]
    rows = j["items"]
    parent = {}
    stack: list[tuple[int, str]] = []
    for it in rows:
        while stack and stack[-1][0] >= it["depth"]:
            stack.pop()
        parent[it["name"]] = stack[-1][1] if stack else None
        stack.append((it["depth"], it["name"]))
    assert parent["main"] == 'export "main"'
    assert parent["helper"] == parent["shared"] == parent["table[0]"] == "main"
    assert parent["log"] == parent["data[0]"] == "helper"
    assert parent["element[0]"] == "table[0]" and parent["cb"] == "element[0]"
    assert parent["init"] == "start section"
    assert parent["g"] is None and parent["memory[0]"] is None
    assert "dead" not in parent and j["unreachable"] == {"items": 3, "bytes": 23}
    assert sum(it["retained"] for it in rows if it["depth"] == 0) == 261 - 23


def test_dominators_from_a_named_item_and_limits(graph_wasm):
    j = js("dominators", graph_wasm, "main")
    assert j["root"] == "main"
    assert [(it["depth"], it["name"], it["retained"]) for it in j["items"][:2]] == [(0, "main", 66), (1, "helper", 30)]
    assert sum(it["shallow"] for it in j["items"]) == 66
    cut = js("dominators", graph_wasm, "main", "--depth", "1")
    assert cut["truncated"] and max(it["depth"] for it in cut["items"]) == 1
    assert len(js("dominators", graph_wasm, "--rows", "3")["items"]) == 3


# --------------------------------------------------------------------------- paths

def test_paths_by_hand(graph_wasm):
    j = js("paths", graph_wasm, "shared")
    assert j["schema"] == "auditor.paths/1"
    assert j["paths"] == [
        ['export "main"', "main", "shared"],
        ['export "main"', "main", "table[0]", "element[0]", "shared"],
        ['export "main"', "main", "table[0]", "element[0]", "cb", "shared"],
    ]
    assert js("paths", graph_wasm, "g")["paths"] == [["start section", "init", "g"],
                                                     ['export "main"', "main", "shared", "g"]]
    one = js("paths", graph_wasm, "shared", "--paths", "1")
    assert one["paths"] == [['export "main"', "main", "shared"]] and one["items"][0]["total_paths"] == 3


def test_paths_regex_and_unreachable_items(graph_wasm):
    j = js("paths", graph_wasm, "^dead")
    assert j["matched"] == 2 and [it["name"] for it in j["items"]] == ["dead", "dead_child"]
    assert j["paths"] == [] and all(it["paths"] == [] for it in j["items"])
    assert "unreachable from every root" in auditor("paths", graph_wasm, "^dead").stdout


def test_paths_errors_are_one_line(graph_wasm):
    proc = auditor("paths", graph_wasm, "no_such_thing", expect=2)
    assert proc.stderr.count("\n") == 1 and "no item is named or matches" in proc.stderr
    proc = auditor("paths", graph_wasm, "(?P<x>a)(?P=x)", expect=2)  # backreference: not RE2
    assert proc.stderr.count("\n") == 1 and "regular expression" in proc.stderr and "Traceback" not in proc.stderr


def _module_with_names(names: list[bytes]) -> bytes:
    """A module of len(names) empty functions `() -> ()`, named by a hand-built name section."""
    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def section(sid: int, payload: bytes) -> bytes:
        return bytes([sid]) + leb(len(payload)) + payload

    n = len(names)
    types = section(1, b"\x01\x60\x00\x00")
    funcs = section(3, leb(n) + b"\x00" * n)
    exports = section(7, b"\x01\x01f\x00\x00")
    code = section(10, leb(n) + b"\x02\x00\x0b" * n)
    fnames = leb(n) + b"".join(leb(i) + leb(len(s)) + s for i, s in enumerate(names))
    sub = b"\x01" + leb(len(fnames)) + fnames
    name = section(0, b"\x04name" + sub)
    return b"\0asm\x01\0\0\0" + types + funcs + exports + code + name


def test_hostile_regex_costs_linear_time(tmp_path):
    # `(a+)+$` against a long run of a's that does not end the name: exponential for a
    # backtracking engine, linear for RE2.
    path = tmp_path / "long.wasm"
    path.write_bytes(_module_with_names([b"a" * 5000 + b"!", b"b"]))
    t0 = time.perf_counter()
    proc = auditor("paths", path, "(a+)+$", expect=2, timeout=60)  # a backtracking engine never ends
    assert time.perf_counter() - t0 < 20
    assert "no item is named or matches" in proc.stderr


def test_untrusted_names_are_escaped_in_text(tmp_path):
    path = tmp_path / "evil.wasm"
    path.write_bytes(_module_with_names([b"\x1b[31mred\x1b[0m", "a\u202etxt.exe".encode()]))
    for cmd in (["top"], ["dominators"], ["paths", "red"], ["garbage"], ["monos"]):
        text = auditor(cmd[0], path, *cmd[1:]).stdout
        assert "\x1b" not in text and "\u202e" not in text, cmd
    top = auditor("top", path).stdout
    assert "\\x1b[31mred\\x1b[0m" in top and "a\\u202etxt.exe" in top
    names = {it["name"] for it in js("top", path, "-n", "0")["items"]}
    assert "\x1b[31mred\x1b[0m" in names  # JSON keeps the name itself


# --------------------------------------------------------------------------- garbage

def test_garbage_by_hand(graph_wasm):
    j = js("garbage", graph_wasm)
    assert j["schema"] == "auditor.garbage/1"
    assert {(it["name"], it["kind"], it["shallow"]) for it in j["items"]} == {
        ("dead", "function", 10), ("data[1]", "data", 9), ("dead_child", "function", 4)}
    assert j["bytes"] == 23 and j["data_segments"] == {"items": 1, "bytes": 9}
    assert "3 items, 23 bytes" in auditor("garbage", graph_wasm).stdout


# --------------------------------------------------------------------------- monos

MONOS_WAT = """
(module
  (func $core::ptr::drop_in_place<alloc::vec::Vec<u8>> i32.const 1 drop)
  (func $core::ptr::drop_in_place<alloc::string::String> i32.const 1 drop i32.const 2 drop)
  (func $core::ptr::drop_in_place<u32> nop)
  (func $alloc::vec::Vec<T>::push nop)
  (func $main call 0 call 1 call 2 call 3)
  (export "main" (func $main)))
"""


def test_monos_by_hand(tmp_path):
    wat = tmp_path / "monos.wat"
    wat.write_text(MONOS_WAT)
    path = tmp_path / "monos.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(wat), "-o", str(path)], check=True)
    bodies = objdump.code_sizes(path)
    # body sizes by hand: 00 41 01 1a 0b = 5; 00 41 01 1a 41 02 1a 0b = 8; 00 01 0b = 3
    assert [bodies[i] for i in range(3)] == [5, 8, 3]
    item = {i: bodies[i] + 1 + 1 for i in range(3)}  # + size LEB + function entry
    j = js("monos", path)
    assert j["schema"] == "auditor.monos/1"
    assert [(g["name"], g["copies"], g["bytes"], g["savings"]) for g in j["generics"]] == [
        ("core::ptr::drop_in_place", 3, sum(item.values()), item[0] + item[2])]
    assert [i["bytes"] for i in j["generics"][0]["instances"]] == [item[1], item[0], item[2]]
    assert j["savings"] == item[0] + item[2]


# --------------------------------------------------------------------------- crates, sources, data

def test_crates_sources_data_schemas_and_sums(graph_wasm):
    code = next(size for kind, _, size in objdump.sections(graph_wasm) if kind == "Code") + 2  # id + 1-byte LEB
    c = js("crates", graph_wasm)
    assert c["schema"] == "auditor.crates/1"
    for view in ("defining", "instantiating"):
        assert sum(r["bytes"] for r in c[view]) == code == 53
        assert c[view][-1]["name"] == "unattributed"
    s = js("sources", graph_wasm)
    assert s["schema"] == "auditor.sources/1" and not s["available"] and "debug = 1" in s["hint"]
    assert s["unattributed"]["bytes"] == code
    assert "scan --attribute" in auditor("sources", graph_wasm).stdout
    d = js("data", graph_wasm)
    assert d["schema"] == "auditor.data/1" and d["bytes"] == 5 + 3
    assert sum(cat["bytes"] for cat in d["categories"]) == 8


@pytest.mark.cargo
def test_sources_and_crates_on_a_debug_build_agree_with_objdump_and_dwarfdump(toolchain):
    """Both toolchains, `debug = true`: every view sums to wasm-objdump's code section;
    sampled bodies resolve to the file, line and compile unit llvm-dwarfdump names."""
    from auditor.wasm.analysis.ownership import module_crate_views
    from auditor.wasm.dwarf_lines import read_line_tables
    from auditor.wasm.parse import parse_module

    path = fixturelib.build_crate("heavy", config=("profile.release.debug=true",), toolchain=toolchain)
    code_payload = next(size for kind, _, size in objdump.sections(path) if kind == "Code")
    s = js("sources", path)
    assert s["available"]
    code = s["code_bytes"]
    assert code_payload < code <= code_payload + 6  # + id byte and size LEB
    assert sum(f["bytes"] for f in s["files"]) + s["unattributed"]["bytes"] == code
    assert sum(d["bytes"] for d in s["directories"]) == sum(f["bytes"] for f in s["files"])
    c = js("crates", path)
    for view in ("defining", "instantiating"):
        assert sum(r["bytes"] for r in c[view]) == code
    assert c["evidence"]["instantiating"]["dwarf"] > 0
    assert "heavy" in {r["name"] for r in c["instantiating"]}
    assert sum(it["shallow"] for it in js("top", path, "-n", "0")["items"]) == path.stat().st_size

    mod = parse_module(path.read_bytes(), str(path))
    table = read_line_tables(mod)
    views = module_crate_views(mod)
    base = mod.section("code").payload_offset
    checked = 0
    for f in mod.functions[:: max(1, len(mod.functions) // 10)]:
        addr = (f.code_offset + f.end) // 2 - base
        out = subprocess.run(["llvm-dwarfdump-16", f"--lookup=0x{addr:x}", str(path)], check=True,
                             capture_output=True, text=True).stdout
        unit = re.search(r'DW_TAG_compile_unit.*?DW_AT_name\t\("[^"]*/@/([A-Za-z0-9_]+)\.', out, re.S)
        line = re.search(r"Line info: file '([^']*)', line (\d+)", out)
        if unit is None or line is None:  # allocator shims and the like carry no DWARF
            continue
        found = table.lookup(addr)
        assert found is not None and found[0].endswith("/" + line.group(1)) and found[1] == int(line.group(2))
        assert views.of_function[f.index][1] == unit.group(1)
        checked += 1
    assert checked >= 5


# --------------------------------------------------------------------------- diff

def test_diff_deep_deltas_by_hand(tmp_path, graph_wasm):
    # the same module with `call $dead` added to main: main's body grows by 2 bytes
    # (10 06), and dead (10), dead_child (4) and data[1] (9) become main's
    src = fixturelib.wat_path("item_graph").read_text()
    changed = src.replace("    call $shared\n    i32.const 0\n", "    call $shared\n    call $dead\n    i32.const 0\n")
    assert changed != src
    (tmp_path / "b.wat").write_text(changed)
    new = tmp_path / "b.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "b.wat"), "-o", str(new)], check=True)
    j = json.loads(auditor("diff", graph_wasm, new, "--format", "json").stdout)
    deep = j["modules"][0]["deep"]
    rows = {r["name"]: (r["old"], r["new"]) for r in deep["retained"]["rows"]}
    assert rows["main"] == (66, 66 + 2 + 10 + 4 + 9)
    assert rows['export "main"'] == (73, 73 + 2 + 23)
    assert rows["dead"] == (10, 23)
    assert {r["name"]: r["delta"] for r in deep["defining_crates"]["rows"]} == {"[no_mangle]": 2}
    text = auditor("diff", graph_wasm, new).stdout
    assert "Retained size per item" in text and "Code per instantiating crate" in text
    md = auditor("diff", graph_wasm, new, "--format", "markdown").stdout
    assert "**Retained size per item**" in md and "| `dead` | 10 B | 23 B |" in md
    plain = json.loads(auditor("diff", graph_wasm, new, "--format", "json", "--no-deep").stdout)
    assert "deep" not in plain["modules"][0]


def test_missing_file_is_one_line_exit_2(tmp_path):
    for cmd in ("top", "dominators", "garbage", "monos", "crates", "sources", "data"):
        proc = clirun.run_process([cmd, tmp_path / "nope.wasm"]) if cmd == "top" else auditor(cmd, tmp_path / "nope.wasm", expect=2)
        assert proc.returncode == 2 and proc.stdout == "", cmd
        assert proc.stderr.strip() == f"auditor: {tmp_path / 'nope.wasm'}: no such file", cmd


DEGENERATE = {
    "empty": "(module)",
    "memory-only": "(module (memory 1))",  # no code section: crates once raised KeyError here
    "imports-only": '(module (import "env" "f" (func $f)) (import "env" "m" (memory 1)))',
}


@pytest.mark.parametrize("shape", sorted(DEGENERATE))
def test_every_analysis_answers_a_module_without_code(tmp_path, shape):
    path = tmp_path / f"{shape}.wasm"
    subprocess.run(["wat2wasm", "-", "-o", str(path)], input=DEGENERATE[shape], text=True, check=True)
    size = path.stat().st_size
    for cmd in ("top", "dominators", "garbage", "monos", "crates", "sources", "data"):
        text = auditor(cmd, path)
        assert text.stderr == "" and text.stdout, cmd
        js(cmd, path)  # a JSON document, exit 0
    crates = js("crates", path)
    assert crates["code_bytes"] == 0
    for view in ("defining", "instantiating"):
        assert [(r["name"], r["bytes"]) for r in crates[view]] == [("unattributed", 0)]
        assert set(crates["evidence"][view].values()) == {0}
    # item sizes still add up to the file (wasm-objdump is not needed to count 8-byte modules)
    assert sum(r["shallow"] for r in js("top", path, "-n", "1000")["items"]) == size
    # and a diff to and from a module with code
    other = fixturelib.wat("item_graph")
    for a, b in ((path, other), (other, path)):
        d = json.loads(auditor("diff", a, b, "--format", "json").stdout)
        assert "deep" in d["modules"][0]


# --------------------------------------------------------------------------- scan --attribute

@pytest.mark.cargo
def test_scan_attribute_builds_a_debug_info_twin_and_attributes_it():
    report = fixturelib.scan_report("demo", "--profiles", "release", "--allocators", "default", "--no-runtime",
                                    "--attribute", "release/*")
    att = report["attribution"]
    assert att["schema"] == "auditor.attribution/1" and att["variant"] == "release/default"
    assert att["twin_profile"] == "release-debuginfo" and att["twin_settings"]["debug"] == 1
    twin = Path(att["wasm_path"])
    secs = objdump.sections(twin)
    assert ".debug_line" in {k for k, _, _ in secs}  # the twin has line tables
    code_payload = next(size for kind, _, size in secs if kind == "Code")
    code = att["crates"]["code_bytes"]
    assert code_payload < code <= code_payload + 6  # + id byte and size LEB
    for view in ("defining", "instantiating"):
        assert sum(r["bytes"] for r in att["crates"][view]) == code
    assert att["sources"]["available"]
    assert sum(f["bytes"] for f in att["sources"]["files"]) + att["sources"]["unattributed"]["bytes"] == code
    assert sum(c["bytes"] for c in att["data"]["categories"]) == att["data"]["bytes"]
    variant = report["variants"][0]
    assert att["variant_code_bytes"] == variant["wasm"]["section_totals"]["code"]
    assert "demo" in {r["name"] for r in att["crates"]["instantiating"]}
    text = fixturelib.scan("demo", "--profiles", "release", "--allocators", "default", "--no-runtime",
                           "--attribute", "release/*").stdout
    assert "Attribution of release/default" in text
    assert f"garbage and data: the variant's own module ({report['attribution']['modules']['variant']['bytes']:,} bytes)" \
        in text


ATTRIBUTE = ("--profiles", "release", "--allocators", "default", "--no-runtime", "--attribute", "release/*", "--why", "alloc")


def _leb(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def _wholes(secs) -> dict[str, int]:
    """Each section's whole size (id, size LEB, payload) from wasm-objdump -h: where its
    payload ends minus where the previous section's ended."""
    out, prev = {}, 8
    for k, start, size in secs:
        out[k] = start + size - prev
        prev = start + size
    return out


@pytest.mark.cargo
def test_scan_attribute_reads_size_views_from_the_variant_and_dwarf_views_from_the_twin(toolchain):
    """retained, garbage, data and monos come from the variant's own module, crates and
    sources from the debug-info twin, whose `.debug_*` custom sections are not the
    variant's: on rustc 1.96 (release strips debug info) the variant has none and the
    twin's would crowd the retained list; on 1.63 the variant keeps std's, of other
    sizes. Every figure from wasm-objdump of each module."""
    report = fixturelib.scan_report("demo", *ATTRIBUTE, toolchain=toolchain)
    att = report["attribution"]
    variant = report["variants"][0]
    assert att["views"] == {"retained": "variant", "garbage": "variant", "data": "variant", "monos": "variant",
                            "dominators": "variant", "paths": "variant", "crates": "twin", "sources": "twin"}
    vpath, tpath = Path(att["modules"]["variant"]["wasm_path"]), Path(att["modules"]["twin"]["wasm_path"])
    assert vpath == Path(variant["wasm_path"]) and tpath == Path(att["wasm_path"]) and vpath != tpath
    vsize, tsize = _wholes(objdump.sections(vpath)), _wholes(objdump.sections(tpath))
    assert att["modules"]["variant"]["bytes"] == vpath.stat().st_size
    assert att["modules"]["twin"]["bytes"] == tpath.stat().st_size == att["bytes"]
    assert att["modules"]["variant"]["code_bytes"] == vsize["Code"] == att["variant_code_bytes"]
    assert att["modules"]["twin"]["code_bytes"] == tsize["Code"] == att["crates"]["code_bytes"]
    vdebug = {k: n for k, n in vsize.items() if k.startswith(".debug_")}
    tdebug = {k: n for k, n in tsize.items() if k.startswith(".debug_")}
    assert att["modules"]["variant"]["debug_bytes"] == sum(vdebug.values())
    assert att["modules"]["twin"]["debug_bytes"] == sum(tdebug.values()) > 0
    assert tdebug != vdebug  # the twin's would show in the list with other names or sizes
    if toolchain.name == "rust196":
        assert not vdebug and max(tdebug.values()) > min(it["retained"] for it in att["retained"])
    # each listed item's shallow size, read from the variant: a function is its body +
    # size LEB + function-section entry (one byte: < 128 types), a custom section whole
    bodies = objdump.code_sizes(vpath)
    customs = {k: n for k, n in vsize.items() if k not in objdump.OBJDUMP_KIND.values()}
    assert len(att["retained"]) == 20
    checked = 0
    for it in att["retained"]:
        if it["kind"] == "function" and it["index"] in bodies:
            b = bodies[it["index"]]
            assert it["shallow"] == b + _leb(b) + 1, it
            checked += 1
        elif it["kind"] == "custom":
            assert it["shallow"] == customs[it["name"].removeprefix("custom section ")], it
            checked += 1
        assert it["shallow"] <= it["retained"] <= vpath.stat().st_size
    assert checked >= 5
    # data: every byte of the variant's data segments, each in one category
    dump = subprocess.run(["wasm-objdump", "-x", "-j", "Data", str(vpath)], capture_output=True, text=True,
                          check=True).stdout
    segments = [int(x) for x in re.findall(r"^ - segment\[\d+\](?: <[^>]*>)? (?:passive|memory=\d+) size=(\d+)",
                                           dump, re.M)]
    assert att["data"]["bytes"] == sum(segments) > 0
    assert 0 <= att["garbage"]["bytes"] <= vpath.stat().st_size
    # monos: the variant's, as `auditor monos` gives it for that file
    mono = js("monos", vpath, "-n", "10")
    assert (att["monos"]["savings"], att["monos"]["bytes"]) == (mono["savings"], mono["bytes"])
    assert att["monos"]["generics"] == [{k: g[k] for k in ("name", "copies", "bytes", "savings")}
                                        for g in mono["generics"]]
    assert att["monos"]["generics"] and all(g["copies"] >= 2 and 0 < g["savings"] < g["bytes"]
                                            for g in att["monos"]["generics"])
    # the dominator tree and `--why`'s paths: the variant's, as `auditor dominators` and
    # `auditor paths` give them for that file (both checked by hand on item_graph.wat)
    assert att["views"]["dominators"] == att["views"]["paths"] == "variant"
    assert att["dominators"] == js("dominators", vpath, "--depth", "2", "--rows", "30")
    assert att["paths"] == js("paths", vpath, "alloc") and att["paths"]["matched"] > 0
    # crates and sources stay the twin's: they sum to the twin's code section
    for view in ("defining", "instantiating"):
        assert sum(r["bytes"] for r in att["crates"][view]) == tsize["Code"]
    assert att["sources"]["available"]


def test_scan_attribute_must_name_one_variant():
    from auditor.errors import AuditorError
    from auditor.pipeline.deep import attribute_variant

    class V:
        def __init__(self, vid):
            self.id = vid

    class R:
        variants = [V("release/default"), V("opt-z/default")]

    with pytest.raises(AuditorError, match="exactly one variant; it matches 2"):
        attribute_variant(R(), "*/default", None)


def test_attribution_dominators_and_why_paths_are_the_commands_answers(graph_wasm):
    """`scan --attribute V --why Q`'s dominator tree and paths (pipeline.deep.attribute_modules)
    are `auditor dominators --depth 2 --rows 30` and `auditor paths Q` of the variant's
    module; a query naming nothing keeps the block, with the paths command's error."""
    from auditor.pipeline.deep import attribute_modules

    att = json.loads(json.dumps(attribute_modules(graph_wasm, graph_wasm, why="^(helper|cb)$")))
    assert att["dominators"] == js("dominators", graph_wasm, "--depth", "2", "--rows", "30")
    assert att["paths"] == js("paths", graph_wasm, "^(helper|cb)$")
    # by hand (item_graph.wat): helper and cb match; helper is reached through main only
    assert att["paths"]["matched"] == 2 and sorted(it["name"] for it in att["paths"]["items"]) == ["cb", "helper"]
    assert [p for p in att["paths"]["paths"] if p[-1] == "helper"] == [['export "main"', "main", "helper"]]
    missing = attribute_modules(graph_wasm, graph_wasm, why="no_such_item_here")["paths"]
    assert missing["query"] == "no_such_item_here" and "no_such_item_here" in missing["error"]
    assert "paths" not in attribute_modules(graph_wasm, graph_wasm)


def test_scan_why_needs_attribute(tmp_path):
    r = auditor("scan", str(tmp_path), "--why", "x", expect=2)
    assert r.stderr.strip().splitlines() == ["auditor: --why only takes effect with --attribute VARIANT"]


def test_dominators_from_a_regex_and_crates_without_dwarf(graph_wasm):
    j = js("dominators", graph_wasm, "^(helper|cb)$")
    tops = [it["name"] for it in j["items"] if it["depth"] == 0]
    assert tops == ["helper", "cb"]  # both matches, each with its own subtree
    assert j["roots"] == ["helper", "cb"] and j["root"] == "helper, cb"
    assert [it["name"] for it in j["items"] if it["depth"] == 1] == ["data[0]", "log"]
    c = js("crates", graph_wasm, "--no-dwarf")
    assert c["evidence"]["defining"]["dwarf"] == 0 and sum(r["bytes"] for r in c["defining"]) == 53
