"""The five allocation workloads and the verdicts drawn from their page curves.

Every workload opens its own capped session, draws its sizes from a `random.Random`
seeded with the run's seed and the workload's name (so one workload's draws never shift
another's), and records `memory.size` after every step. Wasm linear memory never shrinks,
so a page curve is monotone: growth after warm-up is the whole story of a leak.

Verdict thresholds (documented in README ("auditor run")):
- not-probed: no allocation succeeded, or the live set did not fit under the cap (a
  failure while it was being built says nothing about reuse).
- fixed-arena: memory never grew and the module has no `memory.grow` site (or the static
  facts are unavailable); no growth but grow sites present is a plateau.
- page-per-alloc: at least PAGE_PER_ALLOC pages grown per allocation over the run.
- leak: slope after warm-up >= LEAK_SLOPE pages per 1,000 rounds (churn) or allocations
  (hold/release) and still growing in the last quarter, or the bounded live set ran
  memory up to the cap.
- plateau: anything else that grew.
Both growth workloads are built so that a good allocator needs no page after warm-up:
churn keeps the live bytes exactly constant, hold/release repeats a fixed period of
patterns. So a late page is the allocator's doing, not a new live-set peak.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from auditor.records.run import (
    FragmentationRecord,
    GrowthRecord,
    HolesRecord,
    OomRecord,
    ReallocRecord,
    TrapRecord,
)
from auditor.runtime.entry import Entry
from auditor.runtime.harness import CallResult, Harness, to_signed
from auditor.units import PAGE

LEAK_SLOPE = 1.0  # pages per 1,000 allocations after warm-up
PAGE_PER_ALLOC = 0.5  # pages grown per allocation
RAMP_START = 1024  # bytes; doubled until failure
RAMP_MAX = 1 << 30  # largest request (fits a signed i32 size)
CHURN_SLOTS = 64  # bounded live set of the churn workload
HOLD_BLOCKS = 32  # blocks allocated then freed per hold/release cycle
HOLD_PERIOD = 8  # distinct cycle patterns, repeated
FRAG_BLOCK = 4096  # fragmentation: block size
FRAG_PAIRS = 16  # fragmentation: 2 * FRAG_PAIRS blocks
ALIGN = 8
TIGHT_OVERHEAD = 1.5  # realloc: grown bytes / live bytes at or below this is "tight"
WASTEFUL_OVERHEAD = 3.0  # above this "wasteful"; between the two "copying" (old + new copies)


def _rng(seed: int, workload: str) -> random.Random:
    return random.Random(f"{seed}:{workload}")


def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class Heap:
    """Allocate/free/realloc through whichever entry family was detected."""

    def __init__(self, session, entry: Entry):
        self.s = session
        self.e = entry
        self.bits = 64 if entry.ptr_type == "i64" else 32
        self.calls = 0

    def _u(self, v) -> int:
        return int(v or 0) & ((1 << self.bits) - 1)

    def _call(self, name: str | None, shape: str | None, **vals: int) -> CallResult:
        # Heap is only built on an Entry that was found: every name it calls has a shape.
        assert name is not None and shape is not None
        self.calls += 1
        return self.s.call(name, *(to_signed(vals[k], self.bits) for k in shape.split(",")))

    def alloc(self, size: int, align: int = ALIGN) -> tuple[CallResult, int]:
        r = self._call(self.e.alloc, self.e.alloc_shape, size=size, align=align)
        return r, self._u(r.value) if r.ok else 0

    def free(self, ptr: int, size: int, align: int = ALIGN) -> CallResult:
        return self._call(self.e.free, self.e.free_shape, ptr=ptr, size=size, align=align)

    def realloc(self, ptr: int, old: int, new: int, align: int = ALIGN) -> tuple[CallResult, int]:
        r = self._call(self.e.realloc, self.e.realloc_shape, ptr=ptr, old=old, new=new, align=align)
        return r, self._u(r.value) if r.ok else 0

    def try_reserve(self, n: int) -> tuple[CallResult, int]:
        self.calls += 1
        assert self.e.try_reserve is not None  # only called when the module exports one
        r = self.s.call(self.e.try_reserve, to_signed(n, self.bits))
        return r, self._u(r.value) if r.ok else 0

    def pages(self) -> int:
        p = self.s.pages()
        return p if p is not None else 0


def _failure(r: CallResult, ptr: int, null_name: str = "null") -> str | None:
    """None when the call succeeded with a pointer, else the outcome name."""
    if not r.ok:
        return r.outcome
    return null_name if ptr == 0 else None


@dataclass
class _Record:
    """A workload's record: its dataclass fields, as the run report shows them (each
    subclass's `to_json` says which record)."""

    def _fields(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- verdicts


def growth_verdict(curve: list[int], allocs_per_step: list[int], units_per_step: list[int], *, cap: int,
                   grow_sites: int | None, failed: str | None, setup: int = 1) -> tuple[str, float, int, str]:
    """(verdict, slope, warm-up steps, reason).

    The slope is pages per 1,000 units (rounds for churn, allocations for hold/release)
    from the end of warm-up (the first quarter of the steps) to the end. `setup` is how
    many steps build the full live set: a failure within them says the cap is too small
    for the workload, not how the allocator reuses memory, so no verdict is drawn.
    """
    initial = curve[0]
    steps = len(curve) - 1
    allocs = sum(allocs_per_step)
    warm = steps // 4
    units = sum(units_per_step[warm:]) if steps > warm else sum(units_per_step)
    base = curve[warm] if steps > warm else initial
    slope = round((curve[-1] - base) * 1000 / units, 3) if units else 0.0
    tail_from = steps - steps // 4
    tail = curve[-1] - curve[tail_from] if steps >= 4 else curve[-1] - initial
    grown = curve[-1] - initial
    fail_note = f"; stopped by {failed}" if failed else ""
    if allocs == 0:
        return "not-probed", slope, warm, f"no allocation succeeded: the first one ended in {failed}"
    if max(curve) <= initial:
        if grow_sites:
            return ("plateau", slope, warm,
                    f"memory stayed at {initial} pages over {allocs} allocations (fits the initial memory){fail_note}")
        return ("fixed-arena", slope, warm,
                f"memory never grew from {initial} pages over {allocs} allocations{fail_note}")
    if allocs >= 8 and grown >= PAGE_PER_ALLOC * allocs:
        return ("page-per-alloc", slope, warm,
                f"grew {grown} pages for {allocs} allocations ({grown / allocs:.2f} pages each){fail_note}")
    if failed and steps <= setup:
        return ("not-probed", slope, warm,
                f"the live set did not fit under the cap: {failed} at {curve[-1]} of {cap} pages "
                f"after {allocs} allocations")
    if failed and curve[-1] >= cap - 1:
        return ("leak", slope, warm,
                f"a bounded live set ran memory up to the cap ({curve[-1]} of {cap} pages) after {allocs} allocations")
    if slope >= LEAK_SLOPE and tail > 0:
        return ("leak", slope, warm,
                f"{base} -> {curve[-1]} pages after warm-up ({slope} per 1,000), "
                f"still growing at the end (+{tail} in the last quarter){fail_note}")
    return ("plateau", slope, warm,
            f"{base} pages after warm-up, {curve[-1]} at the end ({slope} per 1,000){fail_note}")


# --------------------------------------------------------------------------- results


@dataclass
class RampResult(_Record):
    entry: str
    outcome: str  # null | err | unreachable | out-of-bounds | stack-overflow | timeout | trap | no-failure
    pages: int  # pages when it failed (or at the end)
    initial_pages: int
    cap_pages: int
    request: int | None  # bytes of the failing request
    live_bytes: int  # bytes successfully allocated before it
    grew_on_failure: bool  # did the failing call itself grow memory
    curve: list[int]
    requests: list[int]
    trap: TrapRecord | None = None
    recovered: bool | None = None  # instance usable after the failure
    recovery: str | None = None  # outcome of the recovery call
    stdout: str | None = None  # what a WASI module printed (Rust's OOM hook writes to stderr)
    stderr: str | None = None

    def to_json(self) -> OomRecord:
        return cast(OomRecord, self._fields())


def ramp(h: Harness, entry: Entry, cap: int, *, fallible: bool = False) -> RampResult:
    """Doubling requests, all held, until one fails (the instance's first OOM)."""
    with h.session(cap) as s:
        heap = Heap(s, entry)
        initial = heap.pages()
        curve, requests, held = [initial], [], []
        size, live, outcome, req, grew, trap = RAMP_START, 0, "no-failure", None, False, None
        while size <= RAMP_MAX:
            before = heap.pages()
            r, p = heap.try_reserve(size) if fallible else heap.alloc(size)
            after = heap.pages()
            curve.append(after)
            requests.append(size)
            bad = _failure(r, p, "err" if fallible else "null")
            if bad:
                outcome, req, grew, trap = bad, size, after > before, r.trap_json()
                break
            held.append((p, size))
            live += size
            size *= 2
        recovered = recovery = None
        if outcome != "no-failure" and held and not fallible:
            recovered, recovery = _recover(heap, held)
        stdout, stderr, _ = s.output()
        return RampResult(
            entry=(entry.try_reserve if fallible else entry.alloc) or "", outcome=outcome, pages=curve[-1],
            initial_pages=initial, cap_pages=cap, request=req, live_bytes=live, grew_on_failure=grew,
            curve=curve, requests=requests, trap=trap, recovered=recovered, recovery=recovery, stdout=stdout,
            stderr=stderr)


def _recover(heap: Heap, held: list[tuple[int, int]]) -> tuple[bool, str]:
    """Free what the ramp held (when a free export exists) and allocate the first size again.

    The first size is one the allocator already served, so even a size-class arena that
    is full can serve it from its free list: a failure here means the instance is broken
    (a lock left held, corrupt state), not that memory is short.
    """
    if heap.e.free:
        for p, size in held:
            r = heap.free(p, size)
            if not r.ok:
                return False, r.outcome
    r, p = heap.alloc(RAMP_START)
    if not r.ok:
        return False, r.outcome
    return (p != 0), ("ok" if p else "null")


@dataclass
class GrowthResult:
    """Churn and hold/release share this shape."""

    verdict: str  # plateau | leak | page-per-alloc | fixed-arena
    reason: str
    outcome: str  # ok, or the failure that stopped the workload early
    steps: int  # rounds (churn) or cycles (hold/release) completed
    allocations: int
    pages_initial: int
    pages_after_warmup: int
    pages_end: int
    pages_max: int
    slope: float  # pages per 1,000 slope_unit after warm-up
    warmup: int  # steps counted as warm-up
    curve: list[int]  # pages after every step; curve[0] is before the first
    trap: TrapRecord | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the workload's own keys (rounds, slots, cycles, ...)

    def to_json(self) -> GrowthRecord:
        out = asdict(self)
        out.update(out.pop("extra"))
        return cast(GrowthRecord, out)  # keys: the fields + `extra`'s (declared there; tests/test_record_keys.py)


def _growth(curve, per_step, units, cap, grow_sites, failed, trap, extra, setup) -> GrowthResult:
    verdict, slope, warm, reason = growth_verdict(curve, per_step, units, cap=cap, grow_sites=grow_sites,
                                                  failed=failed, setup=setup)
    return GrowthResult(
        verdict=verdict, reason=reason, outcome=failed or "ok", steps=len(curve) - 1,
        allocations=sum(per_step), pages_initial=curve[0], pages_after_warmup=curve[min(warm, len(curve) - 1)],
        pages_end=curve[-1], pages_max=max(curve), slope=slope, warmup=warm, curve=curve, trap=trap, extra=extra)


def _churn_size(rng: random.Random) -> int:
    x = rng.random()
    if x < 0.90:
        return _log_uniform(rng, 8, 1024)
    if x < 0.99:
        return _log_uniform(rng, 1024, 16384)
    return _log_uniform(rng, 16384, 65536)


class _Steps:
    """Page curve bookkeeping shared by the growth workloads.

    A step that fails half-way is still recorded (with the allocations it managed), so
    `pages_end` is the page count when the workload stopped, not after the last whole step.
    """

    def __init__(self, heap: Heap):
        self.heap = heap
        self.curve = [heap.pages()]
        self.allocs: list[int] = []
        self.units: list[int] = []
        self.failed: str | None = None
        self.trap: TrapRecord | None = None
        self._n = 0

    def alloc(self, size: int) -> int:
        """Pointer, or 0 after recording the failure."""
        r, p = self.heap.alloc(size)
        bad = _failure(r, p)
        if bad:
            self.failed, self.trap = bad, r.trap_json()
            return 0
        self._n += 1
        return p

    def alloc_all(self, sizes: list[int]) -> list[int]:
        """Pointers for `sizes` in order, up to the first failure."""
        out = []
        for size in sizes:
            p = self.alloc(size)
            if not p:
                break
            out.append(p)
        return out

    def free(self, ptr: int, size: int) -> bool:
        r = self.heap.free(ptr, size)
        if not r.ok:
            self.failed, self.trap = r.outcome, r.trap_json()
        return r.ok

    def end_step(self, units: int = 1) -> None:
        self.curve.append(self.heap.pages())
        self.allocs.append(self._n)
        self.units.append(units)
        self._n = 0


def churn(h: Harness, entry: Entry, cap: int, *, rounds: int, seed: int, grow_sites: int | None) -> GrowthResult:
    """A live set of CHURN_SLOTS mixed-size blocks; each round frees two and swaps their sizes.

    Swapping keeps the multiset of live sizes, hence the live bytes, exactly constant, so
    a good allocator needs no new page after warm-up: any later growth is the
    allocator's (fragmentation or leak), never a new live-set peak.
    """
    rng = _rng(seed, "churn")
    with h.session(cap) as s:
        st = _Steps(Heap(s, entry))
        sizes = [_churn_size(rng) for _ in range(CHURN_SLOTS)]
        slots = st.alloc_all(sizes)  # step 1: fill the live set (not a round)
        st.end_step(units=0)
        for _ in range(rounds if not st.failed else 0):
            i, j = rng.sample(range(CHURN_SLOTS), 2)
            ok = st.free(slots[i], sizes[i]) and st.free(slots[j], sizes[j])
            if ok:
                sizes[i], sizes[j] = sizes[j], sizes[i]
                for k in (i, j):
                    slots[k] = st.alloc(sizes[k])
                    if not slots[k]:
                        break
            st.end_step()
            if st.failed:
                break
        return _growth(st.curve, st.allocs, st.units, cap, grow_sites, st.failed, st.trap,
                       {"rounds": rounds, "slots": CHURN_SLOTS, "live_bytes": sum(sizes),
                        "slope_unit": "pages per 1,000 rounds"}, setup=1)


def _hold_patterns(rng: random.Random) -> list[tuple[list[int], list[int]]]:
    """HOLD_PERIOD cycle patterns: (sizes, free order), one base size each, shuffled."""
    bases = [16, 48, 160, 512, 1536, 4096, 9000, 16384][:HOLD_PERIOD]
    rng.shuffle(bases)
    out = []
    for base in bases:
        sizes = [max(1, int(base * rng.uniform(0.5, 1.5))) for _ in range(HOLD_BLOCKS)]
        order = list(range(HOLD_BLOCKS))
        rng.shuffle(order)
        out.append((sizes, order))
    return out


def hold_release(h: Harness, entry: Entry, cap: int, *, cycles: int, seed: int,
                 grow_sites: int | None) -> GrowthResult:
    """Allocate a set of blocks, free them all, repeat (the wee_alloc #106 pattern).

    Cycles walk through HOLD_PERIOD patterns of different sizes and repeat them exactly,
    so the largest set is seen within the first period and a good allocator is back to
    the same page count every period after that.
    """
    patterns = _hold_patterns(_rng(seed, "hold_release"))
    with h.session(cap) as s:
        st = _Steps(Heap(s, entry))
        for c in range(cycles):
            sizes, order = patterns[c % len(patterns)]
            held = st.alloc_all(sizes)
            if not st.failed:
                for k in order:
                    if not st.free(held[k], sizes[k]):
                        break
            st.end_step(units=len(held))
            if st.failed:
                break
        res = _growth(st.curve, st.allocs, st.units, cap, grow_sites, st.failed, st.trap,
                      {"cycles": cycles, "blocks_per_cycle": HOLD_BLOCKS, "period": len(patterns),
                       "live_peak_bytes": max(sum(p[0]) for p in patterns),
                       "slope_unit": "pages per 1,000 allocations"}, setup=len(patterns))
        done = len(st.curve) - 1
        res.extra["pages_per_cycle"] = round((st.curve[-1] - st.curve[res.warmup]) / (done - res.warmup), 3) \
            if done > res.warmup else 0.0
        return res


@dataclass
class FragResult(_Record):
    verdict: str  # reuse | grow | elsewhere | failed
    reason: str
    outcome: str
    block: int
    blocks: int
    freed_bytes: int  # sum of the freed blocks when the request is made
    request: int  # bytes: larger than any freed block, smaller than their sum
    pages_before: int | None
    pages_after: int | None
    reused: bool | None  # the request landed inside the freed span
    holes: HolesRecord | None  # the same question with only every other block freed
    curve: list[int]  # pages before the first call and after every call
    trap: TrapRecord | None = None

    def to_json(self) -> FragmentationRecord:
        return cast(FragmentationRecord, self._fields())


def fragmentation(h: Harness, entry: Entry, cap: int) -> FragResult:
    """Free interleaved blocks, then ask for more than any one of them: reuse or grow?"""
    n, b = 2 * FRAG_PAIRS, FRAG_BLOCK
    request = FRAG_PAIRS * b
    curve: list[int] = []

    def failed(why, r, holes=None):
        return FragResult("failed", why, r.outcome if not r.ok else "null", b, n, 0, request,
                          None, None, None, holes, curve, r.trap_json())

    with h.session(cap) as s:
        heap = Heap(s, entry)

        def step(r: CallResult, p: int | None = None) -> bool:
            """Record the pages after a call; False when it failed."""
            curve.append(heap.pages())
            return r.ok and p != 0

        curve.append(heap.pages())
        blocks = []
        for _ in range(n + 1):  # the last one pins the span away from the top of the heap
            r, p = heap.alloc(b)
            if not step(r, p):
                return failed("could not allocate the blocks", r)
            blocks.append(p)
        span = (min(blocks[:n]), max(blocks[:n]) + b)
        for i in range(1, n, 2):
            r = heap.free(blocks[i], b)
            if not step(r):
                return failed("free trapped", r)
        before = curve[-1]
        r, p = heap.alloc(2 * b)
        if not step(r, p):
            return failed("the request with holes failed", r)
        holes: HolesRecord = {"freed_bytes": FRAG_PAIRS * b, "request": 2 * b, "pages_before": before,
                 "pages_after": curve[-1], "grew": curve[-1] > before}
        for i in range(0, n, 2):
            r = heap.free(blocks[i], b)
            if not step(r):
                return failed("free trapped", r, holes)
        before = curve[-1]
        r, p = heap.alloc(request)
        if not step(r, p):
            return failed("the request after freeing every block failed", r, holes)
        after = curve[-1]
        reused = span[0] <= p < span[1]
        if after > before:
            verdict, why = "grow", f"grew {after - before} pages for {request} bytes although {n * b} adjacent bytes were free"
        elif reused:
            verdict, why = "reuse", f"the {request}-byte request landed in the {n * b} freed bytes (coalesced)"
        else:
            verdict, why = "elsewhere", "served from other free memory without growing; the freed span was not reused"
        return FragResult(verdict, why, "ok", b, n, n * b, request, before, after, reused, holes, curve)


@dataclass
class ReallocResult(_Record):
    verdict: str  # tight | copying | wasteful | failed
    reason: str
    outcome: str
    emulated: bool  # no realloc export: alloc new + free old, like a Vec without realloc
    steps: int
    moves: int  # steps where the buffer moved
    live_bytes: int  # final buffer size
    pages_initial: int
    pages_peak: int
    overhead: float | None  # (peak - initial pages) * 64 KiB / live bytes
    curve: list[int]
    trap: TrapRecord | None = None

    def to_json(self) -> ReallocRecord:
        return cast(ReallocRecord, self._fields())


def realloc_growth(h: Harness, entry: Entry, cap: int) -> ReallocResult:
    """One buffer doubled from 64 bytes towards a quarter of the free memory under the cap."""
    emulated = entry.realloc is None
    with h.session(cap) as s:
        heap = Heap(s, entry)
        initial = heap.pages()
        room = max(cap - initial, 1) * PAGE // 4
        target = 1 << max(room.bit_length() - 1, 16)
        target = min(target, RAMP_MAX)
        size = 64
        curve, moves, steps, outcome, trap = [initial], 0, 0, "ok", None
        r, p = heap.alloc(size)
        bad = _failure(r, p)
        if bad:
            return ReallocResult("failed", "the first allocation failed", bad, emulated, 0, 0, 0, initial,
                                 heap.pages(), None, curve, r.trap_json())
        curve.append(heap.pages())
        while size < target:
            new = size * 2
            if emulated:
                r, q = heap.alloc(new)
                if not _failure(r, q) and entry.free:
                    fr = heap.free(p, size)
                    r = fr if not fr.ok else r
            else:
                r, q = heap.realloc(p, size, new)
            curve.append(heap.pages())
            bad = _failure(r, q)
            if bad:
                outcome, trap = bad, r.trap_json()
                break
            steps += 1
            moves += q != p
            p, size = q, new
        peak = max(curve)
        overhead = round((peak - initial) * PAGE / size, 3) if size else None
        pages = f"{peak - initial} pages grown for {size} live bytes ({overhead}x); {moves} of {steps} doublings moved"
        if outcome != "ok":
            verdict, why = "failed", f"{outcome} doubling {size} -> {size * 2} bytes at {curve[-1]} pages"
        elif overhead is not None and overhead <= TIGHT_OVERHEAD:
            verdict, why = "tight", pages
        elif overhead is not None and overhead <= WASTEFUL_OVERHEAD:
            verdict, why = "copying", pages
        else:
            verdict, why = "wasteful", pages
        return ReallocResult(verdict, why, outcome, emulated, steps, moves, size, initial, peak, overhead, curve, trap)
