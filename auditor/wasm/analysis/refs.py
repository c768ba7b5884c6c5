"""What each function body refers to, read in one pass over the code section: the
edges of the item graph.

Per body: direct callees (`call`, `return_call`), tables used by `call_indirect` /
`return_call_indirect`, tables named by the other table instructions (`table.get`,
`table.copy`, ...: rules/wasm_opcodes.toml [table-access]), functions taken by `ref.func`, globals read or written, data
addresses (`i32.const` values inside an active data segment), passive data / element
segments named by `memory.init`, `data.drop`, `table.init`, `elem.drop`, tags named by
`throw` / `catch`, and where `memory.grow` runs.

Why constants count as data references (an approximation, said so in the README):
rustc and clang put the address of a string or static in an `i32.const` (non-PIC
wasm32), so a constant inside a segment's address range almost always points into
it; an integer that merely happens to fall in that range makes a false edge, and an
address computed at run time (base + offset, PIC's `__memory_base`) is missed.

Speed: the instruction walk is `opcodes.find_opcode`'s tokenizing regex (C speed); only
the target instructions cost Python work, and an `i32.const` whose LEB is too short to
reach the lowest data address is skipped without decoding it.
"""

from __future__ import annotations

import re
import sys
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import compress

from auditor.wasm import model as m
from auditor.wasm.opcodes import code_start, decode, find_opcode, scanner, table_firsts, table_indices, table_ops
from auditor.wasm.reader import Reader, uleb_at

__all__ = ["BodyRefs", "CodeRefs", "code_references", "data_pointers", "data_ranges"]

OP_CALL, OP_CALL_INDIRECT, OP_RETURN_CALL, OP_RETURN_CALL_INDIRECT = 0x10, 0x11, 0x12, 0x13
OP_GLOBAL_GET, OP_GLOBAL_SET, OP_I32_CONST, OP_REF_FUNC = 0x23, 0x24, 0x41, 0xD2
OP_CATCH, OP_THROW, OP_MEMORY_GROW = 0x07, 0x08, 0x40
_TARGETS = frozenset((OP_CALL, OP_CALL_INDIRECT, OP_RETURN_CALL, OP_RETURN_CALL_INDIRECT,
                      OP_GLOBAL_GET, OP_GLOBAL_SET, OP_I32_CONST, OP_REF_FUNC, OP_CATCH, OP_THROW,
                      OP_MEMORY_GROW))
_NO_CONSTS = _TARGETS - {OP_I32_CONST}
# 0xFC 8 memory.init, 9 data.drop, 12 table.init, 13 elem.drop: rare (init code); in a
# module with passive segments, a byte search finds candidate bodies, which are then
# decoded exactly.
_SEGMENT_OPS = re.compile(rb"\xfc[\x08\x09\x0c\x0d]")
_MEMORY_INIT, _DATA_DROP = 0xFC << 16 | 8, 0xFC << 16 | 9
_TABLE_INIT, _ELEM_DROP = 0xFC << 16 | 12, 0xFC << 16 | 13


@dataclass
class BodyRefs:
    calls: set[int] = field(default_factory=set)
    indirect_tables: set[int] = field(default_factory=set)
    tables: set[int] = field(default_factory=set)  # table.get / table.set / table.copy / ...
    ref_funcs: set[int] = field(default_factory=set)
    globals: set[int] = field(default_factory=set)
    data_addresses: list[int] = field(default_factory=list)  # i32.const values in data
    data_segments: set[int] = field(default_factory=set)  # memory.init / data.drop
    elem_segments: set[int] = field(default_factory=set)  # table.init / elem.drop
    tags: set[int] = field(default_factory=set)  # throw / catch (legacy exceptions)
    grow: list[int] = field(default_factory=list)  # file offsets of memory.grow opcodes


@dataclass
class CodeRefs:
    bodies: dict[int, BodyRefs] = field(default_factory=dict)  # function index -> refs
    undecodable: list[int] = field(default_factory=list)  # bodies the walk could not read


def data_ranges(mod: m.Module) -> list[tuple[int, int, int]]:
    """(start address, end address, segment index) of active memory-0 segments with a
    constant offset, sorted by address."""
    out = [(s.offset, s.offset + s.size, s.index) for s in mod.data_segments
           if s.mode == "active" and s.memory in (0, None) and s.offset is not None and s.size]
    out.sort()
    return out


def data_pointers(mod: m.Module) -> dict[int, int]:
    """Aligned 4-byte words of active data that hold an address inside an active
    segment: word address -> the address it holds (an approximation, like the code's
    constants: `&str`s, `Location`s, fmt pieces and statics' pointers look like this,
    and so does any integer that happens to fall in the range). In ascending word order."""
    ranges = data_ranges(mod)
    if not ranges:
        return {}
    starts = [s for s, _, _ in ranges]
    lo, hi = starts[0], max(e for _, e, _ in ranges)
    contiguous = all(ranges[k][1] == ranges[k + 1][0] for k in range(len(ranges) - 1))
    out: dict[int, int] = {}
    data = mod.data
    tables = _candidate_tables(lo, hi)
    for s, e, idx in ranges:
        seg = mod.data_segments[idx]
        first, last = (s + 3) & ~3, e & ~3
        if last <= first:
            continue
        chunk = data[seg.data_offset + first - s:seg.data_offset + last - s]
        words = array("I")
        words.frombytes(chunk)
        if sys.byteorder != "little":  # pragma: no cover - wasm is little-endian
            words.byteswap()
        mask = _candidate_mask(chunk, tables)
        # C-speed selection of the candidate words and their addresses, then the exact test
        hits = zip(compress(range(first, last, 4), mask), compress(words, mask))
        if contiguous:
            out.update((w, v) for w, v in hits if lo <= v < hi)
        else:
            for w, v in hits:
                if lo <= v < hi:
                    j = bisect_right(starts, v) - 1
                    if j >= 0 and v < ranges[j][1]:
                        out[w] = v
    return out


def _candidate_tables(lo: int, hi: int) -> tuple[bytes, bytes] | None:
    """bytes.translate tables that map the third and the fourth (high) byte of a
    little-endian word to 1 when a value in [lo, hi) may have it, else to 0 (a superset:
    the caller tests each candidate exactly). None: every word is a candidate."""
    if lo < 0:  # pragma: no cover - a segment at a negative i32 offset
        return None
    top_lo, top_hi = lo >> 24, min((hi - 1) >> 24, 0xFF)
    if top_lo > 0xFF:  # pragma: no cover - above 4 GiB
        return bytes(256), bytes(256)
    if top_lo == top_hi:
        third = bytes(1 if ((lo >> 16) & 0xFF) <= x <= (((hi - 1) >> 16) & 0xFF) else 0 for x in range(256))
    else:
        third = bytes([1]) * 256
    top = bytes(1 if top_lo <= x <= top_hi else 0 for x in range(256))
    return third, top


def _candidate_mask(chunk: bytes, tables: tuple[bytes, bytes] | None) -> bytes:
    """One byte per word of `chunk` (aligned at 0, a multiple of 4 long): nonzero where
    the word may hold a value in the range `tables` were made for. Two translates and
    one AND of big integers: no Python work per word."""
    n = len(chunk) >> 2
    if tables is None:  # pragma: no cover
        return bytes([1]) * n
    third = int.from_bytes(chunk[2::4].translate(tables[0]), "little")
    top = int.from_bytes(chunk[3::4].translate(tables[1]), "little")
    return (third & top).to_bytes(n, "little")


def _short_leb_bytes(lo: int) -> int:
    """How many leading LEB bytes an i32.const must continue past to reach `lo`."""
    k = 0
    while k < 4 and lo >= 1 << (7 * (k + 1) - 1):
        k += 1
    return k


_CALLS_ONLY = frozenset((OP_CALL, OP_CALL_INDIRECT, OP_RETURN_CALL, OP_RETURN_CALL_INDIRECT, OP_REF_FUNC,
                         OP_CATCH, OP_THROW, OP_MEMORY_GROW))


def code_references(mod: m.Module, full: bool = True) -> CodeRefs:
    """Every body's references. `full=False` reads only calls, indirect calls, table
    accesses, `ref.func`, tags and `memory.grow` (the call graph `inspect` and the runtime's checks need): no
    `global.get`/`global.set`, no `i32.const` data addresses, about half the work; and
    none at all when parse_module kept what its validating pass found (`ParsedRefs`)."""
    from auditor.wasm.parse import ParsedRefs

    parsed = mod.derived.pop(ParsedRefs.KEY, None)
    data = mod.data
    ranges = data_ranges(mod) if full else []
    lo = ranges[0][0] if ranges else None
    hi = max(r[1] for r in ranges) if ranges else None
    skip = _short_leb_bytes(lo) if lo is not None else 0
    # no tags: no throw/catch edges, which the parse pass does not keep
    if isinstance(parsed, ParsedRefs) and len(parsed.starts) == len(mod.functions) and not mod.tags:
        if not full:
            return _from_parse(mod, parsed)
        # the parse pass kept globals and the constants that may fall in [lo, hi)
        w = parsed.window
        window = (lo, hi) if lo is not None and hi is not None else None
        if w is not None and (window is None or w[0] <= window[0] and window[1] <= w[1]):
            return _from_parse(mod, parsed, window)
    targets = (_TARGETS if ranges else _NO_CONSTS if full else _CALLS_ONLY) | table_ops()
    # memory.init / table.init need a passive segment (data.drop / elem.drop of an active
    # one is a no-op): without one, no body is searched for them.
    segment_ops = any(s.mode == "passive" for s in mod.data_segments) or \
        any(e.mode == "passive" for e in mod.elements)
    out = CodeRefs()
    pattern = scanner(targets, (lo, hi) if lo is not None and OP_I32_CONST in targets else None)
    memo: dict[bytes, tuple[int, int]] = {}  # token -> (opcode, value): calls and globals repeat
    for f in mod.functions:
        refs = BodyRefs()
        out.bodies[f.index] = refs
        first = code_start(data, f.code_offset, f.end)
        if _from_tokens(pattern.findall(data, first, f.end), refs, memo, skip, lo, hi):
            if refs.grow:
                refs.grow = find_opcode(data, first, f.end, _GROW_ONLY) or []
            if segment_ops and _SEGMENT_OPS.search(data, first, f.end):
                _segment_ops(mod, f, first, refs)
            continue
        refs = out.bodies[f.index] = BodyRefs()  # an unusual instruction: the walk below decodes it
        hits = find_opcode(data, first, f.end, targets)
        if hits is None:
            out.undecodable.append(f.index)
            _decode_body(mod, f, first, refs, lo, hi)
            if not full:
                refs.globals.clear()
            continue
        calls, globs = refs.calls, refs.globals
        tfirsts = table_firsts()
        for at in hits:
            op = data[at]
            if op in tfirsts:  # a table access (an instruction is at most 16 bytes long)
                refs.tables.update(table_indices(data[at:min(at + 16, f.end)]) or ())
                continue
            if op == OP_I32_CONST:
                if skip and data[at + skip] < 0x80:
                    continue
                v = _sleb(data, at + 1)
                if lo is not None and lo <= v < hi:  # type: ignore[operator]
                    refs.data_addresses.append(v)
                continue
            if op == OP_MEMORY_GROW:
                refs.grow.append(at)
                continue
            # the walk matched the immediate as a well-formed LEB inside the body
            v = data[at + 1]
            pos = at + 2
            if v >= 0x80:
                v, pos = _uleb(data, at + 1)
            if op == OP_CALL or op == OP_RETURN_CALL:
                calls.add(v)
            elif op == OP_GLOBAL_GET or op == OP_GLOBAL_SET:
                globs.add(v)
            elif op == OP_REF_FUNC:
                refs.ref_funcs.add(v)
            elif op == OP_THROW or op == OP_CATCH:
                refs.tags.add(v)
            else:  # call_indirect type table
                refs.indirect_tables.add(_uleb(data, pos)[0])
        if segment_ops and _SEGMENT_OPS.search(data, first, f.end):
            _segment_ops(mod, f, first, refs)
    return out


_GROW_ONLY = frozenset((OP_MEMORY_GROW,))


def _from_tokens(tokens: list[bytes], refs: BodyRefs, memo: dict[bytes, tuple[int, int]], skip: int,
                 lo: int | None, hi: int | None) -> bool:
    """Fill `refs` from one findall() of the scanner over a body: each item is a target
    instruction's whole encoding (the regex has matched its immediates), then b"" at the
    end. False when an item is one byte (an instruction only the exact decoder reads):
    the caller walks that body instruction by instruction instead. `refs.grow` gets a
    placeholder the caller replaces with the offsets."""
    calls, globs = refs.calls, refs.globals
    addresses = refs.data_addresses
    tfirsts = table_firsts()
    for tok in tokens:
        n = len(tok)
        if n < 2:
            return n == 0
        op = tok[0]
        if op in tfirsts:  # table.get, table.copy, ...: every table it names
            refs.tables.update(table_indices(tok) or ())
            continue
        if op == OP_I32_CONST:
            if n <= skip + 1:  # too few LEB bytes to reach the lowest data address
                continue
            v = _sleb(tok, 1)
            if lo is not None and lo <= v < hi:  # type: ignore[operator]
                addresses.append(v)
            continue
        hit = memo.get(tok)
        if hit is None:
            v, pos = _uleb(tok, 1)
            if op == OP_CALL_INDIRECT or op == OP_RETURN_CALL_INDIRECT:
                v = _uleb(tok, pos)[0]
            hit = memo[tok] = (op, v)
        op, v = hit
        if op == OP_CALL or op == OP_RETURN_CALL:
            calls.add(v)
        elif op == OP_GLOBAL_GET or op == OP_GLOBAL_SET:
            globs.add(v)
        elif op == OP_REF_FUNC:
            refs.ref_funcs.add(v)
        elif op == OP_MEMORY_GROW:
            refs.grow = [0]
        elif op == OP_THROW or op == OP_CATCH:
            refs.tags.add(v)
        else:  # call_indirect / return_call_indirect: the table
            refs.indirect_tables.add(v)
    return True  # pragma: no cover - findall always ends with b""


def _from_parse(mod: m.Module, parsed, full: tuple[int, int] | None | bool = False) -> CodeRefs:
    """code_references(mod, full=False) from the (opcode, target) pairs parse_module kept:
    only bodies that grow memory are walked again (for the opcode offsets), and bodies
    that may name a passive segment are searched as in the walk. With `full` (the data
    addresses' range (lo, hi), or None when there is no active data), also the globals
    and data addresses a `parse_module(full_refs=True)` pass kept: code_references(mod)."""
    if full is not False and parsed.window is not None:
        return _from_full_parse(mod, parsed, full)  # type: ignore[arg-type]
    data = mod.data
    segment_ops, ops, values, bounds = _pass_pairs(mod, parsed)
    tfirsts = table_firsts()
    out = CodeRefs()
    for k, f in enumerate(mod.functions):
        refs = BodyRefs()
        out.bodies[f.index] = refs
        a, b = bounds[k], bounds[k + 1]
        grows = False
        # distinct (opcode, target) pairs: a body calls the same few functions many times
        for op, v in set(zip(ops[a:b], values[a:b])):
            if op == OP_CALL or op == OP_RETURN_CALL:
                refs.calls.add(v)
            elif op == OP_REF_FUNC:
                refs.ref_funcs.add(v)
            elif op == OP_MEMORY_GROW:
                grows = True
            elif op == OP_CALL_INDIRECT or op == OP_RETURN_CALL_INDIRECT:  # the table
                refs.indirect_tables.add(v)
            elif op in tfirsts:  # a table access
                refs.tables.add(v)
            # (a full_refs pass also kept globals and constants: not part of the call graph)
        if grows or segment_ops:
            first = code_start(data, f.code_offset, f.end)
            if grows:
                refs.grow = find_opcode(data, first, f.end, _GROW_ONLY) or []
            if segment_ops and _SEGMENT_OPS.search(data, first, f.end):
                _segment_ops(mod, f, first, refs)
    return out


def _pass_pairs(mod: m.Module, parsed) -> tuple[bool, array, array, list[int]]:
    """What both readings of the parse pass's pairs start from: whether any body may hold
    a segment instruction (a passive data or element segment exists), the opcodes and
    values apart, and each body's first pair index (plus the end)."""
    segment_ops = any(s.mode == "passive" for s in mod.data_segments) or \
        any(e.mode == "passive" for e in mod.elements)
    flat = parsed.flat
    ops, values = flat[0::2], flat[1::2]
    bounds = [s // 2 for s in parsed.starts]
    bounds.append(len(ops))
    return segment_ops, ops, values, bounds


def _from_full_parse(mod: m.Module, parsed, window: tuple[int, int] | None) -> CodeRefs:
    """code_references(mod) from a full_refs parse pass: every pair in body order
    (data addresses keep their order and repeats, as the walk lists them)."""
    data = mod.data
    segment_ops, ops, values, bounds = _pass_pairs(mod, parsed)
    lo, hi = window if window is not None else (0, 0)
    tfirsts = table_firsts()
    out = CodeRefs()
    for k, f in enumerate(mod.functions):
        refs = BodyRefs()
        out.bodies[f.index] = refs
        a, b = bounds[k], bounds[k + 1]
        grows = False
        calls, globs, addresses = refs.calls, refs.globals, refs.data_addresses
        for op, v in zip(ops[a:b], values[a:b]):
            if op == OP_I32_CONST:
                if v >= 0x80000000:
                    v -= 0x100000000
                if lo <= v < hi:
                    addresses.append(v)
            elif op == OP_CALL or op == OP_RETURN_CALL:
                calls.add(v)
            elif op == OP_GLOBAL_GET or op == OP_GLOBAL_SET:
                globs.add(v)
            elif op == OP_REF_FUNC:
                refs.ref_funcs.add(v)
            elif op == OP_MEMORY_GROW:
                grows = True
            elif op in tfirsts:  # a table access
                refs.tables.add(v)
            else:  # call_indirect / return_call_indirect: the table
                refs.indirect_tables.add(v)
        if grows or segment_ops:
            first = code_start(data, f.code_offset, f.end)
            if grows:
                refs.grow = find_opcode(data, first, f.end, _GROW_ONLY) or []
            if segment_ops and _SEGMENT_OPS.search(data, first, f.end):
                _segment_ops(mod, f, first, refs)
    return out


def _sleb(data: bytes, pos: int) -> int:
    """The signed 32-bit LEB128 at pos, which the opcode walk already matched (at most 5
    bytes, terminated inside the body): i32.const's immediate, as an i32."""
    b = data[pos]
    if b < 0x80:
        return b - 0x80 if b & 0x40 else b
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                value -= 1 << shift
            break
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


_uleb = uleb_at  # of a LEB128 the opcode walk already matched (bounded)


def _decode_body(mod: m.Module, f: m.Function, first: int, refs: BodyRefs, lo, hi) -> None:
    """The exact (slow) decoder, for bodies the regex walk does not vouch for."""
    for at, op, value in decode(mod.data, first, f.end, mod.file):
        if op == OP_MEMORY_GROW:
            refs.grow.append(at)
        elif op in (OP_THROW, OP_CATCH):
            refs.tags.add(value)
        elif op in (OP_CALL, OP_RETURN_CALL):
            refs.calls.add(value)
        elif op in (OP_GLOBAL_GET, OP_GLOBAL_SET):
            refs.globals.add(value)
        elif op == OP_REF_FUNC:
            refs.ref_funcs.add(value)
        elif op in (OP_CALL_INDIRECT, OP_RETURN_CALL_INDIRECT):
            r = Reader(mod.data, at + 1, f.end)
            r.u32()
            refs.indirect_tables.add(r.u32())
        elif op == OP_I32_CONST and lo is not None and lo <= value < hi:
            refs.data_addresses.append(value)
        elif op in table_ops():
            refs.tables.update(table_indices(mod.data[at:min(at + 16, f.end)]) or ())
    if any(s.mode == "passive" for s in mod.data_segments) or any(e.mode == "passive" for e in mod.elements):
        _segment_ops(mod, f, first, refs)


def _segment_ops(mod: m.Module, f: m.Function, first: int, refs: BodyRefs) -> None:
    for _, op, value in decode(mod.data, first, f.end, mod.file):
        if op in (_MEMORY_INIT, _DATA_DROP):
            refs.data_segments.add(value)
        elif op in (_TABLE_INIT, _ELEM_DROP):
            refs.elem_segments.add(value)
