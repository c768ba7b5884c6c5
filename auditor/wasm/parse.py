"""Read a .wasm binary into the Module IR, exactly and defensively.

Why our own reader and not wasm-tob's `decode_module` for the structure: wasm-tob has no
magic/version/truncation checks, dies on section 13 and import kind 4, misreads
multi-value types and cannot read passive segments (measured, see DESIGN.md); a report
that is exact on current rustc output needs all of those. wasm-tob's MVP opcode table is
used by `opcodes.py`. Every count and length is checked against the bytes left before
use, so a hostile file cannot make us allocate by a bogus count.
"""

from __future__ import annotations

from auditor.wasm import model as m
from auditor.wasm.opcodes import OP_END, OP_GLOBAL_GET, OP_I32_CONST, OP_I64_CONST, decode_one, read_valtype
from auditor.wasm.reader import MalformedModule, Reader

MAGIC = b"\0asm"
VERSION = b"\x01\x00\x00\x00"

# Order in which known sections must appear (tag sits between memory and global,
# datacount between element and code).
_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}


def parse_module(data: bytes, name: str = "<module>") -> m.Module:
    if not isinstance(data, bytes):
        data = bytes(data)
    r = Reader(data, 0, len(data), name)
    if len(data) == 0:
        raise MalformedModule("empty file, not a wasm module", 0, name)
    if data[:4] != MAGIC[: len(data[:4])]:
        raise MalformedModule(f"bad magic {data[:4].hex(' ')}, expected 00 61 73 6d (\\0asm)", 0, name)
    if len(data) < 4:
        raise MalformedModule("truncated in the magic number", len(data), name)
    if len(data) < 8:
        raise MalformedModule("truncated in the version field", len(data), name)
    if data[4:8] != VERSION:
        if data[4:8] == b"\x0d\x00\x01\x00":
            raise MalformedModule("this is a component (version 0x1000d), not a core module", 4, name)
        raise MalformedModule(f"unsupported version {data[4:8].hex(' ')}, expected 01 00 00 00", 4, name)
    r.pos = 8
    mod = m.Module(file=name, data=data)
    last_rank = 0
    seen: set[int] = set()
    func_decls: list[int] | None = None
    code_section_at = None
    while not r.at_end():
        start = r.pos
        sid = r.u8()
        size = r.u32()
        payload_offset = r.pos
        if size > r.left:
            raise r.fail(f"section {m.SECTION_KINDS.get(sid, sid)} length {size} runs past the end of the file ({r.left} bytes left)", start)
        body = r.sub(size)
        if sid == 0:
            cname = body.name("custom section name")
            sec = m.Section(0, cname, start, r.pos - start, payload_offset, size)
            mod.sections.append(sec)
            _read_custom(mod, cname, body)
            continue
        if sid not in _ORDER:
            raise MalformedModule(f"unknown section id {sid}", start, name)
        kind = m.SECTION_KINDS[sid]
        if sid in seen:
            raise MalformedModule(f"repeated {kind} section", start, name)
        if _ORDER[sid] < last_rank:
            raise MalformedModule(f"{kind} section out of order", start, name)
        seen.add(sid)
        last_rank = _ORDER[sid]
        mod.sections.append(m.Section(sid, kind, start, r.pos - start, payload_offset, size))
        if sid == 1:
            _read_types(mod, body)
        elif sid == 2:
            _read_imports(mod, body)
        elif sid == 3:
            n = body.count(1, "function")
            func_decls = [body.u32() for _ in range(n)]
        elif sid == 4:
            _read_tables(mod, body)
        elif sid == 5:
            n = body.count(1, "memory")
            for _ in range(n):
                mod.memories.append(m.Memory(len(mod.memories), _read_limits(body, memory=True)))
        elif sid == 13:
            n = body.count(2, "tag")
            for _ in range(n):
                at = body.pos
                if body.u8() != 0:
                    raise body.fail("tag attribute must be 0", at)
                mod.tags.append(body.u32())
        elif sid == 6:
            _read_globals(mod, body)
        elif sid == 7:
            _read_exports(mod, body)
        elif sid == 8:
            mod.start = body.u32()
        elif sid == 9:
            _read_elements(mod, body)
        elif sid == 12:
            mod.data_count = body.u32()
        elif sid == 10:
            code_section_at = start
            _read_code(mod, body, func_decls or [])
        elif sid == 11:
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
        raise MalformedModule(f"datacount {mod.data_count} differs from the {len(mod.data_segments)} data segments", sec.offset, name)
    _link(mod)
    return mod


def _read_types(mod: m.Module, r: Reader) -> None:
    n = r.count(1, "type")
    for _ in range(n):
        at = r.pos
        form = r.u8()
        if form == 0x4E:  # rec group
            k = r.count(1, "rec group type")
            for _ in range(k):
                mod.types.append(_read_subtype(r))
            continue
        r.pos = at
        mod.types.append(_read_subtype(r))


def _read_subtype(r: Reader) -> m.FuncType | None:
    at = r.pos
    form = r.u8()
    if form in (0x50, 0x4F):  # sub / sub final
        k = r.count(1, "supertype")
        for _ in range(k):
            r.u32()
        at = r.pos
        form = r.u8()
    if form == 0x60:
        np = r.count(1, "parameter")
        params = tuple(read_valtype(r) for _ in range(np))
        nr = r.count(1, "result")
        results = tuple(read_valtype(r) for _ in range(nr))
        return m.FuncType(params, results)
    if form == 0x5F:  # struct
        k = r.count(2, "struct field")
        for _ in range(k):
            _read_fieldtype(r)
        return None
    if form == 0x5E:  # array
        _read_fieldtype(r)
        return None
    raise r.fail(f"unknown type form 0x{form:02x}", at)


def _read_fieldtype(r: Reader) -> None:
    at = r.pos
    b = r.u8()
    if b not in (0x78, 0x77):  # i8 / i16 packed
        r.pos = at
        read_valtype(r)
    mut = r.u8()
    if mut > 1:
        raise r.fail(f"bad mutability {mut}", r.pos - 1)


def _read_limits(r: Reader, memory: bool) -> m.Limits:
    at = r.pos
    flags = r.u8()
    allowed = 0x0F if memory else 0x05
    if flags & ~allowed:
        raise r.fail(f"bad limits flags 0x{flags:02x}", at)
    is64 = bool(flags & 0x04)
    bits = 64 if is64 else 32
    initial = r.uleb(bits)
    maximum = r.uleb(bits) if flags & 0x01 else None
    shared = bool(flags & 0x02)
    page_size = m.PAGE_SIZE
    if flags & 0x08:
        log2 = r.u32()
        if log2 > 16:
            raise r.fail(f"bad page size 2**{log2}", at)
        page_size = 1 << log2
    if maximum is not None and maximum < initial:
        raise r.fail(f"maximum {maximum} below initial {initial}", at)
    return m.Limits(initial, maximum, shared, is64, page_size)


def _read_tabletype(r: Reader) -> tuple[str, m.Limits]:
    reftype = read_valtype(r)
    return reftype, _read_limits(r, memory=False)


def _read_imports(mod: m.Module, r: Reader) -> None:
    n = r.count(4, "import")
    counters = {"func": 0, "table": 0, "memory": 0, "global": 0, "tag": 0}
    for _ in range(n):
        module = r.name("import module name")
        field = r.name("import field name")
        at = r.pos
        kb = r.u8()
        kind = m.EXTERNAL_KINDS.get(kb)
        if kind is None:
            raise r.fail(f"unknown import kind 0x{kb:02x}", at)
        imp = m.Import(module, field, kind, counters[kind])
        counters[kind] += 1
        if kind == "func":
            imp.type_index = r.u32()
            mod.func_type_indices.append(imp.type_index)
        elif kind == "table":
            imp.valtype, imp.limits = _read_tabletype(r)
            mod.tables.append(m.Table(len(mod.tables), imp.valtype, imp.limits, imported=True))
        elif kind == "memory":
            imp.limits = _read_limits(r, memory=True)
            mod.memories.append(m.Memory(len(mod.memories), imp.limits, True, module, field))
        elif kind == "global":
            imp.valtype = read_valtype(r)
            mb = r.u8()
            if mb > 1:
                raise r.fail(f"bad global mutability {mb}", r.pos - 1)
            imp.mutable = bool(mb)
            mod.globals.append(m.Global(len(mod.globals), imp.valtype, imp.mutable, imported=True))
        else:  # tag
            if r.u8() != 0:
                raise r.fail("tag attribute must be 0", r.pos - 1)
            imp.type_index = r.u32()
            mod.tags.append(imp.type_index)
        mod.imports.append(imp)


def _read_tables(mod: m.Module, r: Reader) -> None:
    n = r.count(2, "table")
    for _ in range(n):
        at = r.pos
        if r.data[at] == 0x40 and r.left >= 2 and r.data[at + 1] == 0x00:  # table with init expr
            r.pos += 2
            reftype, limits = _read_tabletype(r)
            _read_const_expr(r)
        else:
            reftype, limits = _read_tabletype(r)
        mod.tables.append(m.Table(len(mod.tables), reftype, limits))


def _read_const_expr(r: Reader) -> tuple[int | None, int | None]:
    """Walk a constant expression to its `end`; return (constant, global.get index)."""
    start = r.pos
    insns = []
    while True:
        if r.at_end():
            raise r.fail("constant expression has no `end` before the end of its section", start)
        _, op, value = decode_one(r)
        if op == OP_END:
            break
        insns.append((op, value))
    if len(insns) == 1:
        op, value = insns[0]
        if op in (OP_I32_CONST, OP_I64_CONST):
            return value, None
        if op == OP_GLOBAL_GET:
            return None, value
    return None, None


def _read_globals(mod: m.Module, r: Reader) -> None:
    n = r.count(3, "global")
    for _ in range(n):
        valtype = read_valtype(r)
        mb = r.u8()
        if mb > 1:
            raise r.fail(f"bad global mutability {mb}", r.pos - 1)
        init, init_global = _read_const_expr(r)
        mod.globals.append(m.Global(len(mod.globals), valtype, bool(mb), init, init_global))


def _read_exports(mod: m.Module, r: Reader) -> None:
    n = r.count(3, "export")
    names = set()
    for _ in range(n):
        at = r.pos
        name = r.name("export name")
        if name in names:
            raise r.fail(f"duplicate export name {name!r}", at)
        names.add(name)
        kat = r.pos
        kb = r.u8()
        kind = m.EXTERNAL_KINDS.get(kb)
        if kind is None:
            raise r.fail(f"unknown export kind 0x{kb:02x}", kat)
        mod.exports.append(m.Export(name, kind, r.u32()))


def _read_elements(mod: m.Module, r: Reader) -> None:
    n = r.count(1, "element segment")
    for i in range(n):
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise r.fail(f"bad element segment flags {flags}", at)
        mode = "passive" if flags & 1 and not flags & 2 else "declarative" if flags & 3 == 3 else "active"
        table = None
        if mode == "active":
            table = r.u32() if flags & 2 else 0
            _read_const_expr(r)
        uses_exprs = bool(flags & 4)
        if flags & 3:  # elemkind / reftype present
            if uses_exprs:
                read_valtype(r)
            else:
                ek = r.u8()
                if ek != 0:
                    raise r.fail(f"bad element kind 0x{ek:02x}", r.pos - 1)
        k = r.count(1, "element")
        funcs: list[int] = []
        for _ in range(k):
            if uses_exprs:
                _read_const_expr(r)
            else:
                funcs.append(r.u32())
        mod.elements.append(m.ElementSegment(i, mode, table, k, funcs))


def _read_code(mod: m.Module, r: Reader, decls: list[int]) -> None:
    n = r.count(2, "code body")
    if n != len(decls):
        raise r.fail(f"code section has {n} bodies but the function section declares {len(decls)}", r.pos)
    base = len(mod.func_type_indices)
    mod.func_type_indices.extend(decls)
    data = r.data
    for i in range(n):
        body_offset = r.pos
        size = r.u32()
        code_offset = r.pos
        if size > r.left:
            raise r.fail(f"function body {base + i} size {size} runs past the end of the code section ({r.left} bytes left)", body_offset)
        if size == 0:
            raise r.fail(f"function body {base + i} is empty", body_offset)
        if data[code_offset + size - 1] != OP_END:
            raise r.fail(f"function body {base + i} does not end with `end` (0x0b)", code_offset + size - 1)
        # Locals: validate their declaration (counts are not trusted for allocation).
        locals_r = Reader(data, code_offset, code_offset + size, r.file)
        groups = locals_r.count(2, "local group")
        total = 0
        for _ in range(groups):
            total += locals_r.u32()
            read_valtype(locals_r)
        if total > 0xFFFFFFFF:
            raise locals_r.fail(f"function body {base + i} declares {total} locals (more than 2**32-1)", code_offset)
        r.pos = code_offset + size
        mod.functions.append(m.Function(base + i, decls[i], body_offset, code_offset, size))


def _read_data(mod: m.Module, r: Reader) -> None:
    n = r.count(1, "data segment")
    for i in range(n):
        at = r.pos
        flags = r.u32()
        if flags > 2:
            raise r.fail(f"bad data segment flags {flags}", at)
        memory = offset = None
        mode = "passive" if flags == 1 else "active"
        if flags != 1:
            memory = r.u32() if flags == 2 else 0
            offset, _ = _read_const_expr(r)
        size = r.u32()
        data_offset = r.pos
        if size > r.left:
            raise r.fail(f"data segment {i} size {size} runs past the end of the data section ({r.left} bytes left)", data_offset)
        r.pos += size
        mod.data_segments.append(m.DataSegment(i, mode, memory, offset, size, data_offset))


def _read_custom(mod: m.Module, cname: str, r: Reader) -> None:
    """Custom sections never make a module invalid: problems become warnings."""
    try:
        if cname == "name":
            _read_names(mod, r)
        elif cname == "producers":
            n = r.count(2, "producers field")
            for _ in range(n):
                field = r.name("producers field name")
                k = r.count(2, "producers value")
                mod.producers[field] = [(r.name("producer name"), r.name("producer version")) for _ in range(k)]
        elif cname == "target_features":
            n = r.count(2, "target feature")
            for _ in range(n):
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
            k = sub.count(2, "name map entry")
            for _ in range(k):
                idx = sub.u32()
                target[idx] = sub.name("name")
        # other subsections (locals, labels, types, ...) are skipped by their size


def _link(mod: m.Module) -> None:
    """Attach names and exports to the entities they describe."""
    for f in mod.functions:
        f.name = mod.function_names.get(f.index)
    for g in mod.globals:
        g.name = mod.global_names.get(g.index)
    for e in mod.exports:
        if e.kind == "memory" and 0 <= e.index < len(mod.memories):
            mod.memories[e.index].exports.append(e.name)
