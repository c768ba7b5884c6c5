"""The sandbox every session of `auditor run` lives in: what one module may make us spend.

Bounded here (limits are data: `[sandbox]` in rules/runtime.toml):

- compilation: a nesting pre-check (no function may nest blocks deeper than
  `max-nesting`; cheap: only bodies long enough to nest that deep are decoded), then
  wasmtime compiles in a child process with a wall-clock and a peak-RSS limit; the child
  hands the compiled code back serialized (`Module.serialize` / `deserialize_file`), so
  nothing is compiled twice;
- every store: memory per linear memory (the run's cap), elements per table, and the
  number of instances, tables and memories (`Store.set_limits` takes them all);
- instantiation and the start function: fuel and the epoch deadline (the harness primes
  both before instantiating).

Each bound that stops a module is its own outcome (`SandboxStop.outcome`); the runtime
rules AUD520-AUD523 turn them into findings. Run as `python -m auditor.runtime.sandbox
IN OUT FLAGS` this module is the compile child.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from auditor.data import load_rules_file
from auditor.errors import AuditorError
from auditor.units import parse_bytes

COMPILE_OUTCOMES = ("compile-timeout", "compile-memory", "compile-too-deep", "compile-crash")
_INVALID_EXIT = 3  # the child's exit code for "wasmtime says the module is invalid"


@dataclass(frozen=True)
class Limits:
    """The sandbox's bounds; defaults from rules/runtime.toml `[sandbox]`."""

    table_elements: int
    instances: int
    tables: int
    memories: int
    compile_seconds: float
    compile_memory: int  # bytes of peak RSS in the compile child
    max_nesting: int
    poll_seconds: float = 0.02
    # A module auditor built itself (a scan's probe build) up to this size compiles in this
    # process: the crate that produced it already ran its own code in the build (build
    # scripts, proc macros), and the child costs 0.15-0.25 s per module. 0: never.
    trusted_in_process: int = 0
    instantiate_patterns: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"table_elements": self.table_elements, "instances": self.instances, "tables": self.tables,
                "memories": self.memories, "compile_seconds": self.compile_seconds,
                "compile_memory_bytes": self.compile_memory, "max_nesting": self.max_nesting}

    def replace(self, **kw: Any) -> Limits:
        from dataclasses import replace

        return replace(self, **kw)


@cache
def default_limits() -> Limits:
    data = load_rules_file("runtime.toml").get("sandbox")
    where = "rules/runtime.toml: [sandbox]"
    if not isinstance(data, dict):
        raise AuditorError("no [sandbox] table", where)
    try:
        patterns = tuple((str(e["outcome"]), str(e["pattern"])) for e in data.get("instantiate", []))
        for _, p in patterns:
            re.compile(p)
        return Limits(
            table_elements=int(data["table-elements"]), instances=int(data["instances"]),
            tables=int(data["tables"]), memories=int(data["memories"]),
            compile_seconds=float(data["compile-seconds"]),
            compile_memory=parse_bytes(data["compile-memory"], what="compile-memory"),
            max_nesting=int(data["max-nesting"]), poll_seconds=float(data.get("poll-seconds", 0.02)),
            trusted_in_process=parse_bytes(data.get("trusted-in-process", 0), what="trusted-in-process"),
            instantiate_patterns=patterns)
    except (KeyError, TypeError, ValueError, re.error) as e:
        raise AuditorError(f"bad sandbox data: {e}", where) from None


class SandboxStop(Exception):
    """A bound stopped the module: `outcome` is the report's name for it."""

    def __init__(self, outcome: str, message: str, seconds: float | None = None, peak_rss: int | None = None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.seconds = seconds
        self.peak_rss = peak_rss
        self.ir: Any = None  # the wasm stage's reading of the module, when the harness had one
        self.ir_error: str | None = None


def instantiate_outcome(message: str, limits: Limits) -> str | None:
    """The store-limit outcome a wasmtime instantiation error names, or None."""
    for outcome, pattern in limits.instantiate_patterns:
        if re.search(pattern, message):
            return outcome
    return None


def apply_limits(store: Any, memory_limit_pages: int, limits: Limits) -> None:
    """Every store bound at once (wasmtime counts memory in bytes, per memory)."""
    from auditor.units import PAGE

    store.set_limits(memory_size=memory_limit_pages * PAGE, table_elements=limits.table_elements,
                     instances=limits.instances, tables=limits.tables, memories=limits.memories)


# --------------------------------------------------------------------------- wasmtime-py's own errors


def is_host_error(e: BaseException) -> bool:
    """Did wasmtime-py itself fail (a Python exception raised inside its host-call
    trampoline that is not a Trap we raised), rather than the module?

    wasmtime-py catches any exception raised while it converts a host call's arguments
    (e.g. "Unkown `ffi.wasmtime_valkind_t`: 4" for a v128) and re-raises it after the
    call: its traceback still holds the trampoline's frame."""
    import wasmtime

    if isinstance(e, wasmtime.Trap):
        return False
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "trampoline" and os.sep + "wasmtime" + os.sep in code.co_filename:
            return True
        tb = tb.tb_next
    return False


# --------------------------------------------------------------------------- nesting pre-check


def deepest_nesting(ir: Any, limit: int) -> tuple[int, int] | None:
    """(function index, depth) of the first function nesting blocks deeper than `limit`,
    or None. A level costs at least 3 bytes (`block`/`loop` + blocktype + `end`), so only
    bodies over 3 * limit bytes can be that deep and only those are decoded."""
    from auditor.wasm.opcodes import code_start, decode_one, tables
    from auditor.wasm.reader import Reader

    t = tables()
    opens, end = t.opens, t.end
    for f in ir.functions:
        if f.body_size <= 3 * limit:
            continue
        depth = 0
        r = Reader(ir.data, code_start(ir.data, f.code_offset, f.end), f.end, ir.file)
        while r.pos < f.end:
            op = decode_one(r)[1]
            if op in opens:
                depth += 1
                if depth > limit:
                    return f.index, depth
            elif op == end:
                depth -= 1
    return None


# --------------------------------------------------------------------------- signals


class SignalWake:
    """Tells a watcher thread that a signal arrived while the main thread is inside a
    wasm call (where Python runs no signal handler until the call returns): the C-level
    handler writes to `signal.set_wakeup_fd`'s pipe, the epoch ticker reads it and ends
    the call at once, and the Python handler (Ctrl-C, SIGTERM) then runs as usual.
    Inert outside the main thread or when someone else owns the wakeup fd (asyncio)."""

    def __init__(self) -> None:
        self._r = self._w = -1
        self._old: int | None = None
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        try:
            old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            os.close(r)
            os.close(w)
            return
        if old != -1:  # someone else's: give it back and stay inert
            signal.set_wakeup_fd(old)
            os.close(r)
            os.close(w)
            return
        self._r, self._w, self._old = r, w, old

    def fired(self) -> bool:
        if self._r < 0:
            return False
        try:
            return bool(os.read(self._r, 64))
        except BlockingIOError:
            return False
        except OSError:
            return False

    def close(self) -> None:
        if self._old is not None:
            try:
                signal.set_wakeup_fd(self._old)
            except ValueError:
                pass
            self._old = None
        for fd in (self._r, self._w):
            if fd >= 0:
                os.close(fd)
        self._r = self._w = -1


# --------------------------------------------------------------------------- the engine


def engine_config(epoch: bool) -> Any:
    """The harness's engine settings (the compile child must use the same ones)."""
    import wasmtime

    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.wasm_multi_memory = True
    cfg.wasm_memory64 = True
    cfg.wasm_threads = True
    cfg.shared_memory = True
    if epoch:
        cfg.epoch_interruption = True
    return cfg


@dataclass
class Compiled:
    module: Any  # wasmtime.Module
    seconds: float
    peak_rss: int | None  # bytes, of the compile child (None: compiled in this process)
    where: str = "child"  # or "process": a trusted module (`Limits.trusted_in_process`)


def _rss(pid: int | str, field: bytes = b"VmRSS:") -> int:
    """Bytes of `field` in /proc/PID/status (VmRSS: now; VmHWM: the peak since exec). Not
    `wait4`'s ru_maxrss: Linux carries the parent's peak over fork and exec into it."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def compile_module(engine: Any, data: bytes, *, epoch: bool, limits: Limits, where: str,
                   trusted: bool = False) -> Compiled:
    """Compile `data` for `engine` in a child process under the limits.

    SandboxStop for a bound (time, memory, a crash of the child); AuditorError when wasmtime
    finds the module invalid (one line, as the in-process compile said it). `trusted`: the
    module is auditor's own build of the user's crate; up to `limits.trusted_in_process`
    bytes it is compiled here, without the child's bounds."""
    import wasmtime

    if trusted and len(data) <= limits.trusted_in_process:
        t0 = time.monotonic()
        try:
            module = wasmtime.Module(engine, data)
        except wasmtime.WasmtimeError as e:
            raise AuditorError(f"not a valid module: {_last_line(str(e))}", where) from None
        return Compiled(module, time.monotonic() - t0, None, "process")

    try:
        tmp = tempfile.mkdtemp(prefix="auditor-compile-")
    except OSError as e:
        raise AuditorError(f"cannot make a temporary directory to compile in: {e.strerror}",
                           tempfile.gettempdir()) from None
    t0 = time.monotonic()
    p: subprocess.Popen | None = None
    try:
        src, out = os.path.join(tmp, "in.wasm"), os.path.join(tmp, "out.cwasm")
        with open(src, "wb") as f:
            f.write(data)
        p = subprocess.Popen([sys.executable, "-m", "auditor.runtime.sandbox", src, out, "epoch" if epoch else "-"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        peak = 0
        while True:
            pid, status, _ = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                break
            rss = _rss(p.pid)
            peak = max(peak, rss)
            elapsed = time.monotonic() - t0
            if rss > limits.compile_memory:
                _kill(p)
                p.wait()
                raise SandboxStop("compile-memory", f"compiling used more than {_mib(limits.compile_memory)} "
                                  f"(stopped at {_mib(rss)} after {elapsed:.1f} s)", elapsed, rss)
            if elapsed > limits.compile_seconds:
                _kill(p)
                p.wait()
                raise SandboxStop("compile-timeout", f"compiling took longer than {limits.compile_seconds:g} s "
                                  f"(stopped at {_mib(rss)})", elapsed, peak)
            time.sleep(limits.poll_seconds)
        seconds = time.monotonic() - t0
        try:  # the child's own peak (VmHWM), written just before it exited
            with open(out + ".peak") as f:
                peak = max(peak, int(f.read()))
        except (OSError, ValueError):
            pass
        err = (p.stderr.read() if p.stderr else b"").decode("utf-8", "replace").strip()
        if p.returncode == _INVALID_EXIT:
            raise AuditorError(f"not a valid module: {err.splitlines()[-1] if err else 'rejected by wasmtime'}",
                               where)
        if p.returncode != 0:
            why = f"signal {-p.returncode}" if p.returncode < 0 else f"exit {p.returncode}"
            last = err.splitlines()[-1] if err else ""
            raise SandboxStop("compile-crash", f"the compile child died ({why}){': ' + last if last else ''}",
                              seconds, peak)
        module = wasmtime.Module.deserialize_file(engine, out)
        return Compiled(module, seconds, peak)
    finally:
        if p is not None and p.returncode is None:
            _kill(p)
            p.wait()
        if p is not None and p.stderr is not None:
            p.stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _last_line(message: str) -> str:
    """wasmtime's error, one line: its last non-empty line, whitespace runs collapsed."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else "invalid"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def _child(argv: list[str]) -> int:
    """The compile child: IN OUT FLAGS -> OUT holds the serialized module."""
    import wasmtime

    src, out, flags = argv
    engine = wasmtime.Engine(engine_config(epoch=flags == "epoch"))
    with open(src, "rb") as f:
        data = f.read()
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as e:
        print(_last_line(str(e)), file=sys.stderr)
        return _INVALID_EXIT
    with open(out, "wb") as f:
        f.write(module.serialize())
    with open(out + ".peak", "w") as f:
        f.write(str(_rss("self", b"VmHWM:")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_child(sys.argv[1:]))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
