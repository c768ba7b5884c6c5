"""Which global allocator a module links, from its function names.

Patterns are data (`rules/allocators.toml`): a new allocator needs no code. Names are
matched demangled with hashes stripped, and also raw (for shims like `__rdl_alloc`),
in legacy (`dlmalloc::dlmalloc::Dlmalloc<A>::malloc`) and v0 form
(`<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc`, `__rustc::__rdl_alloc`).

One pass over the names with a cheap prefilter: each entry declares the first path
segments (`crates`) its names can start with, so a name costs one `lstrip`, one
`partition` and one dict lookup, and only names whose leading crate some entry claims
reach that entry's regular expressions (35,823 names of a 45 MB module in ~0.05 s).

Evidence is strong (`patterns`: names only this entry leaves) or weak
(`crate-patterns`: names any allocator of the crate leaves, e.g. lol_alloc's
`DefaultGrower::memory_grow` that survives inlining of both its allocators). Weak-only
evidence names the crate, not the entry: the answer lists the crate's entries as
`ambiguous_with`. An entry with `requires-any` only counts when one of those also
matches (the dlmalloc crate and std's private dlmalloc share every other name); when
both stay possible, `resolve_std_copy` can tell them apart with the toolchain's own
std symbols (`StdSymbols`). With no names at all the answer is "unknown" plus a class
hint from the memory.grow sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from auditor.data import load_rules_file
from auditor.records.inspect import AllocatorRecord, EvidenceRecord

if TYPE_CHECKING:
    from auditor.wasm.model import Module

_LEAD = "<&*( "
_QUALIFIERS = ("mut ", "const ", "dyn ", "impl ")


@dataclass
class AllocatorInfo:
    name: str  # entry name, "unknown" (no names to go by) or "none" (no allocator code)
    description: str = ""
    evidence: list[EvidenceRecord] = field(default_factory=list)
    evidence_bytes: int = 0
    expected_class: str | None = None
    ambiguous_with: list[str] = field(default_factory=list)
    class_hint: str | None = None
    std_copy: str | None = None  # how std's private copy was told apart (resolve_std_copy), else None

    def to_json(self) -> AllocatorRecord:
        return {
            "name": self.name,
            "description": self.description,
            "evidence": self.evidence,
            "evidence_bytes": self.evidence_bytes,
            "expected_class": self.expected_class,
            "ambiguous_with": self.ambiguous_with,
            "class_hint": self.class_hint,
            "std_copy": self.std_copy,
        }


@dataclass
class _Entry:
    name: str
    description: str
    patterns: list[re.Pattern]  # strong evidence
    weak: list[re.Pattern]  # crate-patterns: the crate, not which of its allocators
    requires: list[re.Pattern]
    cls: str | None
    crates: tuple[str, ...]  # prefilter: leading path segments of the names the patterns match
    std_copy: str | None  # crate std also carries a private copy of (dlmalloc)


def lead_segment(name: str) -> str:
    """The first path segment of a (demangled) name: `wee_alloc` for
    `<wee_alloc::WeeAlloc as core::alloc::global::GlobalAlloc>::alloc`, `__rustc` for
    `__rustc::__rdl_alloc`, the whole name for a plain symbol (`__rdl_alloc`)."""
    s = name.lstrip(_LEAD)
    while s.startswith(_QUALIFIERS):
        s = s.split(" ", 1)[1].lstrip(_LEAD)
    head = s.partition("::")[0]
    return head.partition("<")[0]


@lru_cache(maxsize=1)
def _entries() -> tuple[_Entry, ...]:
    table = load_rules_file("allocators.toml").get("allocator", {})
    out = []
    for name, spec in table.items():
        crates = spec.get("crates")
        if crates is None:
            crates = [spec["crate"].replace("-", "_")] if spec.get("crate") else []
        out.append(_Entry(
            name,
            spec.get("description", ""),
            [re.compile(p) for p in spec.get("patterns", [])],
            [re.compile(p) for p in spec.get("crate-patterns", [])],
            [re.compile(p) for p in spec.get("requires-any", [])],
            spec.get("class"),
            tuple(crates),
            spec.get("std-copy"),
        ))
    return tuple(out)


@lru_cache(maxsize=1)
def _by_crate() -> dict[str, tuple[_Entry, ...]]:
    index: dict[str, list[_Entry]] = {}
    for e in _entries():
        for c in e.crates:
            index.setdefault(c, []).append(e)
    return {k: tuple(v) for k, v in index.items()}


def entry_class(name: str) -> str | None:
    """The expected churn class of an entry (None for unknown names)."""
    return next((e.cls for e in _entries() if e.name == name), None)


def entry_crate(name: str) -> str | None:
    """The crate an entry's allocator lives in (None for std's default and unknown names)."""
    table = load_rules_file("allocators.toml").get("allocator", {})
    return (table.get(name) or {}).get("crate")


@dataclass
class _Hit:
    strong: list[EvidenceRecord] = field(default_factory=list)
    weak: list[EvidenceRecord] = field(default_factory=list)
    required: bool = False


def detect(functions: list[tuple[str | None, str | None, int]], grow_sites: list | None) -> AllocatorInfo:
    """`functions`: (raw name, demangled name without hash, body size) for each body;
    `grow_sites`: the memory.grow sites (None: not looked at, so no "none" verdict)."""
    if not functions:  # nothing to be stripped of: no code, so no allocator
        return AllocatorInfo("none", "no function bodies", class_hint=class_hint(grow_sites))
    by_crate = _by_crate()
    hits: dict[str, _Hit] = {}
    any_name = False
    for raw, dem, size in functions:
        if not (raw or dem):
            continue
        any_name = True
        for text in (dem, raw) if raw != dem else (dem,):
            if not text:
                continue
            cands = by_crate.get(lead_segment(text))
            if cands is None:
                continue
            for entry in cands:
                hit = hits.get(entry.name)
                if hit is None:
                    hit = hits[entry.name] = _Hit()
                ev: EvidenceRecord = {"function": dem or raw or "", "size": size, "symbol": raw}
                if any(p.search(text) for p in entry.patterns):
                    hit.strong.append(ev)
                elif any(p.search(text) for p in entry.weak):
                    hit.weak.append(ev)
                if not hit.required and any(p.search(text) for p in entry.requires):
                    hit.required = True
            break  # the demangled form decided; the raw one only when there is no demangled one
    if not any_name:
        return AllocatorInfo("unknown", "no function names (stripped module)", class_hint=class_hint(grow_sites))
    entries = {e.name: e for e in _entries()}
    found: list[tuple[_Entry, _Hit]] = [
        (entries[n], h) for n, h in hits.items()
        if (h.strong or h.weak) and (h.required or not entries[n].requires)
    ]
    if not found:
        if grow_sites is not None and not grow_sites:
            return AllocatorInfo("none", "no allocator functions and no memory.grow", class_hint=class_hint(grow_sites))
        return AllocatorInfo("unknown", "no known allocator names", class_hint=class_hint(grow_sites))

    def rank(item: tuple[_Entry, _Hit]) -> tuple[bool, bool, bool, int]:
        entry, hit = item
        # An injected allocator beats std's default; requires-any beats a plain match;
        # strong evidence beats the crate's shared names.
        return (entry.name != "default", bool(entry.requires), bool(hit.strong), sum(e["size"] for e in hit.strong))

    order = {e.name: i for i, e in enumerate(_entries())}
    found.sort(key=lambda it: (rank(it), -order[it[0].name]), reverse=True)
    entry, hit = found[0]
    evidence = sorted(hit.strong + hit.weak, key=lambda e: (-e["size"], e["function"]))
    ambiguous = [e.name for e, h in found[1:] if rank((e, h))[:3] == rank(found[0])[:3]
                 and not (e.name == "default" and entry.name != "default")]
    if not hit.strong:
        # Only names the whole crate leaves: any of its allocators (weak evidence of each).
        ambiguous += [e.name for e, h in found[1:] if not h.strong and set(e.crates) & set(entry.crates)]
    if entry.name == "default":
        # LTO inlines the __rdl_*/__rg_* shims that tell the dlmalloc crate from std's copy.
        names = {e["function"] for e in evidence}
        if not any(n.split("::")[-1].startswith("__rdl_") for n in names):
            ambiguous += [e.name for e in _entries() if e.std_copy]
    return AllocatorInfo(
        entry.name, entry.description, evidence, sum(e["size"] for e in evidence), entry.cls,
        sorted(set(ambiguous) - {entry.name}), class_hint(grow_sites),
    )


# --------------------------------------------------------------------------- std's own copy

_LLVM_SUFFIX = re.compile(r"\.llvm\.\d+$")
_LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E$")
_V0_CRATE = re.compile(r"C(?:s([0-9A-Za-z]*)_)?(\d+)")


def _v0_crates(symbol: str) -> list[tuple[str, str]]:
    """(disambiguator, crate name) of every crate root in a v0 symbol (best effort:
    enough for `Cs<d>_8dlmalloc`, the roots of std's crates)."""
    out = []
    for m in _V0_CRATE.finditer(symbol):
        n = int(m.group(2))
        start = m.end()
        if start < len(symbol) and symbol[start] == "_":
            start += 1
        out.append((m.group(1) or "", symbol[start:start + n]))
    return out


@dataclass(frozen=True)
class StdSymbols:
    """The global symbols of the toolchain's prebuilt std (its rlibs' archive indexes)."""

    symbols: frozenset[str]

    @lru_cache(maxsize=16)  # noqa: B019  (a handful of instances per process)
    def v0_ids(self, crate: str) -> frozenset[str]:
        return frozenset(d for s in self.symbols if s.startswith("_R") for d, c in _v0_crates(s) if c == crate)

    @lru_cache(maxsize=16)  # noqa: B019
    def legacy_paths(self, crate: str) -> frozenset[str]:
        marker = f"{len(crate)}{crate}"
        return frozenset(_LEGACY_HASH.sub("", s) for s in self.symbols
                         if s.startswith("_ZN" + marker) or f"..{crate}.." in s or f"$LT${crate}.." in s)


def std_copy_of(symbol: str | None, crate: str, std: StdSymbols) -> bool | None:
    """Is this symbol (a function of `crate`'s code) std's private copy? True / False /
    None (cannot tell). Sound rules only: an exact std symbol; a v0 symbol whose crate
    root is (or is not) std's instance of `crate`; a symbol in a mangling scheme std's
    copy never uses; a legacy symbol whose path std exports under another hash (one
    function of one crate instance has one symbol)."""
    if not symbol:
        return None
    s = _LLVM_SUFFIX.sub("", symbol)
    if s in std.symbols:
        return True
    v0_ids, legacy = std.v0_ids(crate), std.legacy_paths(crate)
    if s.startswith("_R"):
        ids = [d for d, c in _v0_crates(s) if c == crate]
        if not ids:
            return None
        if any(d in v0_ids for d in ids):
            return True
        if v0_ids or (legacy and not v0_ids):
            return False  # another instance of the crate, or a scheme std's copy never uses
        return None
    if s.startswith("_ZN"):
        if _LEGACY_HASH.sub("", s) in legacy:
            return False  # std exports this function under another hash
        if v0_ids and not legacy:
            return False  # std's copy is v0-mangled throughout
    return None


def resolve_std_copy(info: AllocatorRecord, std: StdSymbols | None) -> AllocatorRecord:
    """A detection left between std's default allocator and a crate std also carries a
    copy of (dlmalloc): decided by whether the evidence's symbols are std's own. Returns
    the record unchanged when there is nothing to decide or nothing decides it."""
    if std is None or not std.symbols:
        return info
    copies = {e.name: e.std_copy for e in _entries() if e.std_copy}
    pair = {info.get("name"), *(info.get("ambiguous_with") or [])}
    contenders = [n for n in copies if n in pair]
    if "default" not in pair or not contenders:
        return info
    name = contenders[0]
    crate = copies[name] or name
    lead = crate.replace("-", "_")
    verdicts = [std_copy_of(e.get("symbol"), lead, std) for e in info.get("evidence") or []
                if lead_segment(e["function"]) == lead]
    if any(v is True for v in verdicts):
        winner, how = "default", f"a {crate} function's symbol is the toolchain std's own"
    elif verdicts and all(v is False for v in verdicts):
        winner, how = name, f"no {crate} function's symbol is the toolchain std's (another copy of {crate})"
    else:
        return info
    out = dict(info)
    out["name"] = winner
    out["ambiguous_with"] = sorted(set(info.get("ambiguous_with") or []) - {"default", name})
    out["std_copy"] = how
    entry = next(e for e in _entries() if e.name == winner)
    out["description"], out["expected_class"] = entry.description, entry.cls
    return out  # type: ignore[return-value]


def class_hint(grow_sites: list | None) -> str | None:
    if grow_sites is None:
        return None
    n = len(grow_sites)
    if n == 0:
        return "fixed-arena: no memory.grow (static arena, or no heap)"
    if n == 1:
        checked = "checked" if grow_sites[0].checked else "unchecked"
        return f"typical: one memory.grow site ({checked})"
    return f"page-per-alloc or inlined growth: {n} memory.grow sites"


def detect_file(path) -> AllocatorRecord:
    """Detection alone on a module file (a scan's name-keeping twin): names only, no
    sizes, compression or grow-site analysis."""
    from pathlib import Path

    from auditor.wasm.parse import parse_module

    return detect_module(parse_module(Path(path).read_bytes(), str(path)))


def detect_module(mod: Module) -> AllocatorRecord:
    """`detect_file` on a parsed module (a scan hands over the parse it already made)."""
    from auditor.wasm.demangle import demangle, strip_hash

    functions = [(f.name, strip_hash(demangle(f.name)) if f.name else None, f.body_size) for f in mod.functions]
    return detect(functions, None).to_json()
