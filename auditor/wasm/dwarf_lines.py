"""DWARF line tables (`.debug_line`, versions 2-5): which source line every code byte
came from.

Why line tables and not the DIE tree for per-file bytes: a function's DIE gives one
file for the whole body, while the line table gives each instruction its own — the
bytes of `Vec::push` inlined into your function are attributed to `vec/mod.rs`, where
that code was written, not to your file. The line table already resolves inlining, so
inlined code lands at its source without following `DW_TAG_inlined_subroutine`.

Why our own reader: pyelftools decodes a line program through `construct` per opcode
(~5x slower) and needs the whole `.debug_info` parsed to find each unit's line table.
This reads every unit's top DIE only (through `dwarf.py`'s bounds-checked readers) for
`DW_AT_stmt_list`, `DW_AT_name` and `DW_AT_comp_dir`, then runs each line program's
state machine once. Sequences the linker tombstoned (first address 0xFFFFFFFF,
0xFFFFFFFE, or 0 from older linkers; see `dwarf.TOMBSTONES`) describe removed code
and are skipped whole.

Addresses are offsets from the start of the code section's payload, as in the DIEs.
Malformed line programs never raise: the unit's rows read so far are kept and the
problem is reported in `errors` with its file offset.
"""

from __future__ import annotations

import posixpath
from array import array
from dataclasses import dataclass, field
from typing import Any

from auditor.wasm import dwarf as dw
from auditor.wasm import model as m
from auditor.wasm.reader import MalformedModule, Reader

__all__ = ["LineUnit", "LineTable", "read_line_tables"]

DEBUG_LINE = ".debug_line"
_AT_STMT_LIST = 0x10
_MAX_ERRORS = 10

# DWARF 5 line-table content types and the forms used for them.
_LNCT_PATH, _LNCT_DIRECTORY_INDEX = 0x1, 0x2


@dataclass
class LineUnit:
    """One compile unit's line program."""

    offset: int  # in .debug_line
    version: int
    name: str | None  # the compile unit's DW_AT_name
    comp_dir: str | None
    crate: str | None  # dwarf.crate_of_unit(name): the crate that compiled this unit
    files: dict[int, int] = field(default_factory=dict)  # file number -> LineTable.paths index


@dataclass
class LineTable:
    """Address ranges of code with their source: parallel arrays sorted by start, no
    overlaps (a later row never claims bytes an earlier one already has)."""

    units: list[LineUnit] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # distinct source paths
    start: array = field(default_factory=lambda: array("l"))
    end: array = field(default_factory=lambda: array("l"))
    path: array = field(default_factory=lambda: array("l"))  # index into paths, -1: unknown file
    line: array = field(default_factory=lambda: array("l"))  # 0: compiler-generated, no line
    unit: array = field(default_factory=lambda: array("l"))  # index into units
    sequences: int = 0
    tombstoned: int = 0  # sequences of removed code, skipped
    overlapping_bytes: int = 0  # bytes claimed by two rows (kept for the first)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return self.errors[0] if self.errors else None

    def lookup(self, address: int) -> tuple[str | None, int] | None:
        """(path, line) of the row covering `address`, or None."""
        from bisect import bisect_right

        i = bisect_right(self.start, address) - 1
        if i < 0 or address >= self.end[i]:
            return None
        p = self.path[i]
        return (self.paths[p] if p >= 0 else None), self.line[i]


def _uint(r: Reader, n: int) -> int:
    return int.from_bytes(r.raw(n), "little")


def _cstr(r: Reader) -> str:
    end = r.data.find(b"\0", r.pos, r.end)
    if end < 0:
        raise r.fail(f"{DEBUG_LINE}: unterminated string")
    s = r.data[r.pos:end].decode("utf-8", "replace")
    r.pos = end + 1
    return s


def _unit_stmt_lists(mod: m.Module, sections: dict[str, dw.DebugSection],
                     errors: list[str]) -> dict[int, tuple[str | None, str | None]]:
    """.debug_line offset -> (unit name, comp_dir) for every code unit of .debug_info."""
    info = sections.get(dw.DEBUG_INFO)
    abbrev = sections.get(".debug_abbrev")
    out: dict[int, tuple[str | None, str | None]] = {}
    if info is None or abbrev is None:
        return out
    r = info.reader(mod)
    try:
        while not r.at_end():
            u: Any = dw._read_unit_header(r, info)  # dwarf._Unit: slots without annotations
            r.pos = u.end
            if u.unit_type not in dw._CODE_UNIT_TYPES:
                continue
            stmt = _stmt_list(mod, abbrev, u)
            if stmt is None:
                continue
            top = dw._read_top_die(mod, sections, u)
            name, comp_dir = top.get("name"), top.get("comp_dir")
            out.setdefault(stmt, (name if isinstance(name, str) else None,
                                  comp_dir if isinstance(comp_dir, str) else None))
    except MalformedModule as e:
        errors.append(e.line())
    return out


def _stmt_list(mod: m.Module, abbrev: dw.DebugSection, u: Any) -> int | None:
    r = Reader(mod.data, u.die_offset, u.end, mod.file)
    code = r.uleb(64)
    if code == 0 or u.abbrev_offset >= abbrev.end - abbrev.start:
        return None
    _tag, specs = abbrev.abbreviation(mod, u.abbrev_offset, code)
    for attr, form, implicit in specs:
        value = dw._read_form(r, form, u, implicit)
        if attr == _AT_STMT_LIST and isinstance(value, int):
            return value
    return None


@dataclass
class _Header:
    version: int = 0
    offset_size: int = 4
    addr_size: int = 4
    min_inst: int = 1
    line_base: int = 0
    line_range: int = 1
    opcode_base: int = 1
    std_lengths: list[int] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)
    program: int = 0  # file offset of the first opcode
    end: int = 0  # file offset just past the unit


def _read_header(mod: m.Module, sections: dict[str, dw.DebugSection], r: Reader) -> _Header:
    h = _Header()
    length = _uint(r, 4)
    h.offset_size = 4
    if length == 0xFFFFFFFF:
        length, h.offset_size = _uint(r, 8), 8
    elif length >= 0xFFFFFFF0:
        raise r.fail(f"{DEBUG_LINE}: reserved unit length 0x{length:x}", r.pos - 4)
    if length > r.left:
        raise r.fail(f"{DEBUG_LINE}: unit length {length} runs past the end of the section "
                     f"({r.left} bytes left)", r.pos - h.offset_size)
    h.end = r.pos + length
    h.version = _uint(r, 2)
    if not 2 <= h.version <= 5:
        raise r.fail(f"{DEBUG_LINE}: unsupported line table version {h.version}", r.pos - 2)
    h.addr_size = 4
    if h.version >= 5:
        h.addr_size = r.u8()
        r.u8()  # segment selector size
    header_length = _uint(r, h.offset_size)
    h.program = r.pos + header_length
    if h.program > h.end:
        raise r.fail(f"{DEBUG_LINE}: header longer than its unit", r.pos - h.offset_size)
    h.min_inst = r.u8()
    if h.version >= 4:
        r.u8()  # maximum operations per instruction (VLIW only)
    r.u8()  # default_is_stmt
    h.line_base = _uint(r, 1)
    if h.line_base >= 0x80:
        h.line_base -= 0x100
    h.line_range = r.u8()
    h.opcode_base = r.u8()
    if h.line_range == 0:
        raise r.fail(f"{DEBUG_LINE}: line_range 0", r.pos - 2)
    h.std_lengths = [0] + list(r.raw(max(h.opcode_base - 1, 0)))
    if h.version >= 5:
        h.dirs = [str(e.get(_LNCT_PATH) or "") for e in _entries(mod, sections, r, h)]
        h.files = []
        for e in _entries(mod, sections, r, h):
            d = e.get(_LNCT_DIRECTORY_INDEX)
            h.files.append((str(e.get(_LNCT_PATH) or ""), d if isinstance(d, int) else 0))
    else:
        while True:
            d = _cstr(r)
            if not d:
                break
            h.dirs.append(d)
        while True:
            name = _cstr(r)
            if not name:
                break
            dir_index = r.uleb(64)
            r.uleb(64)  # mtime
            r.uleb(64)  # length
            h.files.append((name, dir_index))
    return h


def _entries(mod: m.Module, sections: dict[str, dw.DebugSection], r: Reader, h: _Header) -> list[dict]:
    """A DWARF 5 directory or file-name table: [{content type: value}]."""
    nformats = r.u8()
    formats = [(r.uleb(64), r.uleb(64)) for _ in range(nformats)]
    count = r.uleb(64)
    if count > r.left:
        raise r.fail(f"{DEBUG_LINE}: {count} entries in a {r.left}-byte header")
    out = []
    for _ in range(count):
        entry: dict = {}
        for ctype, form in formats:
            at = r.pos
            if form == 0x08:  # string
                value: object = _cstr(r)
            elif form in (0x1F, 0x0E):  # line_strp, strp
                off = _uint(r, h.offset_size)
                value = dw._cstring(mod, sections, ".debug_line_str" if form == 0x1F else ".debug_str",
                                    off, at)
            elif form == 0x0F:  # udata
                value = r.uleb(64)
            elif form in (0x0B, 0x05, 0x06, 0x07):  # data1/2/4/8
                value = _uint(r, {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8}[form])
            elif form == 0x1E:  # data16 (MD5)
                r.skip(16)
                value = None
            elif form == 0x09:  # block
                r.skip(r.uleb(64))
                value = None
            else:
                raise r.fail(f"{DEBUG_LINE}: unsupported form 0x{form:x} in a file table", at)
            entry[ctype] = value
        out.append(entry)
    return out


def _paths(h: _Header, comp_dir: str | None) -> dict[int, str]:
    """File number -> path joined as llvm-dwarfdump prints it (comp_dir + dir + name)."""
    dirs = list(h.dirs)
    if h.version < 5:
        dirs = [comp_dir or "", *dirs]
    elif dirs and comp_dir and not posixpath.isabs(dirs[0]):
        dirs[0] = posixpath.join(comp_dir, dirs[0])
    first = 0 if h.version >= 5 else 1
    out = {}
    for i, (name, d) in enumerate(h.files, start=first):
        directory = dirs[d] if isinstance(d, int) and 0 <= d < len(dirs) else ""
        if directory and not posixpath.isabs(directory) and comp_dir:
            directory = posixpath.join(comp_dir, directory)
        out[i] = posixpath.join(directory, name) if directory and not posixpath.isabs(name) else name
    return out


def read_line_tables(mod: m.Module) -> LineTable | None:
    """Every unit's line rows as address ranges; None without a `.debug_line` section."""
    sections = dw.debug_sections(mod)
    sec = sections.get(DEBUG_LINE)
    if sec is None:
        return None
    out = LineTable()
    units_by_offset = _unit_stmt_lists(mod, sections, out.errors)
    path_ids: dict[str, int] = {}
    raw: list[tuple[int, int, int, int, int]] = []  # (start, end, path id, line, unit)
    r = sec.reader(mod)
    while not r.at_end():
        offset = r.pos - sec.start
        try:
            h = _read_header(mod, sections, r)
        except MalformedModule as e:
            out.errors.append(e.line())
            break
        name, comp_dir = units_by_offset.get(offset, (None, None))
        unit = LineUnit(offset, h.version, name, comp_dir, dw.crate_of_unit(name))
        uidx = len(out.units)
        out.units.append(unit)
        for num, p in _paths(h, comp_dir).items():
            pid = path_ids.get(p)
            if pid is None:
                pid = path_ids[p] = len(out.paths)
                out.paths.append(p)
            unit.files[num] = pid
        try:
            _run_program(mod, h, unit, uidx, raw, out)
        except MalformedModule as e:
            if len(out.errors) < _MAX_ERRORS:
                out.errors.append(e.line())
        r.pos = h.end
    _settle(raw, out)
    return out


def _run_program(mod: m.Module, h: _Header, unit: LineUnit, uidx: int,
                 raw: list, out: LineTable) -> None:
    """The line-number state machine; appends (start, end, path, line, unit) ranges."""
    r = Reader(mod.data, h.program, h.end, mod.file)
    data, end = r.data, h.end
    opcode_base, line_base, line_range, min_inst = h.opcode_base, h.line_base, h.line_range, h.min_inst
    std_lengths = h.std_lengths
    files = unit.files
    const_add = ((255 - opcode_base) // line_range) * min_inst
    address, file, line = 0, 1, 1
    seq: list[tuple[int, int, int]] = []  # rows of the current sequence: (address, file, line)
    dead = False  # the sequence starts at a tombstone
    started = False
    pos = r.pos
    while pos < end:
        op = data[pos]
        pos += 1
        if op >= opcode_base:  # special opcode: advance, then a row
            adj = op - opcode_base
            address += (adj // line_range) * min_inst
            line += line_base + adj % line_range
            if not started:
                started, dead = True, address in dw.TOMBSTONES
            seq.append((address, file, line))
            continue
        if op == 0:  # extended
            r.pos = pos
            n = r.uleb(64)
            pos = r.pos
            if n == 0 or n > end - pos:
                raise r.fail(f"{DEBUG_LINE}: extended opcode length {n} out of bounds", pos - 1)
            sub = data[pos]
            body = pos + 1
            pos += n
            if sub == 1:  # end_sequence
                out.sequences += 1
                if dead or not started:
                    if dead:
                        out.tombstoned += 1
                else:
                    for k, (a, f, ln) in enumerate(seq):
                        b = seq[k + 1][0] if k + 1 < len(seq) else address
                        if b > a:
                            raw.append((a, b, files.get(f, -1), ln, uidx))
                seq = []
                address, file, line = 0, 1, 1
                started = dead = False
            elif sub == 2:  # set_address
                address = int.from_bytes(data[body:pos], "little")
                if not started:
                    started, dead = True, address in dw.TOMBSTONES or address >= 0xFFFFFFF0
            elif sub == 3:  # define_file (DWARF <= 4): rare, unnamed here
                pass
            continue
        r.pos = pos
        if op == 1:  # copy
            if not started:
                started, dead = True, address in dw.TOMBSTONES
            seq.append((address, file, line))
        elif op == 2:  # advance_pc
            address += r.uleb(64) * min_inst
        elif op == 3:  # advance_line
            line += r.sleb(64)
        elif op == 4:  # set_file
            file = r.uleb(64)
        elif op == 9:  # fixed_advance_pc
            address += _uint(r, 2)
        elif op == 8:  # const_add_pc
            address += const_add
        else:  # set_column, negate_stmt, basic_block, prologue/epilogue, isa, unknown
            for _ in range(std_lengths[op] if op < len(std_lengths) else 0):
                r.uleb(64)
        pos = r.pos
    if seq:
        raise MalformedModule(f"{DEBUG_LINE}: unit at offset {unit.offset} ends inside a sequence "
                              f"(no DW_LNE_end_sequence)", end, mod.file)


def _settle(raw: list, out: LineTable) -> None:
    """Sort ranges by address and clip overlaps, first row wins."""
    raw.sort(key=lambda x: (x[0], x[4]))
    last = -1
    for a, b, p, ln, u in raw:
        if a < last:
            out.overlapping_bytes += min(b, last) - a
            a = last
            if a >= b:
                continue
        out.start.append(a)
        out.end.append(b)
        out.path.append(p)
        out.line.append(ln)
        out.unit.append(u)
        last = b
