"""Allocator speed and heap efficiency: the third axis of "which allocator should this ship".

Two speed figures per workload, measured on the same script (speed_workloads.py):

- fuel per action, deterministic: the workload runs INSIDE the module through the probe
  export `__auditor_replay`, in the harness's fuel-metered store, and the fuel of a replay
  of as many op-3 (do-nothing) records is subtracted. Why inside: fuel counts only wasm
  instructions, so a host-driven call per action would also count the probe wrapper's
  argument checks (23 instructions per alloc, measured) and nothing of the host's loop,
  while a loop inside the module would count its own decoding; the calibration replay
  removes exactly that decoding, leaving Rust's allocator shims and the allocator. Same
  module + same options = the same number on every machine, so tests and budgets use it.
- actions per microsecond, wall clock: the same replay in a second wasmtime engine
  WITHOUT fuel metering (metering slows branchy code unevenly), a warm-up iteration and
  then the median of `runs` timed iterations on the same instance, like talc's wasm-perf
  (its figures come from V8; ours from wasmtime's Cranelift, so absolute numbers differ).
  Noisy: reported, never gated.

Heap efficiency is measured by calls (no script buffer may sit in the heap being
measured): talc's heap_efficiency model allocates, frees and reallocates until the first
failure under the memory cap, and `live bytes / heap bytes` is taken there, heap bytes
being linear memory above `__heap_base` (the initial memory when it is not exported).
Peak-to-live is the heap bytes after a replayed workload (wasm memory never shrinks, so
that is its peak) over the most bytes live at once, the script buffers included.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass, field

import wasmtime

from auditor.records.run import (
    FillTrialRecord,
    HeapFillRecord,
    SpeedOptionsRecord,
    SpeedRecord,
    SpeedWorkloadRecord,
    TrapRecord,
    WallClockRecord,
)
from auditor.runtime import speed_workloads as sw
from auditor.runtime.entry import Entry
from auditor.runtime.harness import (
    CallResult,
    Exports,
    Harness,
    InstantiateError,
    Session,
    classify_trap,
    to_signed,
)
from auditor.runtime.sandbox import apply_limits
from auditor.runtime.workloads import Heap
from auditor.units import PAGE

REPLAY = "__auditor_replay"
REPLAY_ALLOC = "__auditor_alloc"  # the replay comes with the probe exports, so this one too
CHUNK = 4096  # records per replay call: a 64 KiB script buffer on wasm32 (small arenas refuse more)
HEADLINE = "random_realloc"  # the workload whose figures stand for the variant
FILL_MAX_ACTIONS = 1_000_000  # an allocator that never fails is reported, not waited on
BUFFER_ALIGN = 16


@dataclass
class SpeedOptions:
    actions: int = 20_000  # records per workload (talc's wasm-perf: 100,000)
    runs: int = 3  # timed iterations after the warm-up; 0 = no wall-clock figure
    trials: int = 1  # heap-efficiency fills, each on a fresh instance; 0 = none
    seed: int = 1
    workloads: tuple[str, ...] = sw.WORKLOADS

    def to_json(self) -> SpeedOptionsRecord:
        return {"actions": self.actions, "runs": self.runs, "trials": self.trials, "seed": self.seed,
                "workloads": list(self.workloads), "chunk": CHUNK}


@dataclass
class SpeedResult:
    reason: str | None = None  # why nothing was measured
    options: SpeedOptionsRecord = field(default_factory=lambda: SpeedOptions().to_json())
    heap_base: int | None = None
    heap_base_source: str | None = None  # "__heap_base" | "initial-memory"
    workloads: dict[str, SpeedWorkloadRecord] = field(default_factory=dict)
    heap_efficiency: HeapFillRecord | None = None

    def headline(self) -> SpeedWorkloadRecord | None:
        rec = self.workloads.get(HEADLINE)
        return rec if rec and rec.get("outcome") == "ok" else None

    def to_json(self) -> SpeedRecord:
        head = self.headline()
        eff = self.heap_efficiency
        return {
            "reason": self.reason,
            "method": "replay" if self.workloads else None,
            "entry": REPLAY if self.workloads else None,
            "options": self.options,
            "headline": HEADLINE,
            "fuel_per_action": head["fuel_per_action"] if head else None,
            "actions_per_us": head["actions_per_us"] if head else None,
            "peak_to_live": head["peak_to_live"] if head else None,
            "heap_efficiency": eff["efficiency"] if eff else None,
            "heap_base": self.heap_base,
            "heap_base_source": self.heap_base_source,
            "workloads": self.workloads,
            "fill": self.heap_efficiency,
        }


# --------------------------------------------------------------------------- helpers


def _heap_base(session: Session) -> tuple[int, str]:
    """Where the allocator's heap starts: `__heap_base` when exported, else the end of the
    initial memory (rustc >= 1.96 stops exporting it; the error is < 64 KiB)."""
    g = session.exports.get("__heap_base")
    if isinstance(g, wasmtime.Global):
        v = g.value(session.store)
        if isinstance(v, int):
            return v, "__heap_base"
    init, _ = session.h.memory_limits()
    return (init or 0) * PAGE, "initial-memory"


def replay_signature_ok(h: Harness, ptr: str) -> str | None:
    """None when `__auditor_replay` is there with (ptr, ptr, ptr) -> ptr, else why not."""
    sig = h.func_signature(REPLAY)
    if sig is None:
        return f"no {REPLAY} export (a probe build of auditor >= 0.2 has one)"
    if sig != ((ptr, ptr, ptr), (ptr,)):
        return f"{REPLAY} has signature {sig}, expected ({ptr}, {ptr}, {ptr}) -> {ptr}"
    return None


def _session(h: Harness, cap: int, rec: SpeedWorkloadRecord | FillTrialRecord) -> Session | None:
    """A fresh capped instance, or None with the instantiation failure recorded in `rec`."""
    try:
        return h.session(cap)
    except InstantiateError as e:
        rec["outcome"], rec["trap"] = e.outcome, e.to_json()
        return None


def _fuel_used(s: Session) -> int:
    """Fuel the call just made burned (Session.call primes the store before each call)."""
    used: int = (s.fuel_override or s.h.fuel) - s.store.get_fuel()
    return used


class _Buffers:
    """The script chunk buffer and the slot table, allocated through the allocator."""

    def __init__(self, heap: Heap, script: sw.Script, word: int):
        self.word = word
        self.records = min(script.actions, CHUNK)
        self.script_bytes = self.records * 4 * word
        self.slot_bytes = max(1, script.slots) * 3 * word
        self.failure: str | None = None  # outcome of the allocation that failed
        self.trap: TrapRecord | None = None
        self.script_ptr = self.slots_ptr = 0
        for attr, size in (("script_ptr", self.script_bytes), ("slots_ptr", self.slot_bytes)):
            r, p = heap.alloc(size, BUFFER_ALIGN)
            if not r.ok or not p:
                self.failure, self.trap = (r.outcome, r.trap_json()) if not r.ok else ("null", None)
                return
            setattr(self, attr, p)

    @property
    def bytes(self) -> int:
        return self.script_bytes + self.slot_bytes


# --------------------------------------------------------------------------- fuel run


def _fuel_run(h: Harness, entry: Entry, cap: int, script: sw.Script) -> SpeedWorkloadRecord:
    """Replay the script once in a fresh fuel-metered instance; the deterministic figures."""
    rec: SpeedWorkloadRecord = {"outcome": None, "actions": script.actions, "completed": 0,
                 "allocs": script.counts[0], "frees": script.counts[1], "reallocs": script.counts[2],
                 "fuel": None, "loop_fuel": None, "fuel_per_action": None, "actions_per_us": None,
                 "time_us": None, "timing_calls": None, "timing_note": None, "peak_live_bytes": None, "heap_bytes": None, "peak_to_live": None,
                 "pages_end": None, "trap": None}
    word = 8 if entry.ptr_type == "i64" else 4
    bits = word * 8
    s = _session(h, cap, rec)
    if s is None:
        return rec
    with s:
        heap = Heap(s, entry)
        base, _ = _heap_base(s)
        bufs = _Buffers(heap, script, word)
        if bufs.failure is not None:
            rec["outcome"], rec["trap"] = bufs.failure, bufs.trap
            return rec
        args = (to_signed(bufs.script_ptr, bits), to_signed(bufs.slots_ptr, bits))

        def replay(n: int) -> tuple[CallResult, int]:
            r = s.call(REPLAY, args[0], n, args[1])
            return r, _fuel_used(s)

        nop_fuel: dict[int, int] = {}

        def calibrate(n: int) -> int | None:
            if n not in nop_fuel:
                s.memory.write(s.store, _nops(n, word), bufs.script_ptr)
                r, f = replay(n)
                if not r.ok or r.value != n:
                    return None
                nop_fuel[n] = f
            return nop_fuel[n]

        chunks = [(i, min(i + bufs.records, script.actions)) for i in range(0, script.actions, bufs.records)]
        for start, stop in chunks:  # calibrate first: op-3 records touch no heap
            if calibrate(stop - start) is None:
                rec["outcome"] = "calibration-failed"
                return rec
        total = loop = 0
        for start, stop in chunks:
            n = stop - start
            s.memory.write(s.store, script.packed(start, stop, word), bufs.script_ptr)
            r, f = replay(n)
            if not r.ok:
                rec["outcome"], rec["trap"] = r.outcome, r.trap_json()
                break
            done = _as_int(r.value) & ((1 << bits) - 1)
            total += f
            loop += nop_fuel[n]
            rec["completed"] = start + done
            if done != n:
                rec["outcome"] = "null"  # an allocator call returned null at this action
                break
        else:
            rec["outcome"] = "ok"
        pages = s.pages() or 0
        # A static arena hands out blocks below __heap_base: the heap starts at the lowest block.
        heap_bytes = max(0, pages * PAGE - min(base, bufs.script_ptr, bufs.slots_ptr))
        peak = script.peak_live + bufs.bytes
        rec.update({
            "fuel": total, "loop_fuel": loop,
            "fuel_per_action": round((total - loop) / rec["completed"], 2) if rec["completed"] else None,
            "peak_live_bytes": peak, "heap_bytes": heap_bytes, "pages_end": pages,
            "peak_to_live": round(heap_bytes / peak, 3) if rec["outcome"] == "ok" and peak else None,
        })
    return rec


def _nops(n: int, word: int) -> bytes:
    """n op-3 records (slot 0, size 0): the replay decodes them and calls nothing."""
    return sw.nop_script(n).packed(0, n, word)


# --------------------------------------------------------------------------- wall clock


class _Compiled:
    """The module compiled once, without fuel metering, for every timed instance."""

    def __init__(self, h: Harness):
        cfg = wasmtime.Config()
        cfg.wasm_multi_memory = True
        cfg.wasm_memory64 = True
        if h.timeout:
            cfg.epoch_interruption = True
        self.h = h
        self.engine = wasmtime.Engine(cfg)
        self.module = wasmtime.Module(self.engine, h.data)


class _Timer:
    """A fuel-free instance of the module for wall-clock runs, with a watchdog.

    Fuel metering changes the code being timed, so timing uses its own engine. The fuel
    run has already shown the first iteration terminates; later iterations start from a
    warm heap, so each call still gets the harness's wall-clock backstop (an epoch
    interruption armed by a timer thread)."""

    def __init__(self, compiled: _Compiled, cap: int):
        h, module = compiled.h, compiled.module
        self.timeout = h.timeout
        self.engine = compiled.engine
        self.store = wasmtime.Store(self.engine)
        apply_limits(self.store, cap, h.limits)  # every store bound (auditor.runtime.sandbox)
        linker = wasmtime.Linker(self.engine)
        if h.wasi:
            linker.define_wasi()
            self.store.set_wasi(wasmtime.WasiConfig())
        linker.define_unknown_imports_as_traps(module)
        linker.define_unknown_imports_as_default_values(self.store, module)
        self._arm()
        instance = linker.instantiate(self.store, module)
        self.funcs = Exports(linker, self.store, instance, h.export_types)  # by name, not all (quadratic)
        self.memory: wasmtime.Memory | None = self.funcs.memory()
        if isinstance(self.funcs.get("_initialize"), wasmtime.Func):
            self.call("_initialize")

    def _arm(self) -> threading.Timer | None:
        if not self.timeout:
            return None
        self.store.set_epoch_deadline(1)
        t = threading.Timer(self.timeout, self.engine.increment_epoch)
        t.daemon = True
        t.start()
        return t

    def call(self, name: str, *args: int) -> int:
        t = self._arm()
        try:
            return _as_int(self.funcs[name](self.store, *args))
        finally:
            if t is not None:
                t.cancel()

    def timed(self, name: str, *args: int) -> tuple[int, float]:
        """(result, CPU seconds of this thread): wasmtime runs the call on the calling
        thread, and CPU time leaves out the time the OS gave other processes, which on a
        busy machine varies wall time 3x between identical iterations (measured: thread
        CPU time within ±10 %)."""
        t = self._arm()
        try:
            t0 = time.thread_time()
            v = self.funcs[name](self.store, *args)
            return _as_int(v), time.thread_time() - t0
        finally:
            if t is not None:
                t.cancel()


def _last(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[-1] if lines else type(e).__name__


def _as_int(v: object) -> int:
    """An i32/i64 result (0 for a function that returns nothing)."""
    return v if isinstance(v, int) else 0


def _wall_clock(compiled: _Compiled, entry: Entry, cap: int, script: sw.Script, runs: int) -> WallClockRecord:
    """`actions_per_us` and `time_us` ({median, min, max} per iteration), or a `timing_note`
    saying why there is no figure (say, an allocator that never frees runs out of memory
    in the second iteration: the fuel run only proves the first one fits).

    The whole script goes into one buffer when the allocator grants it, so an iteration
    is ONE call and the host's per-call cost (tens of µs under load, against a few ms of
    replay) is negligible; subtracting it per chunk instead made figures depend on the
    machine's load more than on the allocator. Only when the big buffer is refused is the
    script replayed in CHUNK-record calls, minus the cheapest empty call."""
    word = 8 if entry.ptr_type == "i64" else 4
    bits = word * 8
    mask = (1 << bits) - 1
    try:
        for records in dict.fromkeys((script.actions, min(script.actions, CHUNK))):
            t = _Timer(compiled, cap)
            if t.memory is None:
                return {"timing_note": "no memory to write the script into"}
            try:
                sp = t.call(REPLAY_ALLOC, to_signed(records * 4 * word, bits), BUFFER_ALIGN) & mask
                slots = t.call(REPLAY_ALLOC, to_signed(max(1, script.slots) * 3 * word, bits), BUFFER_ALIGN) & mask
            except wasmtime.Trap:
                continue  # refused (handle_alloc_error): try smaller chunks on a fresh instance
            if sp and slots:
                break
        else:
            return {"timing_note": "the script buffers could not be allocated"}
        chunks = [(i, min(i + records, script.actions)) for i in range(0, script.actions, records)]
        packed = [script.packed(a, b, word) for a, b in chunks]
        args = (to_signed(sp, bits), to_signed(slots, bits))
        overhead = min(t.timed(REPLAY, args[0], 0, args[1])[1] for _ in range(5)) if len(chunks) > 1 else 0.0
        times = []
        for it in range(runs + 1):  # the first iteration warms up
            elapsed = 0.0
            for (a, b), data in zip(chunks, packed):
                if len(chunks) > 1 or it == 0:
                    t.memory.write(t.store, data, sp)
                v, dt = t.timed(REPLAY, args[0], b - a, args[1])
                if v & mask != b - a:
                    return {"timing_note": f"iteration {it + 1}: an allocation failed at action "
                                           f"{a + (v & mask)} (memory not reused between iterations?)"}
                elapsed += max(dt - overhead, 0.0)
            if it:
                times.append(elapsed * 1e6)
    except wasmtime.Trap as e:
        return {"timing_note": f"trapped: {classify_trap(e).message}"}
    except wasmtime.WasmtimeError as e:
        return {"timing_note": f"could not run: {_last(e)}"}
    med = statistics.median(times)
    return {"actions_per_us": round(script.actions / med, 3) if med > 0 else None,
            "time_us": {"median": round(med, 1), "min": round(min(times), 1), "max": round(max(times), 1)},
            "timing_calls": len(chunks), "timing_note": None}


# --------------------------------------------------------------------------- heap fill


def heap_fill(h: Harness, entry: Entry, cap: int, *, trials: int, seed: int) -> HeapFillRecord:
    """talc's heap_efficiency model until the first failure, `trials` fresh instances."""
    runs = []
    for trial in range(trials):
        runs.append(_fill_once(h, entry, cap, sw.fill_rng(seed, trial)))
    measured = [r for r in runs if r["heap_bytes"]]
    live = sum(r["live_bytes"] for r in measured)
    heap = sum(r["heap_bytes"] for r in measured)
    ok = [r for r in runs if r["outcome"] in ("null", "unreachable")]
    return {
        "efficiency": round(live / heap, 4) if heap and len(ok) == len(runs) else None,
        "memory_efficiency": round(live / sum(r["memory_bytes"] for r in measured), 4)
        if measured and len(ok) == len(runs) else None,
        "trials": runs,
        "reason": None if len(ok) == len(runs) else
        f"{len(runs) - len(ok)} of {len(runs)} fills did not end in a refused allocation",
    }


def _fill_once(h: Harness, entry: Entry, cap: int, rng: random.Random) -> FillTrialRecord:
    rec: FillTrialRecord = {"outcome": None, "actions": 0, "live_bytes": 0, "live_blocks": 0, "pages": None,
           "memory_bytes": 0, "heap_start": None, "heap_bytes": 0, "efficiency": None, "failed_op": None, "trap": None}
    s = _session(h, cap, rec)
    if s is None:
        return rec
    with s:
        heap = Heap(s, entry)
        base, _ = _heap_base(s)
        lowest = base
        live: list[list[int]] = []  # [ptr, size, align]
        total = 0
        while rec["actions"] < FILL_MAX_ACTIONS:
            op, a, b = sw.fill_action(rng, len(live))
            if op == sw.NOP:  # free/realloc drawn with nothing live: talc skips it too
                continue
            rec["actions"] += 1
            p = 0
            if op == sw.ALLOC:
                r, p = heap.alloc(a, b)
                if r.ok and p:
                    live.append([p, a, b])
                    lowest = min(lowest, p)
                    total += a
            elif op == sw.FREE:
                live[a], live[-1] = live[-1], live[a]
                q, size, align = live.pop()
                r = heap.free(q, size, align)
                total -= size
                p = q
            else:
                blk = live[a]
                r, p = _realloc(heap, entry, blk, b)
                if r.ok and p:
                    total += b - blk[1]
                    blk[0], blk[1] = p, b
                    lowest = min(lowest, p)
            if not r.ok or not p:
                rec["outcome"] = r.outcome if not r.ok else "null"
                rec["failed_op"] = sw.OP_NAMES[op]
                rec["trap"] = r.trap_json()
                break
            if total > cap * PAGE:
                # More bytes live than memory can ever hold: the blocks overlap (an
                # "allocator" that hands out one address). Stop here rather than run a
                # million host calls that prove nothing more.
                rec["outcome"] = "overlapping"
                rec["failed_op"] = sw.OP_NAMES[op]
                break
        else:
            rec["outcome"] = "no-failure"
        pages = s.pages() or 0
    rec.update({"live_bytes": total, "live_blocks": len(live), "pages": pages, "memory_bytes": pages * PAGE,
                "heap_bytes": max(0, pages * PAGE - lowest), "heap_start": lowest})
    rec["efficiency"] = round(total / rec["heap_bytes"], 4) if rec["heap_bytes"] else None
    return rec


def _realloc(heap: Heap, entry: Entry, blk: list[int], new: int) -> tuple[CallResult, int]:
    """Reallocate through the export, or as alloc + free when the module has none."""
    p, size, align = blk
    if entry.realloc:
        return heap.realloc(p, size, new, align)
    r, q = heap.alloc(new, align)
    if r.ok and q and entry.free:
        heap.free(p, size, align)
    return r, q


# --------------------------------------------------------------------------- entry point


def speed_probe(h: Harness, entry: Entry, cap: int, options: SpeedOptions | None = None) -> SpeedResult:
    """Every speed workload and the heap fill on one module."""
    options = options or SpeedOptions()
    res = SpeedResult(options=options.to_json())
    if not entry.found or entry.free is None:
        res.reason = "no allocation exports" if not entry.found else f"no free export next to {entry.alloc}"
        return res
    try:
        with h.session(cap) as s:
            res.heap_base, res.heap_base_source = _heap_base(s)
    except InstantiateError as e:
        res.reason = f"instantiation failed: {e.message}"
        return res
    why = replay_signature_ok(h, entry.ptr_type)
    if why is None:
        compiled: _Compiled | None = None
        for name in options.workloads:
            script = sw.script(name, options.actions, options.seed)
            rec = _fuel_run(h, entry, cap, script)
            if rec["outcome"] == "ok" and options.runs:
                try:
                    compiled = compiled or _Compiled(h)
                except wasmtime.WasmtimeError as e:
                    rec["timing_note"] = f"could not compile without fuel metering: {_last(e)}"
                else:
                    rec.update(_wall_clock(compiled, entry, cap, script, options.runs))
            res.workloads[name] = rec
    else:
        res.reason = why
    if options.trials:
        res.heap_efficiency = heap_fill(h, entry, cap, trials=options.trials, seed=options.seed)
    return res
