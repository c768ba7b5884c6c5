"""The allocator's own code bytes (auditor/wasm/allocator_cost.py) against wasm-objdump.

A hand-written module with a call graph whose answer is known: the allocator's named
functions plus the helpers only they reach count; a helper the crate also calls, and
dead code, do not. Sizes come from wasm-objdump (body sizes, signature indices), counted
the way twiggy counts a function (body + size LEB + function-section entry).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from auditor.wasm.allocator import detect
from auditor.wasm.allocator_cost import function_bytes, module_allocator_code
from auditor.wasm.grow import find_grow_sites
from auditor.wasm.parse import parse_module

WAT = r"""
(module
  (memory (export "memory") 1)
  (func $main (export "main") (param i32) (result i32)
    local.get 0 call $__rust_alloc
    call $memcpy
    call $crate_helper)
  (func $__rust_alloc (param i32) (result i32)
    local.get 0 call $auditor_fixture_freelist::freelist_alloc)
  (func $auditor_fixture_freelist::freelist_alloc (param i32) (result i32)
    call $only_alloc
    call $memcpy
    local.get 0 i32.const 8 i32.add i32.const 1 memory.grow drop)
  (func $only_alloc
    call $deep
    i32.const 1 i32.const 2 i32.add drop)
  (func $deep
    i32.const 3 drop i32.const 4 drop i32.const 5 drop)
  (func $memcpy
    i32.const 0 i32.const 0 i32.store)
  (func $crate_helper (param i32) (result i32)
    local.get 0)
  (func $dead
    call $deep))
"""


def _leb(v: int) -> int:
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def objdump_function_bytes(path: Path) -> dict[str, int]:
    """name -> body + size LEB + function-section entry, all from wasm-objdump."""
    code = subprocess.run(["wasm-objdump", "-x", "-j", "Code", str(path)], capture_output=True, text=True,
                          check=True).stdout
    funcs = subprocess.run(["wasm-objdump", "-x", "-j", "Function", str(path)], capture_output=True, text=True,
                           check=True).stdout
    sigs, names = {}, {}
    for m in re.finditer(r"func\[(\d+)\] sig=(\d+) <([^>]*)>", funcs):
        sigs[m[1]] = int(m[2])
        names[m[1]] = m[3]
    out = {}
    for m in re.finditer(r"func\[(\d+)\] size=(\d+)", code):
        size = int(m[2])
        out[names[m[1]]] = size + _leb(size) + _leb(sigs[m[1]])
    return out


def test_allocator_code_is_its_functions_plus_what_only_they_reach(tmp_path):
    (tmp_path / "m.wat").write_text(WAT)
    wasm = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(tmp_path / "m.wat"), "-o", str(wasm)], check=True)
    sizes = objdump_function_bytes(wasm)
    mod = parse_module(wasm.read_bytes(), str(wasm))
    assert {f.name: function_bytes(f) for f in mod.functions} == sizes
    info = detect([(f.name, f.name, f.body_size) for f in mod.functions], find_grow_sites(mod))
    assert info.name == "fixture_freelist"
    code = module_allocator_code(mod, info).to_json()
    assert code["method"] == "names"
    assert {r["name"] for r in code["items"]} == {"__rust_alloc", "auditor_fixture_freelist::freelist_alloc"}
    # memcpy and crate_helper stay (main reaches them without the allocator); dead code
    # is reached by nothing, so it is nobody's cost
    assert {r["name"] for r in code["only_through"]} == {"only_alloc", "deep"}
    expected = sum(sizes[n] for n in ("__rust_alloc", "auditor_fixture_freelist::freelist_alloc", "only_alloc",
                                      "deep"))
    assert code["bytes"] == expected
    assert code["code_bytes"] == sum(sizes.values())


def test_a_stripped_module_has_no_attribution(tmp_path):
    (tmp_path / "m.wat").write_text(WAT)
    wasm = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", str(tmp_path / "m.wat"), "-o", str(wasm)], check=True)  # no name section
    mod = parse_module(wasm.read_bytes(), str(wasm))
    info = detect([(f.name, f.name, f.body_size) for f in mod.functions], [])
    code = module_allocator_code(mod, info).to_json()
    assert code["method"] == "none" and code["bytes"] == 0
    assert "stripped" in code["reason"]
