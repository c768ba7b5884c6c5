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

from browser import load, png_colours, status
from hostile import hostile_wasm

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "fixtures" / "reports"


def auditor(*args, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "auditor", *map(str, args)], capture_output=True, text=True, cwd=cwd)
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
    auditor("report", tmp_path / "scan.json", "--baseline", REPORTS / "scan-v1.json", "-o", page)
    text = page.read_text()
    assert "http://" not in text.split("<script>", 1)[0] and 'src="http' not in text  # nothing to fetch
    shot = tmp_path / "shot.png"
    st = status(load(page, tmp_path / "profile", screenshot=shot, size="1000,800"))
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
    dom = load(page, tmp_path / "profile")
    st = status(dom)
    assert st["errors"] == [] and st["resources"] == 0
    assert "data-pwned" not in dom and st["charts"]["chart-treemap"]["boxes"] >= 2
    # control characters: the hostile module's names shown as escapes, the page still loads
    page2 = tmp_path / "h.html"
    auditor("inspect", hostile_wasm(tmp_path), "--format", "html", "-o", page2)
    body = page2.read_text().split("</head>", 1)[1]  # (plotly.min.js itself holds a 0x01 in a string)
    assert "\x1b" not in body and "\x01" not in body and "grow_\\x01\\x1bc" in body
    assert status(load(page2, tmp_path / "profile"))["errors"] == []


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
    st = status(load(page, tmp_path / "profile"))
    assert st["errors"] == [] and st["resources"] == 0
    probed = [v for v in report["variants"] if (v.get("runtime") or {}).get("churn", {}).get("curve")]
    assert probed and st["charts"]["chart-churn"]["lines"] == len(probed)
    assert st["charts"]["chart-heatmap"]["heatmaps"] == 1
