"""Did a scan variant link the allocator it asked for? The `allocator_check` of a variant.

The build stage says what was requested (an injected allocator, or the crate's own with
the known entries it may be); the wasm stage says what the module's function names show.
Names survive only in unstripped modules, so "cannot tell" is a verdict of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.records.inspect import InspectRecord
from auditor.records.scan import AllocatorCheckRecord

OWN = "own"  # the allocator column's name for a crate's own #[global_allocator] that no entry matches


def allocator_check(requested: str, candidates: Sequence[str], wasm: InspectRecord) -> AllocatorCheckRecord:
    """`requested`: the variant's allocator name ("own" for an unknown own allocator);
    `candidates`: known entries a crate's cfg-chosen own allocators may be."""
    det = wasm.get("allocator") or {}
    detected = det.get("name")
    expected = None if requested == OWN else requested
    if expected is None and detected in candidates:
        expected = detected  # one of the crate's cfg-chosen allocators: the build's features picked it
    if detected in (None, "unknown"):
        status, why = "unverified", "no allocator names in the module (stripped?)"
    elif detected == "none":
        status, why = "unverified", "no allocator code linked (the crate does not allocate)"
    elif expected is None:
        status, why = "unverified", f"the crate's own allocator is not a known entry; detected {detected}"
    elif detected == expected or expected in (det.get("ambiguous_with") or []):
        status, why = "match", None
    else:
        status, why = "mismatch", f"requested {expected} but the module links {detected}"
    return {"requested": expected, "detected": detected, "status": status, "message": why}
