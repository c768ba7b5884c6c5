"""DWARF debug info carried in a module's `.debug_*` custom sections.

Two readings with different costs:

- `dwarf_summary(mod)`: the compile units (name, producer, language, crate) from each
  unit's header and first DIE. It runs in every `inspect`, so it reads those few bytes
  itself: pyelftools parses a unit's whole abbreviation table before its first DIE
  (~2 ms per unit, 0.14 s for the 63 units of std) and its import alone costs 40 ms.
- `dwarf_walk(mod)` / `dwarf_functions(mod)`: every DIE, mapping each `DW_TAG_subprogram`
  to the body it describes. Opt-in. Its DIEs are decoded here, not by pyelftools
  (3x faster), reading only the attributes the walk uses; pyelftools still gives the
  unit headers, top DIEs and line table headers.

Facts this relies on (measured on rustc 1.63 / clang-16 output, see README ("DWARF debug info")):
addresses are 4 bytes, little endian; `DW_AT_low_pc` is an offset from the start of the
code section payload pointing just past the body's size LEB; wasm-ld tombstones dead
code with low_pc 0xFFFFFFFF (0xFFFFFFFE in .debug_ranges/.debug_loc, 0 in old linkers
and after binaryen's wasm-opt without -g).

Malformed DWARF never raises: both readings return what they read plus an `error`.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from auditor.records.inspect import (
    DwarfEntryRecord,
    DwarfFunctionsRecord,
    DwarfSummaryRecord,
    DwarfUnitRecord,
    UnplacedRecord,
)
from auditor.wasm import model as m
from auditor.wasm.reader import MalformedModule, Reader, uleb_at

DEBUG_INFO = ".debug_info"
# low_pc values that mean "this code is gone": 0xFFFFFFFF (wasm-ld of LLVM >= 11 in
# .debug_info), 0xFFFFFFFE (.debug_ranges/.debug_loc), 0 (older wasm-ld; wasm-opt 108
# without -g zeroes every low_pc). 0 is never a real body start: the code section
# payload opens with the body count.
TOMBSTONES = frozenset({0xFFFFFFFF, 0xFFFFFFFE, 0})
# Compile-unit types of DWARF 5 (DW_UT_*); type units (2, 6) describe no code.
_CODE_UNIT_TYPES = {1: "compile", 3: "partial", 4: "skeleton", 5: "split_compile"}
_MAX_UNITS_WITH_ERRORS = 10  # errors kept in a walk; the rest are counted
_MAX_EXAMPLES = 20


# --------------------------------------------------------------------------- sections

@dataclass
class DebugSection:
    name: str
    start: int  # file offset of the content (after the custom section's name)
    end: int
    size: int  # whole section: id byte + size LEB + name + content

    # .debug_abbrev only: per table offset, the entries read so far and where to go on
    _tables: dict[int, tuple[dict[int, tuple[int, list[tuple[int, int, int]]]], Reader]] = \
        field(default_factory=dict, repr=False, compare=False)

    def reader(self, mod: m.Module, offset: int = 0) -> Reader:
        return Reader(mod.data, self.start + offset, self.end, mod.file)

    def abbreviation(self, mod: m.Module, table: int, code: int) -> tuple[int, list[tuple[int, int, int]]]:
        """The first entry `code` of the abbreviation table at `table`, each table read
        once however many units share it (rustc's 407 units of a debug build share 66
        tables, and a unit's first DIE is often far into its table: 0.77 of `sources`'
        1.2 s on such a module), and only as far as the codes asked for."""
        entries, r = self._tables.get(table) or ({}, self.reader(mod, table))
        self._tables[table] = (entries, r)
        hit = entries.get(code)
        while hit is None:
            start = r.pos
            try:
                entry, tag, _children, specs = _abbrev_entry(r)
            except MalformedModule:
                r.pos = start  # the next request of this table fails here again
                raise
            if entry == 0:
                r.pos = start
                raise r.fail(f".debug_abbrev: no abbreviation {code} in the unit's table", start)
            entries.setdefault(entry, (tag, specs))  # a repeated code: the first one, as a scan finds it
            if entry == code:
                hit = entries[entry]
        return hit


def debug_sections(mod: m.Module) -> dict[str, DebugSection]:
    """The `.debug_*` custom sections by name (the first of a repeated name wins)."""
    out: dict[str, DebugSection] = {}
    for s in mod.sections:
        if s.custom and s.name.startswith(".debug_") and s.name not in out:
            r = Reader(mod.data, s.payload_offset, s.payload_offset + s.payload_size, mod.file)
            r.name()  # validated by the parser already
            out[s.name] = DebugSection(s.name, r.pos, r.end, s.size)
    return out


def crate_of_unit(name: str | None) -> str | None:
    """Crate of a rustc compile unit, from its name `<root source>/@/<crate>.<hash>-cgu.<n>`.

    Incremental builds name codegen units by a bare hash (`src/lib.rs/@/3hvbpfcjxj4zfvme`)
    and other producers (clang) name the source file: both give None.
    """
    if not name or "/@/" not in name:
        return None
    cgu = name.rsplit("/@/", 1)[1]
    crate, dot, rest = cgu.partition(".")
    if not dot or "-cgu." not in rest or not crate.isidentifier():
        return None
    return crate


@cache
def _language_names() -> dict[int, str]:
    from elftools.dwarf.enums import ENUM_DW_LANG  # 10 ms, only for modules with DWARF

    return {v: k for k, v in ENUM_DW_LANG.items() if isinstance(v, int)}


def language_name(code: int | None) -> str | None:
    if code is None:
        return None
    return _language_names().get(code, f"DW_LANG_0x{code:x}")


# --------------------------------------------------------------------------- summary

class _Unit:
    """Header of one unit in .debug_info, read by `_read_unit_header`."""

    __slots__ = ("offset", "end", "version", "unit_type", "offset_size", "addr_size",
                 "abbrev_offset", "die_offset")
    offset: int
    end: int
    version: int
    unit_type: int
    offset_size: int
    addr_size: int
    abbrev_offset: int
    die_offset: int


def _uint(r: Reader, n: int) -> int:
    return int.from_bytes(r.raw(n), "little")


def _read_unit_header(r: Reader, info: DebugSection) -> _Unit:
    u = _Unit()
    u.offset = r.pos - info.start
    length = _uint(r, 4)
    u.offset_size = 4
    if length == 0xFFFFFFFF:
        length, u.offset_size = _uint(r, 8), 8
    elif length >= 0xFFFFFFF0:
        raise r.fail(f"{DEBUG_INFO}: reserved unit length 0x{length:x}", r.pos - 4)
    if length > r.left:
        raise r.fail(f"{DEBUG_INFO}: unit length {length} runs past the end of the section "
                     f"({r.left} bytes left)", r.pos - u.offset_size)
    u.end = r.pos + length
    u.version = _uint(r, 2)
    if not 2 <= u.version <= 5:
        raise r.fail(f"{DEBUG_INFO}: unsupported DWARF version {u.version}", r.pos - 2)
    if u.version >= 5:
        u.unit_type = r.u8()
        u.addr_size = r.u8()
        u.abbrev_offset = _uint(r, u.offset_size)
        if u.unit_type in (4, 5):
            r.skip(8)  # dwo_id
        elif u.unit_type in (2, 6):
            r.skip(8 + u.offset_size)  # type signature, type offset
    else:
        u.unit_type = 1
        u.abbrev_offset = _uint(r, u.offset_size)
        u.addr_size = r.u8()
    if u.addr_size not in (4, 8):
        raise r.fail(f"{DEBUG_INFO}: address size {u.addr_size} (wasm32 uses 4)", r.pos - 1)
    u.die_offset = r.pos
    if u.die_offset > u.end:
        raise r.fail(f"{DEBUG_INFO}: unit header longer than the unit", u.offset + info.start)
    return u


def _abbrev_entry(abbrev: Reader) -> tuple[int, int, bool, list[tuple[int, int, int]]]:
    """(code, tag, has children, [(attribute, form, implicit_const)]) of the entry at
    abbrev.pos; code 0: the table's end (nothing else read). The one reader of entries:
    the units' first DIEs read tables only as far as they need (DebugSection.abbreviation;
    a whole table is ~3500 entries for std), the DIE walk whole, into plans (_plans)."""
    entry = abbrev.uleb(64)
    if entry == 0:
        return 0, 0, False, []
    tag = abbrev.uleb(64)
    children = abbrev.u8() == 1  # DW_CHILDREN_yes
    specs = []
    while True:
        attr, form = abbrev.uleb(64), abbrev.uleb(64)
        if attr == 0 and form == 0:
            break
        specs.append((attr, form, abbrev.sleb(64) if form == 0x21 else 0))
    return entry, tag, children, specs


# Forms by encoding: fixed sizes, and the offset-sized ones (4 or 8 bytes in DWARF64).
_FIXED_SIZE = {
    0x0B: 1, 0x11: 1, 0x25: 1, 0x29: 1, 0x0C: 1,  # data1 ref1 strx1 addrx1 flag
    0x05: 2, 0x12: 2, 0x26: 2, 0x2A: 2,  # data2 ref2 strx2 addrx2
    0x27: 3, 0x2B: 3,  # strx3 addrx3
    0x06: 4, 0x13: 4, 0x28: 4, 0x2C: 4, 0x1C: 4,  # data4 ref4 strx4 addrx4 ref_sup4
    0x07: 8, 0x14: 8, 0x20: 8, 0x24: 8,  # data8 ref8 ref_sig8 ref_sup8
    0x1E: 16,  # data16
}
_OFFSET_SIZED = {0x0E, 0x17, 0x1F, 0x1D, 0x1F20, 0x1F21}  # strp sec_offset line_strp strp_sup GNU_ref_alt GNU_strp_alt
_ULEB = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02}  # udata ref_udata strx addrx loclistx rnglistx GNU_*_index
_STRX = {0x1A, 0x25, 0x26, 0x27, 0x28, 0x1F02}
_BLOCK_LEN = {0x0A: 1, 0x03: 2, 0x04: 4}  # block1 block2 block4 (length prefix size)


def _read_form(r: Reader, form: int, u: _Unit, implicit: int) -> int | bytes | None:
    """The raw value of one attribute: an int, the bytes of an inline string, or None."""
    for _ in range(4):  # DW_FORM_indirect names the real form first; never nested deeply
        if form in _FIXED_SIZE:
            return _uint(r, _FIXED_SIZE[form])
        if form in _OFFSET_SIZED:
            return _uint(r, u.offset_size)
        if form in _ULEB:
            return r.uleb(64)
        if form == 0x01:  # addr
            return _uint(r, u.addr_size)
        if form == 0x10:  # ref_addr: address-sized in DWARF 2
            return _uint(r, u.offset_size if u.version >= 3 else u.addr_size)
        if form == 0x0D:  # sdata
            return r.sleb(64)
        if form == 0x08:  # string
            end = r.data.find(b"\0", r.pos, r.end)
            if end < 0:
                raise r.fail(f"{DEBUG_INFO}: unterminated string")
            s = r.raw(end - r.pos)
            r.skip(1)
            return s
        if form == 0x19:  # flag_present
            return 1
        if form == 0x21:  # implicit_const
            return implicit
        if form in _BLOCK_LEN or form in (0x09, 0x18):  # block, exprloc: ULEB length
            n = _uint(r, _BLOCK_LEN[form]) if form in _BLOCK_LEN else r.uleb(64)
            r.skip(n)
            return None
        if form == 0x16:  # indirect
            form = r.uleb(64)
            continue
        raise r.fail(f"{DEBUG_INFO}: unknown attribute form 0x{form:x}")
    raise r.fail(f"{DEBUG_INFO}: DW_FORM_indirect chain too long")


def _cstring(mod: m.Module, sections: dict[str, DebugSection], name: str, offset: int,
             where: int) -> str:
    sec = sections.get(name)
    if sec is None:
        raise MalformedModule(f"{DEBUG_INFO}: string in {name}, which is missing", where, mod.file)
    start = sec.start + offset
    end = mod.data.find(b"\0", start, sec.end) if offset < sec.end - sec.start else -1
    if end < 0:
        raise MalformedModule(f"{name}: no string at offset {offset}", where, mod.file)
    return mod.data[start:end].decode("utf-8", "replace")


# Top-DIE attributes the summary keeps.
_AT_NAME, _AT_LANGUAGE, _AT_COMP_DIR, _AT_PRODUCER, _AT_STR_OFFSETS_BASE = 0x03, 0x13, 0x1B, 0x25, 0x72


def _read_top_die(mod: m.Module, sections: dict[str, DebugSection], u: _Unit) -> dict:
    """name / producer / language / comp_dir of the unit's first DIE."""
    info = sections[DEBUG_INFO]
    abbrev_sec = sections.get(".debug_abbrev")
    r = Reader(mod.data, u.die_offset, u.end, mod.file)
    code = r.uleb(64)
    if code == 0:
        return {}
    if abbrev_sec is None:
        raise r.fail(f"{DEBUG_INFO}: no .debug_abbrev section", u.die_offset)
    if u.abbrev_offset >= abbrev_sec.end - abbrev_sec.start:
        raise r.fail(f"{DEBUG_INFO}: abbreviation offset {u.abbrev_offset} past the end of "
                     f".debug_abbrev", u.offset + info.start)
    _tag, specs = abbrev_sec.abbreviation(mod, u.abbrev_offset, code)
    raw: dict[int, tuple[int, int | bytes | None, int]] = {}
    for attr, form, implicit in specs:
        at = r.pos
        value = _read_form(r, form, u, implicit)
        if attr in (_AT_NAME, _AT_LANGUAGE, _AT_COMP_DIR, _AT_PRODUCER, _AT_STR_OFFSETS_BASE):
            raw[attr] = (form, value, at)
    # DWARF 5 str_offsets tables have an 8-byte header (16 in DWARF64) before the entries.
    base = raw.get(_AT_STR_OFFSETS_BASE, (0, 2 * u.offset_size, 0))[1]
    out: dict[str, str | int] = {}
    for attr, key in ((_AT_NAME, "name"), (_AT_PRODUCER, "producer"), (_AT_COMP_DIR, "comp_dir")):
        if attr not in raw:
            continue
        form, value, at = raw[attr]
        if isinstance(value, bytes):
            out[key] = value.decode("utf-8", "replace")
        elif form in (0x0E, 0x1F) and isinstance(value, int):
            out[key] = _cstring(mod, sections, ".debug_str" if form == 0x0E else ".debug_line_str",
                                value, at)
        elif form in _STRX and isinstance(value, int) and isinstance(base, int):
            offsets = sections.get(".debug_str_offsets")
            if offsets is None:
                raise MalformedModule(f"{DEBUG_INFO}: indexed string but no .debug_str_offsets",
                                      at, mod.file)
            entry = offsets.reader(mod, base + value * u.offset_size) \
                if base + value * u.offset_size <= offsets.end - offsets.start else None
            if entry is None:
                raise MalformedModule(f"{DEBUG_INFO}: string index {value} past the end of "
                                      f".debug_str_offsets", at, mod.file)
            out[key] = _cstring(mod, sections, ".debug_str", _uint(entry, u.offset_size), at)
        # strp_sup / GNU_strp_alt live in a supplementary file we do not have: left out.
    language = raw[_AT_LANGUAGE][1] if _AT_LANGUAGE in raw else None
    if isinstance(language, int):
        out["language"] = language
    return out


def dwarf_summary(mod: m.Module) -> DwarfSummaryRecord | None:
    """The compile units of .debug_info; None when the module has none.

    Cheap (no DIE below each unit's first is read): safe to run on every inspect.
    On malformed DWARF the dict holds the units read before the problem and `error`.
    """
    sections = debug_sections(mod)
    info = sections.get(DEBUG_INFO)
    if info is None:
        return None
    units: list[DwarfUnitRecord] = []
    type_units = 0
    error = None
    r = info.reader(mod)
    try:
        while not r.at_end():
            u = _read_unit_header(r, info)
            r.pos = u.end
            if u.unit_type not in _CODE_UNIT_TYPES:
                type_units += 1
                continue
            top = _read_top_die(mod, sections, u)
            name = top.get("name")
            units.append({
                "offset": u.offset,
                "version": u.version,
                "name": name,
                "producer": top.get("producer"),
                "language": language_name(top.get("language")),
                "comp_dir": top.get("comp_dir"),
                "crate": crate_of_unit(name),
            })
    except MalformedModule as e:
        error = e.line()
    except Exception as e:  # noqa: BLE001 - a bug here must not cost the whole inspect
        error = f"{mod.file}: {DEBUG_INFO}: {_describe(e)}"
    return {
        "compile_units": len(units),
        "type_units": type_units,
        "versions": sorted({u["version"] for u in units}),
        "producers": _distinct(u["producer"] for u in units),
        "languages": _distinct(u["language"] for u in units),
        "crates": sorted({u["crate"] for u in units if u["crate"]}),
        "units": units,
        "bytes": sum(s.size for s in sections.values()),
        "sections": {name: s.size for name, s in sections.items()},
        "error": error,
    }


def _distinct(values) -> list:
    return list(dict.fromkeys(v for v in values if v is not None))


# --------------------------------------------------------------------------- full walk

@dataclass
class _Sub:
    """One DW_TAG_subprogram: what a body's entry needs, resolved after the walk."""

    name: str | None
    linkage_name: str | None
    file: str | None
    line: int | None
    origin: int | None  # .debug_info offset of DW_AT_abstract_origin / DW_AT_specification
    crate: str | None  # top DW_TAG_namespace around it


@dataclass
class DwarfFunctions:
    """Bodies described by DWARF subprograms, and how well the two matched."""

    functions: dict[int, DwarfEntryRecord] = field(default_factory=dict)  # function index -> entry
    bodies: int = 0  # code bodies in the module
    subprograms: int = 0  # DW_TAG_subprogram with a live (not tombstoned) low_pc
    tombstoned: int = 0  # subprograms whose code the linker removed
    unplaced: int = 0  # live low_pc at no body start (not seen in rustc or clang output)
    unplaced_examples: list[UnplacedRecord] = field(default_factory=list)  # the first few of them
    duplicates: int = 0  # live subprograms starting a body another one already claimed
    unmatched: list[int] = field(default_factory=list)  # function indices with no subprogram
    units: int = 0
    errors: list[str] = field(default_factory=list)
    failed_units: int = 0  # units whose DIEs could not all be read

    @property
    def matched(self) -> int:
        return len(self.functions)

    @property
    def error(self) -> str | None:
        return self.errors[0] if self.errors else None

    def to_json(self, mod: m.Module | None = None) -> DwarfFunctionsRecord:
        names = mod.function_names if mod is not None else {}
        return {
            "bodies": self.bodies,
            "matched": self.matched,
            "subprograms": self.subprograms,
            "tombstoned": self.tombstoned,
            "units": self.units,
            "unplaced": self.unplaced,
            "unplaced_examples": self.unplaced_examples,
            "duplicates": self.duplicates,
            "unmatched": [{"index": i, "name": names.get(i)} for i in self.unmatched],
            "error": self.error,
            "errors": self.errors,
            "failed_units": self.failed_units,
            "functions": [{"index": i, **entry} for i, entry in sorted(self.functions.items())],
        }


# pyelftools raises all of these on malformed input (seen by tests/test_dwarf.py's
# fuzzing): its own ELFError/DWARFError and construct's errors, plus bare Python errors
# from its unchecked indexing, asserts and struct unpacking.
@cache
def _pyelftools_errors() -> tuple[type[BaseException], ...]:
    import struct

    from elftools.common.exceptions import DWARFError, ELFError
    from elftools.construct.core import ConstructError

    return (ELFError, DWARFError, ConstructError, struct.error, IndexError, KeyError,
            AssertionError, ValueError, TypeError, AttributeError, EOFError,
            OverflowError, RecursionError, NotImplementedError, ZeroDivisionError)


INTERNAL = "internal error"


def _describe(e: BaseException) -> str:
    """`Type: message`, marked INTERNAL when raised by our code rather than pyelftools:
    bad DWARF is the input's fault, but a bug here should be reported, not blamed on it."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    ours = tb is not None and "elftools" not in tb.tb_frame.f_code.co_filename
    return f"{INTERNAL + ' ' if ours else ''}{type(e).__name__}: {e}"


def _dwarfinfo(mod: m.Module, sections: dict[str, DebugSection]):
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

    def desc(name: str):
        s = sections.get(name)
        if s is None:
            return None
        content = mod.data[s.start:s.end]
        return DebugSectionDescriptor(io.BytesIO(content), name, None, len(content), 0)

    kinds = ("info", "aranges", "abbrev", "frame", "str", "loc", "ranges", "line", "pubtypes",
             "pubnames", "addr", "str_offsets", "line_str", "loclists", "rnglists", "sup",
             "types")
    return DWARFInfo(
        DwarfConfig(little_endian=True, machine_arch="wasm32", default_address_size=4),
        eh_frame_sec=None, gnu_debugaltlink_sec=None,
        **{f"debug_{k}_sec": desc(f".debug_{k}") for k in kinds})


_CU_REF_FORMS = frozenset({"DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8",
                           "DW_FORM_ref_udata"})


def _ref(die, attr) -> int | None:
    """.debug_info offset a reference attribute points to (None: other file / signature)."""
    if attr.form in _CU_REF_FORMS:
        return attr.value + die.cu.cu_offset
    if attr.form == "DW_FORM_ref_addr":
        return attr.value
    return None


def _int(attr) -> int | None:
    return attr.value if attr is not None and isinstance(attr.value, int) else None


def _text(value) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


class _FileTable:
    """DW_AT_decl_file index -> path, from the unit's line program header, built lazily."""

    def __init__(self, dwarfinfo: Any, cu: Any) -> None:  # pyelftools objects (untyped library)
        self.dwarfinfo, self.cu = dwarfinfo, cu
        self.paths: dict[int, str] | None = None
        self.error: BaseException | None = None  # a line table that could not be read

    def path(self, index) -> str | None:
        if self.paths is None:
            try:
                self.paths = self._build()
            except _pyelftools_errors() as e:  # lose the file names, not the unit
                self.paths, self.error = {}, e
        return self.paths.get(index) if isinstance(index, int) else None

    def _build(self) -> dict[int, str]:
        top = self.cu.get_top_DIE()
        comp_dir = _text(top.attributes["DW_AT_comp_dir"].value) \
            if "DW_AT_comp_dir" in top.attributes else None
        program = self.dwarfinfo.line_program_for_CU(self.cu)
        if program is None:
            return {}
        header = program.header
        version = header["version"]
        dirs = [_text(d) or "" for d in header.get("include_directory") or ()]
        # DWARF 5 numbers files and directories from 0 (0 = the unit itself / comp_dir);
        # earlier versions from 1, with directory 0 meaning comp_dir.
        if version < 5:
            dirs = [comp_dir or "", *dirs]
        elif dirs and comp_dir and not posixpath.isabs(dirs[0]):
            dirs[0] = posixpath.join(comp_dir, dirs[0])
        first = 0 if version >= 5 else 1
        out = {}
        for i, entry in enumerate(header.get("file_entry") or (), start=first):
            name = _text(entry.get("name")) or ""
            d = entry.get("dir_index")
            directory = dirs[d] if isinstance(d, int) and 0 <= d < len(dirs) else ""
            if directory and not posixpath.isabs(directory) and comp_dir:
                directory = posixpath.join(comp_dir, directory)
            out[i] = posixpath.join(directory, name) if directory else name
        return out


def _walk_unit_pyelftools(dwarfinfo, cu, files: _FileTable, subs: dict[int, _Sub],
                          bodies_at: dict[int, m.Function], found: dict[int, int],
                          inlined: list[tuple[int, int]], out: DwarfFunctions) -> None:
    """The walk through pyelftools' DIE objects, replaced by `_walk_unit` (3x slower);
    kept as the reference the tests compare the decoder with."""
    from elftools.dwarf.die import DIE

    top = cu.get_top_DIE()
    stream = dwarfinfo.debug_info_sec.stream
    end = cu.cu_offset + cu.size
    pos = top.offset + top.size
    # Open DIEs with children: (top namespace, enclosing body's function index).
    stack: list[tuple[str | None, int | None]] = [(None, None)] if top.has_children else []
    while pos < end and stack:
        die = DIE(cu, stream, pos)
        pos += die.size
        tag = die.tag
        if tag is None:  # end of a sibling list
            stack.pop()
            continue
        crate, body = stack[-1]
        attrs = die.attributes
        if tag == "DW_TAG_namespace":
            if crate is None and "DW_AT_name" in attrs:
                crate = _text(attrs["DW_AT_name"].value)
        elif tag == "DW_TAG_subprogram":
            origin = None
            for key in ("DW_AT_abstract_origin", "DW_AT_specification"):
                if key in attrs:
                    origin = _ref(die, attrs[key])
                    break
            decl = attrs.get("DW_AT_decl_file")
            linkage = attrs.get("DW_AT_linkage_name") or attrs.get("DW_AT_MIPS_linkage_name")
            subs[die.offset] = _Sub(
                name=_text(attrs["DW_AT_name"].value) if "DW_AT_name" in attrs else None,
                linkage_name=_text(linkage.value) if linkage is not None else None,
                file=files.path(decl.value) if decl is not None else None,
                line=_int(attrs.get("DW_AT_decl_line")),
                origin=origin, crate=crate)
            low = attrs.get("DW_AT_low_pc")
            if low is not None and isinstance(low.value, int):
                if low.value in TOMBSTONES:
                    out.tombstoned += 1
                else:
                    out.subprograms += 1
                    fn = bodies_at.get(low.value)
                    if fn is None:
                        out.unplaced += 1
                        if len(out.unplaced_examples) < _MAX_EXAMPLES:
                            out.unplaced_examples.append({"name": subs[die.offset].linkage_name
                                                          or subs[die.offset].name,
                                                          "low_pc": low.value})
                    elif fn.index in found:
                        out.duplicates += 1
                    else:
                        found[fn.index] = die.offset
                        body = fn.index
        elif tag == "DW_TAG_inlined_subroutine" and body is not None:
            if "DW_AT_abstract_origin" in attrs:
                ref = _ref(die, attrs["DW_AT_abstract_origin"])
                if ref is not None:
                    inlined.append((ref, body))
        if die.has_children:
            stack.append((crate, body))


# ------------------------------------------------------------------ own DIE decoder
#
# pyelftools builds a DIE object with every attribute decoded (strings looked up,
# indexed forms resolved) through construct: ~9 us per DIE, 3 s for the 346,615 DIEs
# of a debug build. The walk reads at most 8 attributes of 3 tags, so below each
# abbreviation becomes a plan once per unit: fixed-size runs of skipped attributes
# merged into one jump, and only the wanted attributes decoded, to the same values
# pyelftools gives them (kept in `_walk_unit_pyelftools` as the tests' reference).

_TAG_NAMESPACE, _TAG_SUBPROGRAM, _TAG_INLINED = 0x39, 0x2E, 0x1D
_AT_LOW_PC, _AT_DECL_FILE, _AT_DECL_LINE = 0x11, 0x3A, 0x3B
_AT_ORIGIN, _AT_SPECIFICATION, _AT_LINKAGE, _AT_MIPS_LINKAGE = 0x31, 0x47, 0x6E, 0x2007
_WANTED = {
    _TAG_NAMESPACE: frozenset({_AT_NAME}),
    _TAG_SUBPROGRAM: frozenset({_AT_NAME, _AT_LINKAGE, _AT_MIPS_LINKAGE, _AT_DECL_FILE,
                                _AT_DECL_LINE, _AT_LOW_PC, _AT_ORIGIN, _AT_SPECIFICATION}),
    _TAG_INLINED: frozenset({_AT_ORIGIN}),
}
# Skip steps of a plan that are not a fixed byte count (those are ints >= 0).
_SKIP_LEB, _SKIP_STRING, _SKIP_BLOCK1, _SKIP_BLOCK2, _SKIP_BLOCK4, _SKIP_BLOCK = -1, -2, -3, -4, -5, -6
_SKIP_INDIRECT = -7
_CU_REFS = frozenset({0x11, 0x12, 0x13, 0x14, 0x15})  # ref1 ref2 ref4 ref8 ref_udata
_ADDRX = frozenset({0x1B, 0x29, 0x2A, 0x2B, 0x2C})
_FLAG, _FLAG_PRESENT, _IMPLICIT_CONST, _INDIRECT = 0x0C, 0x19, 0x21, 0x16
# Forms pyelftools decodes to a list (blocks, data16): no walk field takes them.
_OPAQUE = ("opaque",)


class _BadDie(Exception):
    """Malformed DWARF met by the decoder: reported as one line, like pyelftools' errors."""


_uleb_at = uleb_at


def _sleb_at(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value - (1 << shift) if b & 0x40 else value, pos


def _form_size(form: int, u: _Unit) -> int | None:
    """Bytes of a form whose size the abbreviation alone decides (None: read from the DIE)."""
    if form in _FIXED_SIZE:
        return _FIXED_SIZE[form]
    if form in _OFFSET_SIZED:
        return u.offset_size
    if form == 0x01:
        return u.addr_size
    if form == 0x10:  # ref_addr: address-sized in DWARF 2
        return u.offset_size if u.version >= 3 else u.addr_size
    if form in (_FLAG_PRESENT, _IMPLICIT_CONST):
        return 0
    return None


_VARIABLE_SKIP = {0x08: _SKIP_STRING, 0x0A: _SKIP_BLOCK1, 0x03: _SKIP_BLOCK2, 0x04: _SKIP_BLOCK4,
                  0x09: _SKIP_BLOCK, 0x18: _SKIP_BLOCK, 0x0D: _SKIP_LEB, _INDIRECT: _SKIP_INDIRECT}

# abbreviation code -> (tag, has children, plan); a plan step is a skip (int) or a wanted
# attribute (attribute, form, implicit const) or an unknown form (form,) that fails the DIE.
_Plan = tuple[int, bool, tuple]


def _plans(abbrev: bytes, offset: int, u: _Unit) -> dict[int, _Plan]:
    """The unit's abbreviation table turned into plans, once per unit."""
    out: dict[int, _Plan] = {}
    r = Reader(abbrev, offset, len(abbrev), ".debug_abbrev")
    try:
        while True:
            code, tag, children, specs = _abbrev_entry(r)
            if code == 0:
                return out
            wanted = _WANTED.get(tag, frozenset())
            plan: list = []
            for attr, form, implicit in specs:
                if attr in wanted:
                    plan.append((attr, form, implicit))
                    continue
                size = _form_size(form, u)
                if size is None:
                    step = _VARIABLE_SKIP.get(form, _SKIP_LEB if form in _ULEB else None)
                    plan.append((form,) if step is None else step)
                elif size:
                    if plan and isinstance(plan[-1], int) and plan[-1] >= 0:
                        plan[-1] += size
                    else:
                        plan.append(size)
            out[code] = (tag, children, tuple(plan))
    except MalformedModule:
        raise _BadDie(f".debug_abbrev: table at offset {offset} runs past the end") from None


class _Strings:
    """The sections a wanted attribute's value may point into, and the unit's bases."""

    def __init__(self, mod: m.Module, sections: dict[str, DebugSection]) -> None:
        def body(name: str) -> bytes | None:
            s = sections.get(name)
            return mod.data[s.start:s.end] if s is not None else None

        self.str = body(".debug_str")
        self.line_str = body(".debug_line_str")
        self.str_offsets = body(".debug_str_offsets")
        self.addr = body(".debug_addr")
        self.loclists = body(".debug_loclists")
        self.rnglists = body(".debug_rnglists")


def _cstr(table: bytes | None, offset: int, name: str) -> bytes | None:
    """pyelftools' reading: a missing section fails, an unterminated string is None."""
    if table is None:
        raise _BadDie(f"string in {name}, which is missing")
    end = table.find(b"\0", offset)
    return table[offset:end] if end >= 0 else None


def _table_entry(table: bytes | None, name: str, at: int, size: int) -> int:
    if table is None:
        raise _BadDie(f"indexed value but no {name}")
    if at + size > len(table):
        raise _BadDie(f"index past the end of {name}")
    return int.from_bytes(table[at:at + size], "little")


def _base(top_attrs: dict, key: str, cu_offset: int) -> int:
    if key not in top_attrs:
        raise _BadDie(f"the unit at offset 0x{cu_offset:x} needs {key}")
    return top_attrs[key].value


def _value(data: bytes, pos: int, form: int, implicit: int, u: _Unit, cu: Any,
           tables: _Strings) -> tuple[Any, int, int]:
    """(value as pyelftools decodes it, position after it, form after DW_FORM_indirect)."""
    if form == _INDIRECT:
        while form == _INDIRECT:
            form, pos = _uleb_at(data, pos)
        if form == _IMPLICIT_CONST:  # its value lives in the abbreviation, which has none
            raise _BadDie("DW_FORM_indirect to DW_FORM_implicit_const")
    size = _form_size(form, u)
    if size is not None:
        if form == _IMPLICIT_CONST:
            return implicit, pos, form
        if form == _FLAG_PRESENT:
            return True, pos, form
        if pos + size > len(data):
            raise _BadDie(f"attribute runs past the end of {DEBUG_INFO}")
        if form == 0x1E:  # data16
            return _OPAQUE, pos + size, form
        raw = int.from_bytes(data[pos:pos + size], "little")
        pos += size
        if form == _FLAG:
            return raw != 0, pos, form
        if form == 0x0E:  # strp
            return _cstr(tables.str, raw, ".debug_str"), pos, form
        if form == 0x1F:  # line_strp
            return _cstr(tables.line_str, raw, ".debug_line_str"), pos, form
    elif form == 0x0D:
        raw, pos = _sleb_at(data, pos)
        return raw, pos, form
    elif form in _ULEB:
        raw, pos = _uleb_at(data, pos)
    elif form == 0x08:  # string
        end = data.find(b"\0", pos)
        if end < 0:
            raise _BadDie(f"unterminated string in {DEBUG_INFO}")
        return data[pos:end], end + 1, form
    elif form in _VARIABLE_SKIP:  # blocks and exprloc
        step = _VARIABLE_SKIP[form]
        if step == _SKIP_BLOCK:
            n, pos = _uleb_at(data, pos)
        else:
            width = {_SKIP_BLOCK1: 1, _SKIP_BLOCK2: 2, _SKIP_BLOCK4: 4}[step]
            n = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        return _OPAQUE, pos + n, form
    else:
        raise _BadDie(f"unknown attribute form 0x{form:x}")
    if form in _STRX:
        offset_size = u.offset_size
        base = _base(cu.get_top_DIE().attributes, "DW_AT_str_offsets_base", cu.cu_offset)
        at = _table_entry(tables.str_offsets, ".debug_str_offsets", base + raw * offset_size,
                          offset_size)
        return _cstr(tables.str, at, ".debug_str"), pos, form
    if form in _ADDRX:
        base = _base(cu.get_top_DIE().attributes, "DW_AT_addr_base", cu.cu_offset)
        return _table_entry(tables.addr, ".debug_addr", base + raw * u.addr_size,
                            u.addr_size), pos, form
    if form in (0x22, 0x23):  # loclistx, rnglistx: offset of the list, as pyelftools gives it
        table, name, key = (tables.loclists, ".debug_loclists", "DW_AT_loclists_base") \
            if form == 0x22 else (tables.rnglists, ".debug_rnglists", "DW_AT_rnglists_base")
        base = _base(cu.get_top_DIE().attributes, key, cu.cu_offset)
        return base + _table_entry(table, name, base + raw * u.offset_size, u.offset_size), pos, form
    return raw, pos, form


def _unit_of(cu: Any) -> _Unit:
    u = _Unit()
    header = cu.header
    u.version = header["version"]
    u.offset_size = 8 if cu.structs.dwarf_format == 64 else 4
    u.addr_size = header["address_size"]
    return u


def _walk_unit(data: bytes, abbrev: bytes, tables: _Strings, plan_cache: dict[tuple, dict[int, _Plan]],
               cu: Any, files: _FileTable,
               subs: dict[int, _Sub], bodies_at: dict[int, m.Function], found: dict[int, int],
               inlined: list[tuple[int, int]], out: DwarfFunctions) -> None:
    """Reads every DIE of one unit with the plans of its abbreviations (see above)."""
    top = cu.get_top_DIE()  # pyelftools: also the bases and line table's comp_dir
    u = _unit_of(cu)
    cu_offset = cu.cu_offset
    table = (cu["debug_abbrev_offset"], u.version, u.offset_size, u.addr_size)
    plans = plan_cache.get(table)
    if plans is None:  # rustc's units share tables: 66 for the 407 units of a debug build
        plans = plan_cache[table] = _plans(abbrev, table[0], u)
    end = cu_offset + cu.size
    limit = len(data)
    pos = top.offset + top.size
    stack: list[tuple[str | None, int | None]] = [(None, None)] if top.has_children else []
    die = pos
    try:
        while pos < end and stack:
            die = pos
            code = data[pos]
            pos += 1
            if code >= 0x80:
                code, pos = _uleb_at(data, die)
            if code == 0:
                stack.pop()
                continue
            plan = plans.get(code)
            if plan is None:
                raise _BadDie(f"no abbreviation {code} in the unit's table")
            tag, children, steps = plan
            values: dict[int, tuple[Any, int]] = {}
            for step in steps:
                if step.__class__ is int:
                    if step >= 0:
                        pos += step
                    elif step == _SKIP_LEB:
                        while data[pos] >= 0x80:
                            pos += 1
                        pos += 1
                    elif step == _SKIP_STRING:
                        pos = data.index(0, pos) + 1
                    elif step == _SKIP_BLOCK1:
                        pos += 1 + data[pos]
                    elif step == _SKIP_BLOCK:
                        n, pos = _uleb_at(data, pos)
                        pos += n
                    elif step == _SKIP_BLOCK2:
                        pos += 2 + int.from_bytes(data[pos:pos + 2], "little")
                    elif step == _SKIP_BLOCK4:
                        pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
                    else:  # indirect
                        _, pos, _ = _value(data, pos, _INDIRECT, 0, u, cu, tables)
                elif len(step) == 1:
                    raise _BadDie(f"unknown attribute form 0x{step[0]:x}")
                else:
                    value, pos, form = _value(data, pos, step[1], step[2], u, cu, tables)
                    values[step[0]] = (value, form)
            if pos > limit:
                raise _BadDie(f"runs past the end of {DEBUG_INFO}")
            crate, body = stack[-1]
            if tag == _TAG_NAMESPACE:
                if crate is None and _AT_NAME in values:
                    crate = _text(values[_AT_NAME][0])
            elif tag == _TAG_SUBPROGRAM:
                origin = None
                for key in (_AT_ORIGIN, _AT_SPECIFICATION):
                    if key in values:
                        origin = _ref_value(values[key], cu_offset)
                        break
                decl = values.get(_AT_DECL_FILE)
                linkage = values.get(_AT_LINKAGE) or values.get(_AT_MIPS_LINKAGE)
                line = values.get(_AT_DECL_LINE)
                sub = subs[die] = _Sub(
                    name=_text(values[_AT_NAME][0]) if _AT_NAME in values else None,
                    linkage_name=_text(linkage[0]) if linkage is not None else None,
                    file=files.path(decl[0]) if decl is not None else None,
                    line=line[0] if line is not None and isinstance(line[0], int) else None,
                    origin=origin, crate=crate)
                low = values.get(_AT_LOW_PC)
                if low is not None and isinstance(low[0], int):
                    low_pc = low[0]
                    if low_pc in TOMBSTONES:
                        out.tombstoned += 1
                    else:
                        out.subprograms += 1
                        fn = bodies_at.get(low_pc)
                        if fn is None:
                            out.unplaced += 1
                            if len(out.unplaced_examples) < _MAX_EXAMPLES:
                                out.unplaced_examples.append(
                                    {"name": sub.linkage_name or sub.name, "low_pc": low_pc})
                        elif fn.index in found:
                            out.duplicates += 1
                        else:
                            found[fn.index] = die
                            body = fn.index
            elif tag == _TAG_INLINED and body is not None:
                if _AT_ORIGIN in values:
                    ref = _ref_value(values[_AT_ORIGIN], cu_offset)
                    if ref is not None:
                        inlined.append((ref, body))
            if children:
                stack.append((crate, body))
    except (IndexError, ValueError):  # a length, string or LEB running off the section
        raise _BadDie(f"DIE at offset 0x{die:x} runs past the end of {DEBUG_INFO}") from None
    except _BadDie as e:
        raise _BadDie(f"DIE at offset 0x{die:x}: {e}") from None


def _ref_value(value: tuple[Any, int], cu_offset: int) -> int | None:
    """`_ref` for a decoded (value, form)."""
    v, form = value
    if form in _CU_REFS:
        return v + cu_offset
    if form == 0x10:
        return v
    return None


def _resolved(subs: dict[int, _Sub], offset: int) -> _Sub:
    """The subprogram at `offset` with missing fields taken from its origin chain."""
    sub = subs[offset]
    merged = _Sub(sub.name, sub.linkage_name, sub.file, sub.line, None, sub.crate)
    seen = {offset}
    while sub.origin is not None and sub.origin in subs and sub.origin not in seen:
        seen.add(sub.origin)
        sub = subs[sub.origin]
        merged.name = merged.name or sub.name
        merged.linkage_name = merged.linkage_name or sub.linkage_name
        if merged.file is None:
            merged.file, merged.line = sub.file, sub.line
        merged.crate = merged.crate or sub.crate
    return merged


def dwarf_walk(mod: m.Module) -> DwarfFunctions:
    """Maps every DW_TAG_subprogram's low_pc to the code body it starts, reading all DIEs.

    Never raises on malformed DWARF: a unit that cannot be read is counted in
    `failed_units` with its error and the walk goes on with the next one.
    """
    return _dwarf_walk(mod, pyelftools_dies=False)


def _dwarf_walk(mod: m.Module, pyelftools_dies: bool) -> DwarfFunctions:
    """`dwarf_walk`, with pyelftools' DIE parsing instead of ours for the tests' reference."""
    out = DwarfFunctions(bodies=len(mod.functions))
    sections = debug_sections(mod)
    code = mod.section("code")
    if DEBUG_INFO not in sections or code is None:
        out.unmatched = [f.index for f in mod.functions]
        return out
    bodies_at = {f.code_offset - code.payload_offset: f for f in mod.functions}
    subs: dict[int, _Sub] = {}
    found: dict[int, int] = {}  # function index -> DIE offset of its subprogram
    inlined: list[tuple[int, int]] = []  # (abstract origin offset, body function index)
    errors = _pyelftools_errors()
    unit_errors: tuple[type[BaseException], ...] = (*errors, _BadDie)

    def fail(e: BaseException, where: str) -> None:
        if len(out.errors) < _MAX_UNITS_WITH_ERRORS:
            what = str(e) if isinstance(e, _BadDie) else _describe(e)
            out.errors.append(f"{mod.file}: {DEBUG_INFO} {where}: {what}")

    info = mod.data[sections[DEBUG_INFO].start:sections[DEBUG_INFO].end]
    abbrev = sections.get(".debug_abbrev")
    abbrevs = mod.data[abbrev.start:abbrev.end] if abbrev is not None else b""
    tables = _Strings(mod, sections)
    plan_cache: dict[tuple, dict[int, _Plan]] = {}
    try:
        dwarfinfo = _dwarfinfo(mod, sections)
        units = dwarfinfo.iter_CUs()
        while True:
            try:
                cu = next(units)
            except StopIteration:
                break
            except errors as e:  # a unit header: the units after it cannot be found
                fail(e, "unit header")
                out.failed_units += 1
                break
            out.units += 1
            files = _FileTable(dwarfinfo, cu)
            try:
                if pyelftools_dies:
                    _walk_unit_pyelftools(dwarfinfo, cu, files, subs, bodies_at, found, inlined,
                                          out)
                else:
                    _walk_unit(info, abbrevs, tables, plan_cache, cu, files, subs, bodies_at,
                               found, inlined, out)
            except unit_errors as e:
                fail(e, f"unit at offset 0x{cu.cu_offset:x}")
                out.failed_units += 1
            if files.error is not None:
                fail(files.error, f"line table of the unit at offset 0x{cu.cu_offset:x}")
    except errors as e:
        fail(e, "setup")
    _fill(out, mod, subs, found, inlined)
    return out


def _fill(out: DwarfFunctions, mod: m.Module, subs: dict[int, _Sub], found: dict[int, int],
          inlined: list[tuple[int, int]]) -> None:
    """Entries for matched bodies; `inlined_into` joins inlined copies by symbol."""

    def key(offset: int) -> object:
        sub = _resolved(subs, offset)
        return sub.linkage_name or ("die", offset)

    into: dict[object, set[int]] = {}
    for origin, body in inlined:
        if origin in subs:
            into.setdefault(key(origin), set()).add(body)
    for index, offset in found.items():
        sub = _resolved(subs, offset)
        entry: DwarfEntryRecord = {"file": sub.file, "line": sub.line, "crate": sub.crate,
                                    "linkage_name": sub.linkage_name}
        others = sorted(into.get(key(offset), set()) - {index})
        if others:
            entry["inlined_into"] = others
        out.functions[index] = entry
    out.unmatched = [f.index for f in mod.functions if f.index not in found]


def dwarf_functions(mod: m.Module) -> dict[int, DwarfEntryRecord]:
    """Function index -> {file, line, crate, linkage_name[, inlined_into]} (see dwarf_walk)."""
    return dwarf_walk(mod).functions
