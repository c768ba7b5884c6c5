"""memory.grow results returned to a caller (lol_alloc's `DefaultGrower::memory_grow`
is `PageCount(memory_grow(0, delta.0))`, compared with ERROR_PAGE_COUNT by its caller):
hand-written .wat modules, compiled by wat2wasm, where the right answer is read off
the text. The site is checked only when every caller compares and nothing else can
reach the function."""

from __future__ import annotations

import subprocess

import pytest

from auditor.wasm.grow import find_grow_sites
from auditor.wasm.parse import parse_module

GROWER = """
  (func $grow (param $pages i32) (result i32)
    local.get $pages
    memory.grow)"""

COMPARE = """
  (func $alloc_{n} (param $p i32) (result i32)
    (local $prev i32)
    local.get $p
    call $grow
    local.tee $prev
    i32.const -1
    i32.eq
    if (result i32)
      i32.const 0
    else
      local.get $prev
      i32.const 16
      i32.shl
    end)"""

NO_COMPARE = """
  (func $careless (param $p i32) (result i32)
    local.get $p
    call $grow
    i32.const 16
    i32.shl)"""

PASS_ON = """
  (func $middle (param $p i32) (result i32)
    local.get $p
    call $grow)"""

CALLS_MIDDLE = """
  (func $top (param $p i32) (result i32)
    local.get $p
    call $middle
    i32.const -1
    i32.ne
    if (result i32) i32.const 1 else i32.const 0 end)"""


def _sites(tmp_path, body: str, exports: str = '(export "a" (func $alloc_0))'):
    wat = tmp_path / "m.wat"
    wat.write_text(f"(module (memory 1)\n{body}\n{exports})\n")
    wasm = tmp_path / "m.wasm"
    subprocess.run(["wat2wasm", "--debug-names", str(wat), "-o", str(wasm)], check=True)
    return find_grow_sites(parse_module(wasm.read_bytes(), str(wasm)))


def test_result_compared_by_every_caller_is_checked(tmp_path):
    (site,) = _sites(tmp_path, GROWER + COMPARE.format(n=0) + COMPARE.format(n=1),
                     '(export "a" (func $alloc_0)) (export "b" (func $alloc_1))')
    assert site.checked and site.use == "compared-by-caller", site


def test_one_caller_that_does_not_compare_leaves_it_unchecked(tmp_path):
    (site,) = _sites(tmp_path, GROWER + COMPARE.format(n=0) + NO_COMPARE,
                     '(export "a" (func $alloc_0)) (export "b" (func $careless))')
    assert not site.checked and site.use == "returned", site


def test_exported_grower_is_unchecked_whatever_its_callers_do(tmp_path):
    (site,) = _sites(tmp_path, GROWER + COMPARE.format(n=0),
                     '(export "a" (func $alloc_0)) (export "g" (func $grow))')
    assert not site.checked and site.use == "returned", site


def test_grower_in_a_table_is_unchecked(tmp_path):
    (site,) = _sites(tmp_path, GROWER + COMPARE.format(n=0) + "\n  (table 1 funcref) (elem (i32.const 0) $grow)")
    assert not site.checked, site


def test_uncalled_grower_is_unchecked(tmp_path):
    (site,) = _sites(tmp_path, GROWER + '\n  (func $alloc_0 (result i32) i32.const 0)')
    assert not site.checked and site.use == "returned", site


@pytest.mark.parametrize("top,expect", [(CALLS_MIDDLE, True), (NO_COMPARE.replace("$grow", "$middle"), False)])
def test_followed_through_a_second_return(tmp_path, top, expect):
    name = "$top" if "$top" in top else "$careless"
    (site,) = _sites(tmp_path, GROWER + PASS_ON + top, f'(export "a" (func {name}))')
    assert site.checked is expect, site


def test_direct_compare_unchanged(tmp_path):
    body = """
  (func $alloc_0 (param $p i32) (result i32)
    local.get $p
    memory.grow
    i32.const -1
    i32.eq)"""
    (site,) = _sites(tmp_path, body)
    assert site.checked and site.use == "compared"
