"""Symbol demangling for wasm name sections: Rust legacy, Rust v0, C++ Itanium.

Why our own Rust demangler: the only PyPI option (``rust-demangler`` 1.0) fails
on symbols current rustc emits (higher-ranked ``for<'a> fn(&'a T)`` types,
const-generic values, pattern types), prints ``{closure:#0}``, prints to
stdout on errors and raises RecursionError/IndexError on malformed input (see
README ("Function names and crates") for the measurements). This module follows the
behaviour of the reference implementation, the ``rustc-demangle`` crate, in
its alternate (``{:#}``) mode for v0 — no crate disambiguators — while legacy
symbols keep their ``::h<16 hex>`` hash, because two monomorphizations of one
generic function differ only by it. ``strip_hash`` removes what identifies a
build rather than a function.

C++ goes through ``cxxfilt`` (``abi::__cxa_demangle`` of libstdc++), which is a
well-kept demangler; if libstdc++ cannot be loaded the name stays mangled.

``demangle`` never raises: anything it cannot read is returned unchanged.

Many names at once (``demangle_all``, ``demangle_many``) go through the compiled
transcription of this demangler, auditor/wasm/native/demangle.c run in wasmtime, in
one call for all of them (~0.1 s instead of ~1.2 s for the 35,823 names of
@biomejs/wasm-nodejs); this module stays the reference and reads every name the
compiled one declines (punycode, non-ASCII constants, deep nesting) and every name
when wasmtime cannot run (``AUDITOR_NATIVE_DEMANGLER=off``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from auditor.wasm.reader import gc_paused

__all__ = ["demangle", "demangle_all", "demangle_many", "compiled_crate", "compiled_generics", "strip_hash",
           "is_rust_symbol", "v0_instantiating_crate", "Demangled"]

# Output larger than this is treated as malformed input (backrefs can expand
# exponentially). rustc-demangle uses 1_000_000; real names are < 100 KB.
_MAX_OUTPUT = 1_000_000
# A whole module's names share one budget of output characters (`demangle_all`): this
# many per input character plus a floor. Real modules print less than they read (v0
# backrefs: 0.77 characters out per character in on @biomejs/wasm-nodejs, 6.5x at most
# for one name), so only a module of backref bombs runs out; its remaining names stay
# mangled, with a warning. Backref output costs ~0.3 s per million characters.
_MODULE_BUDGET_PER_CHAR = 4
_MODULE_BUDGET_PER_NAME = 64
_MODULE_BUDGET_FLOOR = 256_000
# C++ names longer than this stay mangled: libstdc++'s demangler has no work limit of
# its own, and real C++ symbols are far shorter.
_MAX_CXX_INPUT = 16_384
# Nesting limit. rustc-demangle uses 500; Python frames are deeper per level,
# and 200 is far above anything rustc produces.
_MAX_DEPTH = 200
# More late-bound lifetimes than this in one binder is not real code.
_MAX_BOUND_LIFETIMES = 1000

_LLVM_SUFFIX = re.compile(r"\.llvm\.[0-9A-F@]+$")
_SYMBOL_LIKE = re.compile(r"[!-~]*")  # ASCII alphanumerics and punctuation


class _Invalid(Exception):
    """The input is not a well-formed symbol of the scheme being tried."""


class _OverLimit(_Invalid):
    """Backrefs would print more than the limit: work `demangle_all` charges in full."""


def is_rust_symbol(sym: str) -> bool:
    """True when ``sym`` demangles as a Rust (legacy or v0) symbol."""
    try:
        return _demangle_rust(sym) is not None
    except _OverLimit:
        return False


@functools.lru_cache(maxsize=65536)
def demangle(sym: str) -> str:
    """Readable name for a symbol; unchanged when it is not a mangled name."""
    hit = _PRIMED.get(sym)
    if hit is not None:
        return hit
    return _demangle(sym, _MAX_OUTPUT)[0]


def _demangle(sym: str, limit: int) -> tuple[str, bool]:
    """demangle() with at most `limit` characters of output (else unchanged), and whether
    the name stayed mangled because it reached that limit."""
    if not isinstance(sym, str) or not sym.startswith("_"):
        return sym, False
    try:
        rust = _demangle_rust(sym, limit)
    except _OverLimit:
        return sym, True
    except Exception:  # defensive: a bug must not take the report down
        rust = None
    if rust is not None:
        return rust, False
    return _not_rust(sym), False


def _not_rust(sym: str) -> str:
    """What `_demangle` answers for a name that is no Rust symbol."""
    if sym.startswith("_Z") and len(sym) <= _MAX_CXX_INPUT:
        return _demangle_cxx(sym)
    return sym


# ------------------------------------------------------------- compiled demangler

# Answers of the compiled demangler for `demangle` and `v0_instantiating_crate` (per-name
# limit, so exactly theirs), filled by `demangle_many`; emptied when it would pass this.
_PRIMED: dict[str, str] = {}
_PRIMED_CRATE: dict[str, str | None] = {}
# and the generic function of a name (analysis.monos.generic_of of its demangled text,
# which demangle.c transcribes too), for `compiled_generics`
_PRIMED_GENERIC: dict[str, str] = {}
# and the crate it belongs to (crates.crate_of of its demangled text, before the aliases)
_PRIMED_CRATE_OF: dict[str, str] = {}
_PRIMED_MAX = 400_000


def _compiled_can_read(sym: str) -> bool:
    """The names sent to the compiled demangler: Rust-looking, ASCII, no NUL (the others
    are never Rust symbols, and this module answers them at once)."""
    return sym.startswith(("_ZN", "_R")) and sym.isascii() and "\0" not in sym


def _compiled(syms: list[str], limit: int, crates: bool = False, generics: bool = False,
              crate_of: bool = False) -> tuple[Any, list[str]] | None:
    """The compiled demangler's results for `syms` (native.demangler.demangle_batch: four
    statuses and four texts per name), or None when it cannot run here."""
    if not syms:
        return None
    from auditor.wasm.native import demangler as native

    if not native.available():
        return None
    try:
        return native.demangle_batch(syms, limit, crates, generics, crate_of)
    except native.Failure:
        return None


# native.demangler's result codes (tests/test_demangle_native.py checks they agree)
_C_NONE, _C_OK, _C_OVER, _C_DECLINE = 0, 1, 2, 3


def _from_compiled(sym: str, status: int, text: str, limit: int) -> tuple[str, bool]:
    """`_demangle(sym, limit)` from the compiled demangler's answer for that limit."""
    if status == _C_OK:
        return text, False
    if status == _C_OVER:
        return sym, True
    if status == _C_NONE:
        return _not_rust(sym), False
    return _demangle(sym, limit)  # declined: this module reads it


@gc_paused()
def demangle_many(names: list[str | None], *, crates: bool = False, generics: bool = False,
                  crate_of: bool = False) -> list[str | None]:
    """`[demangle(n) for n in names]` (None stays None), the Rust names demangled by the
    compiled demangler in one call; later `demangle` calls on these names (a report's
    labels) find them ready. `crates`: `v0_instantiating_crate` of the v0 names too;
    `generics`: their generic functions (`compiled_generics`); `crate_of`: the crate
    their demangled names belong to (`compiled_crate`)."""
    primed, pcrate, pgeneric, pcrate_of = _PRIMED, _PRIMED_CRATE, _PRIMED_GENERIC, _PRIMED_CRATE_OF
    # (_compiled_can_read, inline: this runs once per name of a module)
    todo = [n for n in dict.fromkeys(names) if n and n.startswith(("_ZN", "_R")) and n.isascii() and "\0" not in n
            and (n not in primed or (crates and n.startswith("_R") and n not in pcrate)
                 or (generics and n not in pgeneric) or (crate_of and n not in pcrate_of))]
    results = _compiled(todo, _MAX_OUTPUT, crates, generics, crate_of)
    if results is not None:
        st, texts = results
        if len(primed) + len(todo) > _PRIMED_MAX:
            for cache in (primed, pcrate, pgeneric, pcrate_of):
                cache.clear()
        for i, sym in enumerate(todo):
            k = 4 * i
            status = st[k]
            if status == _C_OK:
                primed[sym] = texts[k]
                if st[k + 2] == _C_OK:
                    pgeneric[sym] = texts[k + 2]
                if st[k + 3] == _C_OK:
                    pcrate_of[sym] = texts[k + 3]
            elif status != _C_DECLINE:
                primed[sym] = _from_compiled(sym, status, texts[k], _MAX_OUTPUT)[0]
            if crates and st[k + 1] != _C_DECLINE and sym.startswith("_R"):
                pcrate[sym] = texts[k + 1] if st[k + 1] == _C_OK and texts[k + 1] else None
    get: Any = primed.get  # (get(None) is None)
    out: list[str | None] = [get(n) for n in names]
    for i, hit in enumerate(out):
        if hit is None:  # not read by the compiled demangler (or no name: None, "")
            name = names[i]
            out[i] = demangle(name) if name else name
    return out


def compiled_crate(sym: str) -> str | None:
    """The crate `crates.crate_of(demangle(sym))` names before its alias table, as the
    compiled demangler worked it out in `demangle_many(..., crate_of=True)`, or None (not
    asked, declined: a bucket or C++, or no compiled demangler)."""
    return _PRIMED_CRATE_OF.get(sym)


def compiled_generics(syms: list[str | None]) -> list[str | None]:
    """The generic function of each symbol (`analysis.monos.generic_of(demangle(sym))`)
    as the compiled demangler worked it out in `demangle_many(..., generics=True)`, or
    None (not asked, declined, no name, or no compiled demangler)."""
    get = _PRIMED_GENERIC.get
    return [get(s) for s in syms]  # type: ignore[arg-type]


class Demangled:
    """`demangle_all`'s answer: one demangled name (hash stripped if asked) per input
    name, None for None, and how many distinct names the module's budget left mangled."""

    __slots__ = ("names", "skipped", "budget")

    def __init__(self, names: list[str | None], skipped: int, budget: int) -> None:
        self.names = names
        self.skipped = skipped
        self.budget = budget

    def warning(self) -> str | None:
        if not self.skipped:
            return None
        return (f"{self.skipped} function names left mangled: demangling them would print more than the "
                f"module's budget of {self.budget:,} characters (v0 backrefs can expand exponentially)")


@gc_paused()
def demangle_all(names: list[str | None], *, strip: bool = False, budget: int | None = None) -> Demangled:
    """Every name of one module demangled, each distinct name once, under one work budget
    for the whole module, so a module of v0 backref bombs costs time linear in its size
    (each bomb alone may print 1 M characters, ~0.3 s).

    Work is output characters; a name that stops at its limit is charged the whole
    limit. The budget (unless given) is 4 characters per character of the distinct
    names, plus 64 per name, plus 256 K. First pass: each name may print its own share
    (4 per character + 64), which real names never exceed on average (0.77 on
    @biomejs/wasm-nodejs), so no name can starve another. Second pass: the names that
    stopped at their share retry, in order, with what is left (at most 1 M each,
    rustc-demangle's per-name limit; past that a name is malformed and stays mangled).
    Names the budget cannot finish stay mangled and are counted in `skipped`. `strip`
    applies strip_hash to each result."""
    distinct = list(dict.fromkeys(n for n in names if n))
    if budget is None:
        budget = _MODULE_BUDGET_FLOOR + sum(_share(n) for n in distinct)
    # the compiled demangler reads the Rust names at their own share (what the first pass
    # gives every name while the budget lasts); a name reached with less is read again
    readable = [n for n in distinct if n.startswith(("_ZN", "_R")) and _compiled_can_read(n)]
    results = _compiled(readable, 0)
    compiled = dict(zip(readable, zip(results[0][0::4], results[1][0::4]))) if results is not None else {}
    left = budget
    done: dict[str, str] = {}
    retry: list[str] = []
    get = compiled.get
    per_char, per_name, most = _MODULE_BUDGET_PER_CHAR, _MODULE_BUDGET_PER_NAME, _MAX_OUTPUT
    for sym in distinct:
        n = len(sym)
        share = per_char * n + per_name
        if share > most:
            share = most
        result = get(sym)
        if result is not None and left >= share and result[0] == _C_OK:  # the common case, inline
            out = result[1]
            left -= n if n > len(out) else len(out)
            done[sym] = out
            continue
        limit = share if left >= share else left
        if result is not None and limit == share:
            out, over = _from_compiled(sym, result[0], result[1], limit)
        else:
            out, over = _demangle(sym, limit)
        if over:
            retry.append(sym)
            left -= limit
        else:
            left -= max(len(out), n)
            done[sym] = out
    skipped = 0
    for sym in retry:
        limit = min(left, _MAX_OUTPUT)
        out, over = _demangle_fast(sym, limit) if limit > 0 else (sym, True)
        left -= limit if over else max(len(out), len(sym))
        skipped += over and limit < _MAX_OUTPUT  # stopped by the budget, not by its own limit
        done[sym] = out
    if strip:  # strip_hash changes only names with one of these
        done = {k: strip_hash(v) if (".llvm." in v or "::h" in v or "]" in v) else v for k, v in done.items()}
    return Demangled([done[n] if n else None for n in names], skipped, budget)


def _demangle_fast(sym: str, limit: int) -> tuple[str, bool]:
    """`_demangle(sym, limit)`, by the compiled demangler when it can read the name."""
    if _compiled_can_read(sym):
        result = _compiled([sym], limit)
        if result is not None:
            return _from_compiled(sym, result[0][0], result[1][0], limit)
    return _demangle(sym, limit)


def _share(sym: str) -> int:
    """A name's own part of the module budget: what it may print in the first pass."""
    return _MODULE_BUDGET_PER_CHAR * len(sym) + _MODULE_BUDGET_PER_NAME


# --------------------------------------------------------------------- hashes

# ThinLTO suffixes, also before LLVM's own ".cold" or ".0" suffixes.
_LLVM_SUFFIX_ANYWHERE = re.compile(r"\.llvm\.[0-9A-F@]+(?=$|\.)")
_LEGACY_HASH = re.compile(r"::h[0-9a-f]{16}(?=$|[.\s>),;\]])")
_CRATE_DISAMBIGUATOR = re.compile(r"(?<=[A-Za-z0-9_])\[[0-9a-f]{1,16}\]")


@functools.lru_cache(maxsize=65536)
def strip_hash(name: str) -> str:
    """Drop what changes between two builds of the same function.

    Removes legacy ``::h<16 hex>`` hashes, v0 crate disambiguators printed as
    ``crate[1a2b…]`` (other demanglers print them), and ThinLTO
    ``.llvm.<digits>`` suffixes. Apply it to demangled names.
    """
    if ".llvm." in name:
        name = _LLVM_SUFFIX_ANYWHERE.sub("", name)
    if "::h" in name:
        name = _LEGACY_HASH.sub("", name)
    if "]" in name:
        name = _CRATE_DISAMBIGUATOR.sub("", name)
    return name


# ------------------------------------------------------------------------ C++


def _load_cxxfilt():
    try:
        import cxxfilt

        demangler = cxxfilt.default_demangler
        demangler.demangle("_Z1fv")  # raises if libstdc++ could not be found
        return demangler
    except Exception:
        return None


_CXX: Any = None  # the cxxfilt module, loaded at the first C++ name
_CXX_LOADED = False


def _demangle_cxx(sym: str) -> str:
    # Loading runs ldconfig to find libstdc++: only pay for it when needed.
    global _CXX, _CXX_LOADED
    if not _CXX_LOADED:
        _CXX, _CXX_LOADED = _load_cxxfilt(), True
    if _CXX is None or "\x00" in sym:
        return sym
    try:
        out = _CXX.demangle(sym)
    except Exception:  # InvalidName, InternalError, UnicodeError
        return sym
    return out or sym


# ----------------------------------------------------------------------- Rust


def _demangle_rust(sym: str, limit: int = _MAX_OUTPUT) -> str | None:
    """Rust legacy or v0 demangling, or None when ``sym`` is neither (or its v0 backrefs
    would print more than `limit` characters).

    Raises _OverLimit when v0 backrefs reach `limit`; otherwise only on a bug: malformed
    input is reported as None.
    """
    if ".llvm." in sym:
        m = _LLVM_SUFFIX.search(sym)
        if m:
            sym = sym[: m.start()]
    if sym.startswith("_ZN"):
        parsed = _legacy(sym[3:])
    elif sym.startswith("_R"):
        parsed = _v0(sym[2:], limit)
    else:
        return None
    if parsed is None:
        return None
    text, suffix = parsed
    # Output like LLVM IR adds period-delimited words (".exit.i.i", ".0.0").
    if suffix and not (suffix[0] == "." and _SYMBOL_LIKE.fullmatch(suffix)):
        return None
    return text + suffix


# ---- legacy: _ZN <len ident>* E [suffix]

_LEGACY_ESCAPES = {
    "$SP$": "@",
    "$BP$": "*",
    "$RF$": "&",
    "$LT$": "<",
    "$GT$": ">",
    "$LP$": "(",
    "$RP$": ")",
    "$C$": ",",
}
# "..", ".", "$escape$", plain text, or a "$" that is never closed.
_LEGACY_TOKEN = re.compile(r"\.\.|\.|\$[^$]*\$|[^$.]+|\$")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_DECIMAL = re.compile(r"[0-9]+")


def _legacy(inner: str) -> tuple[str, str] | None:
    if not inner.isascii():
        return None
    elements: list[str] = []
    pos, n = 0, len(inner)
    match = _DECIMAL.match
    while True:
        if pos >= n:
            return None
        if inner[pos] == "E":
            if not elements:
                return None  # "_ZNE" would demangle to an empty name
            break
        m = match(inner, pos)
        if m is None:
            return None
        start = m.end()
        if start - pos > 18:  # longer than any symbol (and than int()'s limit)
            return None
        pos = start + int(m.group())
        if pos > n:
            return None
        element = inner[start:pos]
        if "$" in element or "." in element:
            element = _legacy_element(element)
        elements.append(element)
    return "::".join(elements), inner[pos + 1 :]


def _legacy_element(rest: str) -> str:
    if rest.startswith("_$"):
        rest = rest[1:]
    out: list[str] = []
    for m in _LEGACY_TOKEN.finditer(rest):
        token = m.group()
        if token[0] != "$":
            out.append("::" if token == ".." else token)
            continue
        char = _LEGACY_ESCAPES.get(token)
        if char is None:
            char = _unicode_escape(token[1:-1])
        if char is None:  # unknown escape: keep the rest verbatim
            out.append(rest[m.start() :])
            break
        out.append(char)
    return "".join(out)


def _unicode_escape(escape: str) -> str | None:
    """``u<lower hex>``: like rustc-demangle, any scalar value but controls."""
    if escape[:1] != "u" or not _LOWER_HEX.fullmatch(escape[1:]):
        return None
    code = int(escape[1:], 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or code < 0x20 or 0x7F <= code < 0xA0:
        return None
    return chr(code)


# ---- v0 (RFC 2603 plus the later const-value and pattern-type extensions)

_BASIC_TYPES = {
    "b": "bool",
    "c": "char",
    "e": "str",
    "u": "()",
    "a": "i8",
    "s": "i16",
    "l": "i32",
    "x": "i64",
    "n": "i128",
    "i": "isize",
    "h": "u8",
    "t": "u16",
    "m": "u32",
    "y": "u64",
    "o": "u128",
    "j": "usize",
    "f": "f32",
    "d": "f64",
    "z": "!",
    "p": "_",
    "v": "...",
}
_BASE62 = {c: i for i, c in enumerate("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_SPECIAL_NAMESPACES = {"C": "closure", "S": "shim"}
_UNSIGNED = frozenset("htmyoj")
_SIGNED = frozenset("aslxni")
_HEX_NIBBLE = frozenset("0123456789abcdef")
_PUNY_DIGITS = re.compile(r"[a-z0-9]+")
_INTEGER_62 = re.compile(r"([0-9a-zA-Z]*)_")
# Optional disambiguator "s<base-62>_", "u" for punycode, a decimal length
# ("0" stands alone), and an optional "_" before identifiers that start with
# a digit or "_".
_DIS_IDENT = re.compile(r"(?:s([0-9a-zA-Z]*)_)?(u?)(0|[1-9][0-9]*)_?")
_HEX_NIBBLES = re.compile(r"([0-9a-f]*)_")
_NAMESPACES = re.compile(r"(?:N[A-Za-z])+")  # the symbol is ASCII: isalpha() is [A-Za-z]


def _v0(inner: str, limit: int = _MAX_OUTPUT) -> tuple[str, str] | None:
    if not inner or not ("A" <= inner[0] <= "Z") or not inner.isascii() or "\0" in inner:
        return None
    try:
        text, pos = _v0_main_path(inner) if limit == _MAX_OUTPUT else _v0_print_main_path(inner, limit)
        # Instantiating crate: parsed, never printed (a printer in the state the main
        # path left: depth 0, no lifetimes bound).
        if "A" <= inner[pos : pos + 1] <= "Z":
            p = _V0Printer(inner + "\0", limit)
            p.pos = pos
            p.skipping(lambda: p.print_path(False))
            pos = p.pos
    except _OverLimit:
        raise
    except (_Invalid, RecursionError):
        return None
    return text, inner[pos:]


def _v0_print_main_path(inner: str, limit: int) -> tuple[str, int]:
    """The printed main path of a v0 symbol (without `_R`) and where it ends; raises
    _Invalid (or _OverLimit, or RecursionError) like the printer."""
    p = _V0Printer(inner + "\0", limit)
    p.print_path(True)
    return "".join(p.out), p.pos


@functools.lru_cache(maxsize=65536)
def _v0_main_path(inner: str) -> tuple[str, int]:
    """_v0_print_main_path with the per-name limit, once per symbol: `demangle` and
    `v0_instantiating_crate` both read it (exceptions are not cached)."""
    return _v0_print_main_path(inner, _MAX_OUTPUT)


def v0_instantiating_crate(symbol: str) -> str | None:
    """The instantiating crate a v0 symbol (`_R…`) ends with, or None (legacy, non-generic
    or malformed). The main path is the one `demangle` parsed (cached): only the crate's
    own path is read here, printed as the printer would continue after the main path
    (its backrefs count the main path's output against the limit)."""
    if not symbol.startswith("_R"):
        return None
    if symbol in _PRIMED_CRATE:
        return _PRIMED_CRATE[symbol]
    inner = symbol[2:]
    if not inner or not inner.isascii() or "\0" in inner:
        return None
    try:
        text, pos = _v0_main_path(inner)
        if "A" <= inner[pos : pos + 1] <= "Z":
            p = _V0Printer(inner + "\0")
            p.pos = pos
            p.out = [text]
            p.print_path(False)
            return "".join(p.out[1:]) or None
    except (_Invalid, RecursionError, IndexError):
        return None
    return None


class _V0Printer:
    """Parser and printer in one pass, like rustc-demangle's ``Printer``.

    ``sym`` ends with a NUL sentinel so that looking one character ahead never
    fails. While ``printing`` is false (an impl's own path, the instantiating
    crate) output goes to a scratch list and backrefs are not followed.
    Output size is checked whenever a backref is followed: without backrefs
    it is bounded by a small multiple of the input length.
    """

    __slots__ = ("sym", "end", "pos", "depth", "out", "printing", "bound", "checked", "size", "limit")

    def __init__(self, sym: str, limit: int = _MAX_OUTPUT) -> None:
        self.sym = sym
        self.limit = limit  # characters of output backrefs may bring the name to
        self.end = len(sym) - 1  # index of the sentinel
        self.pos = 0
        self.depth = 0
        self.out: list[str] = []
        self.printing = True
        self.bound = 0  # late-bound lifetimes in scope (for<'a, ...>)
        self.checked = 0  # parts of ``out`` already counted in ``size``
        self.size = 0

    def skipping(self, parse) -> None:
        saved = self.out, self.printing, self.checked, self.size
        self.out, self.printing = [], False
        parse()
        self.out, self.printing, self.checked, self.size = saved

    # -- lexing

    def eat(self, c: str) -> bool:
        if self.sym[self.pos] == c:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        c = self.sym[self.pos]
        if c == "\0":
            raise _Invalid("unexpected end")
        self.pos += 1
        return c

    def integer_62(self) -> int:
        m = _INTEGER_62.match(self.sym, self.pos)
        if m is None:
            raise _Invalid("base-62 number")
        self.pos = m.end()
        return _base62_value(m.group(1))

    def opt_integer_62(self, tag: str) -> int:
        if self.sym[self.pos] != tag:
            return 0
        self.pos += 1
        return self.integer_62() + 1

    def hex_nibbles(self) -> str:
        m = _HEX_NIBBLES.match(self.sym, self.pos)
        if m is None:
            raise _Invalid("hex nibbles")
        self.pos = m.end()
        return m.group(1)

    def ident(self) -> tuple[str | None, str]:
        """Disambiguator digits (None if absent) and printed text of
        ``[s<base-62>_] <identifier>``; the value is computed when printed."""
        sym = self.sym
        m = _DIS_IDENT.match(sym, self.pos)
        if m is None:
            raise _Invalid("identifier")
        dis, punycode, length = m.groups()
        if len(length) > 18:  # longer than any symbol (and than int()'s limit)
            raise _Invalid("identifier length")
        if dis is not None and len(dis) >= 11:  # 62**11 > 2**64: rustc-demangle rejects what overflows u64
            _check_disambiguator(dis)
        start = m.end()
        end = start + int(length)
        if end > self.end:  # past the sentinel
            raise _Invalid("identifier past end")
        self.pos = end
        if not punycode:
            return dis, sym[start:end]
        text = sym[start:end]
        cut = text.rfind("_")
        ascii_part, code = (text[:cut], text[cut + 1 :]) if cut >= 0 else ("", text)
        if not code:
            raise _Invalid("empty punycode")
        return dis, _punycode(ascii_part, code)

    # -- printing helpers

    def backref(self, then) -> None:
        start = self.pos - 1  # position of the 'B' tag
        target = self.integer_62()
        if target >= start:
            raise _Invalid("backref not backwards")
        if not self.printing:
            return
        out = self.out
        self.size += sum(map(len, out[self.checked :]))
        self.checked = len(out)
        if self.size > self.limit:
            raise _OverLimit("output too large")
        saved = self.pos
        self.pos = target
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Invalid("recursion limit")
        then()
        self.depth -= 1
        self.pos = saved

    def print_lifetime(self, lt: int) -> None:
        if not self.printing:
            return
        if lt == 0:
            self.out.append("'_")
            return
        depth = self.bound - lt
        if depth < 0:
            raise _Invalid("unbound lifetime")
        self.out.append("'" + (chr(ord("a") + depth) if depth < 26 else f"_{depth}"))

    def in_binder(self, body) -> None:
        count = self.opt_integer_62("G")
        if count > _MAX_BOUND_LIFETIMES:
            raise _Invalid("too many bound lifetimes")
        if not self.printing:
            body()
            return
        if count:
            self.out.append("for<")
            for i in range(count):
                if i:
                    self.out.append(", ")
                self.bound += 1
                self.print_lifetime(1)
            self.out.append("> ")
        body()
        self.bound -= count

    def print_sep_list(self, item, sep: str) -> int:
        count = 0
        while not self.eat("E"):
            if count:
                self.out.append(sep)
            item()
            count += 1
        return count

    # -- grammar

    def print_path(self, in_value: bool) -> None:
        # Nested paths (``N``) are read as a loop, not by recursion: they are
        # most of every symbol. Their namespaces come first, outermost first,
        # then the innermost path, then one ``[disambiguator] ident`` each.
        sym = self.sym
        depth0 = self.depth
        namespaces = ""
        if sym[self.pos] == "N":  # the run of `N<namespace>` pairs in one match
            m = _NAMESPACES.match(sym, self.pos)
            if m is None:
                raise _Invalid("namespace")
            namespaces = m.group()[1::2]
            self.pos = m.end()
            if sym[self.pos] == "N":  # an `N` whose namespace is not a letter
                raise _Invalid("namespace")
        self.depth += len(namespaces) + 1
        if self.depth > _MAX_DEPTH:
            raise _Invalid("recursion limit")
        out = self.out
        tag = self.next()
        if tag == "C":
            out.append(self.ident()[1])
        elif tag == "M" or tag == "X" or tag == "Y":
            if tag != "Y":
                self.opt_integer_62("s")
                self.skipping(lambda: self.print_path(False))  # the impl's own path
            out.append("<")
            self.print_type()
            if tag != "M":
                out.append(" as ")
                self.print_path(False)
            out.append(">")
        elif tag == "I":
            self.print_path(in_value)
            out.append("::<" if in_value else "<")
            self.print_sep_list(self.print_generic_arg, ", ")
            out.append(">")
        elif tag == "B":
            self.backref(lambda: self.print_path(in_value))
        else:
            raise _Invalid("path tag")
        for ns in namespaces[::-1]:
            dis, name = self.ident()
            if ns <= "Z":  # special namespace: closures, shims
                kind = _SPECIAL_NAMESPACES.get(ns, ns)
                number = 0 if dis is None else _base62_value(dis) + 1
                out.append(f"::{{{kind}:{name}#{number}}}" if name else f"::{{{kind}#{number}}}")
            elif name:
                out.append("::")
                out.append(name)
        self.depth = depth0

    def print_generic_arg(self) -> None:
        if self.eat("L"):
            self.print_lifetime(self.integer_62())
        elif self.eat("K"):
            self.print_const(False)
        else:
            self.print_type()

    def print_type(self) -> None:
        tag = self.next()
        basic = _BASIC_TYPES.get(tag)
        if basic is not None:
            self.out.append(basic)
            return
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Invalid("recursion limit")
        out = self.out
        if tag == "R" or tag == "Q":
            out.append("&")
            if self.eat("L"):
                lt = self.integer_62()
                if lt:
                    self.print_lifetime(lt)
                    out.append(" ")
            if tag == "Q":
                out.append("mut ")
            self.print_type()
        elif tag == "P" or tag == "O":
            out.append("*const " if tag == "P" else "*mut ")
            self.print_type()
        elif tag == "A" or tag == "S":
            out.append("[")
            self.print_type()
            if tag == "A":
                out.append("; ")
                self.print_const(True)
            out.append("]")
        elif tag == "T":
            out.append("(")
            if self.print_sep_list(self.print_type, ", ") == 1:
                out.append(",")
            out.append(")")
        elif tag == "F":
            self.in_binder(self.print_fn_sig)
        elif tag == "D":
            out.append("dyn ")
            self.in_binder(lambda: self.print_sep_list(self.print_dyn_trait, " + "))
            if not self.eat("L"):
                raise _Invalid("dyn lifetime")
            lt = self.integer_62()
            if lt:
                out.append(" + ")
                self.print_lifetime(lt)
        elif tag == "B":
            self.backref(self.print_type)
        elif tag == "W":
            self.print_type()
            out.append(" is ")
            self.print_pat()
        else:
            self.pos -= 1
            self.print_path(False)
        self.depth -= 1

    def print_fn_sig(self) -> None:
        out = self.out
        is_unsafe = self.eat("U")
        abi = None
        if self.eat("K"):
            if self.eat("C"):
                abi = "C"
            else:
                m = _DIS_IDENT.match(self.sym, self.pos)
                if m is None or m.group(1) is not None or m.group(2):
                    raise _Invalid("abi")
                _, abi = self.ident()
                if not abi:
                    raise _Invalid("abi")
                abi = abi.replace("_", "-")
        if is_unsafe:
            out.append("unsafe ")
        if abi is not None:
            out.append(f'extern "{abi}" ')
        out.append("fn(")
        self.print_sep_list(self.print_type, ", ")
        out.append(")")
        if not self.eat("u"):
            out.append(" -> ")
            self.print_type()

    def print_path_maybe_open_generics(self) -> bool:
        """Print a dyn trait path, leaving ``<...`` open for assoc bindings."""
        if self.eat("B"):
            opened = [False]

            def follow() -> None:
                opened[0] = self.print_path_maybe_open_generics()

            self.backref(follow)
            return opened[0]
        if self.eat("I"):
            self.print_path(False)
            self.out.append("<")
            self.print_sep_list(self.print_generic_arg, ", ")
            return True
        self.print_path(False)
        return False

    def print_dyn_trait(self) -> None:
        opened = self.print_path_maybe_open_generics()
        while self.eat("p"):
            self.out.append(", " if opened else "<")
            opened = True
            m = _DIS_IDENT.match(self.sym, self.pos)
            if m is None or m.group(1) is not None:
                raise _Invalid("associated type name")
            self.out.append(self.ident()[1])
            self.out.append(" = ")
            self.print_type()
        if opened:
            self.out.append(">")

    def print_pat(self) -> None:
        tag = self.next()
        if tag == "R":
            self.print_const(False)
            self.out.append("..=")
            self.print_const(False)
        elif tag == "O":
            self.depth += 1
            self.print_pat()
            while not self.eat("E"):
                self.out.append(" | ")
                self.print_pat()
            self.depth -= 1
        elif tag == "N":
            self.out.append("!null")
        else:
            raise _Invalid("pattern tag")

    def print_const(self, in_value: bool) -> None:
        tag = self.next()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Invalid("recursion limit")
        out = self.out
        # Literals stand alone in generic arguments; other values need braces.
        braced = not in_value and tag in "eRQATV" and not (tag == "R" and self.sym[self.pos] == "e")
        if braced:
            out.append("{")
        if tag == "p":
            out.append("_")
        elif tag in _UNSIGNED:
            out.append(_const_uint(self.hex_nibbles()))
        elif tag in _SIGNED:
            negative = self.eat("n")
            out.append(("-" if negative else "") + _const_uint(self.hex_nibbles()))
        elif tag == "b":
            value = _parse_uint(self.hex_nibbles())
            if value not in (0, 1):
                raise _Invalid("bool const")
            out.append("true" if value else "false")
        elif tag == "c":
            value = _parse_uint(self.hex_nibbles())
            if value is None or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise _Invalid("char const")
            out.append(_quote("'", chr(value)))
        elif tag == "e":
            out.append("*" + _quote('"', _const_str(self.hex_nibbles())))
        elif tag == "R" or tag == "Q":
            if tag == "R" and self.eat("e"):
                out.append(_quote('"', _const_str(self.hex_nibbles())))
            else:
                out.append("&" if tag == "R" else "&mut ")
                self.print_const(True)
        elif tag == "A":
            self.print_const_list("[", "]")
        elif tag == "T":
            self.print_const_list("(", ")", tuple_comma=True)
        elif tag == "V":
            self.print_path(True)
            kind = self.next()
            if kind == "T":
                self.print_const_list("(", ")")
            elif kind == "S":
                out.append(" { ")
                self.print_sep_list(self.print_const_field, ", ")
                out.append(" }")
            elif kind != "U":
                raise _Invalid("const variant kind")
        elif tag == "B":
            self.backref(lambda: self.print_const(in_value))
        else:
            raise _Invalid("const tag")
        if braced:
            out.append("}")
        self.depth -= 1

    def print_const_list(self, open_: str, close: str, tuple_comma: bool = False) -> None:
        """Array, tuple or tuple-variant values; a 1-tuple is written ``(x,)``."""
        self.out.append(open_)
        if self.print_sep_list(lambda: self.print_const(True), ", ") == 1 and tuple_comma:
            self.out.append(",")
        self.out.append(close)

    def print_const_field(self) -> None:
        self.out.append(self.ident()[1])
        self.out.append(": ")
        self.print_const(True)


@functools.lru_cache(maxsize=4096)  # a module has few crates; their disambiguators repeat in every name
def _check_disambiguator(digits: str) -> None:
    """Raise _Invalid when a disambiguator does not fit in u64."""
    _base62_value(digits)


def _base62_value(digits: str) -> int:
    """``<base-62-number>`` value: "" is 0, otherwise the digits' value + 1."""
    if not digits:
        return 0
    if len(digits) > 11 and len(digits.lstrip("0")) > 11:  # 62**11 > 2**64
        raise _Invalid("integer overflow")
    x = 0
    for d in digits:
        x = x * 62 + _BASE62[d]
    if x >= 1 << 64:
        raise _Invalid("integer overflow")
    return x + 1


def _parse_uint(nibbles: str) -> int | None:
    """Value of a hex constant, or None when it does not fit in u64."""
    nibbles = nibbles.lstrip("0")
    if len(nibbles) > 16:
        return None
    return int(nibbles, 16) if nibbles else 0


def _const_uint(nibbles: str) -> str:
    value = _parse_uint(nibbles)
    return "0x" + nibbles if value is None else str(value)


def _const_str(nibbles: str) -> str:
    if len(nibbles) % 2:
        raise _Invalid("odd string constant")
    try:
        return bytes.fromhex(nibbles).decode("utf-8")
    except ValueError as exc:
        raise _Invalid("string constant") from exc


_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", "\0": "\\0"}


def _quote(quote: str, text: str) -> str:
    """Rust ``escape_debug`` quoting (printable test approximated by Python's)."""
    out = [quote]
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c == quote:
            out.append("\\" + c)
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(f"\\u{{{ord(c):x}}}")
    out.append(quote)
    return "".join(out)


def _punycode(ascii_part: str, code: str) -> str:
    """Decode a v0 punycode identifier (RFC 3492 with ``_`` as delimiter).

    Like rustc-demangle, names that do not decode, or decode to more than 128
    characters, are shown as ``punycode{ascii-code}``.
    """
    if len(code) <= 1024 and _PUNY_DIGITS.fullmatch(code):
        raw = (ascii_part + "-" + code) if ascii_part else code
        try:
            decoded = raw.encode("ascii").decode("punycode")
        except (UnicodeError, ValueError, OverflowError):
            decoded = None
        if (
            decoded is not None
            and len(decoded) <= 128
            and not any("\ud800" <= c <= "\udfff" for c in decoded)
        ):
            return decoded
    return "punycode{" + (ascii_part + "-" if ascii_part else "") + code + "}"
