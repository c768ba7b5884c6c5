"""`auditor inspect`: every analysis of one module, gathered into one record.

The record's `to_json()` is the `auditor.inspect/1` contract that scan, diff, rules and
budgets consume; the README documents each field.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from auditor.errors import AuditorError
from auditor.records.inspect import (
    SCHEMA,
    CompressionImplRecord,
    DwarfSummaryRecord,
    ExportRecord,
    FunctionRecord,
    ImportRecord,
    InspectRecord,
    InterfaceRecord,
    SectionTotalsRecord,
    SourcePathRecord,
    StackRecord,
)
from auditor.wasm import model as m
from auditor.wasm.allocator import AllocatorInfo, detect
from auditor.wasm.grow import GrowSite, find_grow_sites
from auditor.wasm.model import WASI_MODULES, WASM_BINDGEN_MODULES
from auditor.wasm.parse import parse_module, read_module_file
from auditor.wasm.reader import gc_paused
from auditor.wasm.source_paths import ANCHORS, find_source_paths

if TYPE_CHECKING:  # imported when a module is read (the DWARF reader costs start-up time)
    from auditor.wasm.crates import CrateSize
    from auditor.wasm.dwarf import DwarfFunctions

COMPRESSION = {"exact": (9, 11), "fast": (5, 5), "none": (None, None)}
# brotli -q 11 runs at ~0.6 MB/s: "auto" keeps it for files up to this size (shipped
# modules) and uses "fast" above it (modules carrying megabytes of DWARF). "fast" is
# gzip -5 and brotli -q 5, each in its own thread beside parsing: gzip -6 + brotli -q 9
# until issue 16 (-q 9: 6.4 s CPU on a 45.6 MB module), then -6 + -q 6, now -5 + -q 5
# (issue 16's "10 MB in 1 s": on the real modules -5 takes 0.56-0.63x the CPU of -6 for
# 1.3-2.4 % more bytes, -q 5 0.73-0.78x of -q 6 for 0.9-2.5 % more).
AUTO_EXACT_LIMIT = 1 << 20


@dataclass
class FunctionInfo:
    index: int
    name: str | None
    demangled: str | None
    size: int
    crate: str
    exports: tuple[str, ...] = ()  # export names: what a stripped module still says

    def to_json(self) -> FunctionRecord:
        return {"index": self.index, "name": self.name, "demangled": self.demangled, "size": self.size,
                "crate": self.crate, "exports": list(self.exports)}


@dataclass
class InspectResult:
    KIND: ClassVar[str] = "inspect"
    module: m.Module
    gzip: int | None
    brotli: int | None
    compression: str
    functions: list[FunctionInfo]
    crates: list[CrateSize]
    allocator: AllocatorInfo
    grow_sites: list[GrowSite]
    dwarf: DwarfSummaryRecord | None = None  # dwarf_summary(): compile units, producers, crates
    dwarf_functions: DwarfFunctions | None = None  # from the opt-in full walk

    def exit_code(self) -> int:
        """0: a module read is no verdict (the rules' findings are: auditor.rules.audit.audit)."""
        return 0

    # -- derived facts -------------------------------------------------------------
    @property
    def file(self) -> str:
        return self.module.file

    def section_bytes(self) -> SectionTotalsRecord:
        out = {"code": 0, "data": 0, "custom": 0, "other": 0}
        for s in self.module.sections:
            key = s.name if s.name in ("code", "data") else "custom" if s.custom else "other"
            out[key] += s.size
        return {"code": out["code"], "data": out["data"], "custom": out["custom"], "other": out["other"],
                "preamble": 8}

    def global_value(self, export_name: str) -> int | None:
        mod = self.module
        for e in mod.exports:
            if e.kind == "global" and e.name == export_name and e.index < len(mod.globals):
                return mod.globals[e.index].init
        return None

    def stack(self) -> StackRecord | None:
        mod = self.module
        sp = next((g for g in mod.globals if g.name == "__stack_pointer"), None)
        if sp is None:  # rustc/clang: the first defined mutable i32 global with a constant
            sp = next((g for g in mod.globals if not g.imported and g.mutable and g.valtype == "i32" and g.init is not None), None)
        if sp is None or sp.init is None:
            return None
        init = sp.init & 0xFFFFFFFF
        active = [d for d in mod.data_segments if d.offset is not None and d.mode == "active"]
        data_start = min(map(attrgetter("offset"), active), default=None)
        data_end = self.global_value("__data_end") or max(
            (d.offset + d.size for d in active if d.offset is not None), default=0)
        if data_start is None or init <= data_start:
            layout, size = "stack-first", init
        else:
            layout, size = "after-data", max(init - data_end, 0)
        return {"global": sp.index, "name": sp.name, "init": init, "size": size, "layout": layout}

    def interface(self) -> InterfaceRecord:
        mod = self.module
        imports_by_kind: dict[str, int] = {}
        for i in mod.imports:
            imports_by_kind[i.kind] = imports_by_kind.get(i.kind, 0) + 1
        exports_by_kind: dict[str, int] = {}
        for e in mod.exports:
            exports_by_kind[e.kind] = exports_by_kind.get(e.kind, 0) + 1
        modules = {i.module for i in mod.imports}
        export_names = {e.name for e in mod.exports}
        wasi = next((w for w in WASI_MODULES if w in modules), None)
        return {
            "imports_by_kind": imports_by_kind,
            "exports_by_kind": exports_by_kind,
            "wasm_bindgen": bool(modules & set(WASM_BINDGEN_MODULES)) or "__wbindgen_malloc" in export_names,
            "wasi": wasi,
        }

    def source_paths(self) -> list[SourcePathRecord]:
        mod = self.module
        out: list[SourcePathRecord] = []
        # Panic locations rustc stores in data (`src/lib.rs`, `/rustc/<hash>/library/...`),
        # found in linear time (auditor.wasm.source_paths; the regex it replaces backtracked),
        # segment by segment; only the segments an anchor (`src/`, `library/`) starts in
        # can hold one, found by one search of the data section (esbuild's 98,453
        # segments: 13-15 ms instead of 45-49 ms of a call per segment).
        segs = mod.data_segments
        if not segs:
            return out
        data, offset_of, search = mod.data, attrgetter("data_offset"), ANCHORS.search
        pos, end = segs[0].data_offset, segs[-1].data_offset + segs[-1].size
        while (a := search(data, pos, end)) is not None:
            k = bisect_right(segs, a.start(), key=offset_of) - 1  # (segments are in file order)
            seg = segs[k]
            pos = seg.data_offset + seg.size
            if a.start() >= pos:  # between two segments (the next one's header): on to it
                pos = segs[k + 1].data_offset
                continue
            for offset, text in find_source_paths(data, seg.data_offset, pos):
                out.append({"text": text.decode("utf-8", "replace"), "offset": offset, "bytes": len(text)})
        return out

    def rustc_version(self) -> str | None:
        for name, version in self.module.producers.get("processed-by", []):
            if name == "rustc":
                return version
        return None

    # -- JSON ------------------------------------------------------------------------
    def _import(self, i: m.Import) -> ImportRecord:
        rec: ImportRecord = {"module": i.module, "field": i.field, "kind": i.kind}
        types = self.module.types
        t = types[i.type_index] if i.kind == "func" and i.type_index is not None and i.type_index < len(types) else None
        if t is not None:
            rec["signature"] = t.signature()
        return rec

    def _export(self, e: m.Export) -> ExportRecord:
        rec: ExportRecord = {"name": e.name, "kind": e.kind, "index": e.index}
        t = self.module.func_type(e.index) if e.kind == "func" else None
        if t is not None:
            rec["signature"] = t.signature()
        return rec

    def _dwarf(self) -> DwarfSummaryRecord | None:
        if self.dwarf is None:
            return None
        if self.dwarf_functions is None:
            return self.dwarf.copy()
        return {**self.dwarf, "functions": self.dwarf_functions.to_json(self.module)}

    def to_json(self) -> InspectRecord:
        mod = self.module
        sb = self.section_bytes()
        named = [f for f in self.functions if f.name]
        unnamed = [f for f in self.functions if not f.name]
        modes = list(map(attrgetter("mode"), mod.data_segments))  # (esbuild: 98,453 segments)
        return {
            "schema": SCHEMA,
            "file": mod.file,
            "bytes": mod.size,
            "sha256": _sha256(mod),  # `auditor report` checks the file
            "gzip": self.gzip,
            "brotli": self.brotli,
            "compression": self.compression,
            "compression_impl": {**_compression_impl(), "gzip_level": COMPRESSION[self.compression][0],
                                 "brotli_quality": COMPRESSION[self.compression][1]},
            "sections": [
                {"id": s.id, "name": s.name, "custom": s.custom, "offset": s.offset, "size": s.size,
                 "payload_offset": s.payload_offset, "payload_size": s.payload_size}
                for s in mod.sections
            ],
            "section_totals": sb,
            "memories": [
                {
                    "index": mem.index, "imported": mem.imported, "module": mem.module, "field": mem.field,
                    "initial_pages": mem.limits.initial, "max_pages": mem.limits.maximum,
                    "initial_bytes": mem.limits.initial * mem.limits.page_size,
                    "max_bytes": None if mem.limits.maximum is None else mem.limits.maximum * mem.limits.page_size,
                    "page_size": mem.limits.page_size, "shared": mem.limits.shared,
                    "memory64": mem.limits.memory64, "exports": mem.exports,
                    "unbounded": mem.limits.maximum is None,
                }
                for mem in mod.memories
            ],
            "stack": self.stack(),
            "static_data_bytes": sum(map(attrgetter("size"), mod.data_segments)),
            "source_paths": self.source_paths(),
            "data_segments": {
                "count": len(mod.data_segments),
                "active": modes.count("active"),
                "passive": modes.count("passive"),
            },
            "symbols": {"__data_end": self.global_value("__data_end"), "__heap_base": self.global_value("__heap_base")},
            "imports": [self._import(i) for i in mod.imports],
            "exports": [self._export(e) for e in mod.exports],
            "interface": self.interface(),
            "producers": {k: [{"name": n, "version": v} for n, v in vals] for k, vals in mod.producers.items()},
            "rustc_version": self.rustc_version(),
            "target_features": [f"{p}{n}" for p, n in mod.target_features],
            "function_count": len(self.functions),
            "named_functions": {"count": len(named), "size": sum(f.size for f in named)},
            "unnamed_functions": {"count": len(unnamed), "size": sum(f.size for f in unnamed)},
            "functions": [f.to_json() for f in self.functions],
            "crates": [{"name": c.name, "size": c.size, "functions": c.functions} for c in self.crates],
            "allocator": self.allocator.to_json(),
            "memory_grow_sites": [g.to_json() for g in self.grow_sites],
            "dwarf": self._dwarf(),
            "warnings": list(mod.warnings),
            "findings": [],  # filled by the rules stage (auditor.rules.audit.audit)
            "checks": [],
        }


def exported_functions(mod: m.Module) -> dict[int, list[str]]:
    """Function index -> its export names, in export order: what the item graph's
    `exported(Kind.FUNCTION)` answers, without building the graph (inspect needs no
    other edge of it; grow sites read the parse pass's pairs)."""
    out: dict[int, list[str]] = {}
    n = len(mod.func_type_indices)
    for e in mod.exports:
        if e.kind == "func" and 0 <= e.index < n:
            out.setdefault(e.index, []).append(e.name)
    return out


_SHA256 = "sha256"  # in Module.derived: the file's digest, hashed beside parsing
_HASH_BESIDE = 1 << 20  # from this size the digest gets a thread (25 ms on 45 MB; the GIL is released)


def _sha256(mod: m.Module) -> str:
    digest = mod.derived.get(_SHA256)
    if not isinstance(digest, str):
        digest = mod.derived[_SHA256] = hashlib.sha256(mod.data).hexdigest()
    return digest


def _compression_impl() -> CompressionImplRecord:
    import brotli

    return {"zlib": zlib.ZLIB_RUNTIME_VERSION, "brotli": getattr(brotli, "__version__", None)}


def _compress(data: bytes, mode: str) -> tuple[int | None, int | None]:
    gz_level, br_quality = COMPRESSION[mode]
    if gz_level is None:
        return None, None
    import brotli

    out: dict[str, int] = {}
    # Both codecs release the GIL: brotli runs beside gzip (and beside parsing).
    t = threading.Thread(target=lambda: out.__setitem__("br", len(brotli.compress(data, quality=br_quality))),
                         daemon=True)
    t.start()
    gz = gzip_size(data, gz_level)
    t.join()
    return gz, out["br"]


_GZIP_FRAME = 10 + 8  # gzip.compress's header (no name, mtime 0) and trailer (CRC-32, size)
_DEFLATE_CHUNK = 1 << 20


def gzip_size(data: bytes, level: int) -> int:
    """len(gzip.compress(data, level, mtime=0)), without holding the output: the raw
    deflate stream gzip.compress wraps, fed a megabyte at a time and counted (zlib's
    output does not depend on how the input is split; 12 MB less at the peak on a
    45 MB module, issue 16)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    view = memoryview(data)
    n = _GZIP_FRAME
    for at in range(0, len(data), _DEFLATE_CHUNK):
        n += len(deflate.compress(view[at:at + _DEFLATE_CHUNK]))
    return n + len(deflate.flush())


@gc_paused()
def inspect_bytes(data: bytes, name: str = "<module>", compression: str = "auto", dwarf: bool = False) -> InspectResult:
    from auditor.wasm.crates import crate_of
    from auditor.wasm.demangle import demangle_all

    if compression == "auto":
        compression = "exact" if len(data) <= AUTO_EXACT_LIMIT else "fast"
    if compression not in COMPRESSION:
        raise AuditorError(f"unknown compression mode {compression!r} (auto, exact, fast, none)")
    sizes: dict[str, int | None] = {}
    # Compression runs beside parsing (zlib and brotli release the GIL); a module that
    # fails to parse does not wait for it (daemon threads). "none" starts no thread.
    comp = None
    if COMPRESSION[compression][0] is not None:
        comp = threading.Thread(target=lambda: sizes.update(zip(("gz", "br"), _compress(data, compression))),
                                daemon=True)
        comp.start()
    digest: list[str] = []
    hasher = None
    if len(data) >= _HASH_BESIDE:
        hasher = threading.Thread(target=lambda: digest.append(hashlib.sha256(data).hexdigest()), daemon=True)
        hasher.start()
    mod = parse_module(data, name)
    if hasher is not None:
        hasher.join()
        if digest:
            mod.derived[_SHA256] = digest[0]
    exported = exported_functions(mod)
    # Each distinct name demangled once, under one work budget for the module.
    demangled = demangle_all([f.name for f in mod.functions], strip=True)
    warning = demangled.warning()
    if warning:
        mod.warnings.append(warning)
    # column by column (map and zip run the loops in C): each name's crate found once,
    # for its entry and for the per-crate rollup
    fns = mod.functions
    indices = [f.index for f in fns]
    raw = [f.name for f in fns]
    body_sizes = [f.body_size for f in fns]
    crate_names = list(map(crate_of, demangled.names))
    exports: list[tuple[str, ...]] = [()] * len(fns)
    if exported and fns:
        base = fns[0].index  # defined functions are numbered on from the imported ones
        for index, names in exported.items():
            if 0 <= index - base < len(fns):
                exports[index - base] = tuple(names)
    functions = list(map(FunctionInfo, indices, raw, demangled.names, body_sizes, crate_names, exports))
    grow_sites = find_grow_sites(mod)
    if grow_sites:
        by_index = {f.index: f.demangled or f.name for f in functions}
        for site in grow_sites:
            site.name = by_index.get(site.function) or site.name
    allocator = detect(list(zip(raw, demangled.names, body_sizes)), grow_sites)
    crates = _rollup(crate_names, body_sizes)
    summary = walk = None
    # the DWARF reader (~2 ms of imports) only for a module with a .debug_info section
    if any(s.custom and s.name == ".debug_info" for s in mod.sections):
        from auditor.wasm.dwarf import dwarf_summary, dwarf_walk

        summary = dwarf_summary(mod)
        walk = dwarf_walk(mod) if dwarf and summary else None
    if comp is not None:
        comp.join()
    return InspectResult(mod, sizes.get("gz"), sizes.get("br"), compression, functions, crates, allocator, grow_sites,
                         dwarf=summary, dwarf_functions=walk)


def _rollup(crates: list[str], sizes: list[int]) -> list[CrateSize]:
    """crates.rollup of the functions, from each one's crate (already found) and size."""
    from auditor.wasm.crates import CrateSize

    total: dict[str, int] = dict.fromkeys(crates, 0)
    for crate, size in zip(crates, sizes):
        total[crate] += size
    counts = Counter(crates)
    rows = [CrateSize(c, total[c], counts[c]) for c in total]
    rows.sort(key=lambda r: (-r.size, r.name))
    return rows


def inspect_file(path: str | Path, compression: str = "auto", display_name: str | None = None,
                 dwarf: bool = False) -> InspectResult:
    path = Path(path)
    data = read_module_file(path)
    return inspect_bytes(data, display_name or str(path), compression, dwarf)
