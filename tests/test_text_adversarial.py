"""Every text analysis of module content stays linear on hostile input (issue 16).

A module is data its author controls: a CI job that runs `auditor inspect` on a pull
request's module must not be stalled by it. The source-path regex `inspect` used took
73 s on a valid 64 KB module whose data is `ab/` repeated (wasm-objdump: 0.03 s). Here
1 MB runs of the shapes that make a backtracking regex or a recursive parser blow up
(`/` runs, `ab/` repeated, `::` runs, `<<<<` nested generics, 100 KB names, v0 backref
chains) go through each text analysis: the source-path scanner, the Rust demangler
(legacy and v0), the crate attribution, the data-string classifier, and `inspect`
end to end.

This is the one test module that asserts time, on purpose and generously: it guards
against superlinear paths, where 1 MB costs minutes, not against a slow machine. Each
bound is 2 s of CPU time (process time, so other jobs on the machine do not count)
for work that takes milliseconds to a few hundred when linear. What each result must
be is checked too, against hand-computed values, so a fast wrong answer fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from auditor.wasm.crates import NO_MANGLE, crate_of
from auditor.wasm.demangle import demangle, demangle_all

MB = 1_000_000
BOUND = 2.0  # CPU seconds per analysis and input; linear work is far below it


def timed(fn: Callable, *args):
    start = time.process_time()
    out = fn(*args)
    spent = time.process_time() - start
    return out, spent


def runs() -> dict[str, bytes]:
    """1 MB of each hostile shape (bytes; names take them as ASCII text)."""
    shapes = {
        "slashes": b"/",
        "ab/": b"ab/",
        "colons": b"::",
        "generics": b"<",
        "src/": b"src/",
        "dot-rs": b"a.rs/",
        "tilde": b"~/",
        "dollars": b"$",
        "llvm": b".llvm.",
        "parens": b")",
        "const-tail": b") const",
    }
    out = {k: v * (MB // len(v)) for k, v in shapes.items()}
    out["nested"] = b"<" * (MB // 2) + b">" * (MB // 2)
    out["as-chain"] = b"<a as " * (MB // 12) + b"b>" * (MB // 12)
    return out


RUNS = runs()


# ------------------------------------------------------------------ source paths

@pytest.mark.parametrize("shape", sorted(RUNS))
def test_source_paths_linear(shape):
    from auditor.wasm.source_paths import find_source_paths

    data = RUNS[shape]
    found, spent = timed(find_source_paths, data)
    assert spent < BOUND, f"{shape}: {spent:.2f} s"
    if shape == "dot-rs":  # one maximal path run `a.rs/a.rs/...`: no `src/`, no match
        assert found == []
    if shape == "src/":  # `src/src/.../src/`: no `.rs` tail, no match
        assert found == []


# ---------------------------------------------------------------- demangler

def _base62(n: int) -> str:
    if n == 0:
        return "_"
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    n -= 1
    s = ""
    while True:
        s = digits[n % 62] + s
        n //= 62
        if not n:
            return s + "_"


def backref_bomb(levels: int, crate: str = "a") -> str:
    """`crate::f::<T0, T1, ...>` with T0 = ((), ()) and each next Tk = (Tk-1, Tk-1) written
    as two backrefs to Tk-1: the name grows by 8 bytes a level, its output doubles."""
    inner = f"INvC{len(crate)}{crate}1f"
    prev = len(inner)
    inner += "TuuE"
    for _ in range(levels):
        cur = len(inner)
        inner += f"TB{_base62(prev)}B{_base62(prev)}E"
        prev = cur
    return "_R" + inner + "E"


def test_backref_bomb_small_is_demangled_exactly():
    """Two levels, written out by hand: the bomb is a valid symbol, not malformed input."""
    t0 = "((), ())"
    t1 = f"({t0}, {t0})"
    t2 = f"({t1}, {t1})"
    assert demangle(backref_bomb(2)) == f"a::f::<{t0}, {t1}, {t2}>"


def test_backref_bomb_one_name_is_bounded():
    """40 levels would print 2**41 characters: the per-name limit (1 M, rustc-demangle's)
    stops it and the name stays mangled."""
    bomb = backref_bomb(40)
    out, spent = timed(demangle, bomb)
    assert out == bomb
    assert spent < BOUND


def test_backref_bombs_share_one_module_budget():
    """300 bomb names of ~400 bytes each: each alone may print 1 M characters (~0.3 s),
    so without a module budget this is ~90 s; with it, linear in the names' size. The
    names the budget did not reach stay mangled and are counted; real names demangle."""
    bombs = [backref_bomb(40, f"c{i}") for i in range(300)]
    names = ["_ZN4core3fmt5write17h0123456789abcdefE", *bombs, "_RNvCs1234_7mycrate4main", None, "memcpy"]
    result, spent = timed(lambda: demangle_all(names, strip=True))
    assert spent < BOUND, f"{spent:.2f} s"
    assert result.names[0] == "core::fmt::write"
    assert result.names[-3:] == ["mycrate::main", None, "memcpy"]
    assert result.names[1:-3] == bombs  # none fits: each stays mangled
    assert result.skipped > 250  # the budget, not the per-name limit, stopped most
    assert result.warning() and "left mangled" in result.warning()


@pytest.mark.parametrize("native", ["off", "auto"])
def test_demangle_all_demangles_each_distinct_name_once(monkeypatch, native):
    """Python demangler (`off`) or the compiled one (one batch of the distinct names)."""
    from auditor.wasm import demangle as dm
    from auditor.wasm.native import demangler

    monkeypatch.setenv("AUDITOR_NATIVE_DEMANGLER", native)
    if native == "auto":
        assert demangler.available()
    seen: list[str] = []
    real, real_compiled = dm._demangle, dm._compiled

    def spy(sym, limit):
        seen.append(sym)
        return real(sym, limit)

    def spy_compiled(syms, *args):
        result = real_compiled(syms, *args)
        if result is not None:  # read by the compiled demangler (else by _demangle)
            seen.extend(syms)
        return result

    monkeypatch.setattr(dm, "_demangle", spy)
    monkeypatch.setattr(dm, "_compiled", spy_compiled)
    names = ["_RNvCs1234_7mycrate4main", None, "_RNvCs1234_7mycrate4main", "_ZN3foo3barE", "_ZN3foo3barE"]
    result = dm.demangle_all(names)
    assert result.names == ["mycrate::main", None, "mycrate::main", "foo::bar", "foo::bar"]
    assert sorted(seen) == ["_RNvCs1234_7mycrate4main", "_ZN3foo3barE"]
    assert result.skipped == 0 and result.warning() is None


def hostile_names() -> dict[str, str]:
    """1 MB (or 100 KB) names of each shape, as v0, legacy and plain strings."""
    text = {k: v.decode() for k, v in RUNS.items()}
    n = MB
    return {
        "v0-namespaces": "_R" + "N" * n,
        "v0-nested-refs": "_RIC0" + "R" * n + "pE",
        "v0-tuples": "_RIC0" + "T" * n + "E",
        "v0-generics": "_R" + "I" * n,
        "v0-backref-chain": "_RIC0p" + "".join(f"B{_base62(i + 3)}" for i in range(n // 8)) + "E",
        "v0-backref-self": "_R" + "B_" * (n // 2),
        "v0-long-ident": f"_RNvC{n}_" + "a" * n + "1f",
        "v0-base62": "_RNvCs" + "z" * n + "_1a1f",
        "legacy-100KB": f"_ZN{100_000}" + "a" * 100_000 + "E",
        "legacy-dollars": f"_ZN{n}" + "$" * n + "E",
        "legacy-escapes": f"_ZN{n}" + ("$LT$" * (n // 4)) + "E",
        "legacy-dots": f"_ZN{n}" + "." * n + "E",
        "legacy-many": "_ZN" + "1a" * (n // 2) + "E",
        "legacy-llvm": "_ZN1aE" + text["llvm"],
        "cxx-generics": "_Z" + "I" * n,
        **{f"plain-{k}": v for k, v in text.items()},
    }


HOSTILE = hostile_names()


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_demangler_linear(kind):
    name = HOSTILE[kind]
    result, spent = timed(lambda: demangle_all([name, name], strip=True))
    assert spent < BOUND, f"{kind}: {spent:.2f} s"
    out = result.names[0]
    assert isinstance(out, str)
    if kind == "legacy-100KB":
        assert out == "a" * 100_000
    elif kind == "legacy-many":
        assert out == "::".join(["a"] * (MB // 2))
    elif kind.startswith(("v0-", "cxx-", "plain-")) and kind not in ("v0-long-ident", "v0-backref-chain"):
        assert out == name  # malformed or plain: unchanged


# ------------------------------------------------------------------ crate attribution

@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_crate_attribution_linear(kind):
    name = HOSTILE[kind]
    out, spent = timed(crate_of.__wrapped__, name)  # not the lru_cache: time the work
    assert spent < BOUND, f"{kind}: {spent:.2f} s"
    assert isinstance(out, str)


@pytest.mark.parametrize("name, crate", [
    ("<" * (MB // 2) + ">" * (MB // 2), "core"),  # `<T>::f` of a type with no crate: an inherent impl
    ("<a as " * (MB // 12) + "b>" * (MB // 12) + "::f", None),
    ("a::" * (MB // 3) + "f", "a"),
    ("::" * (MB // 2), NO_MANGLE),
    ("<" + "x::" * (MB // 3) + "T as core::fmt::Debug>::fmt", "x"),
])
def test_crate_attribution_of_deep_names(name, crate):
    """Deeply nested qualified paths: an answer (never a RecursionError), in linear time."""
    out, spent = timed(crate_of.__wrapped__, name)
    assert spent < BOUND
    if crate is not None:
        assert out == crate


# ------------------------------------------------------------------ data strings and inspect

def data_module(payload: bytes) -> bytes:
    """A valid module: one memory, one active data segment holding `payload` at 1024."""
    def leb(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def section(sid: int, body: bytes) -> bytes:
        return bytes([sid]) + leb(len(body)) + body

    pages = (1024 + len(payload)) // 65536 + 1
    memory = section(5, b"\x01\x00" + leb(pages))
    segment = b"\x00\x41\x80\x08\x0b" + leb(len(payload)) + payload  # active, memory 0, i32.const 1024
    data = section(11, b"\x01" + segment)
    return b"\0asm\x01\x00\x00\x00" + memory + data


def test_data_module_encoding():
    from auditor.wasm.parse import parse_module

    mod = parse_module(data_module(b"src/lib.rs"), "t.wasm")
    assert [(d.offset, d.size) for d in mod.data_segments] == [(1024, 10)]


@pytest.mark.parametrize("shape", sorted(RUNS))
def test_data_strings_linear(shape):
    from auditor.wasm.analysis.data import data_attribution
    from auditor.wasm.parse import parse_module

    mod = parse_module(data_module(RUNS[shape]), "t.wasm")
    out, spent = timed(data_attribution, mod, {})
    assert spent < BOUND, f"{shape}: {spent:.2f} s"
    assert out.bytes == sum(out.categories.values()) == len(RUNS[shape])  # every byte classified once


@pytest.mark.parametrize("shape", ["ab/", "slashes", "tilde", "dot-rs", "src/"])
def test_inspect_linear(shape):
    """`inspect` end to end (every analysis it runs, the rules, JSON) on a 1 MB hostile
    data segment."""
    from auditor.report import render
    from auditor.rules.audit import audit
    from auditor.wasm.inspect import inspect_bytes

    data = data_module(RUNS[shape])
    out, spent = timed(lambda: render(audit(inspect_bytes(data, "t.wasm", compression="none")), "json"))
    assert spent < BOUND, f"{shape}: {spent:.2f} s"
    assert '"source_paths": []' in out


# ------------------------------------------------------------------ regexes in rules/*.toml

def _rule_patterns() -> list[str]:
    """Every regex the rules data applies to module content: allocator detection
    patterns (function names) and `matches` conditions (demangled names)."""
    from auditor.data import load_rules_file

    out = []
    for spec in load_rules_file("allocators.toml").get("allocator", {}).values():
        out += spec.get("patterns", []) + spec.get("requires-any", [])

    def walk(node):
        if isinstance(node, dict):
            if node.get("op") in ("matches", "not-matches") and isinstance(node.get("value"), str):
                out.append(node["value"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(load_rules_file("module.toml"))
    return sorted(set(out))


def _nested_unbounded_repeat(pattern: str) -> bool:
    """Whether an unbounded repeat holds another unbounded repeat (`(a+)*`, `(.*x)+`):
    the shape that backtracks exponentially. Possessive repeats and atomic groups do not
    backtrack, so they do not count."""
    import re._constants as c  # type: ignore[import-not-found]
    import re._parser as p  # type: ignore[import-not-found]

    repeats = (c.MAX_REPEAT, c.MIN_REPEAT)

    def has_repeat(items) -> bool:
        for op, av in items:
            if op in repeats and av[1] == c.MAXREPEAT:
                return True
            for sub in _children(op, av):
                if has_repeat(sub):
                    return True
        return False

    def nested(items) -> bool:
        for op, av in items:
            if op in repeats and av[1] == c.MAXREPEAT and has_repeat(av[2]):
                return True
            for sub in _children(op, av):
                if nested(sub):
                    return True
        return False

    def _children(op, av):
        if op in repeats or op == c.POSSESSIVE_REPEAT:
            return [] if op == c.POSSESSIVE_REPEAT else [av[2]]
        if op == c.SUBPATTERN:
            return [av[3]]
        if op == c.BRANCH:
            return list(av[1])
        if op in (c.ASSERT, c.ASSERT_NOT):
            return [av[1]]
        return []

    return nested(p.parse(pattern))


def test_nested_repeat_detector():
    """The detector itself: it must be able to fail."""
    assert _nested_unbounded_repeat(r"(a+)*b")
    assert _nested_unbounded_repeat(r"^x(?:.*y)+$")
    assert not _nested_unbounded_repeat(r"(?:a++)*b")  # possessive inner: no backtracking
    assert not _nested_unbounded_repeat(r"^<?dlmalloc::Dlmalloc(<.*>)?::")


def test_rule_patterns_have_no_nested_quantifiers():
    patterns = _rule_patterns()
    assert len(patterns) > 10  # the allocator table and the module rules were read
    assert [p for p in patterns if _nested_unbounded_repeat(p)] == []


@pytest.mark.parametrize("kind", ["plain-nested", "plain-generics", "plain-colons", "plain-as-chain", "legacy-100KB",
                                  "plain-parens"])
def test_rule_patterns_linear(kind):
    """Each rules-data regex searched in a 1 MB (or 100 KB) hostile name."""
    import re

    name = HOSTILE[kind]
    for pattern in _rule_patterns():
        rx = re.compile(pattern)
        _, spent = timed(rx.search, name)
        assert spent < BOUND, f"{pattern!r} on {kind}: {spent:.2f} s"
