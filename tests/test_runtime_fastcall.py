"""harness.fast_caller: the same values and the same traps and errors as wasmtime-py's
own `Func.__call__`, on a hand-written .wat (compiled by wat2wasm, run by wasmtime)."""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess

import pytest
import wasmtime

from auditor.runtime import harness
from auditor.runtime.harness import fast_caller

WAT = """(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "wide") (param i64 i32) (result i64 i32) local.get 0 i64.const 3 i64.mul local.get 1)
  (func (export "nothing"))
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "trap") (result i32) unreachable)
  (func (export "spin") (loop $l (br $l)))
  (func (export "half") (param f32) (result f32) local.get 0 f32.const 0.5 f32.mul)
)"""

CALLS = [
    ("add", (2, 3)), ("add", (2**31 - 1, 1)), ("add", (-5, 2)), ("add", (2**32 + 7, 1)), ("add", (True, 1)),
    ("wide", (2**40, -1)), ("wide", (-(2**62), 9)), ("nothing", ()), ("load", (4,)), ("load", (65536,)),
    ("trap", ()), ("spin", ()), ("half", (3.0,)), ("add", (1,)), ("add", (1, 2, 3)), ("add", (1.5, 2)),
    ("add", ("x", 1)),
]


def _outcome(call, *args):
    try:
        return ("ok", call(*args))
    except Exception as e:  # the exception's type and text are part of what must match
        return (type(e).__name__, str(e))


@pytest.fixture(scope="module")
def wasm(tmp_path_factory):
    d = tmp_path_factory.mktemp("fastcall")
    (d / "m.wat").write_text(WAT)
    subprocess.run(["wat2wasm", str(d / "m.wat"), "-o", str(d / "m.wasm")], check=True)
    return (d / "m.wasm").read_bytes()


def _instance(wasm):
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, wasm), [])
    return store, inst.exports(store)


@pytest.mark.parametrize("name,args", CALLS)
def test_fast_caller_matches_wasmtime_func_call(wasm, name, args):
    outcomes = []
    for fast in (False, True):
        store, exports = _instance(wasm)
        store.set_fuel(100_000)
        func = exports[name]
        call = fast_caller(func, store) if fast else functools.partial(func, store)
        outcomes.append((_outcome(call, *args), store.get_fuel()))
    assert outcomes[0] == outcomes[1]


def test_only_integer_signatures_take_the_fast_path(wasm):
    store, exports = _instance(wasm)
    # Only the wasmtime-py release whose internals the fast path copies takes it.
    fast = "fast" if importlib.metadata.version("wasmtime").split(".")[0] == "50" else "generic"
    assert fast_caller(exports["add"], store).__name__ == fast
    assert fast_caller(exports["nothing"], store).__name__ == fast
    assert fast_caller(exports["half"], store).__name__ == "generic"


def test_other_wasmtime_releases_take_the_generic_call(wasm, monkeypatch):
    monkeypatch.setattr(harness, "_FAST_CALLS", False)
    store, exports = _instance(wasm)
    store.set_fuel(100_000)
    call = fast_caller(exports["add"], store)
    assert call.__name__ == "generic" and call(2, 3) == 5
