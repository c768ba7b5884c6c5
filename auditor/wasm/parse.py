"""Read a .wasm binary into the Module IR, exactly and defensively.

This is the one reader: `inspect`, `scan` and the runtime's static pass all get their
Module from `parse_module`, and it accepts a module only if every section AND every
function body is well-formed (instructions, immediates, block nesting, the datacount
rule), so no later analysis can meet a body it cannot decode. Encodings come from the
tables in `rules/wasm_types.toml` and `rules/wasm_opcodes.toml`. Every count and length
is checked against the bytes left before use, so a hostile file cannot make us allocate
by a bogus count; every error is a MalformedModule with the byte offset.

Why our own reader: wasm-tob (the MVP decoder we started from) has no truncation checks
and dies on post-MVP sections (DESIGN.md); twiggy fails on exception tags and
components. Being the reader that never fails on a valid module is the point.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from array import array
from functools import lru_cache
from pathlib import Path

from auditor.errors import AuditorError
from auditor.io import describe
from auditor.wasm import model as m
from auditor.wasm.component import COMPONENT_VERSION
from auditor.wasm.opcodes import (
    _S32,
    _U32,
    OP_END,
    OP_GLOBAL_GET,
    OP_I32_CONST,
    OP_I64_CONST,
    check_body,
    decode_one,
    read_locals,
    read_reftype,
    read_valtype,
    tables,
)
from auditor.wasm.reader import MalformedModule, Reader, gc_paused

MAGIC = b"\0asm"
VERSION = b"\x01\x00\x00\x00"


@lru_cache(maxsize=1)
def _formats() -> dict:
    """The section and type encodings of rules/wasm_types.toml, keyed by byte."""
    ty = tables().types

    def keys(name: str) -> dict[int, object]:
        return {int(k, 0): v for k, v in ty[name].items()}

    sections = {int(k): tuple(v) for k, v in ty["section"].items()}
    return {
        "section_name": {k: v[0] for k, v in sections.items()},
        "section_rank": {k: v[1] for k, v in sections.items()},
        "import_kind": keys("import_kind"),
        "export_kind": keys("export_kind"),
        "compact_import": keys("compact_import"),
        "mutability": keys("mutability"),
        "comptype": keys("comptype"),
        "clause": {v: k for k, v in keys("comptype_clause").items()},
        "elemkind": keys("elemkind"),
        "rec": ty["typeform"]["rec"],
        "sub": (ty["typeform"]["sub"], ty["typeform"]["sub_final"]),
        "memory_flags": ty["limits"]["memory_flags"],
        "table_flags": ty["limits"]["table_flags"],
        "max_page_size_log2": ty["limits"]["max_page_size_log2"],
    }


@gc_paused()
def read_module_file(path: str | Path) -> bytes:
    """The bytes of the .wasm file at `path`, or the one-line error every command gives
    for a directory, a missing file or an unreadable one."""
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise AuditorError("is a directory, not a .wasm file", str(path)) from None
    except FileNotFoundError:
        raise AuditorError("no such file", str(path)) from None
    except OSError as e:
        raise AuditorError(f"cannot read: {e.strerror}", str(path)) from None


def parse_module(data: bytes, name: str = "<module>", *, full_refs: bool = False,
                 native: bool | None = None) -> m.Module:
    """The module in `data`, every body validated. The same pass keeps what every body
    calls, references and grows (`ParsedRefs`, the call graph's edges); `full_refs` keeps
    also its global accesses and the i32.consts that may be data addresses, so the full
    item graph (the deep analyses) never walks the code a second time either. `native`:
    True/False forces the compiled code reader (auditor/wasm/native) on/off, None
    decides by the code section's size (`native_reader_mode`); the result is the same."""
    if not isinstance(data, bytes):
        data = bytes(data)
    fmt = _formats()
    r = Reader(data, 0, len(data), name)
    if len(data) == 0:
        raise MalformedModule("empty file, not a wasm module", 0, name)
    if data[:4] != MAGIC[: len(data[:4])]:
        what = describe(data[:512], "a WebAssembly binary")
        raise MalformedModule(f"bad magic {data[:4].hex(' ')}, expected 00 61 73 6d (\\0asm)"
                              + (f": {what}" if what else ""), 0, name)
    if len(data) < 4:
        raise MalformedModule("truncated in the magic number", len(data), name)
    if len(data) < 8:
        raise MalformedModule("truncated in the version field", len(data), name)
    if data[4:8] != VERSION:
        if data[4:8] == COMPONENT_VERSION:
            raise MalformedModule("this is a component (version 0x1000d), not a core module (the size analyses, "
                                  "`auditor top/dominators/paths/garbage/monos/crates/sources/data`, read "
                                  "its core modules)", 4, name)
        raise MalformedModule(f"unsupported version {data[4:8].hex(' ')}, expected 01 00 00 00", 4, name)
    r.pos = 8
    mod = m.Module(file=name, data=data)
    last_rank = 0
    seen: set[int] = set()
    func_decls: list[int] | None = None
    code_section_at = None
    section_name, section_rank = fmt["section_name"], fmt["section_rank"]
    while not r.at_end():
        start = r.pos
        sid = r.u8()
        size = r.u32()
        payload_offset = r.pos
        if size > r.left:
            kind = section_name.get(sid, "custom" if sid == 0 else sid)
            raise r.fail(f"section {kind} length {size} runs past the end of the file ({r.left} bytes left)", start)
        body = r.sub(size)
        if sid == 0:
            cname = body.name("custom section name")
            mod.sections.append(m.Section(0, cname, start, r.pos - start, payload_offset, size))
            _read_custom(mod, cname, body)
            continue
        kind = section_name.get(sid)
        if kind is None:
            raise MalformedModule(f"unknown section id {sid}", start, name)
        if sid in seen:
            raise MalformedModule(f"repeated {kind} section", start, name)
        if section_rank[sid] < last_rank:
            raise MalformedModule(f"{kind} section out of order", start, name)
        seen.add(sid)
        last_rank = section_rank[sid]
        mod.sections.append(m.Section(sid, kind, start, r.pos - start, payload_offset, size))
        if kind == "type":
            _read_types(mod, body)
        elif kind == "import":
            _read_imports(mod, body)
        elif kind == "function":
            func_decls = _u32_vector(body, body.count(1, "function"))
        elif kind == "table":
            _read_tables(mod, body)
        elif kind == "memory":
            for _ in range(body.count(1, "memory")):
                mod.memories.append(m.Memory(len(mod.memories), _read_limits(body, memory=True)))
        elif kind == "tag":
            for _ in range(body.count(2, "tag")):
                mod.tags.append(_read_tagtype(body))
        elif kind == "global":
            _read_globals(mod, body)
        elif kind == "export":
            _read_exports(mod, body)
        elif kind == "start":
            mod.start = body.u32()
        elif kind == "element":
            _read_elements(mod, body)
        elif kind == "datacount":
            mod.data_count = body.u32()
        elif kind == "code":
            code_section_at = start
            _read_code(mod, body, func_decls or [], _peek_data_window(data, r.pos) if full_refs else None, native)
        elif kind == "data":
            _read_data(mod, body)
        if not body.at_end():
            raise MalformedModule(f"{kind} section has {body.left} bytes left over after its contents (section size mismatch)", body.pos, name)
    decls = func_decls or []
    if len(decls) != len(mod.functions):
        raise MalformedModule(
            f"function section declares {len(decls)} functions but the code section has {len(mod.functions)} bodies",
            code_section_at if code_section_at is not None else len(data), name,
        )
    if mod.data_count is not None and mod.data_count != len(mod.data_segments):
        sec = mod.section("data") or mod.section("datacount")
        assert sec is not None
        raise MalformedModule(f"datacount {mod.data_count} differs from the {len(mod.data_segments)} data segments", sec.offset, name)
    _link(mod)
    return mod


# -- vectors of u32 at C speed where possible --------------------------------------

def _u32_vector(r: Reader, n: int) -> list[int]:
    """n u32 LEB128s: one slice when they are all one byte (the usual function section)."""
    data, pos = r.data, r.pos
    if pos + n <= r.end:
        chunk = data[pos : pos + n]
        if chunk.isascii():  # every byte below 0x80: n one-byte values
            r.pos = pos + n
            return list(chunk)
    u32 = r.u32
    return [u32() for _ in range(n)]


# -- types -----------------------------------------------------------------------

def _read_types(mod: m.Module, r: Reader) -> None:
    rec = _formats()["rec"]
    for _ in range(r.count(1, "type")):
        if r.pos < r.end and r.data[r.pos] == rec:
            r.pos += 1
            for _ in range(r.count(1, "rec group type")):
                mod.types.append(_read_subtype(r))
        else:
            mod.types.append(_read_subtype(r))


def _read_subtype(r: Reader) -> m.FuncType | None:
    fmt = _formats()
    at = r.pos
    form = r.u8()
    if form in fmt["sub"]:
        for _ in range(r.count(1, "supertype")):
            r.u32()
        at = r.pos
        form = r.u8()
    clause = fmt["clause"]
    for key in ("describes", "descriptor"):  # custom descriptors, in this order
        if form == clause.get(key):
            r.u32()
            at = r.pos
            form = r.u8()
    comp = fmt["comptype"].get(form)
    if comp == "func":
        params = tuple(read_valtype(r) for _ in range(r.count(1, "parameter")))
        results = tuple(read_valtype(r) for _ in range(r.count(1, "result")))
        return m.FuncType(params, results)
    if comp == "struct":
        for _ in range(r.count(2, "struct field")):
            _read_fieldtype(r)
        return None
    if comp == "array":
        _read_fieldtype(r)
        return None
    raise r.fail(f"malformed type: unknown type form 0x{form:02x}", at)


def _read_fieldtype(r: Reader) -> None:
    if not (r.pos < r.end and r.data[r.pos] in tables().packed):
        read_valtype(r)
    else:
        r.pos += 1
    _read_mutability(r, "field")


def _read_mutability(r: Reader, what: str) -> bool:
    at = r.pos
    b = r.u8()
    mut = _formats()["mutability"].get(b)
    if mut is None:
        raise r.fail(f"malformed {what} mutability 0x{b:02x}", at)
    return mut == "var"


def _read_limits(r: Reader, memory: bool) -> m.Limits:
    fmt = _formats()
    at = r.pos
    flags = r.u8()
    allowed = fmt["memory_flags"] if memory else fmt["table_flags"]
    if flags & ~allowed:
        raise r.fail(f"malformed {'memory' if memory else 'table'} limits flags 0x{flags:02x}", at)
    is64 = bool(flags & 0x04)
    bits = 64 if is64 else 32
    # Limits are u64 in the encoding (WebAssembly 3.0, with memory64); the address type
    # bounds them below, as validation does.
    initial = r.uleb(64)
    maximum = r.uleb(64) if flags & 0x01 else None
    shared = bool(flags & 0x02)
    page_size = m.PAGE_SIZE
    if flags & 0x08:
        log_at = r.pos
        log2 = r.u32()
        if log2 > fmt["max_page_size_log2"]:
            raise r.fail(f"invalid custom page size 2**{log2}", log_at)
        page_size = 1 << log2
    if maximum is not None and maximum < initial:
        raise r.fail(f"limits maximum {maximum} below the minimum {initial}", at)
    # A memory or table larger than its address space is not a valid module (and would
    # make every size figure nonsense): 2**32 bytes for 32-bit memories, 2**64 for
    # 64-bit ones; 2**32-1 / 2**64-1 elements for tables.
    for what, n in (("minimum", initial), ("maximum", maximum)):
        if n is None:
            continue
        if memory and n * page_size > 1 << bits:
            raise r.fail(f"memory {what} of {n} pages of {page_size} bytes exceeds the {bits}-bit address space", at)
        if not memory and n >= 1 << bits:
            raise r.fail(f"table {what} of {n} elements exceeds the {bits}-bit index space", at)
    return m.Limits(initial, maximum, shared, is64, page_size)


def _read_tabletype(r: Reader) -> tuple[str, m.Limits]:
    reftype = read_reftype(r)
    return reftype, _read_limits(r, memory=False)


def _read_tagtype(r: Reader) -> int:
    at = r.pos
    if r.u8() != 0:
        raise r.fail("malformed tag attribute (must be 0)", at)
    return r.u32()


# -- imports and exports ----------------------------------------------------------

def _read_imports(mod: m.Module, r: Reader) -> None:
    counters = {"func": 0, "table": 0, "memory": 0, "global": 0, "tag": 0}
    for _ in range(r.count(3, "import")):
        read_import_entry(mod, r, counters)


def read_import_entry(mod: m.Module, r: Reader, counters: dict[str, int], ends: list[int] | None = None) -> None:
    """One entry of the import section: an import, or a compact group of imports from one
    module (appended to `mod`). Also how layout.py walks the section, so the two can
    never disagree on where an entry ends; `ends` gets the offset where each import's
    own bytes end (a group's header and shared type go to its first import)."""
    compact = _formats()["compact_import"]
    module = r.name("import module name")
    field = r.name("import field name")
    if field == "" and r.pos < r.end and r.data[r.pos] in compact:
        # compact-import-section: a group of imports from one module.
        form = compact[r.data[r.pos]]
        r.pos += 1
        if form == "names-and-kinds":
            for _ in range(r.count(2, "compact import")):
                item = r.name("import field name")
                _read_import_desc(mod, r, module, item, counters)
                if ends is not None:
                    ends.append(r.pos)
        else:
            desc_at = r.pos
            _read_import_desc(mod, r, module, "", counters, dry=True)
            desc_end = r.pos
            for _ in range(r.count(1, "compact import")):
                item = r.name("import field name")
                after = r.pos
                r.pos = desc_at
                _read_import_desc(mod, r, module, item, counters)
                assert r.pos == desc_end
                r.pos = after
                if ends is not None:
                    ends.append(after)
        return
    _read_import_desc(mod, r, module, field, counters)
    if ends is not None:
        ends.append(r.pos)


def _read_import_desc(mod: m.Module, r: Reader, module: str, field: str, counters: dict, dry: bool = False) -> None:
    at = r.pos
    kb = r.u8()
    kind = _formats()["import_kind"].get(kb)
    if kind is None:
        raise r.fail(f"malformed import kind 0x{kb:02x}", at)
    imp = m.Import(module, field, kind, counters[kind])
    if kind == "func":
        imp.type_index = r.u32()
    elif kind == "table":
        imp.valtype, imp.limits = _read_tabletype(r)
    elif kind == "memory":
        imp.limits = _read_limits(r, memory=True)
    elif kind == "global":
        imp.valtype = read_valtype(r)
        imp.mutable = _read_mutability(r, "global")
    else:  # tag
        imp.type_index = _read_tagtype(r)
    if dry:
        return
    counters[kind] += 1
    if kind == "func":
        assert imp.type_index is not None
        mod.func_type_indices.append(imp.type_index)
    elif kind == "table":
        assert imp.valtype is not None and imp.limits is not None
        mod.tables.append(m.Table(len(mod.tables), imp.valtype, imp.limits, imported=True))
    elif kind == "memory":
        assert imp.limits is not None
        mod.memories.append(m.Memory(len(mod.memories), imp.limits, True, module, field))
    elif kind == "global":
        assert imp.valtype is not None
        mod.globals.append(m.Global(len(mod.globals), imp.valtype, imp.mutable, imported=True))
    else:
        assert imp.type_index is not None
        mod.tags.append(imp.type_index)
    mod.imports.append(imp)


def _read_exports(mod: m.Module, r: Reader) -> None:
    kinds = _formats()["export_kind"]
    names = set()
    for _ in range(r.count(3, "export")):
        at = r.pos
        name = r.name("export name")
        if name in names:
            raise r.fail(f"duplicate export name {name!r}", at)
        names.add(name)
        kat = r.pos
        kb = r.u8()
        kind = kinds.get(kb)
        if kind is None:
            raise r.fail(f"malformed export kind 0x{kb:02x}", kat)
        mod.exports.append(m.Export(name, kind, r.u32()))


# -- tables, globals, constant expressions ---------------------------------------

def _read_tables(mod: m.Module, r: Reader) -> None:
    for _ in range(r.count(2, "table")):
        at = r.pos
        if r.left >= 2 and r.data[at] == 0x40:  # function-references: a table with an initialiser
            if r.data[at + 1] != 0x00:
                raise r.fail(f"malformed table: reserved byte 0x{r.data[at + 1]:02x} after 0x40", at + 1)
            r.pos += 2
            reftype, limits = _read_tabletype(r)
            _read_const_expr(r)
        else:
            reftype, limits = _read_tabletype(r)
        mod.tables.append(m.Table(len(mod.tables), reftype, limits))


_I32_CONST_EXPR = re.compile(b"\\x41(" + _S32 + b")\\x0b")


# An active data segment of memory 0 at `i32.const N` (flags 0): offset and size, as one
# match (Go modules have ~10^5 segments).
_ACTIVE0_SEGMENT = re.compile(b"\\x00\\x41(" + _S32 + b")\\x0b(" + _U32 + b")")


def _uleb_matched(leb: bytes) -> int:
    value = shift = 0
    for b in leb:
        value |= (b & 0x7F) << shift
        shift += 7
    return value


def _sleb_matched(leb: bytes) -> int:
    """The value of a signed LEB128 the pattern above has validated (Reader.sleb's
    checks already done by the regex): a short loop for 10^5 data segments (Go)."""
    value = shift = 0
    b = 0
    for b in leb:
        value |= (b & 0x7F) << shift
        shift += 7
    return value - (1 << shift) if b & 0x40 else value


def _read_const_expr(r: Reader) -> tuple[int | None, int | None]:
    """Walk a constant expression to its `end`; return (constant, global.get index).

    Any instruction is read (validity is the validator's business; well-formedness is
    ours), blocks included, so the expression ends at the `end` that closes it.
    """
    fast = _I32_CONST_EXPR.match(r.data, r.pos, r.end)
    if fast is not None:  # `i32.const N end`: almost every data and element offset
        r.pos = fast.end()
        return _sleb_matched(fast.group(1)), None
    start = r.pos
    insns = []
    depth = 0
    t = tables()
    while True:
        if r.at_end():
            raise r.fail("constant expression has no `end` before the end of its section", start)
        _, op, value = decode_one(r)
        if op == OP_END:
            if depth == 0:
                break
            depth -= 1
        elif op in t.opens:
            depth += 1
        insns.append((op, value))
    if len(insns) == 1:
        op, value = insns[0]
        if op in (OP_I32_CONST, OP_I64_CONST):
            return value, None
        if op == OP_GLOBAL_GET:
            return None, value
    return None, None


def _read_globals(mod: m.Module, r: Reader) -> None:
    for _ in range(r.count(3, "global")):
        valtype = read_valtype(r)
        mutable = _read_mutability(r, "global")
        init, init_global = _read_const_expr(r)
        mod.globals.append(m.Global(len(mod.globals), valtype, mutable, init, init_global))


def _read_elements(mod: m.Module, r: Reader) -> None:
    elemkinds = _formats()["elemkind"]
    for i in range(r.count(1, "element segment")):
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise r.fail(f"malformed element segment flags {flags}", at)
        mode = "passive" if flags & 1 and not flags & 2 else "declarative" if flags & 3 == 3 else "active"
        table = None
        if mode == "active":
            table = r.u32() if flags & 2 else 0
            _read_const_expr(r)
        uses_exprs = bool(flags & 4)
        if flags & 3:  # an element kind (flags 1-3) or a reference type (5-7) follows
            if uses_exprs:
                read_reftype(r)
            else:
                kat = r.pos
                ek = r.u8()
                if ek not in elemkinds:
                    raise r.fail(f"malformed element kind 0x{ek:02x}", kat)
        k = r.count(1, "element")
        funcs: list[int] = []
        if uses_exprs:
            for _ in range(k):
                _read_const_expr(r)
        else:
            funcs = _u32_vector(r, k)
        mod.elements.append(m.ElementSegment(i, mode, table, k, funcs))


# -- code and data ------------------------------------------------------------------

ALL_CONSTS = (-(1 << 31), 1 << 32)  # a window every i32.const may fall in


def _peek_data_window(data: bytes, pos: int) -> tuple[int, int]:
    """For the code pass with full refs, read ahead to the data section (after the code)
    for the addresses [lowest, highest end) of the active memory-0 segments: the
    i32.consts that cannot fall there are not kept ((0, 0) when there is no active data;
    ALL_CONSTS when the sections ahead do not read plainly). The item graph checks the
    window against the real segments, so this look-ahead only saves work."""
    spans = []
    try:
        r = Reader(data, pos, len(data))
        while not r.at_end():
            sid = r.u8()
            size = r.u32()
            if size > r.left:
                return ALL_CONSTS
            if sid != 11:
                r.pos += size
                continue
            body = r.sub(size)
            active0, bdata, bend = _ACTIVE0_SEGMENT.match, body.data, body.end
            for _ in range(body.count(1, "data segment")):
                fast = active0(bdata, body.pos, bend)
                if fast is not None:
                    size = _uleb_matched(fast.group(2))
                    if size > bend - fast.end():
                        return ALL_CONSTS
                    body.pos = fast.end() + size
                    if size:
                        at = _sleb_matched(fast.group(1))
                        spans.append((at, at + size))
                    continue
                flags = body.u32()
                if flags > 2:
                    return ALL_CONSTS
                memory = body.u32() if flags == 2 else 0
                offset = None
                if flags != 1:
                    fast = _I32_CONST_EXPR.match(body.data, body.pos, body.end)
                    if fast is None:
                        return ALL_CONSTS
                    offset = _sleb_matched(fast.group(1))
                    body.pos = fast.end()
                size = body.u32()
                if size > body.left:
                    return ALL_CONSTS
                body.pos += size
                if offset is not None and memory == 0 and size:
                    spans.append((offset, offset + size))
            break
    except MalformedModule:
        return ALL_CONSTS
    if not spans:
        return (0, 0)
    return min(a for a, _ in spans), max(b for _, b in spans)


def _read_code(mod: m.Module, r: Reader, decls: list[int], window: tuple[int, int] | None = None,
               native: bool | None = None) -> None:
    n = r.count(2, "code body")
    if n != len(decls):
        raise r.fail(f"code section has {n} bodies but the function section declares {len(decls)}", r.pos)
    base = len(mod.func_type_indices)
    mod.func_type_indices.extend(decls)
    data, file = r.data, r.file
    datacount = mod.data_count is not None
    # What every body calls, references and grows, read by the same pass that validates
    # it: the call graph's edges (`ParsedRefs`), so inspect never walks the code again.
    refs = mod.derived.get(ParsedRefs.KEY)
    if not isinstance(refs, ParsedRefs):
        refs = mod.derived[ParsedRefs.KEY] = ParsedRefs()
    refs.window = window
    pos, section_end = r.pos, r.end
    # The compiled reader (auditor/wasm/native) reads runs of bodies; it stops before any
    # body it does not vouch for, which the Python pass below reads (and rejects with its
    # message), and goes on after it.
    session = _native_session(data, pos, section_end, n, native)
    ahead = _Ahead.start(data, pos, section_end, n, datacount, window) if session is not None else None
    try:
        pos = _read_bodies(mod, data, file, pos, section_end, n, base, decls, datacount, refs, window, session,
                           ahead)
    finally:
        if session is not None:
            session.close()
        if ahead is not None:  # (after an error in the first half: its thread is done before we go on)
            ahead.take()
    r.pos = pos


class _Ahead:
    """The second half of a big code section (by bytes), read by a second compiled-reader
    session in a thread while the caller reads the first half: wasmtime runs without the
    GIL, so on two free cores the scan takes about half the wall time. `k`: the index (in
    the section) of its first body, `pos` that body's file offset; `take()` gives the
    batches it read, which may stop early (at a body the scanner declines: the caller
    reads on from there, body by body, as without it). Only a split point is guessed here
    (from the bodies' size fields): every body is still read and validated in order."""

    def __init__(self, session, k: int, pos: int, count: int, datacount: bool, window: tuple[int, int] | None):
        self.k, self.pos = k, pos
        self.batches: list = []
        self.thread = threading.Thread(target=self._run, args=(session, count, datacount, window), daemon=True)
        self.thread.start()

    def _run(self, session, count: int, datacount: bool, window: tuple[int, int] | None) -> None:
        try:
            self.batches = session.scan(self.pos, count, datacount, window)
        except session.Failure:  # the caller reads these bodies itself
            pass
        finally:
            session.close()

    def take(self) -> list:
        self.thread.join()
        out, self.batches = self.batches, []
        return out

    @classmethod
    def start(cls, data: bytes, pos: int, end: int, n: int, datacount: bool,
              window: tuple[int, int] | None) -> _Ahead | None:
        """A thread reading the second half, or None: a section under rules/wasm_opcodes.toml
        [native] min-split-code-bytes, a single allowed CPU, or size fields that do not
        lead to a body boundary near the middle."""
        threshold = tables().native.get("min-split-code-bytes")
        if threshold is None or end - pos < threshold or n < 2 or _cpus() < 2:
            return None
        split = _middle_body(data, pos, end, n)
        if split is None:
            return None
        k, at = split
        from auditor.wasm import native as nat

        try:
            session = nat.Session(data, at, end, n - k)
        except nat.Failure:
            return None
        return cls(session, k, at, n - k, datacount, window)


def _cpus() -> int:
    """CPUs this process may run on (taskset, cgroups' cpusets), else the machine's."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _middle_body(data: bytes, pos: int, end: int, n: int) -> tuple[int, int] | None:
    """(k, offset) of the body after the last one that ends by the middle of the code
    bodies in data[pos:end] (after the first, at least), found by hopping over the
    bodies' size fields; None when one is not a LEB128 of at most 5 bytes or runs past the
    end (the reader in order says why)."""
    half = pos + (end - pos) // 2
    k = 0
    while k < n - 1:
        if pos >= end:
            return None
        b = data[pos]
        if b < 0x80:
            after = pos + 1 + b
        else:
            size, shift, j = b & 0x7F, 7, 1
            while True:
                if pos + j >= end or j == 5:
                    return None
                b = data[pos + j]
                size |= (b & 0x7F) << shift
                j += 1
                if b < 0x80:
                    break
                shift += 7
            after = pos + j + size
        if after > end or k and after > half:
            break
        pos, k = after, k + 1
    if not 0 < k < n or pos >= end:
        return None
    return k, pos


def _read_bodies(mod: m.Module, data: bytes, file: str | None, pos: int, section_end: int, n: int, base: int,
                 decls: list[int], datacount: bool, refs: ParsedRefs, window: tuple[int, int] | None,
                 session, ahead: _Ahead | None = None) -> int:
    functions, Function = mod.functions, m.Function
    flat, starts = refs.flat, refs.starts
    i = 0
    while i < n:
        batches = None
        if ahead is not None and i >= ahead.k:  # the second half: what the other thread read
            if i == ahead.k and pos == ahead.pos:
                batches = ahead.take()
            ahead = None
        elif session is not None:
            try:  # up to the second half's first body
                batches = session.scan(pos, (ahead.k if ahead is not None else n) - i, datacount, window)
            except session.Failure:  # wasmtime refused: the Python pass reads the rest
                session = None
                continue
        if batches is not None:
            for batch in batches:
                c = batch.count
                recs, shift = batch.recs, len(flat)
                starts.extend([s + shift for s in recs[3::4]])
                flat.extend(batch.flat)
                functions.extend(map(Function, range(base + i, base + i + c), decls[i : i + c],
                                     recs[0::4], recs[1::4], recs[2::4]))
                i += c
                pos = recs[-3] + recs[-2]
            if i == n or ahead is not None and i == ahead.k:
                continue
        pos = _read_body(mod, data, file, pos, section_end, base + i, decls[i], datacount, refs, window)
        i += 1
    return pos


def _read_body(mod: m.Module, data: bytes, file: str | None, pos: int, section_end: int, index: int, type_index: int,
               datacount: bool, refs: ParsedRefs, window: tuple[int, int] | None) -> int:
    """One body with the Python pass (opcodes.check_body); returns where the next starts."""
    body_offset = pos
    if pos < section_end and data[pos] < 0x80:  # the body size, usually one byte... or not
        size, code_offset = data[pos], pos + 1
    else:
        r = Reader(data, pos, section_end, file)
        size = r.u32()
        code_offset = r.pos
    end = code_offset + size
    if end > section_end:
        raise MalformedModule(f"function body {index} size {size} runs past the end of the code section "
                              f"({section_end - code_offset} bytes left)", body_offset, file)
    if size == 0:
        raise MalformedModule(f"function body {index} is empty", body_offset, file)
    first = read_locals(data, code_offset, end, file)
    refs.starts.append(len(refs.flat))
    check_body(data, first, end, file, datacount, flat=refs.flat, const_window=window)
    mod.functions.append(m.Function(index, type_index, body_offset, code_offset, size))
    return end


def native_reader_mode() -> str:
    """`AUDITOR_NATIVE_READER`: "auto" (the default: the compiled reader for code sections
    of at least rules/wasm_opcodes.toml [native] min-code-bytes), "on" (every code
    section) or "off" (the Python pass only)."""
    mode = os.environ.get("AUDITOR_NATIVE_READER", "auto").strip().lower() or "auto"
    if mode not in ("auto", "on", "off"):
        raise AuditorError(f"AUDITOR_NATIVE_READER={mode!r}: expected auto, on or off")
    return mode


def _native_session(data: bytes, start: int, end: int, n: int, native: bool | None):
    """A compiled-reader session over the code section, or None for the Python pass."""
    if native is None:
        mode = native_reader_mode()
        if mode == "off":
            return None
        if mode == "auto":
            loaded = "wasmtime" in sys.modules  # then only loading the reader is left to pay
            threshold = tables().native.get("min-code-bytes-loaded" if loaded else "min-code-bytes")
            if threshold is None or end - start < threshold:  # (a rules dir without [native]: Python)
                return None
    elif not native:
        return None
    if n == 0:
        return None
    from auditor.wasm import native as nat

    if not nat.available():
        return None
    try:
        return nat.Session(data, start, end, n)
    except nat.Failure:  # e.g. a module beyond the reader's 32-bit offsets: the Python pass
        return None


class ParsedRefs:
    """The REF_OPS instructions (calls, indirect calls, ref.func, memory.grow) and table
    accesses (`opcodes.table_ops()`) of every defined body, in body order: `flat` holds
    opcode, target, opcode, target, ... (the callee, the table, the function, the memory;
    a table access's opcode is its first byte, one pair per table it names) and body k's pairs are
    flat[starts[k]:starts[k + 1]] (the last runs to the end)."""

    __slots__ = ("flat", "starts", "window")
    KEY = "parsed_refs"  # in Module.derived, until refs.code_references takes it

    def __init__(self) -> None:
        self.flat = array("I")  # u32s (the compiled reader writes them as such)
        self.starts = array("I")
        # None: REF_OPS only; (lo, hi): also global.get / global.set and the i32.consts
        # whose value (signed) is in [lo, hi) (each as a u32):
        # `parse_module(full_refs=True)`
        self.window: tuple[int, int] | None = None

    def of(self, k: int) -> array:
        """opcode, target, ... of the k-th defined body."""
        end = self.starts[k + 1] if k + 1 < len(self.starts) else len(self.flat)
        return self.flat[self.starts[k] : end]


def _read_data(mod: m.Module, r: Reader) -> None:
    segments, DataSegment, active0, data, end = mod.data_segments, m.DataSegment, _ACTIVE0_SEGMENT.match, r.data, r.end
    append, uleb, sleb = segments.append, _uleb_matched, _sleb_matched
    for i in range(r.count(1, "data segment")):
        fast = active0(data, r.pos, end)
        if fast is not None:  # flags 0, `i32.const N end`, size: nearly every segment
            at, size_leb = fast.group(1, 2)
            size = size_leb[0] if len(size_leb) == 1 else uleb(size_leb)  # (esbuild: 98,453 segments)
            data_offset = fast.end()
            if size <= end - data_offset:
                append(DataSegment(i, "active", 0, sleb(at), size, data_offset))
                r.pos = data_offset + size
                continue
        at = r.pos
        flags = r.u32()
        if flags > 2:
            raise r.fail(f"malformed data segment flags {flags}", at)
        memory = offset = None
        mode = "passive" if flags == 1 else "active"
        if flags != 1:
            memory = r.u32() if flags == 2 else 0
            offset, _ = _read_const_expr(r)
        size_at = r.pos
        size = r.u32()
        data_offset = r.pos
        if size > r.left:
            raise r.fail(f"data segment {i} size {size} runs past the end of the data section ({r.left} bytes left)", size_at)
        r.pos += size
        mod.data_segments.append(m.DataSegment(i, mode, memory, offset, size, data_offset))


# -- custom sections ---------------------------------------------------------------

def _read_custom(mod: m.Module, cname: str, r: Reader) -> None:
    """Custom sections never make a module invalid: problems become warnings."""
    try:
        if cname == "name":
            _read_names(mod, r)
        elif cname == "producers":
            for _ in range(r.count(2, "producers field")):
                field = r.name("producers field name")
                k = r.count(2, "producers value")
                mod.producers[field] = [(r.name("producer name"), r.name("producer version")) for _ in range(k)]
        elif cname == "target_features":
            for _ in range(r.count(2, "target feature")):
                prefix = chr(r.u8())
                mod.target_features.append((prefix, r.name("feature name")))
    except MalformedModule as e:
        mod.warnings.append(f"custom section {cname!r} ignored from byte {e.offset}: {e.what}")


def _read_names(mod: m.Module, r: Reader) -> None:
    while not r.at_end():
        sub_id = r.u8()
        size = r.u32()
        sub = r.sub(size)
        if sub_id == 0:
            mod.module_name = sub.name("module name")
        elif sub_id in (1, 7, 9):
            target = {1: mod.function_names, 7: mod.global_names, 9: mod.data_names}[sub_id]
            _read_name_map(sub, target)
        # other subsections (locals, labels, types, ...) are skipped by their size


def _short_u32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of a LEB128 u32 of at most 3 bytes at `pos`, read inline
    (a name map's indices and lengths nearly always are); (-1, pos) for a longer one or near
    the end, which the caller leaves to the Reader and its one-line errors."""
    if pos + 3 < end:
        b0 = data[pos]
        if b0 < 0x80:
            return b0, pos + 1
        b1 = data[pos + 1]
        if b1 < 0x80:
            return (b0 & 0x7F) | b1 << 7, pos + 2
        b2 = data[pos + 2]
        if b2 < 0x80:
            return (b0 & 0x7F) | (b1 & 0x7F) << 7 | b2 << 14, pos + 3
    return -1, pos


def _read_name_map(r: Reader, target: dict[int, str]) -> None:
    """idx -> name entries; a tight loop, since a big module names ~10^5 functions: an
    index or length of up to three bytes (2**21: every index of a module of fewer than
    two million functions, every name shorter than 2 MB) is read by `_short_u32`; anything longer,
    or near the end, by the Reader, which raises its one-line errors."""
    k = r.count(2, "name map entry")
    data, end, u32 = r.data, r.end, r.u32
    pos = r.pos
    for _ in range(k):
        idx, pos = _short_u32(data, pos, end)
        if idx < 0:
            r.pos = pos
            idx = u32()
            pos = r.pos
        n, pos = _short_u32(data, pos, end)
        if n < 0:
            r.pos = pos
            n = u32()
            pos = r.pos
        if n > end - pos:
            raise MalformedModule(f"name length {n} runs past the end ({end - pos} bytes left)", pos, r.file)
        try:
            target[idx] = data[pos : pos + n].decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedModule("name is not valid UTF-8", pos + e.start, r.file) from None
        pos += n
    r.pos = pos


def _link(mod: m.Module) -> None:
    """Attach names and exports to the entities they describe."""
    for f in mod.functions:
        f.name = mod.function_names.get(f.index)
    for g in mod.globals:
        g.name = mod.global_names.get(g.index)
    for e in mod.exports:
        if e.kind == "memory" and 0 <= e.index < len(mod.memories):
            mod.memories[e.index].exports.append(e.name)
