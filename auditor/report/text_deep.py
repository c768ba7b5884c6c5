"""Text for the deep size analyses: `top`, `dominators`, `paths`, `garbage`, `monos`,
`crates`, `sources`, `data` (one `render_<kind>` each, registered in formats.py), each
of them per core module of a component (`render_component`), and the attribution block
`scan --attribute` appends.

Every name comes from the module (name section, export names, custom section names,
DWARF file names, data bytes) and is untrusted: `safe()` escapes control characters,
escape sequences and bidirectional overrides, so a crafted module cannot drive the
terminal or reorder what is shown. The JSON carries the names unchanged (JSON escapes
control characters itself).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from auditor.report.table import human_bytes, table

if TYPE_CHECKING:
    from auditor.wasm.analysis.monos import MonosResult
    from auditor.wasm.analysis.results import (
        CratesResult,
        DataResult,
        DominatorsResult,
        GarbageResult,
        PathsResult,
        SourcesResult,
        TopResult,
    )
    from auditor.wasm.component import ComponentResult

NAME_WIDTH = 100

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators,
# zero-width and BOM characters: everything that moves the cursor or the reading order.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def safe(name: Any, width: int = NAME_WIDTH) -> str:
    """An untrusted name made printable: unsafe characters as `\\xNN` / `\\uNNNN`, long
    names cut in the middle (the JSON has them whole)."""
    text = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", str(name))
    if width and len(text) > width:
        text = text[: width // 2 - 1] + "…" + text[-(width // 2):]
    return text


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def _bold(s: str, color: bool) -> str:
    return f"\033[1m{s}\033[0m" if color else s


def _head(j: Mapping[str, Any], what: str, color: bool) -> str:
    return _bold(f"{safe(j['file'], 0)}: {what}", color)


# --------------------------------------------------------------------------- top

def render_top(result: TopResult, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    key = j["sort"]
    out = [_head(j, f"{total:,} bytes, {j['total_items']:,} items, largest by {key} size", color)]
    rows = [[it["shallow"], _pct(it["shallow"], total), it["retained"], _pct(it["retained"], total),
             it["kind"], safe(it["name"])] for it in j["items"]]
    out.append(table(["shallow", "%", "retained", "%", "kind", "item"], rows, align="rrrrll"))
    rest = j["rest"]
    if rest["items"]:
        out.append(f"  ... {rest['items']:,} more items, {rest['shallow']:,} bytes shallow "
                   f"({_pct(rest['shallow'], total)})")
    out.append("  retained: the item's bytes plus everything only it keeps alive (the dominator tree); "
               "every item's shallow bytes add up to the file.")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- dominators

def render_dominators(result: DominatorsResult, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    start = f"from {safe(j['root'])}" if j["root"] else "from the roots (exports, start, sections, custom sections)"
    out = [_head(j, f"dominator tree {start}", color)]
    rows = []
    for it in j["items"]:
        rows.append([it["retained"], _pct(it["retained"], total), it["shallow"],
                     "  " * it["depth"] + ("└ " if it["depth"] else "") + safe(it["name"]) + f"  ({it['kind']})"])
    out.append(table(["retained", "%", "shallow", "item"], rows, align="rrrl"))
    if j["truncated"]:
        out.append("  ... cut at --depth / --rows (JSON: \"truncated\": true)")
    un = j["unreachable"]
    if un["items"] and not j["root"]:
        out.append(f"  unreachable from every root: {un['items']:,} items, {un['bytes']:,} bytes "
                   "(`auditor garbage` lists them)")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- paths

def render_paths(result: PathsResult, *, color: bool = False) -> str:
    j = result.to_json()
    out = [_head(j, f"why is {safe(j['query'])!s} here? shortest paths from the roots", color)]
    if j["matched"] > len(j["items"]):
        out.append(f"  {j['matched']:,} items match; the {len(j['items'])} largest are shown (--items)")
    for it in j["items"]:
        out.append("")
        out.append(f"  {safe(it['name'])} ({it['kind']}, {it['shallow']:,} B shallow, "
                   f"{it['retained']:,} B retained)")
        if not it["paths"]:
            out.append("    unreachable from every root: garbage (`auditor garbage`)")
            continue
        for p in it["paths"]:
            out.append("    " + " → ".join(safe(x, 60) for x in p))
        more = it["total_paths"] - len(it["paths"])
        if more > 0:
            out.append(f"    ... {more} more referrers with a path (--paths)")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- garbage

def render_garbage(result: GarbageResult, *, color: bool = False) -> str:
    # the record without its item list: only the rows shown are named (demangled)
    j: dict[str, Any] = {"file": result.file, "bytes": result.bytes,
         "data_segments": {"items": result.data_items, "bytes": result.data_bytes}}
    total = result.bytes_total
    items = result.items
    out = [_head(j, f"{len(items):,} items, {j['bytes']:,} bytes ({_pct(j['bytes'], total)} of "
                    f"{total:,}) unreachable from every root", color)]
    if not items:
        out.append("  nothing: every item is reachable from an export, the start function, a section, a memory"
                   " or an imported table")
        return "\n".join(out) + "\n"
    shown = items if not result.shown else items[:result.shown]
    out.append(table(["bytes", "%", "kind", "item"],
                     [[it.shallow, _pct(it.shallow, total), it.kind, safe(it.name)] for it in shown],
                     align="rrll"))
    rest = items[len(shown):]
    if rest:
        out.append(f"  ... {len(rest):,} more items, {sum(x.shallow for x in rest):,} bytes (-n 0 lists all)")
    ds = j["data_segments"]
    if ds["items"]:
        out.append(f"  {ds['items']} of them are data segments ({ds['bytes']:,} B): a segment counts as used only "
                   "when code names an address inside it (an i32.const) or live data points into it, so an "
                   "address computed at run time makes a false positive")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- monos

def render_monos(result: MonosResult, *, color: bool = False) -> str:
    j = result.to_json()
    gens = j["generics"]
    out = [_head(j, f"{len(result.generics):,} generic functions with 2+ copies: {j['bytes']:,} bytes, "
                    f"{j['savings']:,} bytes if each kept only its largest copy", color)]
    if not gens:
        out.append("  none (no function names, or no generic with two copies)")
        return "\n".join(out) + "\n"
    rows = []
    for g in gens:
        rows.append([g["savings"], g["bytes"], g["copies"], safe(g["name"])])
        for inst in g["instances"][:3]:
            rows.append(["", inst["bytes"], "", "    " + safe(inst["name"], NAME_WIDTH - 4)])
        if g["copies"] > 3:
            rows.append(["", "", "", f"    ... {g['copies'] - 3} more copies"])
    out.append(table(["savings", "bytes", "copies", "generic / copies"], rows, align="rrrl"))
    rest = j["rest"]
    if rest["generics"]:
        out.append(f"  ... {rest['generics']:,} more generics, {rest['bytes']:,} bytes, {rest['savings']:,} savings")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- crates

def _crate_rows(rows: list[Mapping[str, Any]], code: int, limit: int = 0) -> str:
    shown = rows if not limit or len(rows) <= limit + 1 else [*rows[:limit], rows[-1]]
    body = [[r["bytes"], _pct(r["bytes"], code), r["functions"], safe(r["name"], 60)] for r in shown]
    text = table(["bytes", "%", "functions", "crate"], body, align="rrrl", indent="    ")
    if len(shown) < len(rows):
        hidden = [r for r in rows if r not in shown]
        text += f"\n    ... {len(hidden)} more crates, {sum(r['bytes'] for r in hidden):,} bytes"
    return text


def render_crates(result: CratesResult, *, color: bool = False) -> str:
    j = result.to_json()
    code = j["code_bytes"]
    out = [_head(j, f"code section {code:,} bytes per crate", color)]
    ev = j["evidence"]
    out.append("  defining crate (whose source the code is: DWARF namespace, else the demangled path)"
               f" [dwarf {ev['defining']['dwarf']}, name {ev['defining']['name']}, none {ev['defining']['none']}]")
    out.append(_crate_rows(j["defining"], code))
    inst = ev["instantiating"]
    out.append("  instantiating crate (which crate's compilation emitted it: DWARF compile unit, v0 suffix)"
               f" [dwarf {inst['dwarf']}, v0 {inst['v0']}, v0 not generic {inst['v0-not-generic']},"
               f" plain name {inst['plain-name']},"
               f" none {inst['none']}]")
    out.append(_crate_rows(j["instantiating"], code))
    if j.get("hint"):
        out.append(f"  note: {j['hint']}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- sources

def render_sources(result: SourcesResult, *, color: bool = False) -> str:
    j = result.to_json()
    code = j["code_bytes"]
    out = [_head(j, f"code section {code:,} bytes per source file (DWARF line tables)", color)]
    if not j["available"]:
        out.append(f"  {j['hint']} (e.g. `[profile.release] debug = 1`), or `auditor scan --attribute VARIANT`,"
                   " which builds a debug-info twin of that variant to attribute it")
        return "\n".join(out) + "\n"
    files = j["files"]
    out.append("  files")
    out.append(table(["bytes", "%", "functions", "file"],
                     [[f["bytes"], _pct(f["bytes"], code), f["functions"], safe(f["path"])] for f in files[:30]],
                     align="rrrl", indent="    "))
    if len(files) > 30:
        out.append(f"    ... {len(files) - 30} more files, {sum(f['bytes'] for f in files[30:]):,} bytes")
    un = j["unattributed"]
    out.append(f"    unattributed {un['bytes']:,} B: section and body headers {un['overhead']:,}, "
               f"no line info {un['no_line_info']:,}, unknown file {un['unknown_file']:,}")
    out.append("  directories")
    dirs = j["directories"]
    out.append(table(["bytes", "%", "directory"], [[d["bytes"], _pct(d["bytes"], code), safe(d["path"])]
                                                    for d in dirs[:15]], align="rrl", indent="    "))
    if j["functions"]:
        out.append("  top lines of the largest functions")
        for f in j["functions"]:
            out.append(f"    {safe(f['name'] or 'function[' + str(f['index']) + ']')} ({f['bytes']:,} B)")
            for ln in f["lines"]:
                where = f"{safe(ln['path'], 80)}:{ln['line']}" if ln["path"] else "(unknown file)"
                out.append(f"      {ln['bytes']:>7,}  {where}")
    if j["tombstoned_sequences"]:
        out.append(f"  {j['tombstoned_sequences']} line sequences of removed (tombstoned) code skipped")
    for e in j["errors"][:3]:
        out.append(f"  warning: {safe(e)}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- data

_CATEGORY_TEXT = {"panic_messages": "panic messages", "source_paths": "source paths",
                  "format_strings": "format strings", "strings": "other readable strings",
                  "tables": "tables (pointers, Locations, &str arrays)", "rest": "rest (numbers, padding, statics)"}


def render_data(result: DataResult, *, color: bool = False) -> str:
    j = result.to_json()
    total = j["bytes"]
    out = [_head(j, f"data segments {total:,} bytes by what they hold", color)]
    out.append(table(["bytes", "%", "pieces", "category"],
                     [[c["bytes"], _pct(c["bytes"], total), c["pieces"], _CATEGORY_TEXT.get(c["name"], c["name"])]
                      for c in j["categories"]], align="rrrl"))
    for c in j["categories"]:
        if not c["top"]:
            continue
        out.append("")
        out.append(f"  {_CATEGORY_TEXT.get(c['name'], c['name'])}: largest")
        for p in c["top"][:5]:
            users = [safe(f["name"] or f"function[{f['index']}]", 50) for f in p["functions"] + p["via_tables"]]
            at = f"0x{p['address']:x}" if p["address"] is not None else f"segment {p['segment']}+{p['offset']}"
            who = f"  ← {', '.join(users[:2])}" + (f" +{p['referrers'] - 2}" if p["referrers"] > 2 else "") \
                if users else ""
            out.append(f"    {p['bytes']:>7,}  {at:>10}  \"{safe(p['text'], 60)}\"{who}")
        if c["functions"]:
            fns = ", ".join(f"{safe(f['name'] or 'function[' + str(f['index']) + ']', 50)} {f['bytes']:,} B"
                            for f in c["functions"][:3])
            out.append(f"    referenced most by: {fns}")
    out.append(f"  cut at {j['references']:,} code addresses and {j['pointers']:,} data pointers "
               "(i32.const values and aligned words inside a segment: an approximation; the sums are exact)")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- attribution (scan --attribute)

def attribution_lines(att: Mapping[str, Any], variant: str | None = None) -> list[str]:
    """The `attribution` block of a scan report (from its debug-info twin), as text lines."""
    if att.get("error"):
        return [f"Attribution of {safe(variant or '')}: {safe(att['error'], 0)}"]
    out = [f"Attribution of {safe(variant or att.get('variant') or '')} (debug-info twin "
           f"{safe(att.get('twin_profile') or '')}, {att['bytes']:,} bytes)"]
    cr = att["crates"]
    code = cr["code_bytes"]
    vc = att.get("variant_code_bytes")
    if vc is not None:
        out.append(f"  code section: {code:,} bytes in the twin, {vc:,} in the variant"
                   + ("" if vc == code else " (debug info changed code generation a little)"))
    if (att.get("views") or {}).get("garbage") == "variant":
        out.append(f"  garbage and data: the variant's own module ({att['modules']['variant']['bytes']:,} bytes); "
                   "crates and source files: the twin")
    out.append("  defining crates")
    out.append(_crate_rows(cr["defining"], code, limit=8))
    out.append("  instantiating crates")
    out.append(_crate_rows(cr["instantiating"], code, limit=8))
    so = att["sources"]
    if so["available"]:
        out.append("  source files")
        out.append(table(["bytes", "%", "file"], [[f["bytes"], _pct(f["bytes"], code), safe(f["path"])]
                                                  for f in so["files"][:10]], align="rrl", indent="    "))
    else:
        out.append(f"  source files: {safe(so['hint'] or 'no line tables', 0)}")
    out.append("  data: " + ", ".join(f"{_CATEGORY_TEXT.get(c['name'], c['name']).split(' (')[0]} "
                                      f"{human_bytes(c['bytes'])}" for c in att["data"]["categories"] if c["bytes"]))
    out.append(f"  garbage: {att['garbage']['items']} items, {att['garbage']['bytes']:,} bytes")
    dom = att.get("dominators")
    if dom:
        out.append("  dominator tree (retained bytes, depth 2)")
        out.append(table(["retained", "item"], [[it["retained"], "  " * it["depth"] + safe(it["name"])]
                                                for it in dom["items"][:12]], align="rl", indent="    "))
    why = att.get("paths")
    if why:
        if why.get("error"):
            out.append(f"  why {safe(why['query'])}: {safe(why['error'], 0)}")
        else:
            out.append(f"  why {safe(why['query'])}: {why['matched']} items match, "
                       f"{len(why['paths'])} shortest paths listed")
            out.extend("    " + " -> ".join(safe(step) for step in path) for path in why["paths"][:5])
    return out


__all__ = ["attribution_lines", "render_crates", "render_data", "render_dominators", "render_garbage",
           "render_monos", "render_paths", "render_sources", "render_top", "safe"]


# --------------------------------------------------------------------------- components

def render_component(result: ComponentResult, *, color: bool = False) -> str:
    """A component: a summary of where its bytes are, then each core module's own answer
    (rendered by that analysis's text renderer; percentages are of that module)."""
    from auditor.report.formats import REGISTRY

    total = result.bytes
    held = total - result.own_bytes
    out = [_head({"file": result.file}, f"a component, {total:,} bytes: {len(result.modules) + len(result.skipped)} "
                 f"core modules hold {held:,} ({_pct(held, total)}); the component's own sections "
                 f"{result.own_bytes:,} ({_pct(result.own_bytes, total)})", color)]
    rows = [[m.label, m.offset, m.size, _pct(m.size, total)]
            for m in sorted([m for m, _ in result.modules] + result.skipped, key=lambda m: m.index)]
    out.append(table(["core module", "at byte", "bytes", "%"], rows, align="lrrr"))
    if result.skipped:
        out.append("  no item matches in " + ", ".join(m.label for m in result.skipped))
    text = "\n".join(out) + "\n"
    for m, inner in result.modules:
        renderer = REGISTRY.lookup("text", inner.KIND)
        assert renderer is not None, inner.KIND
        text += "\n" + _bold(f"== {m.label} (at byte {m.offset:,}, {m.size:,} bytes) ==", color) + "\n"
        text += renderer(inner, color=color)
    return text
