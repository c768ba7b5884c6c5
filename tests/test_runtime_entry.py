"""Allocation entry points: every family the issue lists, its signature checks, and the
argument order the harness uses for each shape.

The modules are generated .wat: a bump allocator that stores each block's size in an
8-byte header and traps (`unreachable`) whenever the harness passes an argument that is
not what the family's signature means — an align other than 8, a size that differs
from the block's, a double free, a realloc `old` that is not the block's size or a `new`
that is not twice it. So a swapped argument order shows up as a trap, not as a number
that merely looks plausible.
"""

from __future__ import annotations

import subprocess

import pytest

from auditor.runtime.api import RuntimeOptions
from auditor.runtime.workloads import RAMP_START

from inprocess_run import run_module

OPTS = RuntimeOptions(churn_rounds=200, hold_cycles=16)


def _params(names: str, t: str) -> str:
    return " ".join(f"(param ${n} {t})" for n in names.split(",")) if names else ""


def checking_allocator(alloc: tuple[str, str], free: tuple[str, str] | None = None,
                       realloc: tuple[str, str] | None = None, *, ptr: str = "i32",
                       try_reserve: str | None = None, extra: str = "") -> str:
    """A .wat module exporting (name, shape) pairs; shapes as in auditor/runtime/entry.py."""
    t = ptr
    checks = {
        "align": f"(call $check ({t}.eq (local.get $align) ({t}.const 8)))",
        "size": f"(call $check ({t}.eq (call $header (local.get $ptr)) (local.get $size)))",
        "old": f"(call $check ({t}.eq (call $header (local.get $ptr)) (local.get $old)))",
        "new": f"(call $check ({t}.eq (local.get $new) ({t}.shl (call $header (local.get $ptr)) ({t}.const 1))))",
    }
    out = [f"""(module
  (memory (export "memory") {"i64 " if t == "i64" else ""}1)
  (global $top (mut {t}) ({t}.const 1024))
  (func $check (param $ok i32) (if (i32.eqz (local.get $ok)) (then unreachable)))
  (func $header (param $p {t}) (result {t}) ({t}.load ({t}.sub (local.get $p) ({t}.const 8))))
  (func $bump (param $size {t}) (result {t})
    (local $p {t}) (local $end {t}) (local $have {t})
    (local.set $p ({t}.add (global.get $top) ({t}.const 8)))
    (local.set $end ({t}.add (local.get $p) ({t}.and ({t}.add (local.get $size) ({t}.const 7)) ({t}.const -8))))
    (local.set $have ({t}.shl (memory.size) ({t}.const 16)))
    (if ({t}.gt_u (local.get $end) (local.get $have))
      (then
        (if ({t}.eq (memory.grow ({t}.shr_u ({t}.add ({t}.sub (local.get $end) (local.get $have)) ({t}.const 65535))
                                            ({t}.const 16)))
                    ({t}.const -1))
          (then (return ({t}.const 0))))))
    ({t}.store ({t}.sub (local.get $p) ({t}.const 8)) (local.get $size))
    (global.set $top (local.get $end))
    (local.get $p))
  (func $release (param $ptr {t})
    (call $check ({t}.ne (local.get $ptr) ({t}.const 0)))
    (call $check ({t}.ne (call $header (local.get $ptr)) ({t}.const -1)))
    ({t}.store ({t}.sub (local.get $ptr) ({t}.const 8)) ({t}.const -1)))"""]
    name, shape = alloc
    body = "".join(checks[k] for k in shape.split(",") if k == "align")
    out.append(f'  (func (export "{name}") {_params(shape, t)} (result {t}) {body} '
               f"(call $check ({t}.ne (local.get $size) ({t}.const 0))) (call $bump (local.get $size)))")
    if free:
        name, shape = free
        body = "".join(checks[k] for k in shape.split(",") if k in ("align", "size"))
        out.append(f'  (func (export "{name}") {_params(shape, t)} {body} (call $release (local.get $ptr)))')
    if realloc:
        name, shape = realloc
        body = "".join(checks[k] for k in shape.split(",") if k in ("align", "old", "new"))
        out.append(f'  (func (export "{name}") {_params(shape, t)} (result {t}) (local $q {t}) {body}'
                   f" (local.set $q (call $bump (local.get $new)))"
                   f" (if ({t}.ne (local.get $q) ({t}.const 0)) (then (call $release (local.get $ptr))))"
                   f" (local.get $q))")
    if try_reserve:
        out.append(f'  (func (export "{try_reserve}") (param $n {t}) (result {t}) (call $bump (local.get $n)))')
    out.append(extra + ")")
    return "\n".join(out)


@pytest.fixture
def build(tmp_path):
    def make(text: str, name: str = "m"):
        src, dest = tmp_path / f"{name}.wat", tmp_path / f"{name}.wasm"
        src.write_text(text)
        subprocess.run(["wat2wasm", "--enable-all", str(src), "-o", str(dest)], check=True)
        return dest

    return make


FAMILIES = [
    # (family, alloc, free, realloc) as (export name, shape)
    ("probe", ("__auditor_alloc", "size,align"), ("__auditor_dealloc", "ptr,size,align"),
     ("__auditor_realloc", "ptr,old,align,new")),
    ("wasm-bindgen", ("__wbindgen_malloc", "size,align"), ("__wbindgen_free", "ptr,size,align"),
     ("__wbindgen_realloc", "ptr,old,new,align")),
    ("wasm-bindgen", ("__wbindgen_malloc", "size"), ("__wbindgen_free", "ptr,size"),
     ("__wbindgen_realloc", "ptr,old,new")),
    ("alloc", ("alloc", "size"), ("dealloc", "ptr"), ("realloc", "ptr,new")),
    ("alloc", ("alloc", "size,align"), ("dealloc", "ptr,size,align"), ("realloc", "ptr,old,new,align")),
    ("alloc", ("alloc", "size"), ("dealloc", "ptr,size"), ("realloc", "ptr,old,new")),
    ("malloc", ("malloc", "size"), ("free", "ptr"), ("realloc", "ptr,new")),
    ("allocate", ("allocate", "size,align"), ("deallocate", "ptr,size,align"), ("reallocate", "ptr,old,new")),
    ("allocate", ("allocate", "size"), ("deallocate", "ptr"), ("reallocate", "ptr,old,new,align")),
]


@pytest.mark.parametrize("ptr", ["i32", "i64"])
@pytest.mark.parametrize("family,alloc,free,realloc", FAMILIES,
                         ids=[f"{f[0]}:{f[1][1]}/{f[2][1]}/{f[3][1]}" for f in FAMILIES])
def test_every_family_is_detected_and_called_with_its_argument_order(build, family, alloc, free, realloc, ptr):
    j = run_module(build(checking_allocator(alloc, free, realloc, ptr=ptr)), OPTS).to_json()
    e = j["entry"]
    assert (e["family"], e["alloc"], e["free"], e["realloc"]) == (family, alloc[0], free[0], realloc[0])
    assert e["shapes"] == {"alloc": alloc[1], "free": free[1], "realloc": realloc[1]}
    assert (e["ptr_type"], e["rejected"]) == (ptr, [])
    # No check in the module tripped: every workload ran to its end.
    oom = j["oom"]
    assert oom["outcome"] == "null" and oom["trap"] is None  # the bump allocator checks memory.grow's -1
    assert oom["recovered"] is True and oom["recovery"] == "ok"
    for key in ("churn", "hold_release"):
        assert j[key]["outcome"] == "ok", j[key]
        assert j[key]["verdict"] == "leak"  # a bump allocator never reuses
    assert j["fragmentation"]["outcome"] == "ok" and j["fragmentation"]["verdict"] == "grow"
    r = j["realloc"]
    assert r["outcome"] == "ok" and r["emulated"] is False and r["moves"] == r["steps"] > 0


def test_ramp_pages_of_the_checking_allocator_by_hand(build):
    # Blocks sit at 1024 + 8 (header), each takes 8 + size bytes. Requests 1 KiB .. 4 MiB
    # (13 of them) end at 1024 + 13 * 8 + (8 MiB - 1 KiB) bytes = 129 pages; 8 MiB more
    # would need 257 > 256 pages, so malloc returns 0 there.
    j = run_module(build(checking_allocator(("malloc", "size"), ("free", "ptr"))), OPTS).to_json()
    oom = j["oom"]
    end = 1024 + 13 * 8 + (8 << 20) - 1024
    assert oom["pages"] == -(-end // 65536) == 129
    assert oom["request"] == 8 << 20 and oom["live_bytes"] == (8 << 20) - 1024
    assert oom["requests"] == [RAMP_START << k for k in range(14)]
    assert len(oom["curve"]) == len(oom["requests"]) + 1


def test_probe_try_reserve_is_found_only_with_its_signature(build):
    ok = checking_allocator(("__auditor_alloc", "size,align"), ("__auditor_dealloc", "ptr,size,align"),
                            try_reserve="__auditor_try_reserve")
    j = run_module(build(ok), OPTS).to_json()
    assert j["entry"]["try_reserve"] == "__auditor_try_reserve"
    assert j["oom"]["try_reserve"]["outcome"] == "err"  # 0 from the bump at the cap
    two_params = '  (func (export "__auditor_try_reserve") (param i32 i32) (result i32) (i32.const 0))'
    bad = checking_allocator(("__auditor_alloc", "size,align"), ("__auditor_dealloc", "ptr,size,align"),
                             extra=two_params)
    j = run_module(build(bad, "bad"), OPTS).to_json()
    assert j["entry"]["try_reserve"] is None and j["oom"]["try_reserve"] is None
    assert j["entry"]["rejected"] == [{"name": "__auditor_try_reserve", "signature": "(i32, i32) -> i32",
                                       "reason": "expected (n) -> ptr-or-0"}]


def test_family_order_and_fallback_past_a_rejected_family(build):
    # both malloc and alloc: `alloc` comes first in the search order
    both = checking_allocator(("malloc", "size"), ("free", "ptr"),
                              extra='  (func (export "alloc") (param i32) (result i32) (i32.const 0))')
    assert run_module(build(both), OPTS).entry["family"] == "alloc"
    # __wbindgen_malloc with a wrong signature is rejected, then malloc/free are used
    wrong = checking_allocator(("malloc", "size"), ("free", "ptr"),
                               extra='  (func (export "__wbindgen_malloc") (param i32 i64) (result i32) (i32.const 0))')
    e = run_module(build(wrong, "wrong"), OPTS).entry
    assert e["family"] == "malloc"
    assert e["rejected"] == [{"name": "__wbindgen_malloc", "signature": "(i32, i64) -> i32",
                              "reason": "expected (size) -> ptr or (size, align) -> ptr"}]


def test_bad_free_and_realloc_are_rejected_and_their_workloads_not_probed(build):
    text = checking_allocator(
        ("malloc", "size"),
        extra='  (func (export "free") (param i32) (result i32) (i32.const 0))\n'
              '  (func (export "realloc") (param i32 i32 i32) (result i32) (i32.const 0))')
    j = run_module(build(text), OPTS).to_json()
    assert (j["entry"]["free"], j["entry"]["realloc"]) == (None, None)
    assert j["entry"]["rejected"] == [
        {"name": "free", "signature": "(i32) -> i32", "reason": "expected (ptr[, size[, align]]) -> ()"},
        {"name": "realloc", "signature": "(i32, i32, i32) -> i32", "reason": "not a malloc realloc signature"},
    ]
    for key in ("churn", "hold_release", "fragmentation"):
        assert j[key]["verdict"] == "not-probed" and j[key]["reason"] == "no free export next to malloc"
    # the ramp needs no free; realloc growth is emulated (alloc new, nothing to free the old)
    assert j["oom"]["outcome"] == "null" and j["oom"]["recovered"] is True
    assert j["realloc"]["emulated"] is True and j["realloc"]["outcome"] == "ok"
