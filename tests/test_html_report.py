"""The HTML report in a real headless Chromium: it loads with no errors and no network
requests, and its charts draw the series the report holds (counted from the report's
JSON here, and from the SVG plotly drew there); a screenshot shows the heatmap in colour.
Module names cannot inject markup or script."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import browser
import clirun
from browser import load, png_colours, status
from hostile import hostile_wasm

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "fixtures" / "reports"


@pytest.fixture(scope="module", autouse=True)
def one_browser():
    """The module's pages share one Chromium (tests/browser.py), closed after the module."""
    yield
    browser.shutdown()


def auditor(*args, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in this process (tests/clirun.py): these tests read its files and stderr;
    test_report_command_refuses_what_is_not_a_report keeps a real child."""
    r = clirun.run(args, cwd=cwd)
    assert r.returncode in (0, 1), r.stderr
    return r


def with_curves(report: dict) -> tuple[dict, int]:
    """The fixture report with growth curves added to its probed variants (hand-made data)."""
    out = copy.deepcopy(report)
    n = 0
    for i, v in enumerate(out["variants"]):
        rt = v.get("runtime")
        if rt:
            rt["options"] = {"memory_limit_pages": 64}
            rt["churn"]["curve"] = [17 + min(k * i // 50, 40) for k in range(1001)]  # 1001 points, sampled
            rt["hold_release"]["curve"] = [17, 18, 20, 20, 20]
            rt["oom"]["curve"] = [17, 18, 20, 24, 32, 48, 64]
            n += 1
    return out, n


def test_scan_report_with_baseline_in_chromium(tmp_path):
    report, probed = with_curves(json.loads((REPORTS / "scan-v2.json").read_text()))
    (tmp_path / "scan.json").write_text(json.dumps(report))
    page = tmp_path / "report.html"
    r = auditor("report", tmp_path / "scan.json", "--baseline", REPORTS / "scan-v1.json", "-o", page)
    # the fixture report names no module file (made before wasm_path): no retained view, one line
    assert r.stderr == "auditor: retained sizes not shown: the report names no .wasm file\n"
    text = page.read_text()
    assert "http://" not in text.split("<script>", 1)[0] and 'src="http' not in text  # nothing to fetch
    shot = tmp_path / "shot.png"
    st = status(load(page, screenshot=shot, size="1000,800"))
    assert st["errors"] == [] and st["resources"] == 0 and st["violations"] == 0
    charts = st["charts"]
    profiles = {v["profile"] for v in report["variants"]}
    built = [v for v in report["variants"] if v["status"] == "ok"]
    # heatmap: raw, gzip, brotli (one shown at a time); one image per shown heatmap
    assert charts["chart-heatmap"]["traces"] == 3 and charts["chart-heatmap"]["heatmaps"] == 1
    assert len(profiles) > 1
    # before/after: baseline and this report as two bar traces
    assert charts["chart-before-after"]["traces"] == 2 and charts["chart-before-after"]["bars"] == 2
    # treemap: the root, each crate and up to 40 functions per crate (+ one "more" box)
    rec = (report.get("recommended") or {}).get("variant")
    pick = max(built, key=lambda v: ((v["wasm"].get("named_functions") or {}).get("count", 0) > 0, v["id"] == rec))
    crates = {f.get("crate") or "(unknown)" for f in pick["wasm"]["functions"] if f["size"]}
    assert charts["chart-treemap"]["boxes"] >= 1 + len(crates)
    # growth curves: one line per probed variant, in each of the three charts
    for chart in ("chart-churn", "chart-hold", "chart-oom"):
        assert charts[chart]["traces"] == probed and charts[chart]["lines"] == probed, chart
    # the screenshot: the heatmap (top of the page) is drawn in many colours, not blank
    assert png_colours(shot, (100, 300, 900, 700)) > 20


def test_inspect_html_escapes_hostile_names(tmp_path):
    """Names that try to close the script element or add markup stay text."""
    wat = tmp_path / "x.wat"
    payload = "</script><svg/onload=document.body.dataset.pwned=1>"
    wat.write_text(f"(module (memory 1) (func ${payload} (export \"f\") (param i32) (result i32)\n"
                   "  local.get 0 memory.grow i32.const 16 i32.shl))\n")
    wasm = tmp_path / "x.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(wat), "-o", str(wasm)], check=True)
    objdump = subprocess.run(["wasm-objdump", "-x", str(wasm)], capture_output=True, text=True).stdout
    assert payload in objdump  # the module really carries the name
    page = tmp_path / "x.html"
    auditor("inspect", wasm, "--format", "html", "-o", page)
    assert payload not in page.read_text()
    dom = load(page)
    st = status(dom)
    assert st["errors"] == [] and st["resources"] == 0
    assert "data-pwned" not in dom and st["charts"]["chart-treemap"]["boxes"] >= 2
    assert st["charts"]["chart-retained"]["boxes"] >= 3  # the name is in the retained treemap too
    # control characters: the hostile module's names shown as escapes, the page still loads
    page2 = tmp_path / "h.html"
    auditor("inspect", hostile_wasm(tmp_path), "--format", "html", "-o", page2)
    body = page2.read_text().split("</head>", 1)[1]  # (plotly.min.js itself holds a 0x01 in a string)
    assert "\x1b" not in body and "\x01" not in body and "grow_\\x01\\x1bc" in body
    assert status(load(page2))["errors"] == []


def test_report_command_refuses_what_is_not_a_report(tmp_path):
    r = subprocess.run([sys.executable, "-m", "auditor", "report", str(REPORTS / "demo-0.1.0-opt-z.wasm")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a JSON report" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.cargo
def test_demo_scan_html_in_chromium(tmp_path):
    """The demo scan's own page (scan --format html): growth curves of every probed variant."""
    import fixturelib

    args = ("demo", "--profiles", "release,min-size-z")
    report = json.loads(fixturelib.scan(*args, "--format", "json").stdout)
    page = tmp_path / "demo.html"
    page.write_text(fixturelib.scan(*args, "--format", "html").stdout)
    st = status(load(page))
    assert st["errors"] == [] and st["resources"] == 0
    probed = [v for v in report["variants"] if (v.get("runtime") or {}).get("churn", {}).get("curve")]
    assert probed and st["charts"]["chart-churn"]["lines"] == len(probed)
    assert st["charts"]["chart-heatmap"]["heatmaps"] == 1
    # the retained treemap of the variant the crate treemap shows: its module from the cache
    charts = page_charts(page)
    pick = next(v for v in report["variants"] if v["id"] == charts["treemap"]["variant"])
    assert charts["retained"]["variant"] == pick["id"]
    assert charts["retained"]["values"][0] == Path(pick["wasm_path"]).stat().st_size == pick["wasm"]["bytes"]
    assert st["charts"]["chart-retained"]["boxes"] == len(charts["retained"]["ids"]) > 10
    assert_total(charts["retained"])


# --------------------------------------------------------------------------- the retained-size treemap
#
# The oracle: a hand-written module whose dominator tree is worked out here by hand, with
# every item's size computed from what wasm-objdump prints (body sizes, export names,
# data segment sizes and addresses, section sizes and counts), never from auditor.

RETAINED_WAT = """(module
  (memory 1)
  (export "main" (func $main))
  (export "d" (func $d))
  (func $main call $a)
  (func $a i32.const 1024 drop call $b call $c)
  (func $b nop nop nop)
  (func $c nop nop nop nop nop nop nop nop nop nop)
  (func $d call $c nop)
  (func $dead call $b)
  (data (i32.const 1024) "hello a")
  (data (i32.const 2048) "zz"))
"""
# Edges: export "main" -> main -> a -> b, c, data[0] (a's i32.const 1024 is inside data[0]);
# export "d" -> d -> c; dead -> b (dead is unreachable, so it takes nothing from a).
# Dominator tree (the file at the root; exports, memories, sections and custom sections are
# the roots, each a child of the file):
#   export "main" > main > a > {b, data[0]}     every path to b and data[0] passes through a
#   export "d" > d
#   c                                           reached through a and through d: only the file dominates it
#   unreachable > {dead, data[1]}               nothing reaches them (no code names 2048)
HAND_TREE = {  # item -> parent, and what its retained size is made of
    'export "main"': ("root", ['export "main"', "main", "a", "b", "data[0]"]),
    "main": ('export "main"', ["main", "a", "b", "data[0]"]),
    "a": ("main", ["a", "b", "data[0]"]),
    "b": ("a", ["b"]),
    "data[0]": ("a", ["data[0]"]),
    'export "d"': ("root", ['export "d"', "d"]),
    "d": ('export "d"', ["d"]),
    "c": ("root", ["c"]),
    "dead": ("unreachable", ["dead"]),
    "data[1]": ("unreachable", ["data[1]"]),
}


def uleb(n: int) -> int:
    """Bytes of n as unsigned LEB128."""
    return max(1, (n.bit_length() + 6) // 7)


def sleb(n: int) -> int:
    """Bytes of n as signed LEB128 (n >= 0: one more bit for the sign)."""
    return max(1, (n.bit_length() + 1 + 6) // 7)


def objdump_items(wasm: Path) -> dict[str, int]:
    """Every item's shallow size, read from wasm-objdump -h and -x: functions (body + size
    LEB + function-section entry), exports, data segments (the whole entry), memories,
    custom sections (whole), the type section (whole), the other sections' headers (id,
    size LEB, count LEB) and the 8-byte preamble."""
    import re

    head = subprocess.run(["wasm-objdump", "-h", str(wasm)], capture_output=True, text=True, check=True).stdout
    details = subprocess.run(["wasm-objdump", "-x", str(wasm)], capture_output=True, text=True, check=True).stdout
    items = {"preamble": 8}
    for m in re.finditer(r"^\s*(\w+) start=\S+ end=\S+ \(size=(0x[0-9a-f]+)\)(?: count: (\d+))?(?: \"(.*)\")?$",
                         head, re.M):
        name, size, count, custom = m.group(1), int(m.group(2), 16), m.group(3), m.group(4)
        if name == "Custom":
            items[f"custom section {custom}"] = 1 + uleb(size) + size
        elif name in ("Type", "Start", "DataCount"):
            items[f"{name.lower()} section"] = 1 + uleb(size) + size
        else:
            items[f"{name.lower()} section header"] = 1 + uleb(size) + uleb(int(count))
    for m in re.finditer(r"^ - func\[(\d+)\] size=(\d+) <(.*)>$", details, re.M):
        size = int(m.group(2))
        items[m.group(3)] = size + uleb(size) + 1  # type index < 128: one byte in the function section
    for m in re.finditer(r"^ - \w+\[(\d+)\] (?:<.*> )?-> \"(.*)\"$", details, re.M):
        items[f'export "{m.group(2)}"'] = uleb(len(m.group(2))) + len(m.group(2)) + 1 + uleb(int(m.group(1)))
    for m in re.finditer(r"^ - segment\[(\d+)\] memory=0 size=(\d+) - init i32=(\d+)$", details, re.M):
        size = int(m.group(2))
        items[f"data[{m.group(1)}]"] = 1 + (1 + sleb(int(m.group(3))) + 1) + uleb(size) + size
    for m in re.finditer(r"^ - memory\[(\d+)\] pages: initial=(\d+)$", details, re.M):
        items[f"memory[{m.group(1)}]"] = 1 + uleb(int(m.group(2)))  # flags, initial (no maximum)
    return items


def page_charts(page: Path) -> dict:
    import html as html_mod
    import re

    raw = re.search(r'<script type="application/json" id="auditor-data">(.*?)</script>', page.read_text(), re.S)
    assert raw, "no embedded data"
    return json.loads(html_mod.unescape(raw.group(1)))["charts"]


def tree_of(chart: dict) -> dict[str, tuple[str, int, int]]:
    """label -> (parent's label, value, shallow); the root is "root", the group "unreachable"."""
    label = dict(zip(chart["ids"], chart["labels"]))
    out = {}
    for i, p, v, s in zip(chart["ids"], chart["parents"], chart["values"], chart["shallow"]):
        name = "root" if i == "root" else "unreachable" if i == "unreachable" else label[i]
        parent = "" if not p else "root" if p == "root" else "unreachable" if p == "unreachable" else label[p]
        assert name not in out, f"two boxes labelled {name}"
        out[name] = (parent, v, s)
    return out


def assert_total(chart: dict) -> None:
    """plotly's branchvalues "total": every box at least the sum of its children."""
    kids: dict[str, int] = {}
    for p, v in zip(chart["parents"], chart["values"]):
        if p:
            kids[p] = kids.get(p, 0) + v
    value = dict(zip(chart["ids"], chart["values"]))
    assert set(kids) <= set(value) and len(set(chart["ids"])) == len(chart["ids"])
    for p, total in kids.items():
        assert value[p] >= total, (p, value[p], total)


def test_retained_treemap_is_the_hand_computed_dominator_tree(tmp_path):
    (tmp_path / "r.wat").write_text(RETAINED_WAT)
    wasm = tmp_path / "r.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "r.wat"), "-o", str(wasm)], check=True)
    sizes = objdump_items(wasm)
    assert sum(sizes.values()) == wasm.stat().st_size  # the oracle accounts for every byte
    page = tmp_path / "r.html"
    auditor("inspect", wasm, "--format", "html", "-o", page)
    chart = page_charts(page)["retained"]
    got = tree_of(chart)
    # the hand-made part of the tree, exactly
    for item, (parent, parts) in HAND_TREE.items():
        assert got[item] == (parent, sum(sizes[p] for p in parts), sizes[item]), item
    assert got["unreachable"] == ("root", sizes["dead"] + sizes["data[1]"], sizes["dead"] + sizes["data[1]"])
    # everything else is a root holding only itself: sections, the name section, the memory
    rest = set(sizes) - set(HAND_TREE)
    assert {k for k in got if k not in HAND_TREE and k not in ("root", "unreachable")} == rest
    for item in rest:
        assert got[item] == ("root", sizes[item], sizes[item]), item
    assert got["root"][1] == wasm.stat().st_size == chart["bytes"]
    assert_total(chart)
    # the crate -> function treemap's hover carries each function's retained size
    crates = page_charts(page)["treemap"]
    retained = dict(zip(crates["labels"], crates["retained"]))
    assert retained["a"] == got["a"][1] and retained["dead"] == sizes["dead"]
    # in Chromium: both treemaps drawn, one box per id, no errors, nothing fetched
    st = status(load(page))
    assert st["errors"] == [] and st["resources"] == 0 and st["violations"] == 0
    assert st["charts"]["chart-retained"]["boxes"] == len(HAND_TREE) + len(rest) + 2  # + the file + "unreachable"
    # a saved report reads the module back, from another directory too (next to the report)
    (tmp_path / "r.json").write_text(auditor("inspect", "r.wasm", "--format", "json", cwd=tmp_path).stdout)
    r = auditor("report", tmp_path / "r.json", "-o", tmp_path / "saved.html", cwd=ROOT)
    assert r.stderr == "" and tree_of(page_charts(tmp_path / "saved.html")["retained"]) == got


def test_retained_treemap_of_a_changed_or_missing_module_is_one_line(tmp_path):
    (tmp_path / "r.wat").write_text(RETAINED_WAT)
    wasm = tmp_path / "r.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "r.wat"), "-o", str(wasm)], check=True)
    report = tmp_path / "r.json"
    report.write_text(auditor("inspect", wasm, "--format", "json").stdout)
    # the same layout, other bytes: only the hash can tell
    (tmp_path / "r.wat").write_text(RETAINED_WAT.replace("hello a", "hellO a"))
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "r.wat"), "-o", str(wasm)], check=True)
    r = auditor("report", report, "-o", tmp_path / "changed.html")
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "changed since the report was made (sha256" in lines[0] and str(wasm) in lines[0]
    assert "retained" not in page_charts(tmp_path / "changed.html") and "Traceback" not in r.stderr
    assert "not shown" in (tmp_path / "changed.html").read_text()  # the page says so too
    wasm.unlink()
    r = auditor("report", report, "-o", tmp_path / "missing.html")
    assert r.stderr.count("\n") == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    assert "retained" not in page_charts(tmp_path / "missing.html")
    r = auditor("report", report, "--no-retained", "-o", tmp_path / "off.html")
    assert r.stderr == ""


def test_retained_treemap_is_bounded(tmp_path):
    """Per box at most CHILDREN children, the rest in one box of their summed size; per
    page at most BOXES boxes, however many items the module has.

    The wide and deep module has 40 x 40 x 5 leaves: about 5,000 boxes before the cap
    (BOXES binds) and 40 children at two levels (CHILDREN binds). It had 25 leaves per
    sub (41,641 functions), which bound nothing more and cost ~3 CPU-s of reading."""
    from auditor.report.html_retained import BOXES, CHILDREN

    n = 100  # main calls f0..f99; f_k has k nops: distinct sizes, so the order is known
    funcs = "".join(f"  (func $f{k}{' nop' * k})\n" for k in range(n))
    calls = " ".join(f"call $f{k}" for k in range(n))
    (tmp_path / "w.wat").write_text(f'(module\n  (func $main (export "main") {calls})\n{funcs})\n')
    wasm = tmp_path / "w.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "w.wat"), "-o", str(wasm)], check=True)
    sizes = objdump_items(wasm)
    page = tmp_path / "w.html"
    auditor("inspect", wasm, "--format", "html", "-o", page)
    chart = page_charts(page)["retained"]
    got = tree_of(chart)
    by_size = sorted((f"f{k}" for k in range(n)), key=lambda f: -sizes[f])
    shown, hidden = by_size[:CHILDREN], by_size[CHILDREN:]
    assert CHILDREN < n and [k for k, v in got.items() if v[0] == "main"] == [*shown, f"{len(hidden)} more items"]
    assert got[f"{len(hidden)} more items"][1] == sum(sizes[f] for f in hidden)
    assert got["main"][1] == sizes["main"] + sum(sizes[f] for f in by_size)
    assert_total(chart)
    # a wide and deep module: 40 x 40 x 5 = 8,000 leaf functions under main
    leaves = [f"(func $l{i}_{j}_{k} nop)" for i in range(40) for j in range(40) for k in range(5)]
    subs = [f"(func $s{i}_{j} " + " ".join(f"call $l{i}_{j}_{k}" for k in range(5)) + ")"
            for i in range(40) for j in range(40)]
    mids = [f"(func $m{i} " + " ".join(f"call $s{i}_{j}" for j in range(40)) + ")" for i in range(40)]
    top = '(func $main (export "main") ' + " ".join(f"call $m{i}" for i in range(40)) + ")"
    (tmp_path / "big.wat").write_text("(module\n" + "\n".join([top, *mids, *subs, *leaves]) + ")\n")
    big = tmp_path / "big.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "big.wat"), "-o", str(big)], check=True)
    page = tmp_path / "big.html"
    auditor("inspect", big, "--format", "html", "-o", page)
    chart = page_charts(page)["retained"]
    assert len(chart["ids"]) == BOXES and chart["values"][0] == big.stat().st_size
    assert_total(chart)
    assert max(sum(1 for p in chart["parents"] if p == q) for q in set(chart["parents"])) <= CHILDREN + 1
    st = status(load(page))  # plotly draws every one of them
    assert st["errors"] == [] and st["resources"] == 0 and st["charts"]["chart-retained"]["boxes"] == BOXES
