"""Which exports let the harness allocate and free, checked against their signatures.

The scan's probe exports are preferred because they go through the crate's global
allocator exactly as `Box`/`Vec` do. Any other module is tried for the usual pairs
(wasm-bindgen's, C's, the common hand-written ones). A name with the wrong signature is
rejected with the reason, never called: calling `alloc(i64) -> i64` with our arguments
would measure nothing.

Argument orders differ between families, so every entry carries a `shape` per operation
and `Heap` in workloads.py builds the arguments from it:
  alloc:   "size" | "size,align"
  free:    "ptr" | "ptr,size" | "ptr,size,align"
  realloc: "ptr,old,align,new" (probe) | "ptr,old,new,align" | "ptr,old,new" (wasm-bindgen)
           | "ptr,new" (C)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.records.run import EntryRecord, RejectedRecord

# family -> (alloc, free, realloc) export names, tried in this order.
FAMILIES = (
    ("probe", "__auditor_alloc", "__auditor_dealloc", "__auditor_realloc"),
    ("wasm-bindgen", "__wbindgen_malloc", "__wbindgen_free", "__wbindgen_realloc"),
    ("alloc", "alloc", "dealloc", "realloc"),
    ("malloc", "malloc", "free", "realloc"),
    ("allocate", "allocate", "deallocate", "reallocate"),
)

_ALLOC_SHAPES = {1: "size", 2: "size,align"}
_FREE_SHAPES = {1: "ptr", 2: "ptr,size", 3: "ptr,size,align"}
_REALLOC_SHAPES = {
    "probe": {4: "ptr,old,align,new"},
    "wasm-bindgen": {3: "ptr,old,new", 4: "ptr,old,new,align"},
    "alloc": {2: "ptr,new", 3: "ptr,old,new", 4: "ptr,old,new,align"},
    "malloc": {2: "ptr,new"},
    "allocate": {2: "ptr,new", 3: "ptr,old,new", 4: "ptr,old,new,align"},
}


@dataclass
class Entry:
    family: str | None = None
    alloc: str | None = None
    alloc_shape: str | None = None
    free: str | None = None
    free_shape: str | None = None
    realloc: str | None = None
    realloc_shape: str | None = None
    try_reserve: str | None = None
    ptr_type: str = "i32"
    rejected: list[RejectedRecord] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.alloc is not None

    def to_json(self) -> EntryRecord:
        return {
            "family": self.family,
            "alloc": self.alloc,
            "free": self.free,
            "realloc": self.realloc,
            "try_reserve": self.try_reserve,
            "shapes": {"alloc": self.alloc_shape, "free": self.free_shape, "realloc": self.realloc_shape},
            "ptr_type": self.ptr_type if self.found else None,
            "rejected": self.rejected,
        }


def _fmt(sig) -> str:
    params, results = sig
    return f"({', '.join(params)}) -> {', '.join(results) or '()'}"


def _uniform(params, ptr: str) -> bool:
    return all(p == ptr for p in params)


def detect(signature_of) -> Entry:
    """`signature_of(name)` gives ((params), (results)) of a function export, or None."""
    entry = Entry()

    def reject(name: str, sig, reason: str) -> None:
        entry.rejected.append({"name": name, "signature": _fmt(sig), "reason": reason})

    for family, a, f, r in FAMILIES:
        sig = signature_of(a)
        if sig is None:
            continue
        params, results = sig
        ptr = results[0] if len(results) == 1 else None
        if ptr not in ("i32", "i64") or len(params) not in _ALLOC_SHAPES or not _uniform(params, ptr):
            reject(a, sig, "expected (size) -> ptr or (size, align) -> ptr")
            continue
        entry.family, entry.alloc, entry.alloc_shape, entry.ptr_type = family, a, _ALLOC_SHAPES[len(params)], ptr
        if (fsig := signature_of(f)) is not None:
            fp, fr = fsig
            if not fr and len(fp) in _FREE_SHAPES and _uniform(fp, ptr):
                entry.free, entry.free_shape = f, _FREE_SHAPES[len(fp)]
            else:
                reject(f, fsig, "expected (ptr[, size[, align]]) -> ()")
        if (rsig := signature_of(r)) is not None:
            rp, rr = rsig
            shape = _REALLOC_SHAPES[family].get(len(rp))
            if shape and rr == (ptr,) and _uniform(rp, ptr):
                entry.realloc, entry.realloc_shape = r, shape
            else:
                reject(r, rsig, f"not a {family} realloc signature")
        if family == "probe" and (tsig := signature_of("__auditor_try_reserve")) is not None:
            if tsig == ((ptr,), (ptr,)):
                entry.try_reserve = "__auditor_try_reserve"
            else:
                reject("__auditor_try_reserve", tsig, "expected (n) -> ptr-or-0")
        return entry
    return entry
