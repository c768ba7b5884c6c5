"""The compiled Rust demangler: demangle.c, built to demangle.wasm, run in wasmtime.

`demangle_batch` demangles many names in one call (the per-call cost of wasmtime-py,
~10 us, is paid per batch, not per name). demangle.c is a transcription of the Python
demangler in auditor/wasm/demangle.py, which stays the reference: a name the C code
does not vouch for (punycode, non-ASCII constants, deep nesting, output larger than its
area) comes back DECLINE and the caller demangles it in Python. Only ASCII names
without NUL are sent (others are never Rust symbols).

Untrusted names are read inside a wasm sandbox: the instance's memory is bounded by
the store's limit, recursion by demangle.c's depth limit (it declines deeper names; at
that depth it uses ~3 KB of its 64 KB stack: tests/test_demangle_native.py), and every
loop of the C code moves forward, so a batch costs time linear in its names plus its
output, which the output area bounds. Anything wasmtime
refuses (a trap would be a bug) raises `Failure`; the caller demangles in Python.

`AUDITOR_NATIVE_DEMANGLER=off` (or a machine without wasmtime) keeps everything in
Python. The machine code is cached next to the code reader's, in
$XDG_CACHE_HOME/auditor/native (`AUDITOR_NATIVE_CACHE`).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import struct
import threading
from array import array
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

WASM = Path(__file__).with_name("demangle.wasm")
SOURCE = Path(__file__).with_name("demangle.c")

# demangle.c's result codes
NONE, OK, OVER, DECLINE = 0, 1, 2, 3

# Address space reserved for the memory and its guard: wasmtime's default (4 GiB + 32 MiB)
# lets it drop the bounds check of every load and store (~25 % of the demangler's time);
# under an address-space cap (`ulimit -v`, as some CI sets) that instance cannot be made,
# and the small reservation (bounds-checked, what the code reader uses) is taken instead.
RESERVATION, GUARD = 4 << 30, 32 << 20
SMALL_RESERVATION, SMALL_GUARD = 256 << 20, 64 << 10
_PAGE = 65536
_CHUNK_BYTES = 4 << 20  # names per call, about: the memory holds a chunk, its results and output
_MAX_MEMORY = 128 << 20  # the store's limit


class Failure(Exception):
    """wasmtime refused something: the caller demangles in Python."""


def enabled() -> bool:
    return os.environ.get("AUDITOR_NATIVE_DEMANGLER", "auto").strip().lower() not in ("off", "0", "no", "false")


@lru_cache(maxsize=2)
def _compiled(small: bool = False) -> tuple[Any, Any] | None:
    """(engine, module) with the big reservation (or the small one), or None when the
    demangler cannot run here (no wasmtime, no demangle.wasm, a module wasmtime refuses)."""
    try:
        wasm = WASM.read_bytes()
        import wasmtime
    except (OSError, ImportError):
        return None
    from auditor.wasm.native import new_engine

    reservation, guard = (SMALL_RESERVATION, SMALL_GUARD) if small else (RESERVATION, GUARD)
    try:
        engine = new_engine(reservation, guard)
        module = _module(wasmtime, engine, wasm, reservation, guard)
    except Exception:
        return None
    atexit.register(_release)
    return engine, module


def _module(wasmtime: Any, engine: Any, wasm: bytes, reservation: int, guard: int) -> Any:
    """demangle.wasm compiled for this engine, through the code reader's machine-code
    cache (keyed by its sha256, wasmtime's version and the engine's memory settings)."""
    from auditor.wasm.native import _module as cached_module

    return cached_module(wasmtime, engine, wasm, "demangle", reservation, guard)


def _release() -> None:
    """Drop the instance and module before the interpreter tears wasmtime-py down."""
    global _INSTANCE
    _INSTANCE = None
    _compiled.cache_clear()


def available() -> bool:
    return enabled() and (_compiled(False) is not None or _compiled(True) is not None)


class _Instance:
    def __init__(self, small: bool) -> None:
        import wasmtime

        compiled = _compiled(small)
        if compiled is None:
            raise Failure("demangle.wasm cannot run here")
        engine, module = compiled
        self.store = wasmtime.Store(engine)
        self.store.set_limits(memory_size=_MAX_MEMORY, instances=1, tables=1, memories=1)
        inst = wasmtime.Instance(self.store, module, [])
        ex: Any = inst.exports(self.store)
        self.memory = ex["memory"]
        self.func = ex["demangle"]
        self.result_at = ex["result_ptr"](self.store)
        self.heap = _align(ex["__heap_base"].value(self.store))
        self.base = 0

    def reserve(self, need: int) -> None:
        pages = (need + _PAGE - 1) // _PAGE
        have = self.memory.size(self.store)
        if pages > have:
            self.memory.grow(self.store, pages - have)
        self.base = ctypes.addressof(self.memory.data_ptr(self.store).contents)


_INSTANCE: _Instance | None = None
_LOCK = threading.Lock()


def _instance() -> _Instance:
    global _INSTANCE
    if _INSTANCE is None:
        try:
            _INSTANCE = _Instance(small=False)
        except Exception:  # no room for the big reservation: the small one
            _INSTANCE = _Instance(small=True)
    return _INSTANCE


PER_NAME = 4  # statuses and texts per name: demangled, instantiating crate, generic, crate


def demangle_batch(names: list[str], limit: int = 0, crates: bool = False, generics: bool = False,
                   crate_of: bool = False) -> tuple[array, list[str]]:
    """demangle.c's answer for the names (ASCII, no NUL, each `_ZN…` or `_R…`): PER_NAME
    statuses per name (`statuses[4 * i : 4 * i + 4]`: its demangled text, its v0
    instantiating crate, its generic function (`analysis.monos.generic_of` of the
    demangled text), its crate (`crates.crate_of` of it, before crates.py's alias table))
    and as many texts (`texts[4 * i : 4 * i + 4]`, empty unless OK). `limit`: output
    characters a name's backrefs may reach (0: each name's share of the module budget,
    demangle_all's first pass). Only the demangled text is read unless `crates`,
    `generics` or `crate_of` ask for more (else NONE). Raises Failure when wasmtime
    refuses something."""
    statuses = array("I")
    texts: list[str] = []
    i = 0
    flags = (1 if crates else 0) | (2 if generics else 0) | (4 if crate_of else 0)
    try:
        with _LOCK:  # one store, one caller at a time (ctypes lets other threads run during a call)
            inst = _instance()
            while i < len(names):
                j, size = i, 0
                while j < len(names) and (size < _CHUNK_BYTES or j == i):
                    size += len(names[j]) + 1
                    j += 1
                i += _call(inst, names[i:j], limit, flags, statuses, texts)
    except Failure:
        raise
    except Exception as e:  # a wasmtime Trap or refusal
        _release()
        raise Failure(f"demangle.wasm: {e}") from e
    return statuses, texts


def _call(inst: _Instance, names: list[str], limit: int, flags: int, statuses: array, texts: list[str]) -> int:
    """One call on `names`; returns how many it demangled (all, unless the output area
    filled up), appending their results."""
    blob = ("\0".join(names) + "\0").encode("ascii")
    n = len(names)
    starts = array("I", accumulate((len(s) + 1 for s in names), initial=0))  # n + 1 offsets
    names_at = inst.heap + 64
    starts_at = _align(names_at + len(blob))
    results_at = _align(starts_at + 4 * (n + 1))
    out_at = _align(results_at + 4 * PER_NAME * n)
    out_cap = (2 + (4 if flags & 2 else 0) + (1 if flags & 4 else 0)) * len(blob) + (1 << 20)
    inst.reserve(out_at + out_cap)
    base = inst.base
    ctypes.memmove(base + names_at, blob, len(blob))
    raw = starts.tobytes()
    ctypes.memmove(base + starts_at, raw, len(raw))
    args = struct.pack("<8I", names_at, starts_at, n, limit, flags, results_at, out_at, out_cap)
    ctypes.memmove(base + inst.heap, args, len(args))
    inst.func(inst.store, inst.heap)
    done, used = struct.unpack("<2I", ctypes.string_at(base + inst.result_at, 8))
    statuses.frombytes(ctypes.string_at(base + results_at, 4 * PER_NAME * done))
    # PER_NAME NUL-ended texts per name (legacy `$u…$` escapes print UTF-8)
    parts = ctypes.string_at(base + out_at, used).decode().split("\0")
    if len(parts) != PER_NAME * done + 1:  # pragma: no cover - demangle.c writes them all
        raise Failure("demangle.wasm: output out of step")
    del parts[-1]
    texts.extend(parts)
    return done


def _align(n: int) -> int:
    return (n + 15) & ~15
