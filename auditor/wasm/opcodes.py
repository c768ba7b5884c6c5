"""Table-driven instruction decoding: enough to walk any body, not to execute it.

The MVP opcodes and their immediate shapes come from wasm-tob's table (it is right for
them); the post-MVP opcodes it does not know (sign-ext, bulk memory, reference types,
SIMD, threads, tail calls, exceptions, GC, multi-memory and memory64 immediates) are
added here. Decoding yields (offset, opcode, value) where value is the immediate that
analyses use (an index or a constant) and None otherwise.
"""

from __future__ import annotations

import re
from functools import lru_cache

from wasm_tob.opcodes import OPCODES as _TOB_OPCODES

from auditor.wasm.reader import MalformedModule, Reader

# Immediate kinds
NONE, BLOCK, U32, U32X2, BR_TABLE, MEMARG, I32, I64, F32, F64 = range(10)
SELECT_T, HEAPTYPE, BYTE, V128, MEMARG_LANE, LANE, TRY_TABLE, MEMIDX, BR_ON_CAST, U32_BYTE = range(10, 20)

_FROM_TOB = {
    "NoneType": NONE, "BlockImm": BLOCK, "BranchImm": U32, "BranchTableImm": BR_TABLE,
    "CallImm": U32, "CallIndirectImm": U32X2, "LocalVarXsImm": U32, "GlobalVarXsImm": U32,
    "MemoryImm": MEMARG, "CurGrowMemImm": MEMIDX, "I32ConstImm": I32, "I64ConstImm": I64,
    "F32ConstImm": F32, "F64ConstImm": F64,
}

# Opcode numbers analyses look for.
OP_UNREACHABLE = 0x00
OP_END = 0x0B
OP_CALL = 0x10
OP_CALL_INDIRECT = 0x11
OP_RETURN_CALL = 0x12
OP_DROP = 0x1A
OP_LOCAL_GET, OP_LOCAL_SET, OP_LOCAL_TEE = 0x20, 0x21, 0x22
OP_GLOBAL_GET = 0x23
OP_MEMORY_SIZE, OP_MEMORY_GROW = 0x3F, 0x40
OP_I32_CONST, OP_I64_CONST = 0x41, 0x42
OP_REF_FUNC = 0xD2

SINGLE: dict[int, int] = {}
for _op in _TOB_OPCODES:
    SINGLE[_op.id] = _FROM_TOB[type(_op.imm_struct).__name__]
# wasm-tob reads memory.size/grow's immediate as a reserved byte; multi-memory makes it a
# memory index, and call_indirect's reserved byte a table index (reference types).
SINGLE.update({
    0x06: BLOCK,  # try (legacy exceptions)
    0x07: U32,  # catch
    0x08: U32,  # throw
    0x09: U32,  # rethrow
    0x0A: NONE,  # throw_ref
    0x12: U32,  # return_call
    0x13: U32X2,  # return_call_indirect
    0x14: U32,  # call_ref
    0x15: U32,  # return_call_ref
    0x18: U32,  # delegate
    0x19: NONE,  # catch_all
    0x1C: SELECT_T,  # select t*
    0x1F: TRY_TABLE,  # try_table
    0x25: U32,  # table.get
    0x26: U32,  # table.set
    0xC0: NONE, 0xC1: NONE, 0xC2: NONE, 0xC3: NONE, 0xC4: NONE,  # sign-ext
    0xD0: HEAPTYPE,  # ref.null
    0xD1: NONE,  # ref.is_null
    0xD2: U32,  # ref.func
    0xD3: NONE,  # ref.as_non_null
    0xD4: U32,  # br_on_null
    0xD5: NONE,  # ref.eq
    0xD6: U32,  # br_on_non_null
})

# 0xFC: saturating truncation, bulk memory, table ops, wide arithmetic.
PREFIX_FC: dict[int, int] = {i: NONE for i in range(8)}
PREFIX_FC.update({
    8: U32X2,  # memory.init data mem
    9: U32,  # data.drop
    10: U32X2,  # memory.copy mem mem
    11: U32,  # memory.fill mem
    12: U32X2,  # table.init elem table
    13: U32,  # elem.drop
    14: U32X2,  # table.copy
    15: U32,  # table.grow
    16: U32,  # table.size
    17: U32,  # table.fill
    19: NONE, 20: NONE, 21: NONE, 22: NONE,  # wide arithmetic
})

# 0xFD: SIMD (incl. relaxed SIMD, which has no immediates).
PREFIX_FD: dict[int, int] = {i: NONE for i in range(0x114)}
for _i in list(range(0, 12)) + [92, 93]:
    PREFIX_FD[_i] = MEMARG
PREFIX_FD[12] = V128  # v128.const
PREFIX_FD[13] = V128  # i8x16.shuffle
for _i in range(21, 35):
    PREFIX_FD[_i] = LANE
for _i in range(84, 92):
    PREFIX_FD[_i] = MEMARG_LANE
# 0xFE: threads / atomics.
PREFIX_FE: dict[int, int] = {0: MEMARG, 1: MEMARG, 2: MEMARG, 3: BYTE}
for _i in range(0x10, 0x4F):
    PREFIX_FE[_i] = MEMARG

# 0xFB: GC.
PREFIX_FB: dict[int, int] = {}
for _i in (0, 1, 6, 7, 11, 12, 13, 14, 16):
    PREFIX_FB[_i] = U32
for _i in (2, 3, 4, 5, 8, 9, 10, 17, 18, 19):
    PREFIX_FB[_i] = U32X2
for _i in (15, 26, 27, 28, 29, 30):
    PREFIX_FB[_i] = NONE
for _i in (20, 21, 22, 23):
    PREFIX_FB[_i] = HEAPTYPE
PREFIX_FB[24] = PREFIX_FB[25] = BR_ON_CAST

PREFIXES = {0xFB: PREFIX_FB, 0xFC: PREFIX_FC, 0xFD: PREFIX_FD, 0xFE: PREFIX_FE}


def _skip_leb(data, pos: int, end: int, start: int, file) -> int:
    for i in range(10):
        if pos >= end:
            raise MalformedModule("unexpected end inside an instruction immediate", start, file)
        b = data[pos]
        pos += 1
        if b < 0x80:
            return pos
    raise MalformedModule("LEB128 immediate longer than 10 bytes", start, file)


def decode_one(r: Reader):
    """Decode the instruction at r.pos, move past it, return (offset, op, value).

    `op` is the opcode byte, or (prefix << 16 | sub-opcode) for prefixed ones. `value` is
    the first index/constant immediate for U32/I32/I64/MEMIDX/U32X2 kinds, else None.
    Raises MalformedModule on an unknown opcode or an immediate past the reader's end.
    """
    data = r.data
    at = r.pos
    op = r.u8()
    kind = SINGLE.get(op)
    if kind is None:
        table = PREFIXES.get(op)
        if table is None:
            raise r.fail(f"unknown opcode 0x{op:02x}", at)
        sub = r.u32()
        kind = table.get(sub)
        if kind is None:
            raise r.fail(f"unknown opcode 0x{op:02x} 0x{sub:x}", at)
        op = op << 16 | sub
    value = None
    if kind == NONE:
        pass
    elif kind == U32 or kind == MEMIDX:
        value = r.u32()
    elif kind == I32:
        value = r.sleb(32)
    elif kind == BLOCK:
        b = r.u8()
        if b != 0x40 and not (0x63 <= b <= 0x7F):
            r.pos -= 1  # s33 type index (multi-value)
            r.sleb(33)
    elif kind == MEMARG:
        align = r.u32()
        if align & 0x40:
            r.u32()  # memory index (multi-memory)
        r.pos = _skip_leb(data, r.pos, r.end, at, r.file)  # offset: u32, or u64 for memory64
    elif kind == U32X2:
        value = r.u32()
        r.u32()
    elif kind == I64:
        value = r.sleb(64)
    elif kind == BR_TABLE:
        n = r.count(1, "br_table target")
        for _ in range(n + 1):
            r.u32()
    elif kind == F32:
        r.skip(4)
    elif kind == F64:
        r.skip(8)
    elif kind == SELECT_T:
        n = r.count(1, "select type")
        for _ in range(n):
            read_valtype(r)
    elif kind == HEAPTYPE:
        r.sleb(33)
    elif kind == BYTE:
        r.skip(1)
    elif kind == V128:
        r.skip(16)
    elif kind == MEMARG_LANE:
        align = r.u32()
        if align & 0x40:
            r.u32()
        r.pos = _skip_leb(data, r.pos, r.end, at, r.file)
        r.skip(1)
    elif kind == LANE:
        r.skip(1)
    elif kind == TRY_TABLE:
        b = r.u8()
        if b != 0x40 and not (0x63 <= b <= 0x7F):
            r.pos -= 1
            r.sleb(33)
        n = r.count(2, "catch clause")
        for _ in range(n):
            clause = r.u8()
            if clause in (0, 1):
                r.u32()  # tag
            elif clause not in (2, 3):
                raise r.fail(f"unknown catch clause kind {clause}", r.pos - 1)
            r.u32()  # label
    elif kind == BR_ON_CAST:
        r.skip(1)
        r.u32()
        r.sleb(33)
        r.sleb(33)
    return at, op, value


def decode(data: bytes, start: int, end: int, file: str | None = None) -> list:
    """All instructions in data[start:end] as (offset, op, value) tuples."""
    r = Reader(data, start, end, file)
    out = []
    while r.pos < end:
        out.append(decode_one(r))
    return out


VALTYPES = {
    0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
    0x70: "funcref", 0x6F: "externref", 0x6E: "anyref", 0x6D: "eqref", 0x6C: "i31ref",
    0x6B: "structref", 0x6A: "arrayref", 0x69: "exnref", 0x74: "nullexnref",
    0x73: "nullfuncref", 0x72: "nullexternref", 0x71: "nullref",
}


def read_valtype(r: Reader) -> str:
    at = r.pos
    b = r.u8()
    name = VALTYPES.get(b)
    if name is not None:
        return name
    if b in (0x63, 0x64):  # (ref null ht) / (ref ht)
        ht = r.sleb(33)
        inner = f"type {ht}" if ht >= 0 else VALTYPES.get(ht & 0x7F, f"0x{ht & 0x7F:02x}")
        return f"(ref {'null ' if b == 0x63 else ''}{inner})"
    raise r.fail(f"unknown value type 0x{b:02x}", at)


def code_start(data: bytes, code_offset: int, end: int) -> int:
    """Offset of a body's first instruction, past its local declarations."""
    r = Reader(data, code_offset, end)
    for _ in range(r.u32()):
        r.u32()
        read_valtype(r)
    return r.pos


# -- whole-body scanning in C --------------------------------------------------------
# One regular expression tokenises instructions (each opcode's immediates are a fixed
# shape, so tokenisation is deterministic), built from the same tables as decode_one.
# `_UNTIL` matches tokens up to the next target opcode (group 1), the end of the body
# (group 2 empty) or a byte it does not vouch for (group 3), so a body is walked by a
# handful of match() calls instead of a Python loop per instruction.

def _cls(values) -> bytes:
    return b"[" + b"".join(re.escape(bytes((v,))) for v in sorted(values)) + b"]"


_L32 = rb"[\x80-\xff]{0,4}[\x00-\x7f]"
_L64 = rb"[\x80-\xff]{0,9}[\x00-\x7f]"
_MEMARG = rb"(?:[\x00-\x3f]|[\x80-\xbf][\x80-\xff]{0,3}[\x00-\x7f]|(?:[\x40-\x7f]|[\xc0-\xff][\x80-\xff]{0,3}[\x00-\x7f])" + _L32 + rb")" + _L64
_SHAPES = {
    NONE: b"", U32: _L32, MEMIDX: _L32, I32: _L32, I64: _L64, U32X2: _L32 + _L32,
    BLOCK: rb"(?:[\x40\x63-\x7f]|" + _L32 + rb")", MEMARG: _MEMARG,
    F32: rb"[\x00-\xff]{4}", F64: rb"[\x00-\xff]{8}", V128: rb"[\x00-\xff]{16}",
    LANE: rb"[\x00-\xff]", BYTE: rb"[\x00-\xff]", MEMARG_LANE: _MEMARG + rb"[\x00-\xff]",
    BR_TABLE: None, SELECT_T: None, HEAPTYPE: None, TRY_TABLE: None, BR_ON_CAST: None,
}


def _token_regex(exclude: frozenset) -> bytes:
    by_shape: dict[bytes, set[int]] = {}
    for op, kind in SINGLE.items():
        shape = _SHAPES[kind]
        if shape is not None and op not in exclude:
            by_shape.setdefault(shape, set()).add(op)
    alts = [_cls(ops) + shape for shape, ops in by_shape.items()]
    for prefix, table in PREFIXES.items():
        sub_by_shape: dict[bytes, set[int]] = {}
        for sub, kind in table.items():
            shape = _SHAPES[kind]
            if shape is not None and sub < 0x80:
                sub_by_shape.setdefault(shape, set()).add(sub)
        for shape, subs in sub_by_shape.items():
            alts.append(re.escape(bytes((prefix,))) + _cls(subs) + shape)
    return b"(?:" + b"|".join(alts) + b")"


@lru_cache(maxsize=8)
def _until(targets: frozenset) -> re.Pattern:
    token = _token_regex(targets)
    target = b"|".join(_cls((op,)) + _SHAPES[SINGLE[op]] for op in sorted(targets))
    return re.compile(token + rb"*+(?:(" + target + rb")|(\Z)|([\x00-\xff]))", re.DOTALL)


def find_opcode(data: bytes, start: int, end: int, targets: int | frozenset) -> list[int] | None:
    """Offsets of the target opcodes (single-byte ops with index immediates: call,
    call_indirect, memory.grow, ref.func, ...) in data[start:end], walking instructions.

    Returns None when the walk finds something it cannot decode (unknown opcode, an
    immediate past `end`); the caller then uses `decode`, which reports the exact problem.
    Shapes the regex does not cover (br_table, select t, try_table, ...) are decoded one
    instruction at a time with decode_one.
    """
    if not isinstance(targets, frozenset):
        targets = frozenset((targets,))
    pattern = _until(targets)
    hits = []
    pos = start
    view = data if end == len(data) else memoryview(data)[:end]
    while True:
        m = pattern.match(view, pos)
        if m is None:
            return None
        if m.group(1) is not None:
            hits.append(m.start(1))
            pos = m.end()
        elif m.group(3) is not None:
            r = Reader(data, m.start(3), end)
            try:
                at, op, _ = decode_one(r)
            except MalformedModule:
                return None
            if op in targets:
                hits.append(at)
            pos = r.pos
        else:
            return hits
