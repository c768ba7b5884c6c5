"""Text rendering of an inspect record: aligned tables, largest things first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditor.report.show import function_label
from auditor.report.table import human_bytes, table

if TYPE_CHECKING:
    from auditor.rules.audit import Audited
    from auditor.wasm.inspect import InspectResult

NAME_WIDTH = 110


def _short(name: str, width: int = NAME_WIDTH) -> str:
    """Long generic names keep their head and tail; the JSON has them whole."""
    return name if len(name) <= width else name[: width // 2 - 1] + "…" + name[-(width // 2):]


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _bold(s: str, color: bool) -> str:
    return f"\033[1m{s}\033[0m" if color else s


def _warn(s: str, color: bool) -> str:
    return f"\033[33m{s}\033[0m" if color else s


def render(result: Audited[InspectResult], *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    out: list[str] = []
    comp = []
    impl = j.get("compression_impl") or {}
    exact = j["compression"] == "exact"
    if j["gzip"] is not None:
        lv = impl.get("gzip_level") or (9 if exact else 6)  # reports before issue 16 carry no levels
        comp.append(f"gzip -{lv} {j['gzip']:,}")
    if j["brotli"] is not None:
        q = impl.get("brotli_quality") or (11 if exact else 9)
        comp.append(f"brotli -q {q} {j['brotli']:,}")
    out.append(_bold(f"{j['file']}: {total:,} bytes ({human_bytes(total)})", color)
               + (f"; {', '.join(comp)}" if comp else ""))
    prod = []
    if j["rustc_version"]:
        prod.append(f"rustc {j['rustc_version']}")
    for field, values in j["producers"].items():
        if field != "processed-by" or not j["rustc_version"]:
            prod.append(f"{field}: " + ", ".join(f"{v['name']} {v['version']}".strip() for v in values))
        else:
            others = [v for v in values if v["name"] != "rustc"]
            if others:
                prod.append("processed-by: " + ", ".join(f"{v['name']} {v['version']}".strip() for v in others))
    if prod:
        out.append("producers: " + "; ".join(prod))
    if j["target_features"]:
        out.append("target features: " + " ".join(j["target_features"]))

    out.append("")
    out.append(_bold("Sections", color))
    rows: list[list[Any]] = [["", "(preamble)", 0, 8, _pct(8, total)]]
    for s in j["sections"]:
        label = f'custom "{s["name"]}"' if s["custom"] else s["name"]
        rows.append([s["id"], label, f"0x{s['offset']:x}", s["size"], _pct(s["size"], total)])
    rows.append(["", "total", "", sum(r[3] for r in rows), "100.0%"])
    out.append(table(["id", "section", "offset", "bytes", "share"], rows, align="rlrrr"))
    st = j["section_totals"]
    out.append(f"  code {st['code']:,} · data {st['data']:,} · custom {st['custom']:,} · other {st['other'] + st['preamble']:,}")

    out.append("")
    out.append(_bold("Memory", color))
    if not j["memories"]:
        out.append("  no memory")
    for mem in j["memories"]:
        where = f"imported from {mem['module']}.{mem['field']}" if mem["imported"] else "defined"
        mx = "none" if mem["max_pages"] is None else f"{mem['max_pages']} pages ({human_bytes(mem['max_bytes'])})"
        flags = [f for f, on in (("shared", mem["shared"]), ("memory64", mem["memory64"])) if on]
        line = (f"  memory {mem['index']}: {where}, initial {mem['initial_pages']} pages "
                f"({human_bytes(mem['initial_bytes'])}), maximum {mx}")
        if flags:
            line += ", " + ", ".join(flags)
        if mem["exports"]:
            line += ", exported as " + ", ".join(f'"{e}"' for e in mem["exports"])
        out.append(line)
        if mem["unbounded"]:
            out.append(_warn("    no maximum: memory can grow without bound (up to 4 GiB); set one with "
                             "-C link-arg=--max-memory=BYTES", color))
    stack = j["stack"]
    if stack:
        out.append(f"  stack: {stack['size']:,} bytes ({human_bytes(stack['size'])}), {stack['layout']}, "
                   f"stack pointer global {stack['global']} starts at {stack['init']:,}")
    ds = j["data_segments"]
    line = f"  static data: {j['static_data_bytes']:,} bytes in {ds['count']} segments"
    if ds["passive"]:
        line += f" ({ds['passive']} passive)"
    syms = ", ".join(f"{k} = {v:,}" for k, v in j["symbols"].items() if v is not None)
    out.append(line + (f"; {syms}" if syms else ""))

    out.append("")
    out.append(_bold("Interface", color))
    itf = j["interface"]
    for what, items, by_kind in (("imports", j["imports"], itf["imports_by_kind"]), ("exports", j["exports"], itf["exports_by_kind"])):
        if not items:
            out.append(f"  {what}: none")
            continue
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
        out.append(f"  {what} ({kinds}):")
        for it in items[:40]:
            name = f"{it['module']}.{it['field']}" if what == "imports" else it["name"]
            out.append(f"    {it['kind']:<6} {name}" + (f" {it['signature']}" if it.get("signature") else ""))
        if len(items) > 40:
            out.append(f"    ... {len(items) - 40} more")
    out.append(f"  wasm-bindgen: {'yes' if itf['wasm_bindgen'] else 'no'} · WASI: {itf['wasi'] or 'no'}")

    out.append("")
    al = j["allocator"]
    head = f"Allocator: {al['name']}"
    if al["description"]:
        head += f" — {al['description']}"
    out.append(_bold(head, color))
    if al["evidence"]:
        out.append(f"  evidence: {len(al['evidence'])} functions, {al['evidence_bytes']:,} bytes")
        out.append(table(["bytes", "function"], [[e["size"], _short(e["function"])] for e in al["evidence"][:10]], align="rl", indent="    "))
        if len(al["evidence"]) > 10:
            out.append(f"    ... {len(al['evidence']) - 10} more")
    if al["ambiguous_with"]:
        out.append("  also consistent with: " + ", ".join(al["ambiguous_with"]))
    if al["class_hint"]:
        out.append(f"  growth class hint: {al['class_hint']}")
    sites = j["memory_grow_sites"]
    out.append(f"  memory.grow sites: {len(sites)}")
    for s in sites[:20]:
        state = ("returned; every caller compares it with -1" if s.get("use") == "compared-by-caller"
                 else "checked against -1") if s["checked"] else _warn(f"NOT checked ({s['use']})", color)
        out.append(f"    0x{s['offset']:x} in {s['name'] or 'func[' + str(s['function']) + ']'}: {state}")

    out.append("")
    code_total = sum(f["size"] for f in j["functions"])
    out.append(_bold(f"Functions: {j['function_count']:,} bodies, {code_total:,} bytes", color)
               + f" ({j['named_functions']['count']:,} named; {j['unnamed_functions']['count']:,} unnamed, "
               f"{j['unnamed_functions']['size']:,} bytes)")
    top = sorted(j["functions"], key=lambda f: (-f["size"], f["index"]))[: result.top or None]  # 0 = all, as in diff
    if top:
        rows = [[f["size"], _pct(f["size"], code_total), f["crate"], _short(function_label(f))] for f in top]
        out.append(table(["bytes", "share", "crate", "function"], rows, align="rrll"))
    rest = j["function_count"] - len(top)
    if rest > 0:
        rest_bytes = code_total - sum(f["size"] for f in top)
        out.append(f"  ... {rest:,} more functions, {rest_bytes:,} bytes")

    out.append("")
    out.append(_bold("Crates", color))
    rows = [[c["size"], _pct(c["size"], code_total), c["functions"], c["name"]] for c in j["crates"]]
    out.append(table(["bytes", "share", "functions", "crate"], rows, align="rrrl"))
    dw = j["dwarf"]
    if dw:
        out.append("")
        line = (f"DWARF: {dw.get('compile_units', 0)} compile units (v{'/'.join(str(v) for v in dw.get('versions', []))}, "
                f"{', '.join(dw.get('languages', [])) or 'no language'}), {human_bytes(dw.get('bytes'))} of .debug_*")
        if dw.get("crates"):
            line += "; crates: " + ", ".join(dw["crates"][:12]) + (" ..." if len(dw["crates"]) > 12 else "")
        out.append(_bold(line, color))
        if dw.get("error"):
            out.append(_warn(f"  unreadable from there on: {dw['error']}", color))
        fw = dw.get("functions")
        if fw:
            out.append(f"  {fw['matched']}/{fw['bodies']} bodies placed by DWARF (file:line, crate)")
            placed = {f["index"]: f for f in fw["functions"]}
            for f in top[:10]:
                p = placed.get(f["index"])
                if p and p.get("file"):
                    out.append(f"    {_short(f['demangled'] or f['name'] or '', 60):<60}  {p['file']}:{p.get('line') or '?'}")
    for w in j["warnings"]:
        out.append(_warn(f"warning: {w}", color))
    if result.findings:
        from auditor.report.text_lint import diagnostic

        out.append("")
        out.append(_bold(f"Findings ({len(result.findings)})", color))
        out.extend(diagnostic(f, color) for f in result.findings)
    return "\n".join(out) + "\n"
