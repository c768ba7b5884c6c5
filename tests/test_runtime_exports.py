"""The harness looks an instance's exports up by name (runtime.harness.Exports), not
through wasmtime-py's `Instance.exports`, whose export_nth walk is quadratic in the
number of exports (a wasm-bindgen crate's cargo build has ~1,400). Every name of a module
with exports of each kind must give what wasmtime-py's own full enumeration gives."""

from __future__ import annotations

import subprocess

import wasmtime

from auditor.runtime.harness import Exports, Harness


def _module(tmp_path, text: str):
    src, dest = tmp_path / "m.wat", tmp_path / "m.wasm"
    src.write_text(text)
    subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(dest)], check=True)
    return dest


MANY = """(module
  (memory $a (export "heap") 1)
  (memory $b (export "memory") 2)
  (table (export "t") 3 funcref)
  (global (export "g") i32 (i32.const 42))
  {funcs})"""


def test_every_export_is_what_wasmtime_enumerates(tmp_path):
    funcs = "".join(f'(func (export "f{i}") (result i32) (i32.const {i}))' for i in range(300))
    path = _module(tmp_path, MANY.format(funcs=funcs))
    h = Harness(path, fuel=1_000_000, timeout=None, unknown_imports="trap")
    with h.session(64) as s:
        # an independent instance of the same compiled module, enumerated by wasmtime-py itself
        store = wasmtime.Store(h.engine)
        store.set_fuel(1_000_000)
        full = wasmtime.Linker(h.engine).instantiate(store, h.module).exports(store)
        assert len(h.export_types) == len(full) == 304
        for name, value in full.items():
            mine = s.exports[name]
            assert type(mine) is type(value), name
            assert name in s.exports
            if isinstance(value, wasmtime.Func):
                assert s.call(name).value == value(store)
        assert s.exports.get("nope") is None and "nope" not in s.exports
        # `memory` is preferred over an earlier exported memory
        assert s.memory.size(s.store) == 2 and s.pages() == 2
        assert s.exports["g"].value(s.store) == 42


def test_the_first_exported_memory_without_one_called_memory(tmp_path):
    path = _module(tmp_path, '(module (memory (export "zz") 3) (memory (export "aa") 1))')
    h = Harness(path, fuel=1_000_000, timeout=None, unknown_imports="trap")
    with h.session(64) as s:
        assert s.pages() == 3  # export order, as before (not name order)


def test_an_import_namespace_cannot_collide(tmp_path):
    # Imports named like anything a module may use still resolve (stubbed as traps), and the
    # instance's own namespace is not one of them.
    path = _module(tmp_path, '(module (import "\\00auditor" "x" (func)) (memory (export "memory") 1)'
                             ' (func (export "f") (result i32) (i32.const 5)))')
    h = Harness(path, fuel=1_000_000, timeout=None, unknown_imports="trap")
    with h.session(64) as s:
        assert s.call("f").value == 5
    assert Exports.NAMESPACE not in {i.module for i in h.imports}
