"""Data attribution: what the bytes of the data segments are, and which functions use them.

Rust's read-only data is one run of bytes (`.rodata` strings are not NUL-terminated
and sit back to back), so it is cut where something points into it: an address in
code (`i32.const`, see `refs.py`) or an aligned 4-byte word of data holding an address
inside a segment (a `&str` in a table, a panic `Location`, a format string's pieces).
Each piece is then classified, every byte exactly once:

- `tables`: runs of pointer words, each followed by at most three small integers,
  starting where something points (panic `Location {file, line, col}` records,
  `fmt::Arguments` piece arrays, tables of `&str`), and pieces whose aligned words are
  at least a quarter data pointers;
- readable text (UTF-8 without control characters other than tab/newline), split by the
  rules in `rules/data_strings.toml` into `source_paths`, `panic_messages`,
  `format_strings` and `strings` (other readable strings). Text inside an unreferenced
  stretch counts when it runs 8 bytes or more;
- `rest`: everything else (numbers, lookup tables, vtables, padding, zeroed statics).

The pointer and address tests are approximations (an integer that looks like an
address cuts a piece it should not), documented in the README; the sums are exact.
Every regex here is linear: one pass of character classes with disjoint first bytes.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from auditor.wasm import model as m
from auditor.wasm.analysis.refs import data_pointers, data_ranges

__all__ = ["CATEGORIES", "DataAttribution", "DataPiece", "data_attribution", "formatting_functions", "preview"]

CATEGORIES = ("panic_messages", "source_paths", "format_strings", "strings", "tables", "rest")

# Printable UTF-8 plus tab, LF, CR; each alternative starts with its own byte class.
_CHAR = (rb"(?:[\t\n\r\x20-\x7e]|[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
         rb"|[\xf0-\xf4][\x80-\xbf]{3})")
_TEXT = re.compile(_CHAR + rb"+")
_MIN_UNREFERENCED_RUN = 8  # text inside a stretch nothing points to
_LONG_TEXT = re.compile(_CHAR + rb"{%d,}" % _MIN_UNREFERENCED_RUN)
_MIN_REFERENCED_RUN = 2  # text where an address points
_PRINTF = re.compile(r"%[-+ #0]{0,5}(?:[0-9]{1,9}|\*)?(?:\.(?:[0-9]{1,9}|\*))?(?:hh|h|ll|l|j|z|t|L)?"
                     r"[diouxXeEfFgGaAcsp]")
_BRACES = re.compile(r"\{[A-Za-z0-9_]{0,32}(?::[^{}]{0,16})?\}")
_PREVIEW = 60


@lru_cache(maxsize=1)
def _rules() -> dict:
    from auditor.data import load_rules_file

    return load_rules_file("data_strings.toml")


def preview(raw: bytes, limit: int = _PREVIEW) -> str:
    """Module bytes made safe to print: ASCII only, escapes for everything else, cut."""
    out = []
    for b in raw[:limit]:
        if 0x20 <= b < 0x7F and b != 0x5C:
            out.append(chr(b))
        elif b == 0x5C:
            out.append("\\\\")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out) + ("…" if len(raw) > limit else "")


@dataclass
class DataPiece:
    address: int | None  # memory address (None: a segment without a constant address)
    segment: int
    offset: int  # within the segment
    size: int
    category: str
    text: str  # preview (escaped, cut)
    functions: list[int] = field(default_factory=list)  # function indices naming its address
    via_tables: list[int] = field(default_factory=list)  # functions naming a table pointing to it

    def to_json(self, names: Mapping[int, str] | None = None) -> dict:
        def named(fs):
            return [{"index": f, "name": (names or {}).get(f)} for f in fs[:5]]
        return {"address": self.address, "segment": self.segment, "offset": self.offset, "bytes": self.size,
                "text": self.text, "functions": named(self.functions), "via_tables": named(self.via_tables),
                "referrers": len(self.functions) + len(self.via_tables)}


@dataclass
class DataAttribution:
    """Totals per category, the largest pieces of each (at most `keep`) and, per
    category, the bytes each function references: directly or through a data table,
    as its pieces list them (`functions` + `via_tables`). Through a table is how most
    of them are used: a source path is reached only through its panic `Location`, a
    format piece through its `fmt::Arguments` pieces array, so a direct-only sum would
    name no function for those categories."""

    bytes: int  # all segment bytes
    keep: int = 20
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    function_bytes: dict[str, dict[int, int]] = field(default_factory=lambda: {c: {} for c in CATEGORIES})
    pointers: int = 0  # data words read as pointers
    references: int = 0  # code addresses inside segments
    _heaps: dict[str, list] = field(default_factory=lambda: {c: [] for c in CATEGORIES}, repr=False)
    _seq: int = 0

    def _offer(self, key: tuple, make) -> None:
        """Keep the piece if it is among the `keep` largest of its category; `make`
        builds it (and its preview) only then."""
        heap = self._heaps[key[0]]
        self._seq += 1
        item = (key[1], -self._seq, make)
        if len(heap) < self.keep:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)

    def top(self, category: str, n: int | None = None) -> list[DataPiece]:
        items = sorted(self._heaps[category], reverse=True)
        out = []
        for _, _, make in items[:n]:
            out.append(make() if callable(make) else make)
        return out

    def top_functions(self, category: str, n: int = 5) -> list[tuple[int, int]]:
        rows = sorted(self.function_bytes[category].items(), key=lambda x: (-x[1], x[0]))
        return rows[:n]

    def to_json(self, names: Mapping[int, str] | None = None, top: int | None = None) -> dict:
        return {"bytes": self.bytes, "pointers": self.pointers, "references": self.references,
                "categories": [{"name": c, "bytes": self.categories[c], "pieces": self.counts[c],
                                "functions": [{"index": f, "name": (names or {}).get(f), "bytes": b}
                                              for f, b in self.top_functions(c)],
                                "top": [p.to_json(names) for p in self.top(c, top)]} for c in CATEGORIES]}


@lru_cache(maxsize=1)
def _matchers() -> tuple[tuple[str, ...], re.Pattern]:
    rules = _rules()
    panic = "|".join(re.escape(p) for p in rules["panic_messages"]["contains"])
    return tuple(rules["source_paths"]["extensions"]), re.compile(panic)


_SPACE = re.compile(r"\s")


def formatting_functions(mod: m.Module, calls: Mapping[int, Iterable[int]]) -> set[int] | None:
    """Functions that call a format entry point (`rules/data_strings.toml`), from each
    function's callees; None when the module has no function names to go by."""
    if not mod.function_names:
        return None
    from auditor.wasm.demangle import demangle, strip_hash

    entries = _rules()["format_strings"]["entry_points"]
    suffixes = tuple("::" + e for e in entries)
    exact = set(entries)
    maybe = _entry_prefilter(entries)
    targets = set()
    for i, raw in mod.function_names.items():
        if not maybe(raw):
            continue
        name = strip_hash(demangle(raw))
        if name in exact or name.endswith(suffixes):
            targets.add(i)
    return {f for f, cs in calls.items() if targets.intersection(cs)}


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _entry_prefilter(entries: Iterable[str]):
    """A test on a raw symbol that is False only when its demangled name cannot be an
    entry point or end with `::` + one, so most names are never demangled.

    Exact for v0 symbols (`_R…`): such a name ends with the entry's last identifier,
    and the v0 printer prints identifiers from the symbol's own text (directly, through
    a backref to an earlier part of the same symbol, or as the ASCII part of a punycode
    identifier, whose decoded characters are all non-ASCII), so that identifier is in the
    symbol. A `[` could let strip_hash join text (`wri[1a]te`), so such names are
    demangled; so are all other mangled names (legacy escapes, C++ abbreviations)."""
    tails = [e.rsplit("::", 1)[-1] for e in entries]
    if not tails or not all(_IDENT.fullmatch(t) for t in tails):
        return lambda raw: True

    any_tail = re.compile("|".join(re.escape(t) for t in tails)).search

    def maybe(raw: str) -> bool:
        if not raw.startswith("_R") or "[" in raw:
            return True
        return any_tail(raw) is not None

    return maybe


def _text_category(raw: bytes, from_code: bool, from_data: bool) -> str:
    text = raw.decode("utf-8", "replace")
    exts, panic = _matchers()
    if len(text) > 3 and text.endswith(exts) and not _SPACE.search(text):
        return "source_paths"
    if panic.search(text):
        return "panic_messages"
    fmt = _rules()["format_strings"]
    if fmt.get("pieces_from_tables") and from_data and not from_code:
        return "format_strings"
    if "%" in text and fmt.get("printf") and _PRINTF.search(text):
        return "format_strings"
    if "{" in text and fmt.get("braces") and _BRACES.search(text):
        return "format_strings"
    return "strings"


def data_attribution(mod: m.Module, code_addresses: Mapping[int, Iterable[int]], keep: int = 20,
                     formatters: set[int] | None = None, pointers: Mapping[int, int] | None = None) -> DataAttribution:
    """Classify every data segment byte. `code_addresses`: function index -> the data
    addresses its code names (`refs.code_references(mod).bodies[i].data_addresses`);
    `formatters`: functions that call a format entry point (`formatting_functions`), or
    None to count every string pointed to from a data table as a format piece;
    `pointers`: `refs.data_pointers(mod)` when the caller has it already."""
    segs = data_ranges(mod)
    starts = [s for s, _, _ in segs]
    out = DataAttribution(sum(s.size for s in mod.data_segments), keep=keep)

    def segment_at(addr: int) -> int:
        k = bisect_right(starts, addr) - 1
        return k if k >= 0 and addr < segs[k][1] else -1

    by_addr: dict[int, set[int]] = {}
    in_segment: dict[int, bool] = {}  # address -> in a segment (each address looked up once)
    for fn, addrs in code_addresses.items():
        for a in set(addrs):
            ok = in_segment.get(a)
            if ok is None:
                ok = in_segment[a] = segment_at(a) >= 0
            if ok:
                by_addr.setdefault(a, set()).add(fn)
    out.references = len(by_addr)
    ptr_at = pointers if pointers is not None else data_pointers(mod)
    out.pointers = len(ptr_at)
    pointed: dict[int, list[int]] = {}
    for w, v in ptr_at.items():
        pointed.setdefault(v, []).append(w)
    targets = sorted(set(by_addr) | set(pointed))
    words_sorted = sorted(ptr_at)
    users = _TableUsers(by_addr)
    for s, e, idx in segs:
        inside = targets[bisect_left(targets, s):bisect_left(targets, e)]
        cuts = inside if inside and inside[0] == s else [s, *inside]
        seg = mod.data_segments[idx]
        for k, a in enumerate(cuts):
            b = cuts[k + 1] if k + 1 < len(cuts) else e
            _classify(out, mod, seg, s, a, b, by_addr, pointed, ptr_at, words_sorted, formatters, users)
    # segments without a constant address (passive, or an offset from a global): no
    # references can point in, so only their text runs are found
    placed = {idx for _, _, idx in segs}
    for seg in mod.data_segments:
        if seg.index not in placed and seg.size:
            _classify(out, mod, seg, None, 0, seg.size, {}, {}, {}, [], formatters, _TableUsers({}))
    return out


def _classify(out: DataAttribution, mod: m.Module, seg: m.DataSegment, base: int | None, a: int, b: int,
              by_addr: Mapping[int, set[int]], pointed: Mapping[int, list[int]], ptr_at: Mapping[int, int],
              words_sorted: list[int], formatters: set[int] | None, users: _TableUsers) -> None:
    """One piece [a, b) (addresses when base is set, else segment offsets)."""
    origin = base if base is not None else 0
    raw = mod.data[seg.data_offset + a - origin:seg.data_offset + b - origin]
    address = a if base is not None else None
    functions = sorted(by_addr.get(a, ()))
    words_here = pointed.get(a)
    # functions naming a table that points here: needed for the piece's record (only if it
    # is among the largest) and to tell format pieces; worked out at most once
    via_memo: list[list[int]] = []

    def via_functions() -> list[int]:
        if not via_memo:
            via_memo.append(sorted({f for w in words_here for f in users(w)}
                                   - set(functions)) if words_here else [])
        return via_memo[0]

    def add(category: str, start: int, end: int) -> None:
        if end <= start:
            return
        size = end - start
        out.categories[category] += size
        out.counts[category] += 1
        mine = functions if start == 0 else []
        via = via_functions() if start == 0 and words_here else []
        per_fn = out.function_bytes[category]
        for f in mine:
            per_fn[f] = per_fn.get(f, 0) + size
        for f in via:  # (none of `mine`: via_functions leaves those out)
            per_fn[f] = per_fn.get(f, 0) + size
        at = a + start
        chunk = raw[start:min(end, start + _PREVIEW + 1)]
        out._offer((category, size), lambda: DataPiece(at if address is not None else None, seg.index,
                                                       at - origin, size, category, preview(chunk),
                                                       mine, via))

    pos = 0
    if base is not None and a in ptr_at:
        pos = _table_prefix(raw, a, b, ptr_at)
        add("tables", 0, pos)
    elif base is not None:
        words = bisect_left(words_sorted, b - 3) - bisect_left(words_sorted, a)
        if words and words * 16 >= b - a:
            add("tables", 0, b - a)
            return
    first = _TEXT.match(raw, pos) if pos == 0 else None
    if first is not None:
        run = first.end()
        if run >= _MIN_REFERENCED_RUN or run == len(raw.rstrip(b"\0")):
            piece = bool(words_here) and (formatters is None or not formatters.isdisjoint(via_functions()))
            add(_text_category(raw[:run], bool(functions), piece), 0, run)
            pos = run
    while pos < len(raw):
        mt = _LONG_TEXT.search(raw, pos)
        if mt is None:
            add("rest", pos, len(raw))
            break
        add("rest", pos, mt.start())
        add(_text_category(mt.group(), False, False), mt.start(), mt.end())
        pos = mt.end()


_SMALL = 1 << 16  # lengths, line and column numbers next to a pointer


def _table_prefix(raw: bytes, a: int, b: int, ptr_at: Mapping[int, int]) -> int:
    """Length of the table starting at a (a pointer word): pointer words, each followed
    by up to three small integers (a `&str`'s length; a `Location`'s length, line and
    column); it ends at the first word that is neither."""
    end = w = a
    gap = 0
    while w + 4 <= b:
        if w in ptr_at:
            gap = 0
        elif gap < 3 and int.from_bytes(raw[w - a:w - a + 4], "little") < _SMALL:
            gap += 1
        else:
            break
        w += 4
        end = w
    return end - a


def _table_users(word: int, by_addr: Mapping[int, set[int]], ptr_at: Mapping[int, int]) -> set[int]:
    """Functions naming the table that holds pointer word `word`: the nearest code
    address at or below it within 64 bytes (a record or array start)."""
    for back in range(0, 65, 4):
        fs = by_addr.get(word - back)
        if fs:
            return fs
    return set()


class _TableUsers:
    """`_table_users` for many words: the nearest code address at or below a word, in
    steps of 4 (so of the word's residue mod 4), within 64 bytes, found by one bisection
    in that residue's sorted addresses instead of up to 17 lookups."""

    def __init__(self, by_addr: Mapping[int, set[int]]):
        self.by_addr = by_addr
        self.lists: list[list[int]] = [sorted(a for a, fs in by_addr.items() if fs and a % 4 == r)
                                       for r in range(4)]

    def __call__(self, word: int) -> set[int]:
        lst = self.lists[word % 4]
        j = bisect_right(lst, word) - 1
        if j >= 0 and word - lst[j] <= 64:
            return self.by_addr[lst[j]]
        return set()
