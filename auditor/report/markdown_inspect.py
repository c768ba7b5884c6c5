"""Markdown for one module (a PR comment or job summary): headline sizes, memory,
allocator, biggest crates and functions, findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.fmt_markdown import cell, code, counts_line, findings_table, help_details, table
from auditor.report.show import function_label
from auditor.units import human_bytes

if TYPE_CHECKING:
    from auditor.rules.audit import Audited
    from auditor.wasm.inspect import InspectResult


def _size(n) -> str:
    if n is None:
        return "-"
    return f"{n:,} B" if n < 1024 else f"{n:,} B ({human_bytes(n)})"  # not "8 B (8 B)"


def render(result: Audited[InspectResult], *, color: bool = False) -> str:
    j = result.to_json()
    st = j["section_totals"]
    out = [f"## auditor inspect — {code(j['file'])}", ""]
    out += table(["raw", "gzip", "brotli", "code", "data", "custom"],
                 [[_size(j["bytes"]), _size(j["gzip"]), _size(j["brotli"]), _size(st["code"]), _size(st["data"]),
                   _size(st["custom"])]], "rrrrrr")
    out.append("")
    mem_rows = [[str(m["index"]), f"{m['module']}.{m['field']}" if m["imported"] else "defined",
                 str(m["initial_pages"]), "∞ (no maximum)" if m["max_pages"] is None else str(m["max_pages"]),
                 ", ".join(f for f, on in (("shared", m["shared"]), ("memory64", m["memory64"])) if on)]
                for m in j["memories"]]
    if mem_rows:
        out += table(["memory", "where", "initial pages", "max pages", "flags"], mem_rows, "llrrl")
        out.append("")
    al = j["allocator"]
    sites = j["memory_grow_sites"]
    unchecked = sum(not s["checked"] for s in sites)
    out.append(f"**Allocator:** {code(al['name'])}" + (f" — {cell(al['description'])}" if al["description"] else "")
               + f" · `memory.grow` sites: {len(sites)}" + (f", **{unchecked} unchecked**" if unchecked else ""))
    out.append("")
    code_total = sum(f["size"] for f in j["functions"]) or 1
    crates = [[code(c["name"]), f"{c['size']:,}", f"{100 * c['size'] / code_total:.1f}%"] for c in j["crates"][:10]]
    top = sorted(j["functions"], key=lambda f: (-f["size"], f["index"]))[: result.top or None]  # 0 = all, as in diff
    funcs = [[f"{f['size']:,}", code(f["crate"]), code(function_label(f))] for f in top]
    out += ["<details><summary>Crates and largest functions</summary>", ""]
    out += table(["crate", "bytes", "share"], crates, "lrr") + [""]
    out += table(["bytes", "crate", "function"], funcs, "rll") + ["", "</details>", ""]
    out.append(f"**Findings:** {counts_line(result.findings)}")
    if result.findings:
        out += [""] + findings_table(result.findings) + [""] + help_details(result.findings)
    return "\n".join(out) + "\n"
