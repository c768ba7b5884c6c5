"""Instructions and value types, decoded from the data tables in `rules/`.

`rules/wasm_opcodes.toml` lists every instruction (opcode, name, immediate kinds) and
`rules/wasm_types.toml` every type encoding, so a new proposal is a table edit. From
the tables this module builds two decoders that must agree on every input:

- the exact one (`decode_one`, `decode`, `check_body_exact`): a Python walk, one
  instruction at a time, that says precisely what is wrong and where;
- the fast one (`check_body`): compiled regular expressions over the instruction
  encodings, so validating a 30 MB code section is a few C-level passes instead of
  millions of Python steps. Every instruction's encoding is self-delimiting and decided
  by its first bytes (the opcode fixes the immediates' shape), so a possessive repeat
  of the token alternatives tokenises a body in one left-to-right pass that never
  backtracks: linear in the body's size. Whatever the fast decoder does not vouch for
  (an unusual instruction, any error) is handed to the exact decoder, which either
  accepts it or reports it.

Both are checked against each other by a differential property test and against
wasm-tools / wasm-objdump on the whole spec testsuite (tests/test_spec_corpus.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from auditor.wasm.reader import MalformedModule, Reader, uleb_at

# Opcode numbers analyses look for (single-byte opcodes; prefixed ones are
# prefix << 16 | sub-opcode).
OP_UNREACHABLE = 0x00
OP_END = 0x0B
OP_CALL = 0x10
OP_CALL_INDIRECT = 0x11
OP_RETURN_CALL = 0x12
OP_RETURN_CALL_INDIRECT = 0x13
OP_DROP = 0x1A
OP_LOCAL_GET, OP_LOCAL_SET, OP_LOCAL_TEE = 0x20, 0x21, 0x22
OP_GLOBAL_GET, OP_GLOBAL_SET = 0x23, 0x24
OP_MEMORY_SIZE, OP_MEMORY_GROW = 0x3F, 0x40
OP_I32_CONST, OP_I64_CONST = 0x41, 0x42
OP_REF_FUNC = 0xD2

MAX_LOCALS = 0xFFFFFFFF  # a body declares fewer than 2**32 locals


# -- the tables ---------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    code: int  # the byte, or prefix << 16 | sub-opcode
    name: str
    imms: tuple[str, ...]
    proposal: str


@dataclass(frozen=True)
class Tables:
    single: dict[int, Op]
    prefixed: dict[int, dict[int, Op]]  # prefix byte -> sub-opcode -> Op
    by_name: dict[str, Op]
    opens: frozenset[int]
    else_op: int
    catches: frozenset[int]
    delegate: int | None
    end: int
    needs_datacount: frozenset[int]
    catch_clauses: dict[int, tuple[str, ...]]
    valtypes: dict[int, str]
    heaptypes: dict[int, str]  # abstract heap types
    reftypes: dict[int, bool]  # constructor byte -> nullable
    exact_prefix: frozenset[int]
    packed: dict[int, str]
    types: dict  # the rest of wasm_types.toml, for the section reader
    native: dict  # wasm_opcodes.toml [native]: when parse.py uses the compiled code reader
    table_access: dict[int, tuple[int, ...]]  # [table-access]: code -> its immediates that are tables


IMMEDIATE_KINDS = frozenset((
    "u32", "i32", "i64", "f32", "f64", "v128", "shuffle", "lane", "memarg", "blocktype", "heaptype",
    "castflags", "zero", "valtypes", "labels", "trytable",
))


def _byte_keys(table: dict, what: str) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for k, v in table.items():
        try:
            out[int(k, 0)] = v
        except ValueError:
            raise ValueError(f"{what}: key {k!r} is not a number") from None
    return out


@lru_cache(maxsize=1)
def tables() -> Tables:
    """Load and check both tables once per process (a malformed table is a bug, so it
    raises at once with the offending row)."""
    from auditor.data import load_rules_file

    ops_doc = load_rules_file("wasm_opcodes.toml")
    types = load_rules_file("wasm_types.toml")
    single: dict[int, Op] = {}
    prefixed: dict[int, dict[int, Op]] = {}
    by_name: dict[str, Op] = {}
    for group in ops_doc["group"]:
        prefix = None if group["prefix"] == "none" else int(group["prefix"], 16)
        for row in group["ops"].splitlines():
            if not row.strip():
                continue
            code_s, name, *imms = row.split()
            sub = int(code_s, 16)
            bad = [i for i in imms if i not in IMMEDIATE_KINDS]
            if bad:
                raise ValueError(f"wasm_opcodes.toml: {name}: unknown immediate kind {bad[0]!r}")
            code = sub if prefix is None else prefix << 16 | sub
            op = Op(code, name, tuple(imms), group["proposal"])
            target = single if prefix is None else prefixed.setdefault(prefix, {})
            if sub in target or name in by_name:
                raise ValueError(f"wasm_opcodes.toml: {name} (0x{code:x}) listed twice")
            target[sub] = op
            by_name[name] = op
    overlap = set(single) & set(prefixed)
    if overlap:
        raise ValueError(f"wasm_opcodes.toml: 0x{min(overlap):02x} is both an opcode and a prefix")
    st = ops_doc["structure"]

    def code_of(name: str) -> int:
        return by_name[name].code

    table_access: dict[int, tuple[int, ...]] = {}
    for name, which in ops_doc.get("table-access", {}).items():
        named = by_name.get(name)
        if named is None or not which or sorted(set(which)) != list(which) \
                or any(k >= len(named.imms) or named.imms[j] != "u32" for k in which for j in range(k + 1)):
            raise ValueError(f"wasm_opcodes.toml [table-access]: {name} = {which}: not u32 immediates of an instruction")
        table_access[named.code] = tuple(which)
    return Tables(
        single=single,
        prefixed=prefixed,
        by_name=by_name,
        opens=frozenset(code_of(n) for n in st["open"]),
        else_op=code_of(st["else"]),
        catches=frozenset(code_of(n) for n in st.get("catch", [])),
        delegate=code_of(st["delegate"]) if "delegate" in st else None,
        end=code_of(st["end"]),
        needs_datacount=frozenset(code_of(n) for n in ops_doc["datacount"]["requires"]),
        catch_clauses={k: tuple(v.split()) for k, v in _byte_keys(ops_doc["catch"], "catch").items()},
        valtypes=_byte_keys(types["valtype"], "valtype"),
        heaptypes=_byte_keys(types["heaptype"], "heaptype"),
        reftypes={k: v == "ref null" for k, v in _byte_keys(types["reftype"], "reftype").items()},
        exact_prefix=frozenset(_byte_keys(types["heaptype_prefix"], "heaptype_prefix")),
        packed=_byte_keys(types["packed"], "packed"),
        types=types,
        native=dict(ops_doc.get("native", {})),
        table_access=table_access,
    )


def op_name(code: int) -> str:
    t = tables()
    op = t.single.get(code) if code < 0x100 else t.prefixed.get(code >> 16, {}).get(code & 0xFFFF)
    return op.name if op else f"0x{code:x}"


# -- exact decoding ------------------------------------------------------------------

def _shorthand(heap: str) -> str:
    """funcref, externref, ... nullfuncref: the text format's names for (ref null ht)."""
    return f"null{heap[2:]}ref" if heap.startswith("no") and heap != "none" else "nullref" if heap == "none" else f"{heap}ref"


def read_heaptype(r: Reader) -> str:
    t = tables()
    at = r.pos
    b = r.u8()
    name = t.heaptypes.get(b)
    if name is not None:
        return name
    if b in t.exact_prefix:
        return f"exact {r.u32()}"
    if b < 0x40 or b >= 0x80:  # a type index: a non-negative s33
        r.pos = at
        idx = r.sleb(33)
        if idx < 0:
            raise r.fail(f"malformed heap type (negative type index {idx})", at)
        return str(idx)
    raise r.fail(f"unknown heap type 0x{b:02x}", at)


def read_valtype(r: Reader) -> str:
    """A value type, named as the text format does: i32 ... v128, funcref, (ref null 3)."""
    t = tables()
    at = r.pos
    b = r.u8()
    name = t.valtypes.get(b)
    if name is not None:
        return name
    heap = t.heaptypes.get(b)
    if heap is not None:
        return _shorthand(heap)
    nullable = t.reftypes.get(b)
    if nullable is not None:
        return f"(ref {'null ' if nullable else ''}{read_heaptype(r)})"
    raise r.fail(f"unknown value type 0x{b:02x}", at)


def read_reftype(r: Reader) -> str:
    """A reference type (table element types, element segments): a value type that is
    not a number or a vector."""
    t = tables()
    at = r.pos
    if at < r.end and r.data[at] not in t.heaptypes and r.data[at] not in t.reftypes:
        raise r.fail(f"malformed reference type 0x{r.data[at]:02x}", at)
    return read_valtype(r)


def read_blocktype(r: Reader) -> None:
    at = r.pos
    b = r.u8()
    if b == 0x40:
        return
    if 0x40 < b < 0x80:  # a negative one-byte s33: must be a value type
        r.pos = at
        read_valtype(r)
        return
    r.pos = at  # a type index: a non-negative s33
    if r.sleb(33) < 0:
        raise r.fail("malformed block type (negative type index)", at)


def _memarg(r: Reader) -> None:
    at = r.pos
    flags = r.u32()
    if flags >= 0x80:
        raise r.fail(f"malformed memop flags 0x{flags:x} (alignment and memory-index bit must be below 0x80)", at)
    if flags & 0x40:
        r.u32()  # memory index (multi-memory)
    r.uleb(64)  # offset (u64: memory64)


def _castflags(r: Reader) -> None:
    at = r.pos
    if r.u8() > 3:
        raise r.fail("malformed cast flags", at)


def _zero(r: Reader) -> None:
    at = r.pos
    if r.u8() != 0:
        raise r.fail("zero byte expected", at)


def _valtypes(r: Reader) -> None:
    for _ in range(r.count(1, "select type")):
        read_valtype(r)


def _labels(r: Reader) -> None:
    for _ in range(r.count(1, "br_table target") + 1):
        r.u32()


def _trytable(r: Reader) -> None:
    clauses = tables().catch_clauses
    read_blocktype(r)
    for _ in range(r.count(2, "catch clause")):
        at = r.pos
        imms = clauses.get(r.u8())
        if imms is None:
            raise r.fail(f"malformed catch clause kind 0x{r.data[at]:02x}", at)
        for _ in imms:
            r.u32()


_READERS = {
    "u32": Reader.u32,
    "i32": lambda r: r.sleb(32),
    "i64": lambda r: r.sleb(64),
    "f32": lambda r: r.skip(4),
    "f64": lambda r: r.skip(8),
    "v128": lambda r: r.skip(16),
    "shuffle": lambda r: r.skip(16),
    "lane": lambda r: r.skip(1),
    "memarg": _memarg,
    "blocktype": read_blocktype,
    "heaptype": read_heaptype,
    "castflags": _castflags,
    "zero": _zero,
    "valtypes": _valtypes,
    "labels": _labels,
    "trytable": _trytable,
}
_VALUE_KINDS = frozenset(("u32", "i32", "i64"))


@lru_cache(maxsize=1)
def _plans() -> tuple[dict[int, tuple], dict[int, dict[int, tuple]]]:
    """Per opcode: (readers of its immediates, whether the first is its value)."""
    t = tables()

    def plan(op: Op) -> tuple:
        return tuple(_READERS[k] for k in op.imms), bool(op.imms) and op.imms[0] in _VALUE_KINDS

    return ({c: plan(op) for c, op in t.single.items()},
            {p: {c: plan(op) for c, op in subs.items()} for p, subs in t.prefixed.items()})


def decode_one(r: Reader):
    """Decode the instruction at r.pos, move past it, return (offset, op, value).

    `op` is the opcode byte, or (prefix << 16 | sub-opcode) for prefixed ones. `value` is
    the first immediate when it is an index or integer constant, else None. Raises
    MalformedModule on an unknown opcode or a malformed or truncated immediate.
    """
    single, prefixed = _plans()
    at = r.pos
    op = r.u8()
    plan = single.get(op)
    if plan is None:
        subs = prefixed.get(op)
        if subs is None:
            raise r.fail(f"illegal opcode 0x{op:02x}", at)
        sub = r.u32()
        plan = subs.get(sub)
        if plan is None:
            raise r.fail(f"illegal opcode 0x{op:02x} 0x{sub:x}", at)
        op = op << 16 | sub
    readers, has_value = plan
    value = None
    if readers:
        value = readers[0](r)
        for read in readers[1:]:
            read(r)
        if not has_value:
            value = None
    return at, op, value


def decode(data: bytes, start: int, end: int, file: str | None = None) -> list:
    """All instructions in data[start:end] as (offset, op, value) tuples."""
    r = Reader(data, start, end, file)
    out = []
    while r.pos < end:
        out.append(decode_one(r))
    return out


_NUMERIC_VALTYPES = frozenset((0x7F, 0x7E, 0x7D, 0x7C, 0x7B))  # i32 i64 f32 f64 v128: one byte, always valid


def read_locals(data: bytes, code_offset: int, end: int, file: str | None = None) -> int:
    """Check a body's local declarations; return the offset of its first instruction."""
    # Fast path (nearly every body): fewer than 128 groups of fewer than 128 numeric locals,
    # one byte each; anything else, and any error, is read by the Reader below.
    groups = data[code_offset] if code_offset < end else 0x80
    if groups < 0x80:
        pos = code_offset + 1
        for _ in range(groups):
            if pos + 1 < end and data[pos] < 0x80 and data[pos + 1] in _NUMERIC_VALTYPES:
                pos += 2
            else:
                break
        else:
            return pos
    r = Reader(data, code_offset, end, file)
    total = 0
    for _ in range(r.count(2, "local group")):
        total += r.u32()
        read_valtype(r)
    if total > MAX_LOCALS:
        raise r.fail(f"too many locals ({total}, at most 2**32-1)", code_offset)
    return r.pos


def code_start(data: bytes, code_offset: int, end: int) -> int:
    """Offset of a body's first instruction, past its local declarations."""
    return read_locals(data, code_offset, end)


def check_body_exact(data: bytes, first: int, end: int, file: str | None, datacount: bool) -> None:
    """Walk data[first:end] one instruction at a time; raise on anything malformed.

    The instructions must nest (`else` only in an `if`, legacy `catch` only in a `try`)
    and the function's own `end` must be the body's last byte. This is the reference the
    fast path is tested against; `check_body` is what the reader calls.
    """
    r = Reader(data, first, end, file)
    frames = _Frames(r, end, datacount)
    while True:
        if r.pos >= end:
            raise r.fail("function body ends without its final `end` (0x0b)", end)
        at, op, _ = decode_one(r)
        if frames.step(op, at, r.pos):
            return


class _Frames:
    """The block structure of one body, fed one instruction at a time."""

    __slots__ = ("datacount", "end", "r", "stack", "t")

    def __init__(self, r: Reader, end: int, datacount: bool):
        self.r, self.end, self.datacount = r, end, datacount
        self.stack: list[int] = []  # open frames: the opening opcode (else/catch replace it)
        self.t = tables()

    def step(self, op: int, at: int, after: int) -> bool:
        """Account for instruction `op` at `at`; True once the function's `end` is read."""
        t, stack, r = self.t, self.stack, self.r
        if op == t.end:
            if not stack:
                if after != self.end:
                    raise r.fail("operators remaining after the end of the function body", after)
                return True
            stack.pop()
        elif op in t.opens:
            stack.append(op)
        elif op == t.else_op:
            if not stack or stack[-1] != _IF:
                raise r.fail("`else` outside an `if` block", at)
            stack[-1] = op
        elif op in t.catches:
            if not stack or stack[-1] not in _TRY_STATES or stack[-1] == _CATCH_ALL:
                raise r.fail(f"`{op_name(op)}` outside a `try` block", at)
            stack[-1] = _CATCH_ALL if op == _CATCH_ALL else _TRY_CATCH
        elif op == t.delegate:
            if not stack or stack[-1] != _TRY:
                raise r.fail("`delegate` outside a `try` block", at)
            stack.pop()
        elif op in t.needs_datacount and not self.datacount:
            raise r.fail(f"{op_name(op)} requires a datacount section", at)
        return False


# Frame states of the structure check (opcode values double as states).
_IF = 0x04
_TRY = 0x06
_TRY_CATCH = 0x07
_CATCH_ALL = 0x19
_TRY_STATES = frozenset((_TRY, _TRY_CATCH, _CATCH_ALL))


# -- fast decoding: the instruction encodings as regular expressions ----------------
# Each pattern below matches exactly the encodings its immediate kind allows (LEB128
# width and unused bits included), so the fast path accepts nothing the exact path
# would reject. Bounded, possessive repeats only: each byte is looked at a bounded
# number of times.

_ANY = rb"[\x00-\xff]"
_U32 = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,3}+[\x00-\x7f]|[\x80-\xff]{4}[\x00-\x0f])"
_S32 = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,3}+[\x00-\x7f]|[\x80-\xff]{4}[\x00-\x07\x78-\x7f])"
_S64 = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,8}+[\x00-\x7f]|[\x80-\xff]{9}[\x00\x7f])"
_U64 = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,8}+[\x00-\x7f]|[\x80-\xff]{9}[\x00\x01])"
_S33_NONNEG = rb"(?:[\x00-\x3f]|[\x80-\xff]{1,3}+[\x00-\x3f]|[\x80-\xff]{4}[\x00-\x0f])"
# memarg flags below 0x80: bit 6 clear (memory 0) or set (a memory index follows).
_MEMARG = (rb"(?:(?:[\x00-\x3f]|[\x80-\xbf]\x80{0,3}+\x00)|(?:[\x40-\x7f]|[\xc0-\xff]\x80{0,3}+\x00)" + _U32 + rb")"
           + _U64)


def _cls(values) -> bytes:
    return b"[" + b"".join(re.escape(bytes((v,))) for v in sorted(set(values))) + b"]"


@lru_cache(maxsize=1)
def _type_patterns() -> dict[str, bytes]:
    t = tables()
    heap = b"(?:" + _cls(t.heaptypes) + b"|" + _cls(t.exact_prefix) + _U32 + b"|" + _S33_NONNEG + b")"
    val = b"(?:" + _cls(set(t.valtypes) | set(t.heaptypes)) + b"|" + _cls(t.reftypes) + heap + b")"
    block = b"(?:\\x40|" + val + b"|" + _S33_NONNEG + b")"
    return {"heaptype": heap, "valtype": val, "blocktype": block}


@lru_cache(maxsize=1)
def _imm_patterns() -> dict[str, bytes | None]:
    tp = _type_patterns()
    return {
        "u32": _U32, "i32": _S32, "i64": _S64, "f32": _ANY + b"{4}", "f64": _ANY + b"{8}",
        "v128": _ANY + b"{16}", "shuffle": _ANY + b"{16}", "lane": _ANY, "memarg": _MEMARG,
        "blocktype": tp["blocktype"], "heaptype": tp["heaptype"], "castflags": rb"[\x00-\x03]",
        "zero": rb"\x00",
        # Vectors whose length decides what follows are not regular; the fast path hands
        # them to the exact decoder, except the common small shapes below.
        "valtypes": None, "labels": None, "trytable": None,
    }


# br_table with up to this many targets (a one-byte count) is matched by the fast path.
_BR_TABLE_FAST = 64


def _shape(op: Op) -> bytes | None:
    imms = _imm_patterns()
    parts = [imms[k] for k in op.imms]
    if None not in parts:
        return b"".join(parts)  # type: ignore[arg-type]
    if op.imms == ("labels",):
        return b"(?:" + b"|".join(re.escape(bytes((n,))) + b"(?:" + _U32 + b"){%d}" % (n + 1)
                                  for n in range(_BR_TABLE_FAST)) + b")"
    if op.imms == ("valtypes",):
        return b"\\x01" + _type_patterns()["valtype"]
    return None


def _encoding(code: int) -> bytes:
    """An opcode's bytes in the shortest encoding (prefixed: the prefix, then the
    sub-opcode as LEB128). Longer encodings of a sub-opcode are valid but only
    assemblers written to test readers emit them: the exact decoder reads those."""
    if code < 0x100:
        return bytes((code,))
    prefix, sub = code >> 16, code & 0xFFFF
    out = bytearray((prefix,))
    while True:
        b = sub & 0x7F
        sub >>= 7
        out.append(b | 0x80 if sub else b)
        if not sub:
            return bytes(out)


def _all_codes() -> list[int]:
    t = tables()
    return list(t.single) + [p << 16 | s for p, subs in t.prefixed.items() for s in subs]


# Compiler output is mostly local.get, i32.const, loads/stores and arithmetic: the
# regex engine tries alternatives in order, so those shapes come first.
_FREQUENT = (0x20, 0x41, 0x28, 0x6A, 0x0B, 0x36, 0x10, 0x42, 0x02)


def _alternatives(codes) -> list[bytes]:
    """Token alternatives for these opcodes: one per shape for single-byte opcodes (the
    opcodes as a character class), and one per prefix byte whose inner alternatives are
    grouped the same way, so a byte that starts no token fails after a few tests.
    Frequent shapes first: the regex engine tries alternatives in order."""
    t = tables()
    singles: dict[bytes, set[int]] = {}
    prefixed: dict[int, dict[tuple[bytes, bytes], set[int]]] = {}
    for code in codes:
        op = t.single[code] if code < 0x100 else t.prefixed[code >> 16][code & 0xFFFF]
        shape = _shape(op)
        if shape is None:
            continue
        if code < 0x100:
            singles.setdefault(shape, set()).add(code)
            continue
        enc = _encoding(code)  # prefix, then the sub-opcode's LEB128 bytes
        # Group on the bytes after the first sub-opcode byte: one class per shape.
        prefixed.setdefault(enc[0], {}).setdefault((enc[2:], shape), set()).add(enc[1])

    def rank(item) -> int:
        return min((_FREQUENT.index(c) for c in item[1] if c in _FREQUENT), default=len(_FREQUENT))

    out = [_cls(ops) + shape for shape, ops in sorted(singles.items(), key=rank)]
    for prefix in sorted(prefixed, key=lambda p: _PREFIX_ORDER.index(p) if p in _PREFIX_ORDER else 99):
        inner = [_cls(firsts) + re.escape(tail) + shape for (tail, shape), firsts in prefixed[prefix].items()]
        out.append(re.escape(bytes((prefix,))) + b"(?:" + b"|".join(inner) + b")")
    return out


# 0xfc (bulk memory: memory.copy/fill) is common in Rust output, then SIMD.
_PREFIX_ORDER = (0xFC, 0xFD, 0xFB, 0xFE)


@lru_cache(maxsize=16)
def scanner(interesting: frozenset[int], const_window: tuple[int, int] | None = None) -> re.Pattern:
    """A pattern whose findall() over a body yields one item per interesting instruction:
    its whole encoding, or one byte where the plain tokens stop (an interesting
    instruction without immediates, an unknown opcode, a malformed immediate, or a
    shape only the exact decoder reads), and b"" once at the end. Every byte of the body
    is inside a plain token, an item, or the tail before the final b"": nothing is
    skipped, and since tokens are self-delimiting the possessive repeat never
    backtracks.

    `const_window` (lo, hi), with i32.const interesting: an i32.const whose encoding
    shows it cannot hold a value in [lo, hi) (by its LEB's length and last byte) is a
    plain token, so only the others are items: the item graph wants the constants that
    may be data addresses, and most constants never become Python objects."""
    plain = [c for c in _all_codes() if c not in interesting]
    alternatives = _alternatives(plain)
    if const_window is not None and OP_I32_CONST in interesting:
        outside = _consts_outside(*const_window)
        if outside is not None:
            alternatives.insert(0, outside)
    simple = b"(?:" + b"|".join(alternatives) + b")"
    special = b"".join(a + b"|" for a in _alternatives(interesting))
    return re.compile(simple + b"*+(?:(" + special + _ANY + b")|\\Z)")


def _consts_outside(lo: int, hi: int) -> bytes | None:
    """The i32.const encodings that cannot hold a value in [lo, hi), as one alternative:
    per LEB length L (1-5), the last bytes whose values, whatever the other bytes, all
    fall outside. A last byte b covers [b << 7(L-1), (b + 1) << 7(L-1)), less 128 << 7(L-1)
    when its sign bit (0x40) is set; a 5-byte LEB's last byte is one _S32 allows."""
    shapes = []
    for n in range(1, 6):
        shift = 7 * (n - 1)
        lasts = range(0x80) if n < 5 else [*range(0x08), *range(0x78, 0x80)]
        keep = []
        for b in lasts:
            v = b - 0x80 if b & 0x40 else b
            if (v + 1) << shift <= lo or v << shift >= hi:
                keep.append(b)
        if keep:
            shapes.append((b"[\\x80-\\xff]{%d}" % (n - 1) if n > 1 else b"") + _cls(keep))
    if not shapes:
        return None
    return bytes((OP_I32_CONST,)) + b"(?:" + b"|".join(shapes) + b")"


@lru_cache(maxsize=1)
def _datacount_prefixes() -> frozenset[int]:
    """First bytes of the datacount instructions' tokens (all prefixed: 0xfc)."""
    codes = tables().needs_datacount
    assert all(c > 0xFF for c in codes), "the fast path expects prefixed datacount instructions"
    return frozenset(c >> 16 for c in codes)


@lru_cache(maxsize=1)
def _validation_set() -> frozenset[int]:
    t = tables()
    return frozenset(t.opens | {t.else_op, t.end} | t.catches | ({t.delegate} if t.delegate is not None else set())
                     | t.needs_datacount | REF_OPS | table_ops())


@lru_cache(maxsize=1)
def table_ops() -> frozenset[int]:
    """The instructions rules/wasm_opcodes.toml [table-access] lists (they name tables)."""
    return frozenset(tables().table_access)


@lru_cache(maxsize=1)
def table_firsts() -> frozenset[int]:
    """The first bytes of table_ops()' encodings: the opcode a table access has in the
    parse pass's pairs. A prefixed instruction is kept under its prefix byte, which no
    other kept instruction starts with (`table_indices` tells them apart)."""
    return frozenset(c >> 16 if c > 0xFF else c for c in table_ops())


def table_indices(tok: bytes) -> list[int] | None:
    """The tables a validated instruction encoding names, when it is one of table_ops()
    (else None): [table-access] says which of its immediates."""
    code, pos = tok[0], 1
    if code in tables().prefixed:
        sub, pos = _leb_at(tok, 1)
        code = code << 16 | sub
    which = tables().table_access.get(code)
    if which is None:
        return None
    out = []
    for k in range(which[-1] + 1):
        value, pos = _leb_at(tok, pos)
        if k in which:
            out.append(value)
    return out


# Instructions whose targets the item graph needs: calls, indirect calls (their table),
# function references and memory.grow (and the table accesses of table_ops(), kept as
# one pair per table named). parse_module collects them in the same regex pass that
# validates each body, so no analysis walks the code again for them.
REF_OPS = frozenset((OP_CALL, OP_RETURN_CALL, OP_CALL_INDIRECT, OP_RETURN_CALL_INDIRECT, OP_REF_FUNC, OP_MEMORY_GROW))
_INDIRECT = frozenset((OP_CALL_INDIRECT, OP_RETURN_CALL_INDIRECT))


_leb_at = uleb_at  # of a u32 LEB128 inside a token the regex has validated


def _sleb_u32(tok: bytes) -> int:
    """The i32.const immediate of a token the regex has validated, as a u32."""
    value = shift = 0
    pos = 1
    while True:
        b = tok[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                value -= 1 << shift
            return value & 0xFFFFFFFF


def ref_value(op: int, tok: bytes) -> int:
    """The target of a REF_OPS instruction from its whole encoding: the callee, the
    referenced function, the memory, or (call_indirect) the table."""
    value, pos = _leb_at(tok, 1)
    if op in _INDIRECT:
        value, _ = _leb_at(tok, pos)
    return value


# With a const window (the item graph's full walk, done by the parse pass): also
# global.get, global.set and the i32.consts that may be data addresses.
FULL_REF_OPS = REF_OPS | {OP_GLOBAL_GET, OP_GLOBAL_SET, OP_I32_CONST}


def body_refs(data: bytes, first: int, end: int, const_window: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """(opcode, target) of every REF_OPS instruction in a validated body, in order; with
    `const_window` (lo, hi), FULL_REF_OPS too, and i32.const values (as u32) in [lo, hi);
    a table access (`table_ops()`) as (its first byte, table) per table it names.

    For the bodies check_body's fast path does not read (a long br_table, a try_table):
    the runs between such instructions are tokenised by findall, as in the fast path,
    and only those instructions are decoded one by one."""
    targets = (REF_OPS if const_window is None else FULL_REF_OPS) | table_ops()
    items, plain = scanner(targets, const_window), scanner(frozenset())
    lo, hi = const_window if const_window is not None else (0, 0)
    out: list[tuple[int, int]] = []
    pos = first
    while True:
        m = plain.match(data, pos, end)
        unusual = m.group(1) if m else None
        stop = m.start(1) if unusual else end  # type: ignore[union-attr]
        for tok in items.findall(data, pos, stop):
            if not tok:
                break
            op = tok[0]
            if len(tok) < 2:  # pragma: no cover - the plain scanner read this run
                raise MalformedModule("function body does not decode", pos)
            if op == OP_I32_CONST:
                value = _sleb_u32(tok)
                if lo <= (value - (1 << 32) if value >= 1 << 31 else value) < hi:
                    out.append((op, value))
            elif op in FULL_REF_OPS:
                out.append((op, ref_value(op, tok)))
            else:  # a table access
                out.extend((op, t) for t in table_indices(tok) or ())
        if not unusual:
            return out
        r = Reader(data, stop, end)
        _, op, value = decode_one(r)  # raises when the body does not decode
        if op in table_ops():  # an over-long sub-opcode (the items are the shortest encodings)
            out.extend((data[stop], t) for t in table_indices(data[stop : r.pos]) or ())
        elif op in targets:  # pragma: no cover - every target's shape is a plain token
            if op == OP_I32_CONST:
                if lo <= value < hi:
                    out.append((op, value & 0xFFFFFFFF))
            else:
                out.append((op, ref_value(op, data[stop : r.pos])))
        pos = r.pos


def check_body(data: bytes, first: int, end: int, file: str | None, datacount: bool,
               refs: list[tuple[int, int]] | None = None, flat: Any = None,
               const_window: tuple[int, int] | None = None) -> None:
    """Validate the instructions data[first:end] of one body, as check_body_exact does,
    and append (opcode, target) of its REF_OPS instructions to `refs` when given, or
    opcode, target, opcode, target, ... to `flat` (an `array`: what parse_module keeps,
    so the item graph never walks the code again). With `const_window` (lo, hi),
    FULL_REF_OPS: also global.get / global.set (the global) and the i32.consts whose
    value (signed) is in [lo, hi) (each value as a u32), in order: exactly what
    body_refs keeps and the compiled reader (auditor/wasm/native) keeps. A table access
    (`table_ops()`: table.get, table.copy, ...) is kept as (its first byte, the table) per
    table it names, with or without the window: the prefix byte for a prefixed one, so
    that every pair's opcode is one byte.

    Fast path: one findall() of `scanner` tokenises the whole body in C and yields only
    the block instructions and REF_OPS, whose nesting and targets a short Python loop
    reads. A body with anything else among them goes to the segmented path, and a
    malformed one to the exact decoder, which makes the error message.
    """
    t = tables()
    if end > first and data[end - 1] == t.end:
        stack: list[int] = []
        opens, end_op, else_op = t.opens, t.end, t.else_op
        dc_prefixes = _datacount_prefixes()
        found: list[int] = []  # opcode, target, opcode, target, ...
        tok = b"x"
        lo, hi = const_window if const_window is not None else (0, 0)
        tfirsts = table_firsts()
        if const_window is None:
            ref_ops, pattern = REF_OPS, scanner(_validation_set())
        else:
            ref_ops, pattern = FULL_REF_OPS, scanner(_validation_set() | FULL_REF_OPS, const_window)
        tv: list[int] | None
        for tok in pattern.findall(data, first, end - 1):
            if not tok:
                break
            b = tok[0]
            if b == end_op:
                if not stack:
                    break
                stack.pop()
            elif b in ref_ops and len(tok) > 1:  # a whole token: call, ref.func, memory.grow, ...
                n = len(tok)  # the opcode and one u32 LEB (call_indirect: two)
                if b == OP_I32_CONST:  # the scanner kept those whose encoding may be in [lo, hi)
                    value = _sleb_u32(tok)
                    if lo <= (value - (1 << 32) if value >= 1 << 31 else value) < hi:
                        found.append(b)
                        found.append(value)
                    continue
                found.append(b)
                if n == 2 and b not in _INDIRECT:
                    found.append(tok[1])
                elif n == 4 and b not in _INDIRECT:  # three-byte index: calls in modules of 16k+ functions
                    found.append((tok[1] & 0x7F) | (tok[2] & 0x7F) << 7 | tok[3] << 14)
                else:
                    found.append(ref_value(b, tok))
            elif b in tfirsts and len(tok) > 1 and (tv := table_indices(tok)) is not None:
                for v in tv:  # table.get, table.copy, ...: each table it names
                    found.append(b)
                    found.append(v)
            elif len(tok) > 1 and b in opens:  # a whole token: a block opener
                stack.append(b)
            elif len(tok) > 1 and datacount and b in dc_prefixes:  # memory.init, data.drop
                pass
            elif b != else_op or not stack or stack[-1] != _IF:
                break  # legacy exceptions, unusual shapes, errors
            else:
                stack[-1] = b
        if not tok and not stack:
            if refs is not None:
                refs.extend(zip(found[::2], found[1::2]))
            if flat is not None:
                flat.extend(found)
            return
        if _check_body_segmented(data, first, end, datacount):
            if refs is not None or flat is not None:
                pairs = body_refs(data, first, end, const_window)
                if refs is not None:
                    refs.extend(pairs)
                if flat is not None:
                    flat.extend([x for pair in pairs for x in pair])
            return
    check_body_exact(data, first, end, file, datacount)
    raise MalformedModule("function body rejected by the fast decoder but not the exact one", first, file)  # pragma: no cover


def _check_body_segmented(data: bytes, first: int, end: int, datacount: bool) -> bool:
    """True if the body is well-formed; False if the exact decoder must say why.

    Instructions the regex does not cover (a br_table longer than it enumerates, a
    try_table, a select with several types, an over-long sub-opcode) are found by a
    first regex pass and decoded exactly; the runs between them are checked like the
    fast path, with every structural instruction accounted for.
    """
    t = tables()
    plain, validation = scanner(frozenset()), scanner(_validation_set())
    frames: list[int] = []
    stop = end - 1  # the last byte is the function's `end`
    pos = first
    try:
        while True:
            m = plain.match(data, pos, stop)
            tok = m.group(1) if m else None
            unusual_at = m.start(1) if tok else stop  # type: ignore[union-attr]
            for item in validation.findall(data, pos, unusual_at):
                if not item:
                    break
                op = item[0]
                if op in t.prefixed:  # a whole prefixed token: decode its opcode
                    op = decode_one(Reader(item, 0, len(item)))[1]
                if not _nest(t, frames, op, datacount):
                    return False
            if not tok:
                return not frames
            r = Reader(data, unusual_at, stop)
            _, op, _ = decode_one(r)
            if not _nest(t, frames, op, datacount):
                return False
            pos = r.pos
    except MalformedModule:
        return False


def _nest(t: Tables, frames: list[int], op: int, datacount: bool) -> bool:
    """One step of the structure check without positions (see _Frames.step)."""
    if op == t.end:
        if not frames:
            return False  # the function's own end is not inside the checked range
        frames.pop()
    elif op in t.opens:
        frames.append(op)
    elif op == t.else_op:
        if not frames or frames[-1] != _IF:
            return False
        frames[-1] = op
    elif op in t.catches:
        if not frames or frames[-1] not in _TRY_STATES or frames[-1] == _CATCH_ALL:
            return False
        frames[-1] = _CATCH_ALL if op == _CATCH_ALL else _TRY_CATCH
    elif op == t.delegate:
        if not frames or frames[-1] != _TRY:
            return False
        frames.pop()
    elif op in t.needs_datacount and not datacount:
        return False
    return True


# -- finding instructions in validated bodies -----------------------------------------

def find_opcode(data: bytes, start: int, end: int, targets: int | frozenset) -> list[int] | None:
    """Offsets of the target opcodes in data[start:end] (instructions, not immediates).

    Meant for bodies the reader has validated; returns None if the range does not
    decode (callers then use `decode`, which reports the exact problem).
    """
    if not isinstance(targets, frozenset):
        targets = frozenset((targets,))
    pattern = scanner(targets)
    single = _plans()[0]
    hits: list[int] = []
    pos = start
    while True:
        m = pattern.match(data, pos, end)
        if m is None:  # pragma: no cover - the pattern matches everywhere
            return None
        tok = m.group(1)
        if not tok:  # the end of the range
            return hits
        at = m.start(1)
        b = tok[0]
        if b in targets and (len(tok) > 1 or not single[b][0]):
            hits.append(at)
            pos = m.end()
            continue
        # One byte the fast path does not vouch for: decode that instruction exactly.
        r = Reader(data, at, end)
        try:
            _, op, _ = decode_one(r)
        except MalformedModule:
            return None
        if op in targets:
            hits.append(at)
        pos = r.pos
