"""The compiled code-section reader: codescan.c, built to codescan.wasm, run in wasmtime.

`Session.scan` reads many function bodies in one call, as parse.py's Python pass does
(`opcodes.check_body` per body): it validates each body exactly and keeps the same
`ParsedRefs` pairs. It stops before the first body it does not vouch for; the caller
reads that body with the Python pass (which raises the one-line error, or, should the
two ever disagree, reads it) and calls again after it. So every message and offset is
the Python pass's, and the compiled reader can only make reading faster.

The C code knows no opcode: `table_blob()` encodes, from the same tables opcodes.py
reads (rules/wasm_opcodes.toml, rules/wasm_types.toml), each instruction's immediate
kinds, its role in the block structure and which references it is, and the loader
writes that into the instance's memory. A table the C code cannot represent (a new
immediate kind, an instruction with two roles) makes `available()` False: the Python
pass reads everything, as before.

Untrusted module bytes are read inside a wasm sandbox: the instance's memory is
bounded by the store's limit (what one window of the section needs: 4 MB of bytes plus
room for its records and pairs), and every loop of the scanner moves forward, so no
fuel is metered. A wasmtime refusal (a trap would be a bug here) raises `Failure` and
the caller reads on with the Python pass.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import os
import struct
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditor.wasm.opcodes import (
    _CATCH_ALL,
    _IF,
    _INDIRECT,
    _TRY,
    FULL_REF_OPS,
    OP_GLOBAL_GET,
    OP_GLOBAL_SET,
    OP_I32_CONST,
    REF_OPS,
    Op,
    table_firsts,
    tables,
)

RESERVATION = 256 << 20  # bytes of address space reserved per memory (wasmtime's default: 4 GiB)
GUARD = 64 << 10  # guard bytes after it (default: 32 MiB)
BIG_RESERVATION, BIG_GUARD = 4 << 30, 32 << 20  # wasmtime's defaults: the code reader's own engine
WASM = Path(__file__).with_name("codescan.wasm")
SOURCE = Path(__file__).with_name("codescan.c")

# The encodings codescan.c knows, in its enum order (from 1). Shape kinds, not opcodes.
NATIVE_KINDS = ("u32", "i32", "i64", "f32", "f64", "v128", "shuffle", "lane", "memarg", "blocktype", "heaptype",
                "castflags", "zero", "valtypes", "labels", "trytable")
NATIVE_ROLES = ("open", "open-if", "open-try", "else", "catch", "catch-all", "delegate", "end", "datacount")
NATIVE_REFS = ("first", "second", "full-first", "full-const", "both")
TABLES_VERSION = 1
_E_OP, _E_PREFIX = 1, 2
_T_VALTYPE, _T_HEAPTYPE, _T_REFTYPE, _T_EXACT = 1, 2, 4, 8
_PAGE = 65536


class Unsupported(Exception):
    """The opcode tables say something codescan.c cannot represent."""


class Failure(Exception):
    """wasmtime refused something (memory beyond the store's limit, a trap: a bug of the
    reader): the caller reads on with the Python pass."""


def _roles() -> dict[int, str]:
    t = tables()
    roles: dict[int, str] = {}

    def put(code: int, role: str) -> None:
        if code in roles:
            raise Unsupported(f"0x{code:x} has two roles ({roles[code]}, {role})")
        roles[code] = role

    for code in t.opens:
        put(code, "open-if" if code == _IF else "open-try" if code == _TRY else "open")
    put(t.else_op, "else")
    for code in t.catches:
        put(code, "catch-all" if code == _CATCH_ALL else "catch")
    if t.delegate is not None:
        put(t.delegate, "delegate")
    put(t.end, "end")
    for code in t.needs_datacount:
        put(code, "datacount")
    return roles


def _refs() -> dict[int, str]:
    out = {}
    for code in FULL_REF_OPS:
        if code == OP_I32_CONST:
            out[code] = "full-const"
        elif code in (OP_GLOBAL_GET, OP_GLOBAL_SET):
            out[code] = "full-first"
        elif code in _INDIRECT:
            out[code] = "second"
        elif code in REF_OPS:
            out[code] = "first"
        else:  # pragma: no cover - a new kind of reference needs codescan.c to learn it
            raise Unsupported(f"reference 0x{code:x}")
    # table accesses: kept under their first byte (opcodes.check_body), which must be no
    # other reference's opcode
    if table_firsts() & FULL_REF_OPS:  # pragma: no cover - a table edit that would mix them up
        raise Unsupported("a table access shares its first byte with another reference")
    for code, which in tables().table_access.items():
        kind = {(0,): "first", (1,): "second", (0, 1): "both"}.get(which)
        if kind is None:  # pragma: no cover - codescan.c keeps the first two immediates only
            raise Unsupported(f"table access 0x{code:x}: immediates {which}")
        out[code] = kind
    return out


def _entry(op: Op, roles: dict[int, str], refs: dict[int, str]) -> bytes:
    if len(op.imms) > 4:
        raise Unsupported(f"{op.name}: {len(op.imms)} immediates")
    try:
        kinds = [NATIVE_KINDS.index(k) + 1 for k in op.imms]
    except ValueError:
        raise Unsupported(f"{op.name}: immediate kinds {op.imms}") from None
    ref = refs.get(op.code)
    if ref is not None:  # the value kept must be a u32 (an i32 for the constant) the scanner reads
        want = {"first": ("u32",), "full-first": ("u32",), "full-const": ("i32",), "second": ("u32", "u32"),
                "both": ("u32", "u32")}[ref]
        if op.imms[: len(want)] != want:
            raise Unsupported(f"{op.name}: reference from immediates {op.imms}")
    role = roles.get(op.code)
    return bytes([*kinds, *[0] * (4 - len(kinds)),
                  NATIVE_ROLES.index(role) + 1 if role else 0,
                  NATIVE_REFS.index(ref) + 1 if ref else 0,
                  _E_OP, 0])


@lru_cache(maxsize=1)
def table_blob() -> bytes:
    """The instruction table codescan.c reads (its `Tables` struct), from the opcode tables."""
    t = tables()
    roles, refs = _roles(), _refs()
    single = bytearray(8 * 256)
    pfirst, pcount = [0] * 256, [0] * 256
    prefixed = bytearray()
    for code, op in t.single.items():
        single[8 * code : 8 * code + 8] = _entry(op, roles, refs)
    for prefix in sorted(t.prefixed):
        subs = t.prefixed[prefix]
        single[8 * prefix + 6] = _E_PREFIX
        pfirst[prefix] = len(prefixed) // 8
        pcount[prefix] = max(subs) + 1
        chunk = bytearray(8 * pcount[prefix])
        for sub, op in subs.items():
            chunk[8 * sub : 8 * sub + 8] = _entry(op, roles, refs)
        prefixed += chunk
    tclass = bytearray(256)
    for b in t.valtypes:
        tclass[b] |= _T_VALTYPE
    for b in t.heaptypes:
        tclass[b] |= _T_HEAPTYPE
    for b in t.reftypes:
        tclass[b] |= _T_REFTYPE
    for b in t.exact_prefix:
        tclass[b] |= _T_EXACT
    arity = bytearray([0xFF] * 256)
    for kind, imms in t.catch_clauses.items():
        if any(k != "u32" for k in imms) or len(imms) > 254:
            raise Unsupported(f"catch clause 0x{kind:02x}: {imms}")
        arity[kind] = len(imms)
    return (struct.pack("<II", TABLES_VERSION, len(prefixed) // 8) + bytes(single)
            + struct.pack("<256I", *pfirst) + struct.pack("<256I", *pcount) + bytes(tclass) + bytes(arity)
            + bytes(prefixed))


@lru_cache(maxsize=2)
def _compiled(small: bool = True) -> tuple[Any, Any] | None:
    """(engine, module), or None when the reader cannot run here (no wasmtime, no
    codescan.wasm, a table it cannot represent): then the Python pass reads everything.
    `small`: on the shared engine (`engine_()`, 256 MiB reserved per memory, bounds-checked
    loads); else on an engine with wasmtime's default 4 GiB + 32 MiB reservation, where the
    machine code has no bounds checks (the scan takes ~0.77x the CPU: 39 instead of 51 ms
    for a 15.7 MB code section) and which an address-space cap may refuse
    (`_new_instance` then takes the small one)."""
    try:
        table_blob()
        wasm = WASM.read_bytes()
        import wasmtime
    except (OSError, ImportError, Unsupported):
        return None
    if small:
        engine = engine_()
        return engine, _module(wasmtime, engine, wasm)
    try:
        engine = new_engine(BIG_RESERVATION, BIG_GUARD)
        _release_at_exit()
        return engine, _module(wasmtime, engine, wasm, reservation=BIG_RESERVATION, guard=BIG_GUARD)
    except Exception:
        return None


@lru_cache(maxsize=1)
def engine_() -> Any:
    """The one wasmtime engine of the compiled modules (codescan, graphcore: see
    auditor/wasm/native/graph.py); wasmtime must be importable."""
    _release_at_exit()
    # wasmtime's default reserves 4 GiB of address space (plus guard pages) per memory so
    # it can drop bounds checks; under an address-space cap (`ulimit -v`, as some CI sets)
    # the instance then cannot be made and every module fell back to the Python pass
    # (biome: 1.25-1.5 s instead of 0.24-0.29 s). A smaller reservation costs nothing
    # measurable here (the memory moves if it ever outgrows it).
    return new_engine(RESERVATION, GUARD)


def new_engine(reservation: int, guard: int) -> Any:
    """A wasmtime engine for the compiled modules: cranelift at `speed`, each linear
    memory reserving `reservation` bytes of address space plus `guard` (the machine code
    depends on both: `_module` keys its cache by them); wasmtime must be importable."""
    import wasmtime

    config = wasmtime.Config()
    config.cranelift_opt_level = "speed"
    config.memory_reservation = reservation
    config.memory_guard_size = guard
    return wasmtime.Engine(config)


@lru_cache(maxsize=1)
def _release_at_exit() -> None:
    atexit.register(_release)


def _module(wasmtime: Any, engine: Any, wasm: bytes, name: str = "codescan", reservation: int = RESERVATION,
            guard: int = GUARD) -> Any:
    """The reader compiled for this engine: from the cache (`AUDITOR_NATIVE_CACHE`, else
    $XDG_CACHE_HOME/auditor/native), else compiled and put there. Compiling costs ~15 ms
    and ~9 MB of peak RSS (cranelift), loading the cached machine code ~1 ms. The file
    is keyed by the wasmtime version and codescan.wasm's sha256; wasmtime refuses one
    made by another version or for another CPU, and then it is compiled again. Like
    every file under the user's cache, it is trusted as the user's own. `reservation` and
    `guard`: the engine's memory settings, part of the key (machine code depends on them)."""
    version = getattr(wasmtime, "__version__", None) or _dist_version()
    key = hashlib.sha256(wasm + f"|wasmtime {version}|cranelift speed|{reservation}|{guard}".encode()).hexdigest()[:24]
    cached = _cache_dir() / f"{name}-{key}.cwasm"
    if cached.is_file():
        try:
            return wasmtime.Module.deserialize_file(engine, str(cached))
        except wasmtime.WasmtimeError:
            pass
    module = wasmtime.Module(engine, wasm)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
        tmp.write_bytes(module.serialize())
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache: compile every time
    return module


def _cache_dir() -> Path:
    env = os.environ.get("AUDITOR_NATIVE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auditor" / "native"


@lru_cache(maxsize=1)
def _dist_version() -> str:
    """wasmtime-py's version: the name of its dist-info directory next to the package,
    else importlib.metadata's answer (importing that costs ~20 ms of start-up)."""
    import wasmtime

    with contextlib.suppress(OSError, TypeError):
        site = Path(wasmtime.__file__).resolve().parent.parent
        names = sorted(e.name for e in os.scandir(site) if e.name.startswith("wasmtime-")
                       and e.name.endswith(".dist-info"))
        if len(names) == 1:
            return names[0][len("wasmtime-"):-len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return "unknown"


def _release() -> None:
    """Drop the pooled instances and the compiled modules before the interpreter tears
    wasmtime-py's bindings down (their finalizers call into it)."""
    _POOL.clear()
    for hook in RELEASE_HOOKS:
        hook()
    _compiled.cache_clear()
    engine_.cache_clear()


RELEASE_HOOKS: list[Any] = []  # other compiled modules' clean-ups (graph.py), run by _release


def available() -> bool:
    return _compiled(True) is not None


@dataclass
class Batch:
    """What one scan call read: `count` bodies; `recs` per body (file offset of the body,
    of its locals, its size, where its pairs start in `flat`); `flat` the pairs."""

    count: int
    recs: array
    flat: array


class _Instance:
    """A store and an instance of the reader with the tables written in; its memory
    grows to what a section needs, within the store's limit."""

    def __init__(self, small: bool = True) -> None:
        import wasmtime

        compiled = _compiled(small)
        if compiled is None:
            raise Failure("codescan.wasm cannot run on this engine")
        engine, module = compiled
        blob = table_blob()
        self.store = store = wasmtime.Store(engine)
        store.set_limits(memory_size=1 << 20, instances=1, tables=1, memories=1)
        inst = wasmtime.Instance(store, module, [])
        ex: Any = inst.exports(store)
        self.memory = ex["memory"]
        self.args_at = _align(ex["__heap_base"].value(store))  # scan's arguments (codescan.c `Args`)
        self.tables_at = self.args_at + 64
        self.code_at = _align(self.tables_at + len(blob))
        self.scan = ex["scan"]
        self.result_at = ex["result_ptr"](store)
        self.size = 0
        self.base = 0
        self.reserve(self.code_at)
        ctypes.memmove(self.base + self.tables_at, blob, len(blob))
        if not ex["init"](store, self.tables_at):  # pragma: no cover - built from this source
            raise RuntimeError("codescan.wasm: table version mismatch")

    def reserve(self, need: int) -> None:
        pages = (need + _PAGE - 1) // _PAGE
        self.store.set_limits(memory_size=max(pages * _PAGE, 1 << 20), instances=1, tables=1, memories=1)
        have = self.memory.size(self.store)
        if pages > have:
            self.memory.grow(self.store, pages - have)
        self.size = self.memory.data_len(self.store)
        self.base = ctypes.addressof(self.memory.data_ptr(self.store).contents)


_BIG = [True]  # until an instance with the big reservation is refused (`ulimit -v`)


def _new_instance() -> _Instance:
    """An instance on the engine without bounds checks, else (its 4 GiB reservation
    refused, or no such engine) on the shared one."""
    if _BIG[0]:
        try:
            return _Instance(small=False)
        except Exception:
            _BIG[0] = False
    return _Instance(small=True)


# Instances whose memory stays small are kept for the next module (a spec-corpus module
# costs ~0.4 ms of store and instance set-up); big ones go with their session.
_POOL: list[_Instance] = []
_POOL_MAX_BYTES = 2 << 20
_MAX_BYTES = 0xFFFF_0000  # 32-bit memory, less a page


class Session:
    """One code section read through one instance, a window of at most WINDOW bytes of
    it at a time (more when one body is bigger): the copy in linear memory stays small
    whatever the module's size. `scan` reads bodies from any offset (the caller reads a
    body the scanner declines and resumes after it); `close()` gives the instance back
    (or drops it with its memory)."""

    WINDOW = 4 << 20
    Failure = Failure

    def __init__(self, data: bytes, start: int, end: int, n: int):
        self.broken = True  # until set up
        if end > _MAX_BYTES:
            raise Failure("module too large for the native reader's 32-bit offsets")
        inst = None
        with contextlib.suppress(IndexError):
            inst = _POOL.pop()
        if inst is None:
            try:
                inst = _new_instance()
            except Exception as e:
                raise Failure(f"codescan.wasm: {e}") from e
        self.inst = inst
        self.data, self.start, self.end = data, start, end
        src = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        assert src is not None
        self.src = src
        self.win_start = self.win_end = start
        self.recs_at = self.flat_at = 0
        self.broken = False

    def _load(self, pos: int, size: int) -> None:
        """Copy data[pos : pos + size] in (the section's end at most)."""
        inst = self.inst
        size = min(size, self.end - pos)
        # layout: [static data + stack | arguments | tables | window | records | pairs]; a
        # body is at least 2 bytes (16 of records), a pair 8 bytes for an instruction of
        # at least 2, two pairs for table.copy's 4 (4 per byte)
        self.recs_at = _align(inst.code_at + size)
        self.flat_at = _align(self.recs_at + 8 * size + 16)
        need = self.flat_at + 4 * size + 64
        if need > _MAX_BYTES:
            raise Failure("function body too large for the native reader")
        try:
            inst.reserve(need)
        except Exception as e:  # wasmtime refused the memory
            raise Failure(f"codescan.wasm memory: {e}") from e
        ctypes.memmove(inst.base + inst.code_at, self.src + pos, size)
        self.win_start, self.win_end = pos, pos + size

    def _body_bytes(self, pos: int) -> int | None:
        """Bytes of the body at `pos` (its size LEB included), or None if it cannot be
        read or runs past the section (the Python pass says why)."""
        data, size, shift = self.data, 0, 0
        for i in range(5):
            if pos + i >= self.end:
                return None
            b = data[pos + i]
            size |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return i + 1 + size if pos + i + 1 + size <= self.end else None
        return None

    def scan(self, pos: int, n: int, datacount: bool, window: tuple[int, int] | None) -> list[Batch]:
        """Read up to n bodies from file offset `pos`, moving the window as needed; stops
        before the first body the scanner declines. Raises Failure (and the session is
        done) when wasmtime refuses something."""
        if self.broken:
            raise Failure("codescan.wasm: the session failed before")
        out: list[Batch] = []
        try:
            self._scan_all(out, pos, n, datacount, window)
        except Failure:
            self.broken = True
            if not out:
                raise
        return out  # what was read before the failure stands

    def _scan_all(self, out: list[Batch], pos: int, n: int, datacount: bool, window: tuple[int, int] | None) -> None:
        while n:
            if not self.win_start <= pos < self.win_end:
                self._load(pos, self.WINDOW)
            batch = self._scan(pos, n, datacount, window)
            if batch.count:
                out.append(batch)
                n -= batch.count
                pos = batch.recs[-3] + batch.recs[-2]
            if not n or self.win_end >= self.end:
                break
            # stopped: past the window's end, or a body the scanner declines
            need = self._body_bytes(pos)
            if need is None or (pos == self.win_start and pos + need <= self.win_end):
                break
            self._load(pos, max(self.WINDOW, need))

    def _scan(self, pos: int, n: int, datacount: bool, window: tuple[int, int] | None) -> Batch:
        inst = self.inst
        flags = (1 if window is not None else 0) | (2 if datacount else 0)
        lo, hi = window if window is not None else (0, 0)
        hi = min(hi, (1 << 63) - 1)
        args = struct.pack("<8I2q", inst.code_at, self.win_end - self.win_start, pos - self.win_start, n,
                           self.win_start, self.recs_at, self.flat_at, flags, lo, hi)
        ctypes.memmove(inst.base + inst.args_at, args, len(args))
        try:
            inst.scan(inst.store, inst.args_at)
        except Exception as e:  # a wasmtime Trap or error
            raise Failure(f"codescan.wasm: {e}") from e
        count, nflat = struct.unpack("<2I", ctypes.string_at(inst.base + inst.result_at, 8))
        # one copy each, from the instance's memory into the array (string_at made a
        # bytes object first: a second copy into fresh pages)
        recs = array("I")
        if count:
            recs.frombytes((ctypes.c_char * (16 * count)).from_address(inst.base + self.recs_at))
        flat = array("I")
        if nflat:
            flat.frombytes((ctypes.c_char * (4 * nflat)).from_address(inst.base + self.flat_at))
        return Batch(count, recs, flat)

    def close(self) -> None:
        if not self.broken and self.inst.size <= _POOL_MAX_BYTES and len(_POOL) < 4:
            _POOL.append(self.inst)


def _align(n: int) -> int:
    return (n + 15) & ~15
