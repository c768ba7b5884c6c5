"""wasmtime plumbing: one engine per module, a fresh capped store for every workload.

Why a fresh store each time: a workload that fills memory to the cap or traps half-way
must not change what the next workload sees, and the report must be the same run after
run. Time is bounded by fuel (deterministic: the same module stops at the same
instruction every run) and, as a backstop for code that burns little fuel per second,
by an epoch deadline in wall-clock seconds.

Known wasmtime behaviour this relies on (measured, see DESIGN.md): `Store.set_limits`
makes `memory.grow` return -1 at the cap; a Python host function that raises
`wasmtime.Trap` surfaces as a Trap with no trap code; `proc_exit` surfaces as
`ExitTrap`; WASI output is captured through files (the custom-callback API panics in a
wasmtime thread at exit), and WASI stores are dropped before the interpreter exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from auditor.errors import AuditorError
from auditor.io import describe
from auditor.records.run import ImportPlanRecord, InstantiateRecord, TrapRecord
from auditor.runtime.sandbox import (
    Limits,
    SandboxStop,
    SignalWake,
    apply_limits,
    compile_module,
    deepest_nesting,
    default_limits,
    engine_config,
    instantiate_outcome,
    is_host_error,
)
from auditor.units import PAGE
from auditor.wasm.model import Module
from auditor.wasm.parse import parse_module

WASI_MODULES = ("wasi_snapshot_preview1",)
EPOCH_TICK = 0.01  # seconds per epoch tick of the backstop timer
_MAX_TICKS = 1 << 62  # the deadline is added to the current epoch: keep the sum in range

# Trap codes -> the outcome names of the report (anything else is "trap").
_TRAP_OUTCOMES = {
    "UNREACHABLE": "unreachable",
    "MEMORY_OUT_OF_BOUNDS": "out-of-bounds",
    "STACK_OVERFLOW": "stack-overflow",
    "OUT_OF_FUEL": "timeout",
    "INTERRUPT": "timeout",
}
TRAP_OUTCOMES = ("unreachable", "out-of-bounds", "stack-overflow", "trap")


@dataclass
class CallResult:
    """What one call into the module did."""

    outcome: str  # ok | exit | unreachable | out-of-bounds | stack-overflow | timeout | trap | host-error
    value: object = None
    trap_code: str | None = None
    message: str | None = None
    frames: list[str] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def trap_json(self) -> TrapRecord | None:
        if self.outcome == "ok":
            return None
        out: TrapRecord = {"outcome": self.outcome, "code": self.trap_code, "message": self.message,
               "frames": self.frames}
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        return out


class InstantiateError(Exception):
    """The module could not be instantiated; `outcome` names why for the report."""

    def __init__(self, outcome: str, message: str, call: CallResult | None = None):
        super().__init__(message)
        # memory-over-cap | table-over-cap | tables-over-cap | memories-over-cap | instances-over-cap |
        # shared-memory-over-cap | unsatisfied-imports | start-trap | start-timeout | host-error |
        # instantiate-error
        self.outcome = outcome
        self.message = message
        self.call = call

    def to_json(self) -> InstantiateRecord:
        out: InstantiateRecord = {"outcome": self.outcome, "message": self.message}
        if self.call is not None:
            out["trap"] = self.call.trap_json()
        return out


def _last_line(text: str) -> str:
    lines = [" ".join(l.split()) for l in str(text).splitlines() if l.strip()]
    return lines[-1] if lines else ""


def to_signed(value: int, bits: int) -> int:
    """Two's-complement view of `value` in `bits`: wasmtime-py takes i32/i64 arguments signed."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _frame_name(f) -> str:
    """Demangled, hash-stripped name of a trap frame (the wasm stage's demangler)."""
    from auditor.wasm.demangle import demangle, strip_hash

    return strip_hash(demangle(f.func_name)) if f.func_name else f"<wasm function {f.func_index}>"


HOST_ERROR = "wasmtime-py internal error (a limit of the harness, not of the module)"


def classify_trap(e: BaseException, stub_calls: list[str] | None = None) -> CallResult:
    """Turn a wasmtime exception into a CallResult with the report's outcome names."""
    if is_host_error(e):
        return CallResult("host-error", message=f"{HOST_ERROR}: {_last_line(str(e))}")
    if isinstance(e, wasmtime.ExitTrap):
        return CallResult("exit", exit_code=e.code, message=f"proc_exit({e.code})")
    if isinstance(e, wasmtime.Trap):
        code = e.trap_code
        name = code.name if code is not None else None
        frames = [_frame_name(f) for f in e.frames][:16]
        if name is None and stub_calls:
            return CallResult("trap", message=stub_calls[-1], frames=frames)
        return CallResult(_TRAP_OUTCOMES.get(name or "", "trap"), trap_code=name,
                          message=_last_line(e.message), frames=frames)
    return CallResult("trap", message=_last_line(str(e)))


@dataclass
class ImportInfo:
    module: str
    name: str
    kind: str  # func | memory | global | table
    provided: str  # wasi | stub-trap | stub-default | default-value

    def to_json(self) -> ImportPlanRecord:
        return {"module": self.module, "name": self.name, "kind": self.kind, "provided": self.provided}


def _kind(t) -> str:
    if isinstance(t, wasmtime.FuncType):
        return "func"
    if isinstance(t, wasmtime.MemoryType):
        return "memory"
    if isinstance(t, wasmtime.GlobalType):
        return "global"
    if isinstance(t, wasmtime.TableType):
        return "table"
    return "other"


Sig = tuple[tuple[str, ...], tuple[str, ...]]


def _signatures(mod: Module | None) -> tuple[dict[str, Sig], dict[tuple[str, str], Sig]] | None:
    """Function types of the exports and imports, by our own reader.

    wasmtime-py aborts the whole process (SIGABRT, "support for v128 is not implemented")
    when asked for the kind of a v128 value type, so its types are never stringified for
    a module we can read. None when we cannot (then wasmtime's types are used)."""
    if mod is None:
        return None

    def sig(index: int) -> Sig:
        t = mod.func_type(index)
        return (tuple(t.params), tuple(t.results)) if t is not None else ((), ())

    exports = {e.name: sig(e.index) for e in mod.exports if e.kind == "func"}
    imports = {(i.module, i.field): sig(i.index) for i in mod.imports if i.kind == "func"}
    return exports, imports


def _types_of(t: wasmtime.FuncType) -> Sig:
    return tuple(str(p) for p in t.params), tuple(str(r) for r in t.results)


class Exports:
    """An instance's exports, each looked up by name when first asked.

    wasmtime-py's `Instance.exports` reads every export through
    `wasmtime_instance_export_nth`, which walks the export list from its start on every
    call: quadratic in the number of exports. A cargo build of a wasm-bindgen crate
    exports ~1,400 `__wbindgen_describe_*` functions, which made every fresh instance cost
    0.2-0.3 s (1,600 exports: 323 ms) and the runtime opens ~20. A linker that has the
    instance defined answers one name in well under a millisecond."""

    NAMESPACE = "\0auditor-instance"  # no import module can collide with it: never a stub's

    def __init__(self, linker: Any, store: Any, instance: Any, types: dict[str, Any]):
        linker.define_instance(store, self.NAMESPACE, instance)
        self._linker, self._store, self._types = linker, store, types
        self._got: dict[str, Any] = {}

    def get(self, name: str, default: Any = None) -> Any:
        if name not in self._types:
            return default
        got = self._got.get(name)
        if got is None:
            got = self._got[name] = self._linker.get(self._store, self.NAMESPACE, name)
        return got

    def __getitem__(self, name: str) -> Any:
        got = self.get(name)
        if got is None:
            raise KeyError(name)
        return got

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def memory(self) -> Any:
        """The exported memory called `memory`, else the first exported memory, else None.
        A shared memory is not one (wasmtime-py cannot read its size: see unmeasurable_memory)."""
        names = [n for n, t in self._types.items() if isinstance(t, wasmtime.MemoryType) and not t.is_shared]
        return self[sorted(names, key=lambda n: n != "memory")[0]] if names else None


class Harness:
    """A compiled module plus everything needed to open capped sessions on it."""

    def __init__(self, path: Path, *, fuel: int, timeout: float | None, unknown_imports: str,
                 capture_bytes: int = 65536, limits: Limits | None = None, trusted: bool = False,
                 parsed: Module | None = None):
        self.path = Path(path)
        if parsed is not None:  # the caller's parse of this file (run_module's `parsed`): its bytes
            data = parsed.data
        elif self.path.is_dir():
            raise AuditorError("is a directory, not a .wasm file", str(path))
        else:
            try:
                data = self.path.read_bytes()
            except OSError as e:
                raise AuditorError(f"cannot read: {e.strerror}", str(path)) from None
        # wasmtime.Module also accepts WAT text: refuse anything that is not a binary module.
        if data[:4] != b"\0asm":
            got = data[:4].hex(" ") if data else "an empty file"
            what = describe(data[:512], "a WebAssembly binary") if data else None
            raise AuditorError(f"not a WebAssembly module: expected magic 00 61 73 6d at offset 0, got {got}"
                               + (f": {what}" if what else ""), str(path))
        self.data = data
        self.fuel = fuel
        self.timeout = timeout
        self.unknown_imports = unknown_imports
        self.capture_bytes = capture_bytes
        self.limits = limits or default_limits()
        # The wasm stage's reading of the same bytes, parsed once for the whole run: the
        # nesting pre-check, the signatures here, the static OOM facts (runtime.static).
        self.ir: Module | None = parsed
        self.ir_error: str | None = None
        if parsed is None:
            try:
                self.ir = parse_module(data, str(path))
            except AuditorError as e:
                self.ir_error = e.line()
        self.compile_seconds: float | None = None
        self.compile_peak_rss: int | None = None
        self.engine = wasmtime.Engine(engine_config(epoch=bool(timeout)))
        try:
            deep = deepest_nesting(self.ir, self.limits.max_nesting) if self.ir is not None else None
            if deep is not None:
                raise SandboxStop("compile-too-deep", f"function {deep[0]} nests blocks more than "
                                  f"{self.limits.max_nesting:,} deep, the sandbox's limit (refused before compiling)")
            compiled = compile_module(self.engine, data, epoch=bool(timeout), limits=self.limits, where=str(path),
                                      trusted=trusted)
        except SandboxStop as e:
            self.compile_seconds, self.compile_peak_rss = e.seconds, e.peak_rss
            e.ir, e.ir_error = self.ir, self.ir_error  # what the report can still say about the module
            raise
        self.module = compiled.module
        self.compiled_in = compiled.where
        self.compile_seconds, self.compile_peak_rss = compiled.seconds, compiled.peak_rss
        self.imports = list(self.module.imports)
        self.export_types = {e.name: e.type for e in self.module.exports}
        self._sigs = _signatures(self.ir)
        self.wasi = any(i.module in WASI_MODULES for i in self.imports)
        self.unknown_func_imports = self._unknown_func_imports()
        self._tmp = tempfile.mkdtemp(prefix="auditor-run-") if self.wasi else None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: SignalWake | None = None
        if timeout:
            self._wake = SignalWake()
            self._ticker = threading.Thread(target=self._tick, name="auditor-epoch", daemon=True)
            self._ticker.start()
        self.host_errors: list[dict[str, str | None]] = []  # wasmtime-py's own failures, deduplicated
        self.sessions = 0  # stores opened (one per workload, scenario, check)
        self.calls = 0  # calls into the module, over all sessions

    def host_error(self, where: str, message: str | None) -> None:
        """Record a wasmtime-py internal error once per (where, message), at most 8."""
        rec = {"where": where, "message": message}
        if rec not in self.host_errors and len(self.host_errors) < 8:
            self.host_errors.append(rec)

    def _tick(self) -> None:
        while not self._stop.wait(EPOCH_TICK):
            self.engine.increment_epoch()
            if self._wake is not None and self._wake.fired():
                # Ctrl-C or SIGTERM during a call: pass every deadline so the call ends now
                # and the signal's handler runs in the main thread.
                for _ in range(int((self.timeout or 0) / EPOCH_TICK) + 2):
                    self.engine.increment_epoch()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._wake is not None:
            self._wake.close()
            self._wake = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ facts

    def func_signature(self, name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        t = self.export_types.get(name)
        if not isinstance(t, wasmtime.FuncType):
            return None
        if self._sigs is not None:
            return self._sigs[0].get(name)
        return _types_of(t)

    def import_results(self, module: str, name: str) -> tuple[str, ...]:
        """Result types of a function import (what a stub must return)."""
        if self._sigs is not None and (module, name) in self._sigs[1]:
            return self._sigs[1][(module, name)][1]
        t = next(i.type for i in self.imports if (i.module, i.name) == (module, name))
        return _types_of(t)[1] if isinstance(t, wasmtime.FuncType) else ()

    def _memory_type(self) -> wasmtime.MemoryType | None:
        """Memory 0 as far as the module's interface shows it (imported, else exported)."""
        for i in self.imports:
            if isinstance(i.type, wasmtime.MemoryType):
                return i.type
        exported = sorted(((e.name, e.type) for e in self.module.exports if isinstance(e.type, wasmtime.MemoryType)),
                          key=lambda e: e[0] != "memory")
        return exported[0][1] if exported else None

    def memory_limits(self) -> tuple[int | None, int | None]:
        """(initial, maximum) pages of memory 0, defined or imported."""
        t = self._memory_type()
        return (t.limits.min, t.limits.max) if t is not None else (None, None)

    def unmeasurable_memory(self) -> str | None:
        """Why page curves cannot be measured on this module, or None when they can."""
        t = self._memory_type()
        if t is None:
            return "no exported or imported memory to measure"
        if t.is_shared:
            return ("shared memory: wasmtime applies no store cap to it (only its declared maximum "
                    f"of {t.limits.max} pages) and wasmtime-py cannot read its size")
        return None

    def _unknown_func_imports(self) -> list:
        """Function imports neither WASI nor anything else provides: these get stubs."""
        wasi_names: set[tuple[str, str]] = set()
        if self.wasi:
            store, linker = wasmtime.Store(self.engine), wasmtime.Linker(self.engine)
            linker.define_wasi()
            for i in self.imports:
                if i.module in WASI_MODULES and i.name is not None:
                    try:
                        linker.get(store, i.module, i.name)
                        wasi_names.add((i.module, i.name))
                    except wasmtime.WasmtimeError:
                        pass
        out, seen = [], set()
        for i in self.imports:
            key = (i.module, i.name)
            if isinstance(i.type, wasmtime.FuncType) and key not in wasi_names and key not in seen:
                seen.add(key)
                out.append(i)
        return out

    def import_plan(self) -> list[ImportInfo]:
        from auditor.runtime.bindgen import stub_kind

        stubbed = {(i.module, i.name) for i in self.unknown_func_imports}
        out = []
        for i in self.imports:
            kind = _kind(i.type)
            if i.module in WASI_MODULES and (i.module, i.name) not in stubbed:
                provided = "wasi"
            elif kind == "func" and (js := stub_kind(i.module, i.name or "")) is not None:
                provided = f"stub-js-{js}"  # wasm-bindgen's JS side, stubbed by kind (runtime/bindgen.py)
            elif kind == "func":
                provided = "stub-trap" if self.unknown_imports == "trap" else "stub-default"
            else:
                provided = "default-value"
            out.append(ImportInfo(i.module, i.name or "", kind, provided))
        return out

    def shared_memory_over(self, cap_pages: int) -> str | None:
        """wasmtime applies no store cap to shared memories, only their declared maximum:
        one whose maximum is above the cap is refused rather than left unbounded."""
        for m in (self.ir.memories if self.ir is not None else []):
            lim = m.limits
            if lim.shared and (lim.maximum or 0) * lim.page_size > cap_pages * PAGE:
                return (f"shared memory {m.index} may grow to {lim.maximum:,} pages, above the cap of {cap_pages} "
                        "pages (wasmtime cannot cap a shared memory below its declared maximum)")
        return None

    # ------------------------------------------------------------------ sessions

    def session(self, memory_limit_pages: int) -> Session:
        """A fresh store + instance capped at `memory_limit_pages`; InstantiateError if not."""
        self.sessions += 1
        return Session(self, memory_limit_pages, self.sessions)


class Session:
    """One store and one instance. Close it (or use `with`) so WASI stores are dropped."""

    def __init__(self, harness: Harness, memory_limit_pages: int, serial: int):
        self.h = harness
        self.cap_pages = memory_limit_pages
        self.stub_calls: list[str] = []
        self.console: list[str] = []  # console.* text from wasm-bindgen imports (runtime/bindgen.py)
        self.fuel_override: int | None = None  # a scenario's own fuel budget
        # wasmtime objects, dropped (set to None) by close()
        self.store: Any = wasmtime.Store(harness.engine)
        self.instance: Any = None
        self.exports: Any = {}
        self._callers: dict[str, tuple[Any, Any]] = {}  # export name -> (its Func, fast_caller of it)
        self.memory: Any = None
        apply_limits(self.store, memory_limit_pages, harness.limits)
        self._out: str | None = None
        self._err: str | None = None
        if harness.wasi and harness._tmp is not None:
            wc = wasmtime.WasiConfig()
            wc.argv = []
            self._out = os.path.join(harness._tmp, f"{serial}.out")
            self._err = os.path.join(harness._tmp, f"{serial}.err")
            wc.stdout_file = self._out
            wc.stderr_file = self._err
            self.store.set_wasi(wc)
        linker = wasmtime.Linker(harness.engine)
        if harness.wasi:
            linker.define_wasi()
        for imp in harness.unknown_func_imports:
            linker.define_func(imp.module, imp.name, imp.type, self._stub(imp.module, imp.name, imp.type))
        shared = harness.shared_memory_over(memory_limit_pages)
        if shared is not None:
            self.close()
            raise InstantiateError("shared-memory-over-cap", shared)
        self._prime(harness)
        try:
            linker.define_unknown_imports_as_default_values(self.store, harness.module)
            self.instance = linker.instantiate(self.store, harness.module)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            self.close()
            raise self._instantiate_error(e, memory_limit_pages) from None
        self.exports = Exports(linker, self.store, self.instance, harness.export_types)
        self.memory = self._find_memory(linker)
        if "_initialize" in harness.export_types:
            r = self.call("_initialize")
            if not r.ok:
                self.close()
                if r.outcome == "host-error":
                    raise InstantiateError("host-error", f"_initialize: {r.message}", r)
                outcome = "start-timeout" if r.outcome == "timeout" else "start-trap"
                raise InstantiateError(outcome, f"_initialize trapped ({r.outcome}): {r.message}", r)

    def _instantiate_error(self, e: BaseException, cap: int) -> InstantiateError:
        """What stopped instantiation, as the report's outcome: a store limit, the start
        function's fuel or deadline, a trap, wasmtime-py itself, an import."""
        h = self.h
        if isinstance(e, wasmtime.Trap) or is_host_error(e):
            call = classify_trap(e, self.stub_calls)
            if call.outcome == "host-error":
                h.host_error("instantiate (the start function)", call.message)
                return InstantiateError("host-error", f"the start function: {call.message}", call)
            outcome = "start-timeout" if call.outcome == "timeout" else "start-trap"
            return InstantiateError(outcome, f"the start function trapped ({call.outcome}): {call.message}", call)
        full = str(e)
        msg = _last_line(full)
        limit = instantiate_outcome(full, h.limits)
        if limit == "memory-over-cap":
            init, _ = h.memory_limits()
            return InstantiateError("memory-over-cap", f"initial memory {init} pages is above the cap of {cap} pages")
        if limit is not None:
            caps = {"table-over-cap": f"{h.limits.table_elements:,} elements per table",
                    "tables-over-cap": f"{h.limits.tables} tables", "memories-over-cap": f"{h.limits.memories} memories",
                    "instances-over-cap": f"{h.limits.instances} instances"}
            return InstantiateError(limit, f"{msg} (the sandbox allows {caps.get(limit, 'less')})")
        if "import" in full:
            first = full.strip().splitlines()[0]
            return InstantiateError("unsatisfied-imports", first if first == msg else f"{first}: {msg}")
        return InstantiateError("instantiate-error", msg)

    def _prime(self, harness: Harness) -> None:
        self.store.set_fuel(self.fuel_override or harness.fuel)
        if harness.timeout:
            self.store.set_epoch_deadline(min(max(1, int(harness.timeout / EPOCH_TICK)), _MAX_TICKS))

    def _stub(self, module: str, name: str, ty: wasmtime.FuncType):
        results = list(self.h.import_results(module, name))
        from auditor.runtime.bindgen import js_stub

        by_kind = js_stub(self, module, name, results)  # performance.now, console.*: stubs by kind
        if by_kind is not None:
            return by_kind
        trap = self.h.unknown_imports == "trap"
        defaults = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0}

        def stub(*args):
            self.stub_calls.append(f"unknown import {module}::{name} called")
            if trap:
                raise wasmtime.Trap(f"unknown import {module}::{name} called")
            vals = [defaults.get(r) for r in results]
            return None if not vals else vals[0] if len(vals) == 1 else vals

        return stub

    def _find_memory(self, linker):
        exported = self.exports.memory()
        if exported is not None:
            return exported
        for imp in self.h.imports:
            if isinstance(imp.type, wasmtime.MemoryType):
                try:
                    m = linker.get(self.store, imp.module, imp.name)
                except wasmtime.WasmtimeError:
                    return None
                return m if isinstance(m, wasmtime.Memory) else None
        return None

    # ------------------------------------------------------------------ use

    def pages(self) -> int | None:
        return self.memory.size(self.store) if self.memory is not None else None

    def has(self, name: str) -> bool:
        return isinstance(self.exports.get(name), wasmtime.Func)

    def call(self, name: str, *args) -> CallResult:
        """Call an export with a fresh fuel budget and deadline; never raises for traps."""
        func = self.exports[name]
        known = self._callers.get(name)
        if known is None or known[0] is not func:
            known = self._callers[name] = (func, fast_caller(func, self.store))
        self.h.calls += 1
        self._prime(self.h)
        del self.stub_calls[:]
        try:
            value = known[1](*args)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            r = classify_trap(e, self.stub_calls)
            if r.outcome == "host-error":
                self.h.host_error(f"call {name}", r.message)
            return r
        return CallResult("ok", value)

    def output(self) -> tuple[str | None, str | None, bool]:
        """Captured (stdout, stderr, truncated) of a WASI session, else (None, None, False)."""
        if self._out is None:
            return None, None, False
        cut = False
        texts = []
        for p in (self._out, self._err):
            try:
                with open(p or "", "rb") as f:
                    b = f.read(self.h.capture_bytes + 1)
            except OSError:
                b = b""
            if len(b) > self.h.capture_bytes:
                b, cut = b[: self.h.capture_bytes], True
            texts.append(b.decode("utf-8", errors="replace"))
        return texts[0], texts[1], cut

    def close(self) -> None:
        # Drop instance and store now: wasmtime's WASI state must not outlive the interpreter.
        self.exports = {}
        self._callers = {}
        self.instance = None
        self.memory = None
        self.store = None
        for p in (self._out, self._err):
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fast_calls_supported() -> bool:
    """The fast path copies wasmtime-py 50's `Func.__call__` through private ctypes
    bindings: another release may change them without an AttributeError (a wrong call
    signature corrupts memory instead of failing), so only the release it was checked
    against takes it (`pip install wasmtime>=50` may bring a newer one)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime").split(".")[0] == "50"
    except PackageNotFoundError:
        return False


_FAST_CALLS = _fast_calls_supported()


def fast_caller(func: Any, store: Any) -> Any:
    """`lambda *args: func(store, *args)` for an export whose parameters and results are
    all i32/i64, without wasmtime-py's per-call reflection: `Func.__call__` asks the
    function's type and builds value types to convert every argument on every call
    (~60 us; the churn and heap workloads make ~13,000 calls per probe build). The body
    below is `Func.__call__`'s (wasmtime-py 50) with the type read once; arguments that
    are not ints, and any wasmtime-py without these internals, take `func` itself."""
    def generic(*args: Any) -> Any:
        return func(store, *args)

    if not _FAST_CALLS:
        return generic
    try:
        from ctypes import byref

        from wasmtime import _ffi as ffi
        from wasmtime._func import enter_wasm

        ty = func.type(store)
        i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
        kinds = [ffi.WASMTIME_I32.value if t == i32 else ffi.WASMTIME_I64.value if t == i64 else None
                 for t in ty.params]
        results = [ffi.WASMTIME_I32.value if t == i32 else ffi.WASMTIME_I64.value if t == i64 else None
                   for t in ty.results]
        val_t, union_t, call, unroot = (ffi.wasmtime_val_t, ffi.wasmtime_valunion_t, ffi.wasmtime_func_call,
                                        ffi.wasmtime_val_unroot)
        from_raw = wasmtime.Val._from_raw
    except (ImportError, AttributeError, TypeError):
        return generic
    if None in kinds or None in results:
        return generic
    n, nres = len(kinds), len(results)
    I32 = ffi.WASMTIME_I32.value

    def fast(*args: Any) -> Any:
        if len(args) != n or not all(isinstance(a, int) for a in args):
            return func(store, *args)  # wasmtime-py's own checks and errors
        params = (val_t * n)()
        for i, (a, kind) in enumerate(zip(args, kinds)):
            raw = val_t(kind=kind)  # as Val.i32(a)._new_raw(store): wrapped like wasmtime-py's
            if kind == I32:
                raw.of.i32 = union_t(i32=a).i32
            else:
                raw.of.i64 = union_t(i64=a).i64
            params[i] = raw
        out = (val_t * nres)()
        try:
            with enter_wasm(store) as trap:
                error = call(store._context(), byref(func._func), params, n, out, nres, trap)
                if error:
                    raise wasmtime.WasmtimeError._from_ptr(error)
        finally:
            for i in range(n):
                unroot(byref(params[i]))
        values = [from_raw(store, out[i]).value for i in range(nres)]
        return None if nres == 0 else values[0] if nres == 1 else values

    return fast
