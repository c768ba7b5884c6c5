"""Which global allocator a module links, from its function names.

Patterns are data (`rules/allocators.toml`): a new allocator needs no code. Names are
matched demangled with hashes stripped, and also raw (for shims like `__rdl_alloc`).
An entry with `requires-any` only counts when one of those also matches (the dlmalloc
crate and std's private dlmalloc share every other name). With no names at all the
answer is "unknown" plus a class hint from the memory.grow sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from auditor.data import load_rules_file
from auditor.records.inspect import AllocatorRecord, EvidenceRecord


@dataclass
class AllocatorInfo:
    name: str  # entry name, "unknown" (no names to go by) or "none" (no allocator code)
    description: str = ""
    evidence: list[EvidenceRecord] = field(default_factory=list)
    evidence_bytes: int = 0
    expected_class: str | None = None
    ambiguous_with: list[str] = field(default_factory=list)
    class_hint: str | None = None

    def to_json(self) -> AllocatorRecord:
        return {
            "name": self.name,
            "description": self.description,
            "evidence": self.evidence,
            "evidence_bytes": self.evidence_bytes,
            "expected_class": self.expected_class,
            "ambiguous_with": self.ambiguous_with,
            "class_hint": self.class_hint,
        }


@dataclass
class _Entry:
    name: str
    description: str
    patterns: list[re.Pattern]
    requires: list[re.Pattern]
    cls: str | None


@lru_cache(maxsize=1)
def _any_pattern() -> re.Pattern:
    """Every entry's patterns in one expression: most names match none, and one search
    per name beats one per pattern per entry."""
    return re.compile("|".join(f"(?:{p.pattern})" for e in _entries() for p in e.patterns + e.requires))


@lru_cache(maxsize=1)
def _entries() -> tuple[_Entry, ...]:
    table = load_rules_file("allocators.toml").get("allocator", {})
    out = []
    for name, spec in table.items():
        out.append(_Entry(
            name,
            spec.get("description", ""),
            [re.compile(p) for p in spec.get("patterns", [])],
            [re.compile(p) for p in spec.get("requires-any", [])],
            spec.get("class"),
        ))
    return tuple(out)


def detect(functions: list[tuple[str | None, str | None, int]], grow_sites: list) -> AllocatorInfo:
    """`functions`: (raw name, demangled name without hash, body size) for each body."""
    if not functions:  # nothing to be stripped of: no code, so no allocator
        return AllocatorInfo("none", "no function bodies", class_hint=class_hint(grow_sites))
    if not any(raw or dem for raw, dem, _ in functions):
        return AllocatorInfo("unknown", "no function names (stripped module)", class_hint=class_hint(grow_sites))
    anyp = _any_pattern()
    named = [(raw, dem, size) for raw, dem, size in functions
             if (dem and anyp.search(dem)) or (raw and anyp.search(raw))]
    found: list[tuple[_Entry, list[EvidenceRecord]]] = []
    for entry in _entries():
        evidence: list[EvidenceRecord] = []
        required = not entry.requires
        for raw, dem, size in named:
            if any(p.search(dem or "") or p.search(raw or "") for p in entry.patterns):
                evidence.append({"function": dem or raw or "", "size": size})
            if not required and any(p.search(dem or "") or p.search(raw or "") for p in entry.requires):
                required = True
        if evidence and required:
            found.append((entry, evidence))
    if not found:
        if not grow_sites:
            return AllocatorInfo("none", "no allocator functions and no memory.grow", class_hint=class_hint(grow_sites))
        return AllocatorInfo("unknown", "no known allocator names", class_hint=class_hint(grow_sites))

    def rank(item):
        entry, evidence = item
        # An injected allocator beats std's default; requires-any beats a plain match.
        return (entry.name != "default", bool(entry.requires), sum(e["size"] for e in evidence))

    found.sort(key=rank, reverse=True)
    entry, evidence = found[0]
    evidence.sort(key=lambda e: (-e["size"], e["function"]))
    ambiguous = [
        e.name for e, ev in found[1:]
        if rank((e, ev))[:2] == rank(found[0])[:2] and not (e.name == "default" and entry.name != "default")
    ]
    if entry.name == "default":
        # LTO inlines the __rdl_*/__rg_* shims that tell the dlmalloc crate from std's copy.
        names = {e["function"] for e in evidence}
        if not any(n.startswith("__rdl_") for n in names):
            ambiguous.append("dlmalloc")
    return AllocatorInfo(
        entry.name, entry.description, evidence, sum(e["size"] for e in evidence), entry.cls,
        sorted(set(ambiguous)), class_hint(grow_sites),
    )


def class_hint(grow_sites: list) -> str:
    n = len(grow_sites)
    if n == 0:
        return "fixed-arena: no memory.grow (static arena, or no heap)"
    if n == 1:
        checked = "checked" if grow_sites[0].checked else "unchecked"
        return f"typical: one memory.grow site ({checked})"
    return f"page-per-alloc or inlined growth: {n} memory.grow sites"
