"""Re-runs auditor's allocation workloads in V8 (Node) as an independent runtime.

The plans are re-implemented here from the workloads' definitions (README, "Workloads",
and the seeding auditor documents: one `random.Random(f"{seed}:{workload}")` per
workload): churn draws its 64 sizes, then for each round two distinct slots
(`sample(range(64), 2)`), frees both, swaps their sizes and allocates them again; the
ramp doubles a held request from 1 KiB. Nothing of auditor is imported. `tests/node/replay.mjs` executes
a plan against the module's probe exports with the memory capped like auditor's limiter
and reports `memory.size` after every step, so equal curves mean wasmtime-under-auditor
and V8 saw the same allocator behaviour.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

REPLAY = Path(__file__).resolve().parent / "node" / "replay.mjs"
ALLOC, FREE = "__auditor_alloc", "__auditor_dealloc"
CHURN_SLOTS = 64


def node() -> str | None:
    return shutil.which("node")


def _log_uniform(rng: random.Random, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _churn_size(rng: random.Random) -> int:
    """90% 8 B-1 KiB, 9% 1-16 KiB, 1% 16-64 KiB, log-uniform (README, churn)."""
    x = rng.random()
    if x < 0.90:
        return _log_uniform(rng, 8, 1024)
    if x < 0.99:
        return _log_uniform(rng, 1024, 16384)
    return _log_uniform(rng, 16384, 65536)


def churn_plan(seed: int, rounds: int, cap_pages: int) -> dict:
    rng = random.Random(f"{seed}:churn")
    sizes = [_churn_size(rng) for _ in range(CHURN_SLOTS)]
    steps = [[["a", k, sizes[k]] for k in range(CHURN_SLOTS)]]
    for _ in range(rounds):
        i, j = rng.sample(range(CHURN_SLOTS), 2)
        step = [["f", i, sizes[i]], ["f", j, sizes[j]]]
        sizes[i], sizes[j] = sizes[j], sizes[i]
        step += [["a", i, sizes[i]], ["a", j, sizes[j]]]
        steps.append(step)
    return {"cap_pages": cap_pages, "alloc": ALLOC, "free": FREE, "align": 8, "steps": steps}


def ramp_plan(cap_pages: int) -> dict:
    steps, size, slot = [], 1024, 0
    while size <= 1 << 30:
        steps.append([["a", slot, size]])
        size, slot = size * 2, slot + 1
    return {"cap_pages": cap_pages, "alloc": ALLOC, "free": FREE, "align": 8, "steps": steps}


def replay(module: Path, plan: dict) -> dict:
    """{"curve", "failure", "max_pages"} from V8."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    try:
        r = subprocess.run([node() or "node", str(REPLAY), str(module), f.name],
                           capture_output=True, text=True, timeout=300, check=False)
    finally:
        Path(f.name).unlink()
    if r.returncode != 0:
        raise RuntimeError(f"node replay of {module} failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout)
