"""The deep size analyses of one module, no build: `auditor top`, `dominators`, `paths`,
`garbage`, `monos`, `crates`, `sources` and `data` (README "Deep size analysis").

Each flow reads the file once, parses it, builds the item graph once (kept on the
module) and returns the wasm stage's result object (`auditor.wasm.analysis.results`),
which the report layer renders. `attribution(path)` runs the per-crate, per-source and
data views together: what `scan --attribute VARIANT` attaches to a scan report and
`diff` compares.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from auditor.errors import AuditorError, NoMatch
from auditor.wasm.component import is_component
from auditor.wasm.parse import parse_module, read_module_file
from auditor.wasm.reader import MalformedModule

if TYPE_CHECKING:
    from auditor.records.attribution import (
        AttributedModuleRecord,
        AttributionRecord,
        ModuleViewsRecord,
        TwinAttributionRecord,
    )
    from auditor.wasm.analysis import results as r
    from auditor.wasm.analysis.items import ItemGraph
    from auditor.wasm.analysis.monos import MonosResult
    from auditor.wasm.component import ComponentResult
    from auditor.wasm.model import Module

R = TypeVar("R")

# The analysis modules are imported by the flows that use them: `monos` reads no item
# graph, and importing the graph's modules (items, dominators, reach: ~10 ms) would be a
# tenth of its start-up on an 18 MB module.


def load_module(path: str | Path, *, full_refs: bool = False) -> Module:
    """The parsed module at `path` (one-line errors naming the file); `full_refs` for a
    module whose full item graph will be built (`parse_module`: one pass over the code)."""
    p = Path(path)
    data = read_module_file(p)
    return parse_module(data, str(p), full_refs=full_refs)


def graph_of(mod: Module) -> ItemGraph:
    """The module's full item graph, built once per parsed module (`wasm.graph.item_graph`)."""
    from auditor.wasm.graph import item_graph

    return item_graph(mod, full=True)


def load_graph(path: str | Path) -> ItemGraph:
    return graph_of(load_module(path, full_refs=True))


def _per_module(path: str | Path, kind: str, analyse: Callable[[Module], R], *,
                full_refs: bool = False) -> R | ComponentResult:
    """`analyse` on the module at `path`, or on each core module of a component (README
    "Components"): one result, or a ComponentResult holding one per core module. A
    NAME|REGEX query (NoMatch) may match in some core modules only; it fails when it
    matches in none."""
    p = Path(path)
    data = read_module_file(p)
    if not is_component(data):
        return analyse(parse_module(data, str(p), full_refs=full_refs))
    from auditor.wasm.component import ComponentResult, core_modules

    out = ComponentResult(kind, str(p), len(data), [])
    missed: NoMatch | None = None
    for cm in core_modules(data, str(p)):
        try:
            mod = parse_module(data[cm.offset:cm.offset + cm.size], f"{p} {cm.label}", full_refs=full_refs)
        except MalformedModule as e:  # the offset in the file, as for any module
            raise MalformedModule(f"{e.what} (in {cm.label})", cm.offset + e.offset, str(p)) from None
        try:
            out.modules.append((cm, analyse(mod)))
        except NoMatch as e:
            out.skipped.append(cm)
            missed = missed or e
    if missed is not None and not out.modules:
        raise NoMatch(missed.what, str(p))
    return out


def top(path: str | Path, *, n: int = 20, retained: bool = False) -> r.TopResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    return _per_module(path, "top", lambda mod: r.top_items(graph_of(mod), n=n, retained=retained), full_refs=True)


def dominators(path: str | Path, name: str | None = None, *, depth: int = 0,
               rows: int = 0) -> r.DominatorsResult | ComponentResult:
    """The dominator tree (from the roots, or from the items `name` names or matches);
    `depth`/`rows` 0 = unbounded."""
    from auditor.wasm.analysis import results as r

    def analyse(mod: Module) -> r.DominatorsResult:
        g = graph_of(mod)
        start = None
        if name is not None:
            try:
                start = r.find_items(g, name)
            except AuditorError as e:
                raise AuditorError(e.what, e.where or mod.file) from None
            if not start:
                raise NoMatch(f"no item is named or matches {name!r}", mod.file)
        return r.dominator_rows(g, start, depth=depth or None, rows=rows or None)

    return _per_module(path, "dominators", analyse, full_refs=True)


def paths(path: str | Path, query: str, *, max_paths: int = 10, max_items: int = 10) -> r.PathsResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    def analyse(mod: Module) -> r.PathsResult:
        try:
            return r.why(graph_of(mod), query, max_paths=max_paths, max_items=max_items)
        except NoMatch as e:
            raise NoMatch(e.what, e.where or mod.file) from None
        except AuditorError as e:
            raise AuditorError(e.what, e.where or mod.file) from None

    return _per_module(path, "paths", analyse, full_refs=True)


def garbage(path: str | Path, *, n: int = 20) -> r.GarbageResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    def analyse(mod: Module) -> r.GarbageResult:
        res = r.garbage_items(graph_of(mod))
        res.shown = n
        return res

    return _per_module(path, "garbage", analyse, full_refs=True)


def monos(path: str | Path, *, n: int = 20, instances: int = 10) -> MonosResult | ComponentResult:
    # function names and item sizes only: no item graph (module_monos reads the sizes the
    # graph would have from the function and code sections)
    from auditor.wasm.analysis.monos import MonosResult, module_monos

    def analyse(mod: Module) -> MonosResult:
        res = MonosResult(mod.file, module_monos(mod), instances)
        res.shown = n
        return res

    return _per_module(path, "monos", analyse)


def crates(path: str | Path, *, dwarf: bool = True) -> r.CratesResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    return _per_module(path, "crates", lambda mod: r.crates_of(mod, with_dwarf=dwarf))


def sources(path: str | Path, *, functions: int = 10, lines: int = 5) -> r.SourcesResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    return _per_module(path, "sources", lambda mod: r.sources_of(mod, top_functions=functions, top_lines=lines))


def data(path: str | Path, *, n: int = 10) -> r.DataResult | ComponentResult:
    from auditor.wasm.analysis import results as r

    return _per_module(path, "data", lambda mod: r.data_of(graph_of(mod), top=n), full_refs=True)


def attribution(path: str | Path, *, top_items: int = 20) -> ModuleViewsRecord:
    """Every view of one module in one record (`auditor.attribution/1`): the largest items
    by retained size, garbage bytes, both crate views, files and directories, and the
    data categories; the module is read and its graph built once."""
    mod = load_module(path, full_refs=True)
    return attribution_of(mod, top_items=top_items)


def attribution_of(mod: Module, *, top_items: int = 20) -> ModuleViewsRecord:
    from auditor.wasm.analysis import results as r

    return r.attribution_of(mod, graph_of(mod), top_items=top_items)


# --------------------------------------------------------------------------- scan --attribute

TWIN_SUFFIX = "-debuginfo"


def twin_settings(settings: dict[str, Any], profile: str) -> dict[str, Any]:
    """The cargo profile settings of a variant's debug-info twin: the same settings with
    line tables and namespaces kept (`debug = 1`, `strip = "none"`), inheriting from
    what the variant's profile inherits."""
    out = {k: v for k, v in settings.items()}
    if "inherits" not in out:
        out["inherits"] = profile if profile in ("release", "dev") else "release"
    out["debug"] = 1
    out["strip"] = "none"
    return out


def attribute_variant(result: Any, variant: str, options: Any, why: str | None = None) -> AttributionRecord:
    """`scan --attribute VARIANT`: build the debug-info twin of the one variant of
    `result` that `variant` (a glob over "profile/allocator") names, and attribute it:
    the `attribution` block of the scan report (`auditor.attribution/1` plus `variant`,
    `twin_profile`, `twin_settings`, `variant_code_bytes`). A twin that fails to build
    gives a block with `error`."""
    import fnmatch
    from dataclasses import replace

    from auditor.config.loader import load_config
    from auditor.pipeline.scanner import scan
    from auditor.wasm.analysis import results as r

    ids = [v.id for v in result.variants]
    hits = [v for v in result.variants if fnmatch.fnmatchcase(v.id, variant)]
    if len(hits) != 1:
        raise AuditorError(f"--attribute {variant!r} must name exactly one variant; it matches {len(hits)} "
                           f"(variants: {', '.join(ids) or 'none'})")
    v = hits[0]
    base = next((p for p in result.profiles if p["name"] == v.profile), None)
    twin_name = f"{v.profile}{TWIN_SUFFIX}"
    block: AttributionRecord = {"schema": r.ATTRIBUTION_SCHEMA, "variant": v.id, "twin_profile": twin_name}
    if v.status != "ok" or base is None:
        block["error"] = f"variant {v.id} did not build: nothing to attribute"
        return block
    settings = twin_settings(dict(base["settings"]), v.profile)
    block["twin_settings"] = settings
    manifest = Path(result.crate["manifest_path"])
    config = load_config(manifest.parent, config_file=options.config_file,
                         cli={f"profile.{twin_name}": settings})
    twin_options = replace(options, profiles=[twin_name], allocators=[v.allocator], runtime=False, gate=False,
                           baseline=None, max_increase=None, shard=None, check_reproducible=False, config=config)
    twin = scan(str(manifest.parent), twin_options)
    tv = twin.variants[0] if twin.variants else None
    if tv is None or tv.status != "ok" or not tv.wasm_path:
        first = ((tv.error if tv else None) or "no module").strip().splitlines()
        block["error"] = f"the debug-info twin {twin_name} of {v.id} failed to build: {first[0] if first else ''}"
        return block
    block.update(attribute_modules(v.wasm_path, tv.wasm_path, why=why))
    block.update({"variant": v.id, "twin_profile": twin_name, "twin_settings": settings,
                  # the variant's own code section, next to the twin's (debug info rarely changes code)
                  "variant_code_bytes": (v.wasm or {}).get("section_totals", {}).get("code")})
    return block


def attribute_modules(variant_path: str | Path | None, twin_path: str | Path, *, top_items: int = 20,
                      generics: int = 10, why: str | None = None) -> TwinAttributionRecord:
    """The attribution record of a variant and its debug-info twin: the views that need
    no DWARF (retained, garbage, data, monos) from the variant's own module, so the
    twin's `.debug_*` sections do not crowd its retained list, and the crate and source
    views from the twin. `views` says which module each view read ("variant" | "twin"),
    `modules` describes both; `file`, `bytes` and `wasm_path` stay the twin's (as in
    auditor.attribution/1 before the split). Without a readable variant module every
    view reads the twin, and `views` says so. The dominator tree (depth 2, 30 rows) and,
    with `why`, the paths to the items it names or matches (`auditor paths`) come from
    the same module as the size views; a `why` that names nothing gives a `paths` block
    with `error` (the scan is not lost to it)."""
    from auditor.wasm.analysis import results as r

    twin = load_module(twin_path)
    variant = None
    if variant_path is not None and Path(variant_path).is_file():
        variant = load_module(variant_path, full_refs=True)
    sized = variant if variant is not None else load_module(twin_path, full_refs=True)
    role = "variant" if variant is not None else "twin"
    g = graph_of(sized)
    out: TwinAttributionRecord = {
        "schema": r.ATTRIBUTION_SCHEMA, "file": twin.file, "bytes": len(twin.data), "wasm_path": str(twin_path),
        **r.size_views(g, top_items=top_items),
        "monos": r.monos_view(sized, generics=generics),
        "dominators": r.dominator_rows(g, None, depth=ATTRIBUTION_DEPTH, rows=ATTRIBUTION_ROWS).to_json(),
        **r.dwarf_views(twin),
        "views": {**{k: role for k in (*r.SIZE_VIEWS, "dominators")}, **{k: "twin" for k in r.DWARF_VIEWS}},
        "modules": {name: _module_facts(m, path) for name, m, path in
                    (("variant", variant, variant_path), ("twin", twin, twin_path)) if m is not None},
    }
    if why is not None:
        try:
            out["paths"] = r.why(g, why).to_json()
        except AuditorError as e:
            out["paths"] = {"schema": "auditor.paths/1", "query": why, "error": e.what}
        out["views"]["paths"] = role
    return out


# the dominator tree `scan --attribute` keeps: as `auditor dominators --depth 2 --rows 30`
ATTRIBUTION_DEPTH, ATTRIBUTION_ROWS = 2, 30


def _module_facts(mod: Module, path: str | Path | None) -> AttributedModuleRecord:
    code = mod.section("code")
    return {"wasm_path": str(path), "file": mod.file, "bytes": len(mod.data),
            "code_bytes": code.size if code is not None else 0,
            "debug_bytes": sum(s.size for s in mod.sections if s.custom and s.name.startswith(".debug_"))}


__all__ = ["attribute_modules", "attribute_variant", "attribution", "attribution_of", "crates", "data", "dominators", "garbage", "graph_of", "load_graph",
           "load_module", "monos", "paths", "sources", "top"]
