"""One self-contained HTML page for a scan, a check (scan + baseline) or an inspect report.

Charts are drawn by plotly.js, inlined from the `plotly` Python package's own copy
(`plotly/package_data/plotly.min.js`; the `html` extra): a well-kept library with a
heatmap, a zoomable treemap and line charts in one file that works offline, so the page
makes no network request (a Content-Security-Policy says so to the browser too) and
opens from a CI artifact or a file:// URL. The Python `plotly` package is never
imported: only its JavaScript file is read.

Everything the page shows comes from the report's record, embedded as JSON with `<`,
`>` and `&` escaped (a module name cannot close the script element); tables are built
here with every text escaped, and module names pass through `escape.visible` first.
The page's script records what it drew in `#auditor-status` (charts, traces, errors,
resources fetched), which the headless-browser test reads.
"""

from __future__ import annotations

import html
import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.errors import AuditorError
from auditor.findings import Finding
from auditor.io import log
from auditor.records.retained import RetainedSource, shown_variant
from auditor.records.scan import split_id, variant_id
from auditor.report import html_retained
from auditor.report.ci import group_findings, record_of
from auditor.report.escape import visible
from auditor.report.html_retained import BOXES, CHILDREN
from auditor.report.registry import Result
from auditor.units import human_bytes

TREEMAP_FUNCTIONS = 40  # functions shown per crate in the treemap (the rest: one "other" box)
CURVE_POINTS = 400  # points per growth curve (evenly sampled)


def plotly_js() -> str:
    """plotly.min.js from the installed `plotly` package (not imported)."""
    spec = find_spec("plotly")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise AuditorError("--format html needs plotly.js from the `plotly` package: pip install 'wasm-auditor[html]'")


def _esc(x: Any) -> str:
    return html.escape(visible("" if x is None else str(x)), quote=True)


def _json_for_script(obj: Any) -> str:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _sample(curve: list[Any], n: int = CURVE_POINTS) -> tuple[list[int], list[Any]]:
    if len(curve) <= n:
        return list(range(len(curve))), list(curve)
    step = (len(curve) - 1) / (n - 1)
    xs = sorted({round(i * step) for i in range(n)})
    return xs, [curve[i] for i in xs]


# --------------------------------------------------------------------------- data for the charts


def _heatmap(scan: dict[str, Any]) -> dict[str, Any] | None:
    variants = [v for v in scan.get("variants", []) if isinstance(v, dict)]
    if not variants:
        return None
    profiles = list(dict.fromkeys(v["profile"] for v in variants))
    allocators = list(dict.fromkeys(v["allocator"] for v in variants))
    metrics: dict[str, list[list[int | None]]] = {}
    for metric in ("bytes", "gzip", "brotli"):
        grid: list[list[int | None]] = [[None] * len(allocators) for _ in profiles]
        for v in variants:
            w = v.get("wasm") or {}
            if v.get("status") == "ok" and isinstance(w.get(metric), int):
                grid[profiles.index(v["profile"])][allocators.index(v["allocator"])] = w[metric]
        metrics[{"bytes": "raw"}.get(metric, metric)] = grid
    rec = (scan.get("recommended") or {}).get("variant")
    small = (scan.get("smallest") or {}).get("variant")
    marks = []
    for label, vid in (("recommended", rec), ("smallest", small)):
        parts = split_id(vid) if vid else None
        if parts:
            p, a = parts
            if p in profiles and a in allocators:
                marks.append({"label": label, "profile": p, "allocator": a})
    failed = [v["id"] for v in variants if v.get("status") != "ok"]
    return {"profiles": profiles, "allocators": allocators, "metrics": metrics, "marks": marks, "failed": failed}


def _treemap(wasm: dict[str, Any], title: str, retained: dict[int, int] | None = None) -> dict[str, Any] | None:
    """Crates -> functions by body size (shallow: these sums add up); with `retained`
    (function index -> retained bytes) each function's retained size is in its hover."""
    functions = [f for f in wasm.get("functions", []) or [] if isinstance(f, dict) and f.get("size")]
    if not functions:
        return None
    ids, labels, parents, values = ["all"], [visible(title)], [""], [sum(int(f["size"]) for f in functions)]
    by_crate: dict[str, list[dict[str, Any]]] = {}
    for f in functions:
        by_crate.setdefault(str(f.get("crate") or "(unknown)"), []).append(f)
    for crate, fs in sorted(by_crate.items(), key=lambda kv: -sum(f["size"] for f in kv[1])):
        cid = f"c:{crate}"
        ids.append(cid)
        labels.append(visible(crate))
        parents.append("all")
        values.append(sum(int(f["size"]) for f in fs))  # branchvalues "total": a parent is its children's sum
        fs.sort(key=lambda f: -f["size"])
        for f in fs[:TREEMAP_FUNCTIONS]:
            ids.append(f"f:{f.get('index')}")
            labels.append(visible(f.get("demangled") or f.get("name") or f"function {f.get('index')}"))
            parents.append(cid)
            values.append(int(f["size"]))
        rest = fs[TREEMAP_FUNCTIONS:]
        if rest:
            ids.append(f"o:{crate}")
            labels.append(f"{len(rest)} more functions")
            parents.append(cid)
            values.append(sum(int(f["size"]) for f in rest))
    out: dict[str, Any] = {"ids": ids, "labels": labels, "parents": parents, "values": values, "crates": len(by_crate)}
    if retained:
        out["retained"] = [retained.get(int(i[2:])) if i.startswith("f:") and i[2:].isdigit() else None for i in ids]
    return out


def _retained(result: Any, title: str) -> tuple[dict[str, Any] | None, dict[int, int] | None, str | None]:
    """(dominator treemap, retained bytes per function index, why not) of the module the
    page breaks down: the view the flow computed (the result's `retained_view`,
    auditor/pipeline/retained.py), formatted here; none when the result has no source
    (`auditor report --no-retained`)."""
    source: RetainedSource | None = getattr(result, "retained_view", None)
    if source is None:
        return None, None, None
    view = source()
    return (html_retained.treemap(view.tree, title) if view.tree else None), view.by_function, view.why


def _curves(scan_variants: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Memory pages over the churn and hold/release rounds and the OOM ramp, one series
    per variant that was probed, with the cap."""
    out: dict[str, Any] = {"churn": [], "hold_release": [], "oom": [], "cap": None}
    for v in scan_variants:
        rt = v.get("runtime") or {}
        if not isinstance(rt, dict):
            continue
        cap = (rt.get("options") or {}).get("memory_limit_pages")
        if isinstance(cap, int):
            out["cap"] = max(out["cap"] or 0, cap)
        for key in ("churn", "hold_release", "oom"):
            block = rt.get(key) or {}
            curve = block.get("curve") if isinstance(block, dict) else None
            if isinstance(curve, list) and curve:
                xs, ys = _sample(curve)
                out[key].append({"name": v.get("id") or rt.get("file"), "x": xs, "y": ys,
                                 "verdict": block.get("verdict") or block.get("outcome")})
    return out if any(out[k] for k in ("churn", "hold_release", "oom")) else None


def _before_after(scan: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any] | None:
    if not baseline:
        return None
    base = {v.get("id") or variant_id(v): v for v in baseline.get("variants", [])}
    rows = []
    for v in scan.get("variants", []):
        vid = v.get("id") or variant_id(v)
        b = base.get(vid)
        head_bytes = (v.get("wasm") or {}).get("bytes") if v.get("status") == "ok" else None
        base_bytes = (b.get("wasm") or {}).get("bytes") if b and b.get("status") == "ok" else None
        if head_bytes is not None or base_bytes is not None:
            rows.append((vid, base_bytes, head_bytes))
    if not rows:
        return None
    return {"variants": [r[0] for r in rows], "baseline": [r[1] for r in rows], "head": [r[2] for r in rows]}


# --------------------------------------------------------------------------- tables


def _table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _findings_section(findings: list[Finding]) -> str:
    if not findings:
        return "<p>No findings.</p>"
    groups = group_findings(findings)
    by_rule: dict[str, list] = {}
    for g in groups:
        by_rule.setdefault(g.finding.rule, []).append(g)
    parts = []
    for rule, gs in by_rule.items():
        f0 = gs[0].finding
        variants = sorted({v for g in gs for v in g.variants})
        parts.append(f'<details class="rule" open><summary><b>{_esc(rule)}</b> {_esc(f0.title)} · '
                     f'{_esc(f0.level)} · {len(gs)} finding{"s" if len(gs) != 1 else ""}'
                     + (f" · {len(variants)} variant{'s' if len(variants) != 1 else ''}" if variants else "")
                     + "</summary>"
                     + _table(["message", "variants", "location"],
                              [[g.finding.message, g.variant_text,
                                f"{g.finding.file}:{g.finding.line}" if g.finding.line else g.finding.file or ""]
                               for g in gs], "findings")
                     + "</details>")
    return "".join(parts)


def _oom_table(variants: list[dict[str, Any]]) -> str:
    rows = []
    for v in variants:
        rt = v.get("runtime") or {}
        oom = rt.get("oom") if isinstance(rt, dict) else None
        if isinstance(oom, dict):
            rows.append([v.get("id") or rt.get("file"), oom.get("outcome"), oom.get("pages"), oom.get("cap_pages"),
                         human_bytes(oom["request"]) if isinstance(oom.get("request"), int) else "",
                         "yes" if oom.get("grew_on_failure") else "no"])
        for s in (rt.get("scenarios") or []) if isinstance(rt, dict) else []:
            rows.append([f"{v.get('id') or rt.get('file')}: {s.get('name')}", s.get("observed"), s.get("pages_after"),
                         s.get("memory_limit_pages"), f"expected {s.get('expected')}",
                         "passed" if s.get("passed") else "FAILED"])
    if not rows:
        return "<p>No runtime probes in this report.</p>"
    return _table(["variant / scenario", "outcome", "pages", "cap (pages)", "request", "grew on failure / result"],
                  rows, "oom")


# --------------------------------------------------------------------------- the page


def _findings_of(result: Any) -> list[Finding]:
    return list(getattr(result, "findings", []) or [])


def page_data(result: Any) -> tuple[str, list[tuple[str, str]], dict[str, Any], list[tuple[str, str]]]:
    """(title, summary rows, chart data, [(section title, html)])."""
    kind = getattr(result, "KIND", "")
    rec = record_of(result)
    scan: dict[str, Any] | None = None
    baseline = None
    if kind == "scan":
        scan = rec
        # `auditor report --baseline`, or the baseline `scan --gate --baseline` read
        baseline = getattr(result, "baseline_record", None) or getattr(getattr(result, "check", None), "baseline", None)
    elif kind == "check":
        scan = dict(getattr(result, "scan", None) or {})
        baseline = getattr(result, "baseline", None)
    charts: dict[str, Any] = {}
    sections: list[tuple[str, str]] = []
    summary: list[tuple[str, str]] = []
    retained_note: str | None = None
    if scan is not None:
        crate = scan.get("crate") or {}
        title = f"{crate.get('name', 'crate')} {crate.get('version', '')}".strip()
        variants = [v for v in scan.get("variants", []) if isinstance(v, dict)]
        rec_v = (scan.get("recommended") or {}).get("variant")
        summary = [("crate", title), ("toolchain", str((scan.get("toolchain") or {}).get("rustc") or "")),
                   ("variants", f"{len(variants)} ({sum(v.get('status') == 'ok' for v in variants)} built)"),
                   ("recommended", rec_v or "none"),
                   ("smallest", (scan.get("smallest") or {}).get("variant") or "none")]
        if kind == "check":
            summary.append(("budgets", "passed" if rec.get("passed") else "failed"))
        charts["heatmap"] = _heatmap(scan)
        # the treemap needs names: the recommended variant, unless a stripped build has none
        pick = shown_variant(scan)
        if pick:
            vid = pick.get("id") or title
            tree, by_function, why = _retained(result, vid)
            charts["treemap"] = _treemap(pick["wasm"], vid, by_function)
            if charts["treemap"]:
                charts["treemap"]["variant"] = pick.get("id")
            if tree:
                charts["retained"] = {**tree, "variant": pick.get("id")}
            retained_note = why
        charts["curves"] = _curves(variants)
        charts["before_after"] = _before_after(scan, baseline)
        sections.append(("Out of memory: outcomes", _oom_table(variants)))
    else:
        title = str(rec.get("file") or kind)
        summary = [("file", title), ("bytes", str(rec.get("bytes", ""))), ("gzip", str(rec.get("gzip", ""))),
                   ("brotli", str(rec.get("brotli", ""))), ("functions", str(rec.get("function_count", "")))]
        if kind == "inspect" and rec.get("functions") is not None:
            tree, by_function, retained_note = _retained(result, Path(title).name)
            charts["retained"] = tree
        else:
            by_function = None
        charts["treemap"] = _treemap(rec, Path(title).name, by_function)
        if isinstance(rec.get("sections"), list):
            charts["sections"] = {"names": [visible(s.get("name")) for s in rec["sections"]],
                                  "sizes": [s.get("size") for s in rec["sections"]]}
        if kind == "run":
            charts["curves"] = _curves([{"id": title, "runtime": rec}])
            sections.append(("Out of memory: outcomes", _oom_table([{"id": title, "runtime": rec}])))
    if retained_note:
        log(f"auditor: retained sizes not shown: {retained_note}")
        summary.append(("retained sizes", f"not shown: {retained_note}"))
    sections.append(("Findings by rule", _findings_section(_findings_of(result))))
    return title, summary, {k: v for k, v in charts.items() if v}, sections


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:1280px}section{background:#fff;border:1px solid #d0d7de;border-radius:6px;
padding:12px 16px;margin:0 0 16px}h2{font-size:16px;margin:0 0 8px}.chart{width:100%;height:460px}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid #eaeef2;padding:4px 8px;
text-align:left;vertical-align:top}dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
dt{color:#57606a}dd{margin:0;font-weight:600}details.rule{margin:6px 0}summary{cursor:pointer}
.note{color:#57606a;font-size:12px}
"""

# The page's own script: builds each chart from the embedded data, then records what it drew.
_SCRIPT = r"""
(function () {
  var status = {ready: false, errors: [], charts: {}, resources: 0, violations: 0};
  window.addEventListener('error', function (e) { status.errors.push(String(e.message || e)); });
  document.addEventListener('securitypolicyviolation', function (e) {
    status.violations += 1; status.errors.push('CSP: ' + e.violatedDirective + ' ' + e.blockedURI); });
  var origError = console.error;
  console.error = function () { status.errors.push(Array.prototype.join.call(arguments, ' ')); origError.apply(console, arguments); };
  var D = JSON.parse(document.getElementById('auditor-data').textContent);
  var C = D.charts;
  function esc(s) { return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'); }
  function human(b) { if (b == null) return ''; var u = ['B','KiB','MiB','GiB'], i = 0; while (b >= 1024 && i < 3) { b /= 1024; i++; } return (i ? b.toFixed(1) : b) + ' ' + u[i]; }
  var cfg = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ['toImage']};
  var jobs = [];
  function plot(id, traces, layout) {
    var el = document.getElementById(id);
    if (!el) return;
    layout.margin = layout.margin || {l: 140, r: 20, t: 40, b: 60};
    jobs.push(Plotly.newPlot(el, traces, layout, cfg).then(function (gd) {
      // what was drawn: heatmap images, treemap boxes, line and bar traces
      status.charts[id] = {traces: gd.data.length, heatmaps: gd.querySelectorAll('.main-svg g.hm image').length,
                           boxes: gd.querySelectorAll('.main-svg g.slice').length,
                           lines: gd.querySelectorAll('.main-svg g.trace.scatter path.js-line').length,
                           bars: gd.querySelectorAll('.main-svg g.trace.bars').length};
    }));
  }
  if (C.heatmap) {
    var H = C.heatmap, names = ['raw', 'gzip', 'brotli'];
    var traces = names.map(function (m, i) {
      // colour on a log scale (a debug build is 100x a stripped one); the cells show the sizes
      var z = H.metrics[m].map(function (row) { return row.map(function (b) { return b == null ? null : Math.log10(b); }); });
      return {type: 'heatmap', name: m, x: H.allocators.map(esc), y: H.profiles.map(esc), z: z,
              customdata: H.metrics[m], visible: i === 0, colorscale: 'YlOrRd', reversescale: true, hoverongaps: false,
              colorbar: {title: {text: 'log10 bytes'}},
              text: H.metrics[m].map(function (row) { return row.map(human); }), texttemplate: '%{text}',
              hovertemplate: '%{y} / %{x}<br>' + m + ': %{customdata:,} B<extra></extra>'};
    });
    var ann = H.marks.map(function (m) {
      return {x: esc(m.allocator), y: esc(m.profile), text: m.label === 'recommended' ? '★ recommended' : '▼ smallest',
              showarrow: true, arrowhead: 2, ax: 0, ay: m.label === 'recommended' ? -28 : 28,
              font: {color: '#0550ae', size: 12}, bgcolor: 'rgba(255,255,255,0.85)'};
    });
    plot('chart-heatmap', traces, {title: {text: 'Module size: profile × allocator'}, annotations: ann,
      updatemenus: [{type: 'buttons', direction: 'right', x: 0, y: 1.12, xanchor: 'left', showactive: true,
        buttons: names.map(function (m, i) {
          return {label: m, method: 'restyle', args: ['visible', names.map(function (_, j) { return i === j; })]};
        })}]});
  }
  if (C.treemap) {
    var T = C.treemap;
    var tm = {type: 'treemap', ids: T.ids, labels: T.labels.map(esc), parents: T.parents,
      values: T.values, branchvalues: 'total', maxdepth: 2, textinfo: 'label+value+percent root',
      hovertemplate: '%{label}<br>%{value:,} B<extra></extra>'};
    if (T.retained) {
      // retained bytes of each function in its hover (what would go with it)
      tm.customdata = T.retained.map(function (r) { return r == null ? '' : 'retained ' + r.toLocaleString('en-US') + ' B'; });
      tm.hovertemplate = '%{label}<br>%{value:,} B body<br>%{customdata}<extra></extra>';
    }
    plot('chart-treemap', [tm],
      {title: {text: 'Where the code bytes go: crates → functions' + (T.variant ? ' (' + esc(T.variant) + ')' : '') +
               ' — click a crate to zoom'}, margin: {l: 10, r: 10, t: 40, b: 10}});
  }
  if (C.retained) {
    var R = C.retained;
    plot('chart-retained', [{type: 'treemap', ids: R.ids, labels: R.labels.map(esc), parents: R.parents,
      values: R.values, branchvalues: 'total', maxdepth: 3, textinfo: 'label+value+percent root',
      customdata: R.kinds.map(function (k, i) {
        return [esc(k), R.shallow[i].toLocaleString('en-US'), (100 * R.values[i] / R.bytes).toFixed(1)]; }),
      hovertemplate: '%{label}<br>%{customdata[0]}<br>retained %{value:,} B (%{customdata[2]}% of the file)' +
                     '<br>shallow %{customdata[1]} B<extra></extra>'}],
      {title: {text: 'What each item keeps alive: retained size, dominator tree' +
               (R.variant ? ' (' + esc(R.variant) + ')' : '') + ' — click a box to zoom'},
       margin: {l: 10, r: 10, t: 40, b: 10}});
  }
  if (C.sections) {
    plot('chart-sections', [{type: 'bar', orientation: 'h', y: C.sections.names.map(esc), x: C.sections.sizes,
      hovertemplate: '%{y}: %{x:,} B<extra></extra>'}], {title: {text: 'Sections'}, yaxis: {autorange: 'reversed'}});
  }
  if (C.curves) {
    var cap = C.curves.cap;
    [['churn', 'chart-churn', 'Memory under churn (pages per round)', 'round'],
     ['hold_release', 'chart-hold', 'Memory over hold/release cycles (pages)', 'cycle'],
     ['oom', 'chart-oom', 'Allocation ramp to OOM (pages per request step)', 'request step']].forEach(function (k) {
      var series = C.curves[k[0]];
      if (!series || !series.length) return;
      var traces = series.map(function (s) {
        return {type: 'scatter', mode: 'lines', name: esc(s.name) + (s.verdict ? ' (' + esc(s.verdict) + ')' : ''),
                x: s.x, y: s.y};
      });
      var layout = {title: {text: k[2]}, xaxis: {title: {text: k[3]}}, yaxis: {title: {text: 'pages (64 KiB)'}},
                    margin: {l: 60, r: 20, t: 40, b: 50}, legend: {orientation: 'h', y: -0.2}};
      if (cap) {
        layout.shapes = [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: cap, y1: cap, line: {color: '#cf222e', dash: 'dash'}}];
        layout.annotations = [{xref: 'paper', x: 1, y: cap, xanchor: 'right', yanchor: 'bottom', showarrow: false,
                               text: 'cap ' + cap + ' pages', font: {color: '#cf222e'}}];
      }
      plot(k[1], traces, layout);
    });
  }
  if (C.before_after) {
    var B = C.before_after;
    plot('chart-before-after', [
      {type: 'bar', name: 'baseline', x: B.variants.map(esc), y: B.baseline},
      {type: 'bar', name: 'this report', x: B.variants.map(esc), y: B.head}],
      {title: {text: 'Before / after: raw bytes per variant'}, barmode: 'group', margin: {l: 80, r: 20, t: 40, b: 120}});
  }
  Promise.all(jobs).then(function () {
    status.resources = performance.getEntriesByType('resource').length;
    status.ready = true;
  }, function (e) { status.errors.push('plot: ' + e); status.ready = true; }).then(function () {
    var el = document.getElementById('auditor-status');
    el.textContent = JSON.stringify(status);
    el.setAttribute('data-ready', '1');
  });
})();
"""

_CHART_SECTIONS = [
    ("heatmap", "Variant matrix", ["chart-heatmap"],
     "Raw, gzip and brotli size of every profile × allocator variant (buttons switch the metric); "
     "the recommended variant is starred. Empty cells: failed builds or variants not in this report."),
    ("before_after", "Before / after", ["chart-before-after"], "Each variant's raw size in the baseline and now."),
    ("treemap", "Code size by crate and function", ["chart-treemap"],
     f"Function body bytes, grouped by crate (the {TREEMAP_FUNCTIONS} largest functions of each; the rest in one box). "
     "With the module at hand, a function's hover adds its retained size (below)."),
    ("retained", "Retained size: the dominator tree", ["chart-retained"],
     "Each box is an item (function, data segment, table, export, section...) sized by its retained bytes: its own "
     "plus everything only it keeps alive, which would go with it. A box's children are the items it immediately "
     "dominates (every path from a root to them passes through it); the space around them is the item's own bytes. "
     f"The largest subtrees are expanded first, at most {CHILDREN} boxes per parent (the rest in one box) and "
     f"{BOXES} in all; \"unreachable\" is what no export, start function or section reaches."),
    ("sections", "Sections", ["chart-sections"], "Bytes per section."),
    ("curves", "Memory growth", ["chart-churn", "chart-hold", "chart-oom"],
     "Linear memory in 64 KiB pages, per variant probed; the dashed line is the runtime cap."),
]


def render(result: Result, *, color: bool = False) -> str:
    title, summary, charts, sections = page_data(result)
    js = plotly_js()
    body = [f'<section><dl class="summary">{"".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in summary)}'
            "</dl></section>"]
    for key, heading, ids, note in _CHART_SECTIONS:
        if key not in charts:
            continue
        divs = "".join(f'<div class="chart" id="{i}"></div>' for i in ids
                       if key != "curves" or charts[key].get({"chart-churn": "churn", "chart-hold": "hold_release",
                                                              "chart-oom": "oom"}[i]))
        body.append(f"<section><h2>{_esc(heading)}</h2><p class=\"note\">{_esc(note)}</p>{divs}</section>")
    for heading, content in sections:
        body.append(f"<section><h2>{_esc(heading)}</h2>{content}</section>")
    data = {"charts": charts, "kind": getattr(result, "KIND", ""), "version": __version__}
    csp = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
           "img-src data: blob:; font-src data:")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>auditor {_esc(getattr(result, 'KIND', ''))}: {_esc(title)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{js}</script>",
        "</head><body>",
        f"<header><h1>auditor {_esc(getattr(result, 'KIND', ''))} — {_esc(title)}</h1></header><main>",
        *body,
        f'<p class="note">auditor {_esc(__version__)} · charts by plotly.js, inlined: this page fetches nothing.</p>',
        '<pre id="auditor-status" hidden></pre>',
        "</main>",
        f'<script type="application/json" id="auditor-data">{_json_for_script(data)}</script>',
        f"<script>{_SCRIPT}</script>",
        "</body></html>\n",
    ])
