"""The speed probe's workloads as scripts: every allocator call decided before anything runs.

Why scripts: the same records drive the fuel run (deterministic), the wall-clock runs and
the host's own bookkeeping (live bytes after every action), so all three describe exactly
the same work, and a workload never depends on what the allocator returned. A record is
(op, slot, size, align) with op 0 = alloc, 1 = free, 2 = realloc (the slot keeps its
alignment), 3 = nothing; `__auditor_replay` in probe_exports.rs executes them.

The models (documented in README, "Allocator speed and heap efficiency"):
- `random` / `random_realloc`: talc's wasm-perf "random actions" (SFBdragon/talc,
  wasm-perf/src/lib.rs): an action is drawn from 0..4 (0..5 with realloc); with fewer than
  50 live blocks or action < 2 it allocates size uniform 1..=10,000 with alignment
  `8 << (trailing_zeros(u16) / 2)`; 2..3 frees a uniformly chosen live block
  (`swap_remove`); 4 reallocates one to a new size uniform 1..=10,000. Every action
  counts; the live blocks are freed at the end (talc does not count those frees; we do).
- `seed_vectors`: the seed note's `measure_allocation_performance` — `vectors.push(vec![i;
  1000])` for i in 0..1000, then the drop — as the allocator sees it on wasm32: each inner
  `Vec<i32>` is alloc(4,000, 4); the outer `Vec<Vec<i32>>` (12-byte elements) is
  alloc(48, 4) at the first push and doubles by realloc at 4, 8, ..., 512 elements; the
  drop frees the inner vectors in order, then the outer buffer. Repeated in passes.
- `vec_growth`: the realloc-heavy mix of growing byte buffers (`Vec<u8>`, `String`): 64
  buffers of alignment 1 start at 8 bytes (RawVec's first capacity for bytes) with a
  target size log-uniform in 64 B..64 KiB; each action picks a buffer and doubles it by
  realloc until it reaches its target, then frees it and starts a new 8-byte one.
- `fill` (heap efficiency, run by calls, not replayed): talc's heap_efficiency model
  (benches/src/bin/heap_efficiency.rs): an action from 0..=9; 0..=4 allocate
  `generate_size(10,000)` (a cap uniform in 16..10,000, then a size uniform in 4..cap)
  with the alignment above, 5 frees a random block, 6..=9 reallocate a random block to
  a size uniform in 1..100,000; until the first allocation or reallocation fails.
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache

ALLOC, FREE, REALLOC, NOP = 0, 1, 2, 3
OP_NAMES = ("alloc", "free", "realloc")
WORKLOADS = ("random", "random_realloc", "seed_vectors", "vec_growth")

TALC_MIN_LIVE = 50  # wasm-perf's TARGET_MIN_ACTIVE_ALLOCATIONS
TALC_MAX_SIZE = 10_000  # sizes 1..=10,000
SEED_VECTORS = 1000  # the seed note: for i in 0..1000 { vectors.push(vec![i; 1000]) }
SEED_LEN = 1000
SEED_ELEM = 4  # i32
SEED_OUTER_ELEM = 12  # Vec<i32> on wasm32: ptr, capacity, length
GROWTH_BUFFERS = 64
GROWTH_FIRST = 8  # RawVec's first non-zero capacity for 1-byte elements
GROWTH_MIN_TARGET = 64
GROWTH_MAX_TARGET = 65536
FILL_MAX_SIZE = 10_000  # heap_efficiency's HE_MAX_ALLOC_SIZE
FILL_REALLOC_MULTI = 10  # HE_MAX_REALLOC_SIZE_MULTI: reallocs up to 100,000 bytes


def talc_align(rng: random.Random) -> int:
    """`8 << (fastrand::u16(..).trailing_zeros() / 2)`: 75 % 8, 19 % 16, 4.7 % 32, ...,
    2,048 when the u16 is 0 (trailing_zeros = 16)."""
    u = rng.getrandbits(16)
    tz = (u & -u).bit_length() - 1 if u else 16
    return 8 << (tz // 2)


@dataclass(frozen=True)
class Script:
    """Records of one workload plus what the host knows about them."""

    name: str
    words: array  # 4 words per record
    slots: int  # slot table entries the records use
    counts: tuple[int, int, int]  # alloc, free, realloc records
    peak_live: int  # largest sum of live block sizes over the script
    peak_blocks: int  # most blocks live at once

    @property
    def actions(self) -> int:
        return len(self.words) // 4

    def packed(self, start: int, stop: int, word_bytes: int) -> bytes:
        """Records [start, stop) as little-endian words of the module's pointer size."""
        part = array("I" if word_bytes == 4 else "Q", self.words[start * 4: stop * 4])
        if sys.byteorder != "little":
            part.byteswap()
        return part.tobytes()


class _Builder:
    """Slot bookkeeping shared by the generators: stable slot ids, live bytes."""

    def __init__(self, name: str):
        self.name = name
        self.words = array("Q")
        self.free_slots: list[int] = []
        self.nslots = 0
        self.sizes: dict[int, int] = {}  # slot -> live size
        self.live = 0
        self.peak_live = 0
        self.peak_blocks = 0
        self.counts = [0, 0, 0]

    def _rec(self, op: int, slot: int, size: int, align: int) -> None:
        self.words.extend((op, slot, size, align))
        self.counts[op] += 1

    def alloc(self, size: int, align: int) -> int:
        slot = self.free_slots.pop() if self.free_slots else self._new_slot()
        self._rec(ALLOC, slot, size, align)
        self.sizes[slot] = size
        self._grew(size)
        return slot

    def actions_so_far(self) -> int:
        return len(self.words) // 4

    def _new_slot(self) -> int:
        self.nslots += 1
        return self.nslots - 1

    def free(self, slot: int) -> None:
        self._rec(FREE, slot, 0, 0)
        self.live -= self.sizes.pop(slot)
        self.free_slots.append(slot)

    def realloc(self, slot: int, size: int) -> None:
        self._rec(REALLOC, slot, size, 0)
        self._grew(size - self.sizes[slot])
        self.sizes[slot] = size

    def _grew(self, delta: int) -> None:
        self.live += delta
        self.peak_live = max(self.peak_live, self.live)
        self.peak_blocks = max(self.peak_blocks, len(self.sizes))

    def script(self) -> Script:
        return Script(self.name, self.words, self.nslots, (self.counts[0], self.counts[1], self.counts[2]),
                      self.peak_live, self.peak_blocks)


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:speed:{name}")


def fill_rng(seed: int, trial: int) -> random.Random:
    """The draws of heap-fill trial `trial` (each trial is a fresh instance)."""
    return _rng(seed, f"fill:{trial}")


def talc_random(actions: int, seed: int, *, realloc: bool) -> Script:
    """talc's wasm-perf random actions (see the module docstring)."""
    name = "random_realloc" if realloc else "random"
    rng, b = _rng(seed, name), _Builder(name)
    live: list[int] = []  # slots in talc's `v` order (swap_remove keeps it comparable)
    score = 0
    while score < actions:
        action = rng.randrange(4 + realloc)
        if len(live) < TALC_MIN_LIVE or action < 2:
            size = rng.randint(1, TALC_MAX_SIZE)
            live.append(b.alloc(size, talc_align(rng)))
        elif action < 4:
            i = rng.randrange(len(live))
            live[i], live[-1] = live[-1], live[i]
            b.free(live.pop())
        else:
            b.realloc(live[rng.randrange(len(live))], rng.randint(1, TALC_MAX_SIZE))
        score += 1
    for slot in live:
        b.free(slot)
    return b.script()


def seed_vectors(actions: int, seed: int = 0) -> Script:
    """The seed note's 1,000 x `vec![i; 1000]` then drop, in passes of 2,010 records until
    `actions` is reached (at least one pass). `seed` is unused: nothing is random."""
    b = _Builder("seed_vectors")
    passes = max(1, round(actions / (2 * SEED_VECTORS + 10)))
    for _ in range(passes):
        inner = []
        outer, cap = -1, 0
        for i in range(SEED_VECTORS):
            inner.append(b.alloc(SEED_LEN * SEED_ELEM, SEED_ELEM))
            if outer < 0:
                cap = 4  # RawVec's MIN_NON_ZERO_CAP for elements of 12 bytes
                outer = b.alloc(cap * SEED_OUTER_ELEM, 4)
            elif i == cap:
                cap *= 2
                b.realloc(outer, cap * SEED_OUTER_ELEM)
        for slot in inner:
            b.free(slot)
        b.free(outer)
    return b.script()


def vec_growth(actions: int, seed: int) -> Script:
    """Growing byte buffers: mostly reallocs (see the module docstring)."""
    rng, b = _rng(seed, "vec_growth"), _Builder("vec_growth")
    lo, hi = math.log(GROWTH_MIN_TARGET), math.log(GROWTH_MAX_TARGET)

    def target() -> int:
        return int(math.exp(rng.uniform(lo, hi)))

    bufs = [[b.alloc(GROWTH_FIRST, 1), GROWTH_FIRST, target()] for _ in range(GROWTH_BUFFERS)]
    while b.actions_so_far() < actions:
        buf = bufs[rng.randrange(GROWTH_BUFFERS)]
        slot, size, goal = buf
        if size < goal:
            buf[1] = size * 2
            b.realloc(slot, size * 2)
        else:
            b.free(slot)
            buf[0], buf[1], buf[2] = b.alloc(GROWTH_FIRST, 1), GROWTH_FIRST, target()
    for slot, _, _ in bufs:
        b.free(slot)
    return b.script()


@lru_cache(maxsize=16)
def script(name: str, actions: int, seed: int) -> Script:
    """One workload's script; cached, so a scan generates it once for all its variants."""
    if name == "random":
        return talc_random(actions, seed, realloc=False)
    if name == "random_realloc":
        return talc_random(actions, seed, realloc=True)
    if name == "seed_vectors":
        return seed_vectors(actions, seed)
    if name == "vec_growth":
        return vec_growth(actions, seed)
    raise ValueError(f"unknown speed workload {name!r}")


def nop_script(n: int) -> Script:
    """n do-nothing records: the fuel of replaying them is the replay loop's own cost."""
    return Script("nop", array("Q", (NOP, 0, 0, 0) * n), 1, (0, 0, 0), 0, 0)


def fill_action(rng: random.Random, live: int) -> tuple[int, int, int]:
    """One action of talc's heap_efficiency model: (op, size or index, align).

    For alloc: (ALLOC, size, align); free: (FREE, index, 0); realloc: (REALLOC, index,
    new size). With no live block, free and realloc draw nothing and do nothing, exactly
    as talc's `if !v.is_empty()` (returned as NOP)."""
    action = rng.randint(0, 9)
    if action <= 4:
        cap = rng.randrange(16, FILL_MAX_SIZE)
        return ALLOC, rng.randrange(4, cap), talc_align(rng)
    if not live:
        return NOP, 0, 0
    if action == 5:
        return FREE, rng.randrange(live), 0
    index = rng.randrange(live)
    return REALLOC, index, rng.randrange(1, FILL_MAX_SIZE * FILL_REALLOC_MULTI)
