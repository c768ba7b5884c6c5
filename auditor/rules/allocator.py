"""Did a scan variant link the allocator it asked for? The `allocator_check` of a variant.

The build stage says what was requested (an injected allocator, or the crate's own with
the known entries it may be); the wasm stage says what function names show. The
measured module often has no names (`strip`) or LTO inlined the evidence, so the check
reads, in order, until one of them tells:

1. `names`: the measured module's own function names;
2. `twin`: the variant's probe build, the same sources, profile and injected
   `#[global_allocator]` static built with names kept (`-C strip=debuginfo` on the final
   crate only; stripping never changes code);
3. `sibling` (`resolve_siblings`, after the whole matrix): another variant of the scan
   with the same *injected* allocator whose names or twin verified it. Sound because the
   injected static is the same source in every profile and rustc fixes the global
   allocator when it compiles that static (a second one is a compile error), whatever
   opt-level, LTO, panic strategy or strip say. Never for std's default or a crate's own
   allocator: a dependency may choose one under `cfg(debug_assertions)`.

Within one source, names that leave several entries possible are narrowed by sound
extra facts: the toolchain's std symbols (std's private dlmalloc vs the dlmalloc crate:
`auditor.wasm.allocator.resolve_std_copy`) and the churn verdict the runtime stage
measured on the same probe module (lol_alloc's LeakingAllocator leaves only names its
FreeListAllocator shares; one leaks, the other plateaus). What stays between several
entries is `ambiguous`; nothing to go by is `unverified`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.records.inspect import AllocatorRecord, InspectRecord
from auditor.records.scan import AllocatorCheckRecord
from auditor.wasm.allocator import StdSymbols, entry_class, resolve_std_copy

OWN = "own"  # the allocator column's name for a crate's own #[global_allocator] that no entry matches
#: allocator_check.method values (README "JSON: auditor.scan/1").
METHODS = ("names", "twin", "sibling", "none")


def _record(requested: str | None, detected: str | None, status: str, method: str, message: str | None,
            basis: list[str], possible: list[str] | None = None, via: str | None = None) -> AllocatorCheckRecord:
    return {"requested": requested, "detected": detected, "status": status, "method": method,
            "basis": basis, "possible": possible or ([detected] if detected else []), "via": via,
            "message": message}


def allocator_check(requested: str, candidates: Sequence[str], wasm: InspectRecord, *,
                    twin: AllocatorRecord | None = None, churn: str | None = None,
                    std: StdSymbols | None = None) -> AllocatorCheckRecord:
    """`requested`: the variant's allocator name ("own" for an unknown own allocator);
    `candidates`: known entries a crate's cfg-chosen own allocators may be; `twin`: the
    probe build's detection (names kept); `churn`: the churn verdict measured on that
    probe build; `std`: the toolchain's std symbols."""
    expected = None if requested == OWN else requested
    ambiguous: tuple[str, list[str], list[str], str] | None = None
    saw_none = False
    for method, det in (("names", wasm.get("allocator")), ("twin", twin)):
        if not det:
            continue
        det = resolve_std_copy(det, std)
        name = det.get("name")
        if name == "none":
            saw_none = True
        if name in (None, "unknown", "none"):
            continue
        possible = [name, *(det.get("ambiguous_with") or [])]
        if expected is None and name in candidates and len(possible) == 1:
            expected = name  # one of the crate's cfg-chosen allocators: the build's features picked it
        if expected is None:
            return _record(None, name, "unverified", method,
                           f"the crate's own allocator is not a known entry; detected {name}", [], possible)
        basis = [f"{method}: {', '.join(e['function'] for e in (det.get('evidence') or [])[:3]) or name}"]
        if det.get("std_copy"):
            basis.append(f"std symbols: {det['std_copy']}")
        if expected not in possible:
            return _record(expected, name, "mismatch", method,
                           f"requested {expected} but the {_source(method)} links {' or '.join(possible)}", basis,
                           possible)
        if len(possible) > 1 and churn:
            narrowed = [p for p in possible if entry_class(p) == churn]
            if narrowed == [expected]:
                basis.append(f"churn: {churn} on the probe build leaves only {expected} of {', '.join(possible)}")
                possible = narrowed
        if len(possible) == 1:
            return _record(expected, expected, "match", method, None, basis)
        if ambiguous is None:
            ambiguous = (method, possible, basis, name)
    if ambiguous is not None:
        method, possible, basis, name = ambiguous
        return _record(expected, name, "ambiguous", method,
                       f"the {_source(method)}'s names fit {' or '.join(possible)} alike", basis, possible)
    if saw_none:
        why = "no allocator code linked (the crate does not allocate)"
    elif twin is None:
        why = "no allocator names in the module (stripped?) and no name-keeping twin (runtime off, or its build failed)"
    else:
        why = "no allocator names in the module or its name-keeping twin (stripped, or LTO inlined them)"
    return _record(expected, None, "unverified", "none", why, [])


def _source(method: str) -> str:
    return {"names": "module", "twin": "name-keeping twin (probe build)"}.get(method, method)


def resolve_siblings(variants: Sequence[Any]) -> None:
    """Variants left `unverified` or `ambiguous` take the verdict of a variant of the same
    scan with the same injected allocator that its own names or twin verified
    (`variants`: objects with `id`, `allocator`, `injected`, `allocator_check`)."""
    verified: dict[str, Any] = {}
    for v in variants:
        c = v.allocator_check
        if v.injected and c and c["status"] == "match" and c["method"] in ("names", "twin"):
            verified.setdefault(v.allocator, v)
    for v in variants:
        c = v.allocator_check
        if not (v.injected and c and c["status"] in ("unverified", "ambiguous")):
            continue
        s = verified.get(v.allocator)
        if s is None:
            continue
        basis = [f"sibling {s.id}: " + "; ".join(s.allocator_check["basis"]),
                 "the injected #[global_allocator] static is the same in every profile"]
        v.allocator_check = _record(c["requested"], s.allocator_check["detected"], "match", "sibling", None,
                                    c["basis"] + basis, via=s.id)
