"""Text rendering of the deep size analyses (top, dominators, paths, garbage, monos,
crates, sources, data): aligned tables read from each result's record.

Names come from the module (name section, export names, custom section names, data
previews): they are printed through `_safe`, which escapes control and bidirectional
formatting characters, so a hostile module cannot move the cursor, recolour the
terminal or reorder what is shown.
"""

from __future__ import annotations

import re

from auditor.report.table import human_bytes, table

NAME_WIDTH = 100
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _safe(name: str | None, width: int | None = NAME_WIDTH) -> str:
    if name is None:
        return "-"
    name = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
    if width is not None and len(name) > width:
        return name[: width // 2 - 1] + "…" + name[-(width // 2):]
    return name


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "-"


def _title(s: str, color: bool) -> str:
    return f"\033[1m{s}\033[0m" if color else s


def render_top(result, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    key = j["sort"]
    rows = [[it[key], _pct(it[key], total), it["shallow" if key == "retained" else "retained"], it["kind"],
             _safe(it["name"])] for it in j["items"]]
    other = "retained" if key == "shallow" else "shallow"
    out = [_title(f"{_safe(j['file'], None)}: {total:,} bytes, {j['total_items']:,} items, by {key} size", color),
           table([key, "share", other, "kind", "item"], rows, align="rrrll")]
    rest = j["rest"]
    if rest["items"]:
        out.append(f"  … and {rest['items']:,} more items: {rest['shallow']:,} bytes shallow")
    return "\n".join(out) + "\n"


def render_dominators(result, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    rows = [[it["retained"], _pct(it["retained"], total), it["shallow"],
             "  " * it["depth"] + ("└ " if it["depth"] else "") + _safe(it["name"])] for it in j["items"]]
    head = f"dominator tree of {_safe(j['root'])}" if j["root"] else "dominator tree (roots at the left)"
    out = [_title(f"{_safe(j['file'], None)}: {head}", color), table(["retained", "share", "shallow", "item"], rows,
                                                                      align="rrrl")]
    if j["truncated"]:
        out.append("  … cut by --depth / --rows (the JSON carries what is shown; raise the limits for more)")
    un = j["unreachable"]
    if un["items"] and not j["root"]:
        out.append(f"  {un['items']:,} unreachable items, {un['bytes']:,} bytes: see `auditor garbage`")
    return "\n".join(out) + "\n"


def render_paths(result, *, color: bool = False) -> str:
    j = result.to_json()
    out = []
    for it in j["items"]:
        out.append(_title(f"{_safe(it['name'])}  ({it['kind']}, {it['shallow']:,} bytes, "
                          f"{it['retained']:,} retained)", color))
        if not it["paths"]:
            out.append("  unreachable: no root keeps it (see `auditor garbage`)")
        for p in it["paths"]:
            out.append("  " + " → ".join(_safe(n, 60) for n in p))
        more = it["total_paths"] - len(it["paths"])
        if more > 0:
            out.append(f"  … {more} more shortest paths (through other referrers; --max-paths)")
        out.append(f"  {it['referrers']} direct referrer(s)")
    if j["matched"] > len(j["items"]):
        out.append(f"… {j['matched'] - len(j['items'])} more items match {_safe(j['query'])!r} (--items)")
    return "\n".join(out) + "\n"


def render_garbage(result, *, color: bool = False) -> str:
    j = result.to_json()
    items = j["items"]
    out = [_title(f"{_safe(j['file'], None)}: {len(items):,} items no root reaches, {j['bytes']:,} bytes", color)]
    if items:
        out.append(table(["bytes", "kind", "item"], [[it["shallow"], it["kind"], _safe(it["name"])]
                                                      for it in items[:200]], align="rll"))
        if len(items) > 200:
            out.append(f"  … and {len(items) - 200:,} more (the JSON lists all)")
    d = j["data_segments"]
    if d["items"]:
        out.append(f"  {d['items']:,} of them are data segments ({d['bytes']:,} bytes) that no code constant and "
                   "no data word points into; addresses computed at run time are not seen, so check before "
                   "believing they are dead")
    return "\n".join(out) + "\n"


def render_monos(result, *, color: bool = False) -> str:
    j = result.to_json()
    gens = j["generics"]
    out = [_title(f"{_safe(j['file'], None)}: {len(gens):,} generic functions with 2+ copies, {j['bytes']:,} bytes; "
                  f"{j['savings']:,} bytes if each kept only its largest copy", color)]
    rows = []
    for gen in gens[:50]:
        rows.append([gen["savings"], gen["bytes"], gen["copies"], _safe(gen["name"])])
        for inst in gen["instances"][:3]:
            rows.append(["", inst["bytes"], "", "    " + _safe(inst["name"], NAME_WIDTH - 4)])
    if rows:
        out.append(table(["savings", "bytes", "copies", "generic / instance"], rows, align="rrrl"))
    if len(gens) > 50:
        out.append(f"  … and {len(gens) - 50:,} more generics")
    return "\n".join(out) + "\n"


def render_crates(result, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["code_bytes"]
    out = [_title(f"{_safe(j['file'], None)}: code section {total:,} bytes by crate", color)]
    for view, what in (("defining", "the crate that defines the code (DWARF namespace, else the name)"),
                       ("instantiating", "the crate that compiled it (DWARF unit, else the v0 symbol)")):
        out.append(f"\n{view}: {what}")
        out.append(table(["bytes", "share", "functions", "crate"],
                         [[r["bytes"], _pct(r["bytes"], total), r["functions"], _safe(r["name"])]
                          for r in j[view]], align="rrrl"))
    if j.get("hint"):
        out.append(f"\n  {j['hint']}")
    return "\n".join(out) + "\n"


def render_sources(result, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["code_bytes"]
    out = [_title(f"{_safe(j['file'], None)}: code section {total:,} bytes by source file", color)]
    if not j["available"]:
        out.append(f"  {j['hint']}")
        return "\n".join(out) + "\n"
    rows = [[f["bytes"], _pct(f["bytes"], total), f["functions"], _safe(f["path"], 110)] for f in j["files"][:40]]
    un = j["unattributed"]
    rows.append([un["bytes"], _pct(un["bytes"], total), "",
                 f"unattributed (section and size fields {un['overhead']:,}, no line info {un['no_line_info']:,}"
                 f"{', unknown file ' + format(un['unknown_file'], ',') if un['unknown_file'] else ''})"])
    out.append(table(["bytes", "share", "functions", "file"], rows, align="rrrl"))
    if len(j["files"]) > 40:
        out.append(f"  … and {len(j['files']) - 40:,} more files")
    out.append("\nby directory")
    out.append(table(["bytes", "share", "directory"],
                     [[d["bytes"], _pct(d["bytes"], total), _safe(d["path"], 110)] for d in j["directories"][:20]],
                     align="rrl"))
    for fn in j["functions"]:
        out.append(f"\n{_safe(fn['name'] or 'function[' + str(fn['index']) + ']')} ({fn['bytes']:,} bytes)")
        out.append(table(["bytes", "line", "file"], [[ln["bytes"], ln["line"], _safe(ln["path"], 110)]
                                                      for ln in fn["lines"]], align="rrl"))
    return "\n".join(out) + "\n"


def render_data(result, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    out = [_title(f"{_safe(j['file'], None)}: {total:,} bytes of data segments "
                  f"({j['references']:,} addresses named by code, {j['pointers']:,} pointer words in data)", color)]
    out.append(table(["bytes", "share", "pieces", "category"],
                     [[c["bytes"], _pct(c["bytes"], total), c["pieces"], c["name"].replace("_", " ")]
                      for c in j["categories"]], align="rrrl"))
    for c in j["categories"]:
        if not c["top"]:
            continue
        out.append(f"\n{c['name'].replace('_', ' ')}: largest pieces")
        rows = []
        for p in c["top"][:8]:
            who = ", ".join(_safe(f["name"] or f"function[{f['index']}]", 40) for f in p["functions"][:2]) or \
                ", ".join("via " + _safe(f["name"] or f"function[{f['index']}]", 36) for f in p["via_tables"][:2])
            where = f"0x{p['address']:x}" if p["address"] is not None else f"seg {p['segment']}+{p['offset']}"
            rows.append([p["bytes"], where, _safe(p["text"], 60), who or "-"])
        out.append(table(["bytes", "address", "content", "referenced by"], rows, align="rlll"))
    return "\n".join(out) + "\n"


def size(n: int) -> str:
    """Exported for other renderers that show analysis figures (diff)."""
    return human_bytes(n)
