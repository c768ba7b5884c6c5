"""Monomorphizations: copies of one generic function, and what they cost.

A function's generic is its demangled name with hashes and generic arguments removed,
so both Rust manglings meet on one key:

- v0 prints the arguments: `core::ptr::drop_in_place::<alloc::vec::Vec<u8>>` and
  `<alloc::vec::Vec<u32> as core::ops::drop::Drop>::drop`;
- legacy prints arguments of generic functions (`core::ptr::drop_in_place<alloc::vec::Vec<u8>>::h…`)
  but only the impl's parameters (`<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop::h…`);
  its hash is what tells copies apart.

Both become `core::ptr::drop_in_place` and `<alloc::vec::Vec as core::ops::drop::Drop>::drop`.
Legacy names impl blocks by module (`core::fmt::num::<impl core::fmt::Debug for i32>::fmt`),
v0 by type (`<i32 as core::fmt::Debug>::fmt`): the first is rewritten to the second.
The self type of a trait impl is kept: v0 cannot tell
`<&Foo as Debug>::fmt` of a blanket `impl<T> Debug for &T` from two hand-written impls,
so such copies stay apart (legacy prints `<&T as Debug>` and groups them) — the report
under-counts rather than inventing a generic.

twiggy groups Rust functions by legacy hash only (so nothing under v0) and estimates
savings as min(average x (copies - 1), total - largest); here savings are exactly
`bytes - largest`: what dynamic dispatch would save if one copy remained.

The scan is a single left-to-right pass with a bracket counter (no regex), linear in
the name's length whatever its nesting.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat

from auditor.wasm.crates import _CXX_TAIL  # a C++ name ends with its parameter list
from auditor.wasm.demangle import strip_hash
from auditor.wasm.model import Module
from auditor.wasm.reader import gc_paused

__all__ = ["function_item_sizes", "generic_of", "Generic", "module_monos", "monos", "MonosResult"]

_IDENT_TAIL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_]")


# LLVM appends `.N` to a local symbol it had to rename (`…17h…E.222`): for grouping
# copies no part of the function's identity, so it goes with the hash (twiggy groups such
# copies too). strip_hash keeps it: `diff` pairs items by name, and a static `X` and its
# `X.0` are two items of one module.
_RENAMED = re.compile(r"(::h[0-9a-f]{16})(?:\.[0-9]+)+(?=$|[.\s>),;\]])")


@functools.lru_cache(maxsize=65536)
def generic_of(demangled: str) -> str:
    """The generic function `demangled` instantiates (itself when nothing is generic)."""
    if "::h" in demangled and "." in demangled:
        demangled = _RENAMED.sub(r"\1", demangled)
    name = strip_hash(demangled)
    if "<" not in name:
        return name
    if _CXX_TAIL.search(name):
        return _cxx_generic(name)
    return _unwrap_inherent(_strip_args(_legacy_impl(name)))


# C++ operators whose names contain brackets, kept out of the bracket matching.
_CXX_OPERATORS = ("operator<=>", "operator<<=", "operator>>=", "operator<<", "operator>>",
                  "operator<=", "operator>=", "operator->*", "operator->", "operator<", "operator>")


def _cxx_generic(name: str) -> str:
    """`long long geometry::twice<long long>(long long)` -> `geometry::twice`. Only names
    with template arguments before their parameter list group; overloads such as
    `area(int, int)` / `area(double, double)` are different functions and stay apart."""
    depth = 0
    open_at = -1
    for i in range(len(name) - 1, -1, -1):  # the '(' matching the final ')'
        c = name[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                open_at = i
                break
    if open_at <= 0:
        return name
    base = name[:open_at]
    saved = []
    for k, op in enumerate(_CXX_OPERATORS):
        if op in base:
            base = base.replace(op + " <", f"op{k}__<").replace(op, f"op{k}__")
            saved.append(k)
    if "<" not in base:
        return name
    stripped = _strip_args(base)
    depth = 0
    cut = 0
    for i, c in enumerate(stripped):  # drop a return type: the last top-level space
        if c in "<(":
            depth += 1
        elif c in ">)":
            depth -= 1
        elif c == " " and depth == 0:
            cut = i + 1
    stripped = stripped[cut:]
    for k in saved:
        stripped = stripped.replace(f"op{k}__", _CXX_OPERATORS[k])
    return stripped


_ANGLE = re.compile(r"[<>]")
# what _strip_args acts on: a `->` (kept whole), `<`, `>`; the text between is copied or
# dropped in one slice
_STRIP_TOKEN = re.compile(r"->|[<>]")


def _matching(name: str, i: int) -> int:
    """Index of the `>` closing the `<` at i (`->` is not one), or -1."""
    depth = 0
    for m in _ANGLE.finditer(name, i):
        j = m.start()
        if name[j] == "<":
            depth += 1
        elif name[j - 1] != "-":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _legacy_impl(name: str) -> str:
    """Legacy names an impl block by its module: `core::fmt::num::<impl core::fmt::Debug
    for i32>::fmt`; v0 by its types: `<i32 as core::fmt::Debug>::fmt`. Rewrite the
    first to the second (`m::<impl X>::f` -> `X::f`) so both schemes give one key."""
    at = name.find("::<impl ")
    if at < 0 or "<" in name[:at]:
        return name
    end = _matching(name, at + 2)
    if end < 0:
        return name
    inner = name[at + 8:end]
    depth = 0
    for i, c in enumerate(inner):
        if c == "<":
            depth += 1
        elif c == ">" and inner[i - 1] != "-":
            depth -= 1
        elif depth == 0 and inner.startswith(" for ", i):
            return f"<{inner[i + 5:]} as {inner[:i]}>{name[end + 1:]}"
    return inner + name[end + 1:]


def _strip_args(name: str) -> str:
    """Drop generic arguments (`Vec<u8>` -> `Vec`, `f::<T>` -> `f`), keep the structure
    of qualified paths (`<T as Trait>`). Works on the `<`, `>` and `->` of the name (the
    text between them is copied or dropped in one slice)."""
    out: list[str] = []  # non-empty strings
    # Stack of open '<': True when its contents are dropped (generic arguments).
    stack: list[bool] = []
    dropping = 0  # dropped brackets open
    pos = 0
    for m in _STRIP_TOKEN.finditer(name):
        i = m.start()
        if not dropping and i > pos:
            out.append(name[pos:i])
        pos = m.end()
        tok = m.group()
        if tok == "->":  # in a fn type
            if not dropping:
                out.append("->")
        elif tok == "<":
            if dropping:
                stack.append(True)
                dropping += 1
            elif i >= 2 and name.startswith("::<", i - 2):
                # the turbofish's `::` goes too: the last two characters copied
                last = out[-1][:-2]
                if last:
                    out[-1] = last
                else:
                    out.pop()
                stack.append(True)
                dropping += 1
            elif out and out[-1][-1] in _IDENT_TAIL:
                stack.append(True)  # `Vec<u8>`: arguments of a type or function
                dropping += 1
            else:
                stack.append(False)  # `<T as Trait>`: structure, kept
                out.append("<")
        elif stack:  # ">"
            if stack.pop():
                dropping -= 1
            else:
                out.append(">")
        elif not dropping:  # an unmatched ">": text
            out.append(">")
    if not dropping and pos < len(name):
        out.append(name[pos:])
    return "".join(out)


def _unwrap_inherent(name: str) -> str:
    """`<alloc::vec::Vec>::push` (v0's inherent impl) -> `alloc::vec::Vec::push` (legacy's)."""
    if not name.startswith("<"):
        return name
    depth = 0
    for m in _ANGLE.finditer(name):
        i = m.start()
        if name[i] == "<":
            depth += 1
        elif not (i and name[i - 1] == "-"):
            depth -= 1
            if depth == 0:
                inner = name[1:i]
                if " as " in inner:
                    return name
                return inner + name[i + 1:] if name.startswith("::", i + 1) else name
    return name


@gc_paused()
def module_monos(mod: Module) -> list[Generic]:
    """`monos` of a parsed module's functions, without an item graph: each named
    function's label (ItemGraph.label: its symbol demangled) and generic, worked out in
    one call of the compiled demangler (generic_of here for the names it did not read),
    with its item size (`function_item_sizes`: the graph's)."""
    from auditor.wasm.demangle import compiled_generics, demangle_many

    raw = [mod.function_names.get(f.index) for f in mod.functions]
    labels = demangle_many(raw, generics=True)
    return monos(zip(labels, function_item_sizes(mod)), compiled_generics(raw))


def function_item_sizes(mod: Module) -> list[int]:
    """Each defined function's item size as the item graph has it (body with its size
    LEB, plus its entry in the function section), without building the graph: the
    entries are type-index LEBs, each ending at its first byte below 0x80."""
    sec = mod.section("function")
    if sec is None or not mod.functions:
        return [f.end - f.body_offset for f in mod.functions]
    data = mod.data
    pos, end = sec.payload_offset, sec.payload_offset + sec.payload_size
    while data[pos] & 0x80:  # the count
        pos += 1
    if end - (pos + 1) == len(mod.functions):  # every entry one byte (the usual: < 128 types)
        return [f.code_offset + f.body_size - f.body_offset + 1 for f in mod.functions]
    ends = [i for i in range(pos + 1, end) if data[i] < 0x80]  # (parse_module read them: they are LEBs)
    starts = [pos + 1, *(e + 1 for e in ends)]
    return [(f.end - f.body_offset) + (ends[i] + 1 - starts[i]) for i, f in enumerate(mod.functions)]


@dataclass
class Generic:
    """One generic function and its copies in the module."""

    name: str
    copies: int
    bytes: int
    savings: int  # bytes - largest copy
    instances: list[tuple[str, int]] = field(default_factory=list)  # (name, bytes), largest first

    def to_json(self, limit: int | None = None) -> dict:
        shown = self.instances if limit is None else self.instances[:limit]
        return {"name": self.name, "copies": self.copies, "bytes": self.bytes, "savings": self.savings,
                "instances": [{"name": n, "bytes": b} for n, b in shown]}


def monos(functions: Iterable[tuple[str | None, int]], generics: Iterable[str | None] | None = None) -> list[Generic]:
    """Group (demangled name, bytes) pairs by generic; only generics with two or more
    copies are returned, most savings first (then bytes, then name). `generics`: each
    name's generic_of where already known (None: worked out here)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for (name, size), known in zip(functions, generics if generics is not None else repeat(None)):
        if not name:
            continue
        key = known if known is not None else generic_of(name)
        group = groups.get(key)
        if group is None:
            groups[key] = [(name, size)]
        else:
            group.append((name, size))
    out = []
    for key, insts in groups.items():
        if len(insts) < 2:
            continue
        insts.sort(key=lambda x: (-x[1], x[0]))
        total = sum(s for _, s in insts)
        out.append(Generic(key, len(insts), total, total - insts[0][1], insts))
    out.sort(key=lambda g: (-g.savings, -g.bytes, g.name))
    return out


@dataclass
class MonosResult:
    """`auditor monos`'s result (`auditor.monos/1`). It lives here rather than with the
    other results (analysis.results) so that `monos` imports no item-graph module."""

    KIND = "monos"
    file: str
    generics: list[Generic] = field(default_factory=list)
    instances_shown: int = 10
    shown: int = 0  # generics listed (0: all)

    @property
    def bytes(self) -> int:
        return sum(x.bytes for x in self.generics)

    @property
    def savings(self) -> int:
        return sum(x.savings for x in self.generics)

    def to_json(self) -> dict:
        listed = self.generics if self.shown <= 0 else self.generics[:self.shown]
        rest = self.generics[len(listed):]
        return {"schema": "auditor.monos/1", "file": self.file, "bytes": self.bytes, "savings": self.savings,
                "generics": [x.to_json(self.instances_shown) for x in listed],
                "rest": {"generics": len(rest), "bytes": sum(x.bytes for x in rest),
                         "savings": sum(x.savings for x in rest)}}
