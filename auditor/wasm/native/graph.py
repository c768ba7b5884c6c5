"""The item graph's hot loops compiled: graphcore.c, built to graphcore.wasm, run in
wasmtime with the code reader's engine (`native.engine_`).

What it computes, each exactly as the Python code it stands in for (which stays, as the
fallback and as the tests' reference):

- `edges`: every body's edges from the code pass's (opcode, value) pairs and the data
  -> data pointer pairs, merged with the few other edges into the graph's CSR arrays
  (auditor/wasm/analysis/items.py `_edges_from_parse`, refs.py `data_pointers`);
- `dominators`: the dominator tree and retained sizes (analysis/dominators.py);
- `reachable`, `bfs`: the walks of `garbage` and `paths` (analysis/core.py, reach.py).

Every function returns None when the compiled module cannot run here (no wasmtime, a
refused memory reservation, an input it does not take): the caller then runs the
Python code. Inputs are bounded by the module's size and checked by the C code before
they index anything; the store caps the instance's memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

WASM = Path(__file__).with_name("graphcore.wasm")
SOURCE = Path(__file__).with_name("graphcore.c")
VERSION = 1
MAX_MEMORY = 0xFFFF0000  # 32-bit memory, less a page
_PAGE = 65536

# opcode roles of graphcore.c's body_edges (P_*), from refs.py's opcodes
P_CALL, P_INDIRECT, P_REF_FUNC, P_GLOBAL, P_CONST, P_GROW, P_TABLE = 1, 2, 3, 4, 5, 6, 7


def mode() -> str:
    """`AUDITOR_NATIVE_GRAPH`: "auto" (the compiled module for graphs big enough to pay
    for it, rules/wasm_opcodes.toml [native] min-graph-*), "on" or "off"."""
    m = os.environ.get("AUDITOR_NATIVE_GRAPH", "auto").strip().lower() or "auto"
    return m if m in ("auto", "on", "off") else "auto"


def wanted(work: int) -> bool:
    """Whether to use the compiled module for `work` units (pairs + edges + items): on,
    off, or (auto) above rules/wasm_opcodes.toml [native] min-graph-work, lower when
    wasmtime is imported already (the code reader ran)."""
    m = mode()
    if m != "auto":
        return m == "on"
    from auditor.wasm.opcodes import tables

    loaded = "wasmtime" in sys.modules
    threshold = tables().native.get("min-graph-work-loaded" if loaded else "min-graph-work")
    return threshold is not None and work >= threshold


@lru_cache(maxsize=1)
def _compiled() -> Any | None:
    try:
        wasm = WASM.read_bytes()
        import wasmtime

        from auditor.wasm import native
    except (OSError, ImportError):
        return None
    try:
        engine = native.engine_()
        module = native._module(wasmtime, engine, wasm, "graphcore")
    except Exception:  # wasmtime refused (e.g. no address space for the engine)
        return None
    native.RELEASE_HOOKS.append(_release)
    return module


def _release() -> None:
    _POOL.clear()
    _compiled.cache_clear()


def available() -> bool:
    return _compiled() is not None


class Failure(Exception):
    """wasmtime refused something, or the C code refused an input."""


class _Instance:
    def __init__(self) -> None:
        import wasmtime

        from auditor.wasm import native

        module = _compiled()
        if module is None:
            raise Failure("graphcore.wasm is not available")
        self.store = store = wasmtime.Store(native.engine_())
        store.set_limits(memory_size=MAX_MEMORY, instances=1, tables=1, memories=1)
        inst = wasmtime.Instance(store, module, [])
        ex: Any = inst.exports(store)
        self.memory = ex["memory"]
        self.fn = {name: ex[name] for name in ("reset", "alloc", "body_edges", "pointer_edges", "csr", "dominators",
                                               "reachable", "bfs")}
        if ex["version"](store) != VERSION:  # pragma: no cover - built from this source
            raise Failure("graphcore.wasm: version mismatch")
        self.result_at = ex["result_ptr"](store)

    def base(self) -> int:
        return ctypes.addressof(self.memory.data_ptr(self.store).contents)

    def call(self, name: str, *args: int) -> int:
        try:
            return int(self.fn[name](self.store, *args) or 0)
        except Exception as e:  # a trap (a bug) or a refusal: the caller runs the Python code
            raise Failure(f"graphcore.wasm {name}: {e}") from e

    def alloc(self, n: int) -> int:
        at = self.call("alloc", n)
        if not at:
            raise Failure("graphcore.wasm: out of memory")
        return at

    def stage(self, parts: list[Any]) -> list[int]:
        """Write every part in with one allocation (each wasmtime call costs ~0.1-0.2 ms
        of wasmtime-py's argument reflection): an array (straight from its buffer), bytes,
        a (bytes, lo, hi) slice of a file, or an int = that many bytes left to fill.
        Returns each part's address."""
        sizes = []
        for part in parts:
            if isinstance(part, array):
                sizes.append(len(part) * part.itemsize)
            elif isinstance(part, int):
                sizes.append(part)
            elif isinstance(part, tuple):
                data, lo, hi = part
                if not (0 <= lo <= hi <= len(data)) or not isinstance(data, bytes):
                    raise Failure("slice out of range")
                sizes.append(hi - lo)
            else:
                sizes.append(len(part))
        total = sum(_align(max(n, 1)) for n in sizes)
        at = self.alloc(total)
        base = self.base()
        addrs = []
        for part, size in zip(parts, sizes):
            addrs.append(at)
            if size and not isinstance(part, int):
                if isinstance(part, array):
                    ctypes.memmove(base + at, part.buffer_info()[0], size)
                elif isinstance(part, tuple):
                    data, lo, _ = part
                    src = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
                    assert src is not None
                    ctypes.memmove(base + at, src + lo, size)
                else:
                    ctypes.memmove(base + at, bytes(part), size)
            at += _align(max(size, 1))
        return addrs

    def write(self, at: int, raw: bytes) -> None:
        ctypes.memmove(self.base() + at, raw, len(raw))

    def result(self, count: int) -> tuple[int, ...]:
        return struct.unpack(f"<{count}I", ctypes.string_at(self.base() + self.result_at, 4 * count))

    def take(self, at: int, typecode: str, count: int) -> array:
        out = array(typecode)
        if count:  # one copy, from the instance's memory into the array
            out.frombytes((ctypes.c_char * (count * out.itemsize)).from_address(self.base() + at))
        return out

    def run(self, name: str, args_at: int, args: bytes) -> None:
        """Write the argument struct at `args_at` (staged) and call `name` on it."""
        self.write(args_at, args)
        if not self.call(name, args_at):
            raise Failure(f"graphcore.wasm {name} refused its input")


def _align(n: int) -> int:
    return (n + 15) & ~15


def _u32(values: Any) -> array:
    return values if isinstance(values, array) and values.typecode == "I" else array("I", values)


_POOL: list[_Instance] = []


@contextlib.contextmanager
def _session():
    """A reset instance from the pool (made on first use); back to the pool after."""
    inst = _POOL.pop() if _POOL else None
    if inst is None:
        try:
            inst = _Instance()
        except Failure:
            raise
        except Exception as e:
            raise Failure(f"graphcore.wasm: {e}") from e
    inst.call("reset")
    ok = False
    try:
        yield inst
        ok = True
    finally:
        # a big memory goes with its instance; a failed one too
        if ok and inst.memory.data_len(inst.store) <= 64 << 20 and not _POOL:
            _POOL.append(inst)


# --------------------------------------------------------------------------- edges

@dataclass
class BodyInput:
    """What body_edges reads: the code pass's pairs and the graph's counts."""

    flat: array  # u32: opcode, value, ...
    starts: array  # u32 per body
    f0: int  # function index of the first body
    nf: int
    nt: int
    ng: int
    t0: int
    gl0: int
    d0: int
    full: bool
    lo: int
    hi: int


@dataclass
class Edges:
    starts: array  # "I", n + 1
    targets: array  # "I"
    kinds: array  # "B"
    grow_bodies: list[int]  # body numbers (0 = first defined) with memory.grow
    addresses: array  # "i": data addresses, body order
    address_counts: array  # "I" per body


@lru_cache(maxsize=1)
def _roles() -> bytes:
    from auditor.wasm.analysis import refs as rf
    from auditor.wasm.opcodes import table_firsts

    roles = bytearray(256)
    for op, role in ((rf.OP_CALL, P_CALL), (rf.OP_RETURN_CALL, P_CALL), (rf.OP_CALL_INDIRECT, P_INDIRECT),
                     (rf.OP_RETURN_CALL_INDIRECT, P_INDIRECT), (rf.OP_REF_FUNC, P_REF_FUNC),
                     (rf.OP_GLOBAL_GET, P_GLOBAL), (rf.OP_GLOBAL_SET, P_GLOBAL), (rf.OP_I32_CONST, P_CONST),
                     (rf.OP_MEMORY_GROW, P_GROW)):
        roles[op] = role
    for op in table_firsts():  # table.get, table.copy, ...: a pair per table named
        roles[op] = P_TABLE
    return bytes(roles)


def edges(n: int, body: BodyInput, ranges: list[tuple[int, int, int]],
          pointer_data: tuple[bytes, int, int, array] | None, extra_src: array, extra_key: array) -> Edges | None:
    """The graph's CSR arrays: the bodies' edges (`body`), the data -> data pointer pairs
    (`pointer_data`: the file, the span [lo, hi) of it holding the segments' bytes, and
    each range's offset into that span; None: not wanted, or already among the extras) and the extra (source, target << 4 | kind)
    pairs, per item sorted by key without repeats. None: run the Python code."""
    if _compiled() is None or n >= 1 << 28:
        return None
    if body.lo < -(1 << 62) or body.hi > 1 << 62:
        return None
    try:
        with _session() as inst:
            r_starts = array("q", [r[0] for r in ranges])
            r_ends = array("q", [r[1] for r in ranges])
            r_segs = array("I", [r[2] for r in ranges])
            parts: list[Any] = [r_starts, r_ends, r_segs, _u32(body.flat), _u32(body.starts), _roles(), 88]
            if pointer_data is not None:
                data, lo, hi, offsets = pointer_data
                parts += [(data, lo, hi), _u32(offsets), 36]
            if len(extra_src):
                parts += [_u32(extra_src), _u32(extra_key)]
            addrs = inst.stage(parts)
            rs, re_, rseg, flat_at, starts_at, roles_at, body_args = addrs[:7]
            nb = len(body.starts)
            inst.run("body_edges", body_args,
                     struct.pack("<2q18I", body.lo, body.hi, flat_at, starts_at, len(body.flat), nb, body.f0,
                                 body.nf, body.nt, body.ng, body.t0, body.gl0, body.d0, 1 if body.full else 0,
                                 roles_at, rs, re_, rseg, len(ranges), n))
            np_, src_at, key_at, flags_at, addr_at, acount_at, naddr = inst.result(7)
            flags = inst.take(flags_at, "B", nb).tobytes()
            addresses = inst.take(addr_at, "i", naddr)
            counts = inst.take(acount_at, "I", nb)
            lists = [(src_at, key_at, np_)]
            rest = addrs[7:]
            if pointer_data is not None:
                data, lo, hi, offsets = pointer_data
                bytes_at, off_at, ptr_args = rest[:3]
                rest = rest[3:]
                contiguous = all(ranges[k][1] == ranges[k + 1][0] for k in range(len(ranges) - 1))
                inst.run("pointer_edges", ptr_args,
                         struct.pack("<9I", bytes_at, off_at, rs, re_, rseg, len(ranges), hi - lo, body.d0,
                                     1 if contiguous else 0))
                pp, psrc, pkey = inst.result(3)
                lists.append((psrc, pkey, pp))
            if len(extra_src):
                lists.append((rest[0], rest[1], len(extra_src)))
            srcs, keys, counts_at, csr_args = inst.stage([array("I", [x[0] for x in lists]),
                                                          array("I", [x[1] for x in lists]),
                                                          array("I", [x[2] for x in lists]), 20])
            inst.run("csr", csr_args, struct.pack("<5I", n, len(lists), srcs, keys, counts_at))
            ne, cs, ct, ck = inst.result(4)
            out = Edges(inst.take(cs, "I", n + 1), inst.take(ct, "I", ne), inst.take(ck, "B", ne),
                        [], addresses, counts)
    except Failure:
        return None
    if flags.count(0) != len(flags):
        at = -1
        while True:
            at = flags.find(1, at + 1)
            if at < 0:
                break
            out.grow_bodies.append(at)
    return out


# --------------------------------------------------------------------------- graph walks

def _run_graph(inst: _Instance, name: str, g: Any, roots: Any) -> None:
    """Stage the graph (CSR arrays, roots, sizes) and run `name` over it."""
    sizes = g.sizes if isinstance(g.sizes, array) and g.sizes.typecode in ("Q", "q") else array("q", g.sizes)
    starts_at, targets_at, roots_at, sizes_at, args_at = inst.stage([_u32(g.starts), _u32(g.targets), _u32(roots),
                                                                     sizes, 24])
    inst.run(name, args_at, struct.pack("<6I", len(g), starts_at, targets_at, roots_at, len(roots), sizes_at))


def _fits(g: Any) -> bool:
    return len(g) < 0x7FFFFFF0 and len(g.starts) == len(g) + 1


@dataclass
class DominatorArrays:
    idom: array  # "i"
    retained: array  # "q"
    order: array  # "i"
    reachable_bytes: int


def dominators(g: Any) -> DominatorArrays | None:
    """Dominators of the graph (Graph protocol: len, sizes, starts, targets, roots), or
    None: run the Python code. Sizes must be non-negative and fit in 63 bits."""
    if _compiled() is None or not _fits(g):
        return None
    n = len(g)
    try:
        with _session() as inst:
            if isinstance(g.sizes, array) and g.sizes.typecode == "q" and len(g.sizes) and min(g.sizes) < 0:
                return None
            _run_graph(inst, "dominators", g, g.roots)
            count, idom_at, ret_at, order_at, lo, hi = inst.result(6)
            return DominatorArrays(inst.take(idom_at, "i", n), inst.take(ret_at, "q", n),
                                   inst.take(order_at, "i", count - 1), lo | hi << 32)
    except (Failure, OverflowError):
        return None


def reachable(g: Any) -> bytearray | None:
    """A 0/1 mark per node reachable from the graph's roots, or None."""
    if _compiled() is None or not _fits(g):
        return None
    try:
        with _session() as inst:
            _run_graph(inst, "reachable", g, g.roots)
            (seen_at,) = inst.result(2)[1:]
            return bytearray(inst.take(seen_at, "B", len(g)).tobytes())
    except (Failure, OverflowError):
        return None


def bfs(g: Any) -> tuple[array, array] | None:
    """(dist, parent) of a breadth-first search from the sorted distinct roots, or None."""
    if _compiled() is None or not _fits(g):
        return None
    try:
        with _session() as inst:
            _run_graph(inst, "bfs", g, sorted(set(g.roots)))
            dist_at, parent_at = inst.result(3)[1:]
            return inst.take(dist_at, "i", len(g)), inst.take(parent_at, "i", len(g))
    except (Failure, OverflowError):
        return None
