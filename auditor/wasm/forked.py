"""Half of a pure computation in a forked child, the other half here (issue 16).

`inspect` of a large named module spends most of its time demangling names one by one
(pure Python, one core); on a machine with a second core free, a forked child does half
of them while this process does the other half, and hands back its answers through a
pipe. The answers are the same however the work is split (the function must be pure:
one answer per item, each depending on its item alone), so this changes wall time only;
CPU time grows by the fork and the transfer (~20-40 ms on a 45 MB module).

Used only where it can pay: Linux (fork is safe there with the threads inspect runs:
the child runs pure Python and leaves with os._exit), at least two CPUs this process may
run on, and enough items. `AUDITOR_FORK=0` turns it off. Anything going wrong in the
child (killed, out of memory, an exception) makes this process compute that half too.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

MIN_ITEMS = 4000  # below this a fork does not pay (~0.1 s of demangling)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    return sys.platform == "linux" and hasattr(os, "fork") and os.environ.get("AUDITOR_FORK", "1") != "0" \
        and usable_cpus() >= 2


def map_split(fn: Callable[[Sequence[Any]], list[Any]], items: Sequence[Any], *,
              min_items: int | None = None) -> list[Any]:
    """fn(items): fn of the first half here and of the second half in a forked child
    when that can pay (at least `min_items`, default MIN_ITEMS), else fn(items). `fn`
    gives one picklable answer per item."""
    if len(items) < (MIN_ITEMS if min_items is None else min_items) or not can_fork():
        return fn(items)
    half = len(items) // 2
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return fn(items)
    if pid == 0:  # the child: its half, pickled into the pipe, and out without cleanup
        code = 1
        try:
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            blob = pickle.dumps(fn(items[half:]), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as out:
                out.write(blob)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as pipe:
            head = fn(items[:half])
            blob = pipe.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # interrupted: the child goes too
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    tail = None
    if status == 0:
        try:
            tail = pickle.loads(blob)
        except Exception:
            tail = None
    if not isinstance(tail, list) or len(tail) != len(items) - half:
        tail = fn(items[half:])
    return head + tail
