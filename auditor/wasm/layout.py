"""Where every entry of every section lies in the file: the byte spans the item graph
sizes its items by, so that item sizes add up to the file size exactly.

The reader (`parse.py`) validates the module and keeps what analyses need, not where
each import, global, export or segment entry starts; this walks the already-validated
sections again and records each entry's [start, end) file offsets, plus the
function references only entry contents hold (`ref.func` in element expressions and
global initialisers), which the model does not keep. A module that parsed walks
without surprises; a walk that still fails raises MalformedModule like the parser.

Cost: one pass over the entries of the non-code sections (the code section's bodies are
taken from the model), a few milliseconds even for 45 MB modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.wasm import model as m
from auditor.wasm.opcodes import decode_one, read_valtype
from auditor.wasm.parse import read_import_entry
from auditor.wasm.reader import Reader

__all__ = ["Layout", "SectionLayout", "layout"]

OP_END, OP_REF_FUNC = 0x0B, 0xD2


@dataclass
class SectionLayout:
    section: m.Section
    entries: list[tuple[int, int]] = field(default_factory=list)  # [start, end) per entry
    covered: int | None = None  # bytes of all entries, when known without summing them

    @property
    def header(self) -> int:
        """Bytes of the section that belong to no entry: id, size LEB, count LEB (and for
        sections without entries, such as start and datacount, everything)."""
        if self.covered is not None:
            return self.section.size - self.covered
        return self.section.size - sum(b - a for a, b in self.entries)


@dataclass
class Layout:
    sections: list[SectionLayout] = field(default_factory=list)  # in file order, customs too
    by_kind: dict[str, SectionLayout] = field(default_factory=dict)  # standard sections by kind
    element_functions: dict[int, list[int]] = field(default_factory=dict)  # segment -> ref.func in exprs
    global_functions: dict[int, list[int]] = field(default_factory=dict)  # defined global -> ref.func
    table_functions: dict[int, list[int]] = field(default_factory=dict)  # defined table -> ref.func init

    def spans(self, kind: str) -> list[tuple[int, int]]:
        s = self.by_kind.get(kind)
        return s.entries if s is not None else []


def _limits(r: Reader) -> None:
    flags = r.u8()
    r.uleb(64)
    if flags & 0x01:
        r.uleb(64)
    if flags & 0x08:
        r.u32()


def _expr(r: Reader) -> list[int]:
    """Walk a constant expression to its `end`; the functions it takes by ref.func."""
    funcs: list[int] = []
    while True:
        _, op, value = decode_one(r)
        if op == OP_END:
            return funcs
        if op == OP_REF_FUNC and value is not None:
            funcs.append(value)


_LAST_BYTE = bytes(0 if b < 0x80 else 1 for b in range(256))  # a LEB128's last byte -> 0


def _skip_u32s(data: bytes, pos: int, end: int, count: int) -> int | None:
    """Where `count` u32 LEB128s from `pos` end (what a loop of Reader.u32 reads, for
    bytes the parser has read that way already), or None if they do not fit: the
    count-th byte below 0x80, found by binary search over C-speed counts (a regex with
    a repeat count cost ~15 ms to compile)."""
    marks = data[pos:min(end, pos + 5 * count)].translate(_LAST_BYTE)
    if marks.count(0) < count:
        return None
    lo, hi = count, len(marks)  # the shortest prefix holding `count` last bytes
    while lo < hi:
        mid = (lo + hi) // 2
        if marks.count(0, 0, mid) >= count:
            hi = mid
        else:
            lo = mid + 1
    return pos + lo


def _entries(r: Reader, walk) -> list[tuple[int, int]]:
    n = r.u32()
    out = []
    for i in range(n):
        start = r.pos
        walk(r, i)
        out.append((start, r.pos))
    return out


def _data_entries(mod: m.Module, r: Reader, sl: SectionLayout) -> bool:
    """The data section's entries from what the parser read: each segment's entry ends
    where its bytes end and starts where the previous one ended (right after the count
    for the first). False (walk them instead) if the parsed segments do not fill the
    section exactly that way."""
    at = r.pos
    n = r.u32()
    segs = mod.data_segments
    ends = [s.data_offset + s.size for s in segs]
    starts = [r.pos, *ends[:-1]]
    if n != len(segs) or (ends[-1] if ends else r.pos) != r.end or \
            any(s.data_offset < a for s, a in zip(segs, starts)):
        r.pos = at
        return False
    sl.entries = list(zip(starts, ends))
    return True


def layout(mod: m.Module) -> Layout:
    out = Layout()
    data = mod.data
    for sec in mod.sections:
        sl = SectionLayout(sec)
        out.sections.append(sl)
        if sec.custom:
            continue
        out.by_kind[sec.name] = sl
        r = Reader(data, sec.payload_offset, sec.payload_offset + sec.payload_size, mod.file)
        kind = sec.name
        if kind == "import":
            # The parser's own entry reader (compact groups, exact function imports, tags,
            # typed tables): into a scratch module, so it cannot disagree with parse_module.
            scratch = m.Module(mod.file, data, types=mod.types)
            counters = {"func": 0, "table": 0, "memory": 0, "global": 0, "tag": 0}
            ends: list[int] = []
            n = r.u32()
            first = r.pos
            for _ in range(n):
                read_import_entry(scratch, r, counters, ends)
            # One span per import (the item graph zips them with mod.imports), each from
            # where the previous one ended.
            sl.entries = list(zip([first, *ends[:-1]], ends))
        elif kind == "function":
            n = r.u32()
            first = r.pos
            if r.end - first == n and data[first:r.end].isascii():  # n one-byte type indices
                sl.entries = list(zip(range(first, first + n), range(first + 1, first + n + 1)))
                sl.covered = n
            else:
                r.pos = sec.payload_offset
                sl.entries = _entries(r, lambda r, _i: r.u32())
        elif kind == "table":
            def table(r: Reader, i: int) -> None:
                with_init = r.data[r.pos] == 0x40 and r.pos + 1 < r.end and r.data[r.pos + 1] == 0
                if with_init:
                    r.skip(2)
                read_valtype(r)
                _limits(r)
                if with_init:
                    funcs = _expr(r)
                    if funcs:
                        out.table_functions[i] = funcs
            sl.entries = _entries(r, table)
        elif kind == "memory":
            sl.entries = _entries(r, lambda r, _i: _limits(r))
        elif kind == "tag":
            def tag(r: Reader, _i: int) -> None:
                r.u8()
                r.u32()
            sl.entries = _entries(r, tag)
        elif kind == "global":
            def glob(r: Reader, i: int) -> None:
                read_valtype(r)
                r.u8()
                funcs = _expr(r)
                if funcs:
                    out.global_functions[i] = funcs
            sl.entries = _entries(r, glob)
        elif kind == "export":
            def export(r: Reader, _i: int) -> None:
                r.skip(r.u32())
                r.u8()
                r.u32()
            sl.entries = _entries(r, export)
        elif kind == "element":
            def elem(r: Reader, i: int) -> None:
                flags = r.u32()
                if flags & 1 == 0:  # active
                    if flags & 2:
                        r.u32()  # table index
                    _expr(r)
                exprs = bool(flags & 4)
                if flags & 3:
                    if exprs:
                        read_valtype(r)
                    else:
                        r.u8()  # elemkind
                funcs: list[int] = []
                count = r.u32()
                if not exprs and count:  # function indices (the parser read them)
                    after = _skip_u32s(r.data, r.pos, r.end, count)
                    if after is not None:
                        r.pos = after
                        count = 0
                for _ in range(count):
                    if exprs:
                        funcs += _expr(r)
                    else:
                        r.u32()
                if funcs:
                    out.element_functions[i] = funcs
            sl.entries = _entries(r, elem)
        elif kind == "code":
            # the bodies, which the parser read one after another: only their total is
            # used (the section header's size); no span per body
            funcs = mod.functions
            sl.covered = funcs[-1].end - funcs[0].body_offset if funcs else 0
        elif kind == "data" and _data_entries(mod, r, sl):
            pass
        elif kind == "data":
            def seg(r: Reader, _i: int) -> None:
                flags = r.u32()
                if flags == 2:
                    r.u32()
                if flags != 1:
                    _expr(r)
                r.skip(r.u32())
            sl.entries = _entries(r, seg)
        # type, start, datacount: one item each, their whole section (see the graph)
    return out
