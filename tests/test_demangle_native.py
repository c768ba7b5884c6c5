"""auditor/wasm/native/demangle.c (the compiled Rust demangler) against the Python one.

The Python demangler (auditor/wasm/demangle.py) is the reference the C code transcribes:
on every name of @biomejs/wasm-nodejs, the rustc-demangle test vectors of
tests/test_demangle.py, mutated and adversarial symbols, and at every output limit, the
compiled answer (when it does not decline) must be the Python answer, byte for byte.
Independently, its output on biome's 35,823 names is compared with GNU c++filt's, and
the committed demangle.wasm must be what demangle.c rebuilds to.
"""

from __future__ import annotations

import re
import subprocess
import time
from functools import lru_cache
from pathlib import Path

import pytest
import test_demangle as vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.wasm import demangle as dm
from auditor.wasm.native import demangler as native

import refcache
from fixturelib import real_modules

REPO = Path(__file__).resolve().parent.parent
MAX = dm._MAX_OUTPUT


@pytest.fixture(autouse=True)
def _native_on(monkeypatch):
    monkeypatch.setenv("AUDITOR_NATIVE_DEMANGLER", "auto")
    assert native.available(), "wasmtime cannot run demangle.wasm here"


def answers(names: list[str], limit: int = MAX, crates: bool = False, generics: bool = False,
            crate_of: bool = False) -> list[tuple[int, str, int, str, int, str, int, str]]:
    """native.demangle_batch's answers, one tuple per name: (status, text) of the name, of
    its instantiating crate, of its generic, of its crate."""
    st, texts = native.demangle_batch(names, limit, crates, generics, crate_of)
    assert len(st) == len(texts) == 4 * len(names)
    return [(st[k], texts[k], st[k + 1], texts[k + 1], st[k + 2], texts[k + 2], st[k + 3], texts[k + 3])
            for k in range(0, len(st), 4)]


def python(sym: str, limit: int = MAX) -> tuple[str, bool]:
    """The reference: the Python demangler alone."""
    return dm._demangle(sym, limit)


def python_crate(sym: str) -> str | None:
    saved = dict(dm._PRIMED_CRATE)
    dm._PRIMED_CRATE.clear()
    try:
        return dm.v0_instantiating_crate(sym)
    finally:
        dm._PRIMED_CRATE.update(saved)


def readable(names):
    return [n for n in names if dm._compiled_can_read(n)]


def check(names: list[str], limit: int = MAX, crates: bool = True, cache: str | None = None) -> int:
    """Every answer the compiled demangler gives equals the Python one; returns how many
    it declined. `cache` names the Python demangler's answers in tests/refcache.py (for
    large fixed name lists: the reference's answers, never the compiled ones)."""
    names = readable(names)
    results = answers(names, limit, crates)
    assert len(results) == len(names)
    want = reference(names, limit, crates, cache) if cache else None
    declined = 0
    for k, (sym, (status, text, cstatus, ctext, *_)) in enumerate(zip(names, results)):
        share = min(dm._share(sym), MAX) if limit == 0 else limit
        if status == native.DECLINE:
            declined += 1
        else:
            assert dm._from_compiled(sym, status, text, share) == (want[k][0] if want else python(sym, share)), sym
        if crates and cstatus != native.DECLINE:
            assert (ctext if cstatus == native.OK and ctext else None) == (want[k][1] if want else python_crate(sym)), sym
    return declined


def reference(names: list[str], limit: int, crates: bool, cache: str) -> list[tuple[tuple[str, bool], str | None]]:
    """The Python demangler's answers for `check`, per name: (text, over) at the name's
    limit, and its instantiating crate (None when `crates` is false), from refcache (keyed by
    the names, the limit, these functions' source and auditor/wasm)."""

    def compute():
        return [(python(sym, min(dm._share(sym), MAX) if limit == 0 else limit), python_crate(sym) if crates else None)
                for sym in names]

    key = (refcache.digest("\0".join(names).encode()), limit, crates)
    return refcache.cached(f"python-demangler-{cache}", key, compute, code=[python, python_crate, reference],
                           tree=refcache.WASM_STAGE)


def test_result_codes_agree():
    assert (dm._C_NONE, dm._C_OK, dm._C_OVER, dm._C_DECLINE) == (native.NONE, native.OK, native.OVER,
                                                                  native.DECLINE)


# ------------------------------------------------------------------ test vectors

VECTORS = vectors.LEGACY + vectors.V0 + vectors.V0_CONSTS


@pytest.mark.parametrize("mangled, expected", VECTORS)
def test_vectors(mangled, expected):
    """rustc-demangle's expectations (tests/test_demangle.py), read by the compiled demangler."""
    [(status, text, *_)] = answers([mangled], MAX)
    if status != native.DECLINE:  # punycode and non-ASCII constants are the Python demangler's
        assert status == native.OK and text == expected
    assert dm.demangle_many([mangled]) == [expected]
    assert check([mangled]) == (status == native.DECLINE)


def test_vectors_declined_are_the_non_ascii_v0_ones():
    """Declined: exactly the v0 names that print non-ASCII (punycode identifiers, char and
    string constants); legacy `$u…$` escapes are read."""
    declined = [m for m, _ in VECTORS if answers([m], MAX)[0][0] == native.DECLINE]
    assert declined == [m for m, e in VECTORS if m.startswith("_R") and not e.isascii()]
    assert len(declined) >= 3


@pytest.mark.parametrize("name", vectors.UNCHANGED)
def test_unchanged(name):
    assert dm.demangle_many([name]) == [name]
    check([name])


# ------------------------------------------------------------------ real names


@lru_cache(maxsize=1)
def biome_names() -> list[str]:
    from auditor.wasm.parse import parse_module

    path = next(p for p in real_modules() if "biome" in p.name)
    data = path.read_bytes()
    # the name section as parse_module reads it, from tests/refcache.py (input, not subject)
    names = refcache.cached("biome-function-names", refcache.digest(data),
                            lambda: [n for n in parse_module(data, path.name).function_names.values() if n],
                            [biome_names], refcache.WASM_STAGE)
    assert len(names) > 35_000
    return names


def test_every_biome_name_as_the_python_demangler():
    """35,823 names (v0), with their instantiating crates: same answers, none declined."""
    names = biome_names()
    assert check(names, MAX, crates=True, cache="biome") == 0
    # demangle_all's first pass (each name's share): the same where a name printed less
    # than its share (the answer does not depend on the limit then); the rest (backrefs
    # printing up to 6.5x the name) against the Python demangler at that limit
    full = dict(zip(readable(names), answers(readable(names), MAX)))
    at_share = answers(readable(names), 0)
    over = [sym for sym, r in zip(readable(names), at_share) if r[:2] != full[sym][:2]]
    assert all(r[0] == native.OVER for r in answers(over, 0))
    assert 0 < len(over) < 100 and check(over, 0, crates=False) == 0


def test_biome_names_match_binutils_cxxfilt():
    """An independent demangler: GNU c++filt reads every biome name as we do, once its
    crate disambiguators, const types and LLVM `.N` clone suffixes are dropped. The names
    it reads and we do not are those with a suffix that is no LLVM suffix (` externref
    shim`, wasm-bindgen's): rustc-demangle leaves them mangled too."""
    names = biome_names()
    ours = dm.demangle_many(names)
    ref = subprocess.run(["c++filt", "-s", "rust"], input="\n".join(names) + "\n", capture_output=True,
                         text=True, check=True).stdout.split("\n")[: len(names)]
    const_type = re.compile(r"(?<=[0-9a-f'])\: (?:[iu](?:8|16|32|64|128|size)|bool|char)(?=[\]>,])")
    clone = re.compile(r"\.\d+$")
    differ = [n for n, o, r in zip(names, ours, ref)
              if clone.sub("", dm.strip_hash(o)) != const_type.sub("", dm.strip_hash(r))]
    assert all(" " in n and dm.demangle(n) == n for n in differ), differ[:3]
    assert len(differ) < 50


# ------------------------------------------------------------------ mutations and limits

SEEDS = [m for m, _ in VECTORS if dm._compiled_can_read(m)]


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=600, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2),
                                                  st.sampled_from("NCvtIMXYBKELGFRQTApjhueDWOSV_0123sz9.$")),
                                        max_size=4), st.sampled_from([0, 1, 8, 40, 200, MAX]))
def test_mutated_symbols(seed, edits, limit):
    """Inserted, replaced and deleted grammar characters: malformed and odd symbols read
    alike, at any output limit (0: each name's share)."""
    sym = seed
    for at, op, ch in edits:
        i = at % (len(sym) + 1)
        sym = sym[:i] + ch + sym[i:] if op == 0 else sym[:i] + ch + sym[i + 1:] if op == 1 else sym[:i] + sym[i + 1:]
    if sym.startswith(("_ZN", "_R")):
        check([sym], limit)


def nested_pairs(levels: int) -> str:
    """rustc-demangle's exponential backrefs (tests/test_demangle.py): the output doubles per level."""
    backrefs = "".join(f"B{vectors._base62(pos - 1)}_E" for pos in range(levels + 3, 3, -1))
    return "_RMC0" + "T" * levels + "p" + backrefs


@pytest.mark.parametrize("limit", [0, 10, 100, 1000, 65_536, MAX])
def test_backref_bombs_stop_where_the_python_demangler_stops(limit):
    names = [nested_pairs(k) for k in (1, 2, 3, 5, 8, 12, 16, 18)]  # 18 levels: past 1 M characters
    assert check(names, limit, crates=False, cache="backref-bombs") == 0
    over = [s for s, r in zip(names, answers(names, limit)) if r[0] == native.OVER]
    assert over and (limit >= MAX or len(over) < len(names))


@pytest.mark.parametrize("depth", [10, 30, 60, 98, 99, 100, 101, 150, 199, 200, 201, 5000])
def test_deep_nesting_is_declined_or_read_alike(depth):
    """demangle.c declines nesting deeper than its C_DEPTH (100); the Python demangler
    reads those (it stops at 200)."""
    names = ["_RIC0" + "R" * depth + "pE", "_RIC0" + "T" * depth + "p" + "E" * depth + "E",
             "_RIC0" + "INvC1a1f" * depth + "p" + "E" * depth + "E", "_RMC0WmO" + "O" * depth + "N" + "E" * (depth + 1),
             "_RIC0KA" + "A" * depth + "h1_" + "E" * (depth + 1) + "E"]
    declined = check(names)
    if depth <= 30:  # (a generic path nests 3 levels a step)
        assert declined == 0
    elif depth >= 110:
        assert declined == len(names)
    assert dm.demangle_many(names) == [python(n)[0] for n in names]


def lifetimes_bomb(types: int) -> str:
    """A tuple of fn pointers binding 1000 lifetimes each: ~7 KB of output per 8 bytes of
    input, without a backref (so no output limit applies: the output area does)."""
    return "_RIC0T" + "FGg6_Eu" * types + "EE"


def test_output_larger_than_its_area_is_read_by_python():
    big = lifetimes_bomb(300)  # ~2 MB of output from 2 KB
    assert len(python(big)[0]) > 2 * len(big) + (1 << 20)
    small = "_RNvCs1234_7mycrate4main"
    names = [small, big, small + "x", big + ".0"]
    results = answers(names, MAX)
    assert [r[0] for r in results] == [native.OK, native.DECLINE, native.NONE, native.DECLINE]
    assert dm.demangle_many(names) == [python(n)[0] for n in names]


# ------------------------------------------------------------------ bounds and fallback

@pytest.mark.parametrize("kind", ["v0-namespaces", "v0-nested-refs", "v0-tuples", "v0-generics", "v0-backref-chain",
                                  "v0-backref-self", "v0-long-ident", "v0-base62", "legacy-100KB",
                                  "legacy-dollars", "legacy-escapes", "legacy-dots", "legacy-many"])
def test_hostile_names_bounded(kind):
    """The 1 MB (and 100 KB) names of tests/test_text_adversarial.py, in the compiled
    demangler alone: linear time, and the Python answer when it answers."""
    from test_text_adversarial import HOSTILE

    name = HOSTILE[kind]
    start = time.process_time()
    [(status, text, cstatus, ctext, *_)] = answers([name, name], MAX, True, True, True)[:1]
    assert time.process_time() - start < 1.0
    if status != native.DECLINE:
        assert dm._from_compiled(name, status, text, MAX) == python(name)


def sample() -> list[str]:
    return [m for m, _ in VECTORS] + biome_names()[:500] + [nested_pairs(22), lifetimes_bomb(300), "memcpy",
                                                            "_Z7use_dotii", "_ZN8geometry4areaEii"]


def test_python_when_wasmtime_cannot_run(monkeypatch):
    """No wasmtime (or no demangle.wasm): every answer is the Python demangler's."""
    names = sample()
    want_all = dm.demangle_all(names, strip=True).names
    want = dm.demangle_many(names, crates=True)
    monkeypatch.setattr(native, "_compiled", lambda small=False: None)
    dm._PRIMED.clear()
    dm._PRIMED_CRATE.clear()
    dm.demangle.cache_clear()
    assert not native.available()
    assert dm.demangle_all(names, strip=True).names == want_all
    assert dm.demangle_many(names, crates=True) == want
    assert not dm._PRIMED


def test_python_when_wasmtime_fails(monkeypatch):
    names = sample()
    want = dm.demangle_all(names, strip=True).names

    def refuse(*_a, **_k):
        raise native.Failure("refused")

    monkeypatch.setattr(native, "demangle_batch", refuse)
    assert dm.demangle_all(names, strip=True).names == want


def test_switched_off(monkeypatch):
    monkeypatch.setenv("AUDITOR_NATIVE_DEMANGLER", "off")
    called = []
    monkeypatch.setattr(native, "demangle_batch", lambda *a, **k: called.append(a))
    assert dm.demangle_all(["_RNvCs1234_7mycrate4main"]).names == ["mycrate::main"]
    assert not called


# ------------------------------------------------------------------ generics (monos)

def compiled_generics(names: list[str]) -> list[str | None]:
    """demangle.c's generic_of of each name's demangled text (None: declined or not read)."""
    results = answers(names, MAX, generics=True)
    return [r[5] if r[0] == native.OK and r[4] == native.OK else None for r in results]


def test_generics_of_biome_names_as_generic_of():
    from auditor.wasm.analysis.monos import generic_of

    names = readable(biome_names())
    texts = [want[0][0] for want in reference(names, MAX, True, "biome")]  # python(n)[0], as `check` took it
    pairs = [(n, t) for n, t in zip(names, texts) if t != n]  # (14 names are no symbols)
    got = compiled_generics([n for n, _ in pairs])
    assert None not in got  # none declined
    assert got == [generic_of(t) for _, t in pairs]
    assert len(set(got)) < len(got) * 0.9  # generic arguments were dropped: copies meet


# pieces of legacy elements (no `$` or `.`, which legacy escapes) that generic_of reacts to
_PIECES = ["<", ">", "->", "::", ":", " ", " as ", " for ", "<impl ", "impl", "&", "(", ")", ",", "[", "]",
           "[1a]", "[0123456789abcdef0]", "h0123456789abcdef", "h01234567", "core", "Vec", "T", "u8", "_", "x",
           "-", "const", "mut", "dyn ", "fn(", ";", "0", "f"]


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=1500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), min_size=1, max_size=6))
def test_generics_of_any_text(elements):
    """Legacy symbols whose elements spell any text of these pieces (a legacy element is
    printed as written): the compiled generic_of is the Python one, or declines."""
    from auditor.wasm.analysis.monos import generic_of

    elements = [e for e in elements if e and not e[0].isdigit()] or ["x"]  # (lengths must stay apart)
    sym = "_ZN" + "".join(f"{len(e)}{e}" for e in elements) + "E"
    [got] = compiled_generics([sym])
    text = python(sym)[0]
    assert text == "::".join(elements)
    if got is not None:
        assert got == generic_of(text), text
    else:  # declined: a C++-looking tail
        assert ")" in text


_SUFFIXES = [".", "1", "22", "x", ".llvm.", "E", " "]


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_SUFFIXES), max_size=6).map("".join))
def test_generics_after_the_hash_as_generic_of(tail):
    """What follows a legacy symbol's `E` (LLVM's `.N` renaming suffixes and near misses):
    the compiled generic_of strips exactly what the Python one strips, or declines."""
    from auditor.wasm.analysis.monos import generic_of

    sym = "_ZN4core3ptr13drop_in_place17h0123456789abcdefE" + tail
    [got] = compiled_generics([sym])
    text = python(sym)[0]
    if got is not None:
        assert got == generic_of(text), text


def python_demangler_only(monkeypatch) -> None:
    """No compiled demangler from here on, and nothing it primed left in the caches."""
    from auditor.wasm.crates import crate_of

    monkeypatch.setattr(native, "_compiled", lambda small=False: None)
    for cache in (dm._PRIMED, dm._PRIMED_CRATE, dm._PRIMED_GENERIC, dm._PRIMED_CRATE_OF):
        cache.clear()
    dm.demangle.cache_clear()
    crate_of.cache_clear()


def test_monos_of_biome_as_with_the_python_demangler(monkeypatch):
    """`auditor monos`'s record: the same with and without the compiled demangler, and
    as the item graph's labels and sizes group it (`generic_groups`), with either. What
    the Python demangler alone makes is the reference (refcache: biome's bytes, this code,
    auditor/wasm); the compiled side runs every time."""
    from auditor.wasm.analysis.monos import MonosResult, module_monos
    from auditor.wasm.analysis.results import generic_groups
    from auditor.wasm.graph import item_graph
    from auditor.wasm.parse import parse_module

    path = next(p for p in real_modules() if "biome" in p.name)
    data = path.read_bytes()
    mod = parse_module(data, path.name)
    fast = MonosResult(mod.file, module_monos(mod), 10).to_json()
    assert len(fast["generics"]) > 500

    def slow():
        with monkeypatch.context() as m:
            python_demangler_only(m)
            mod = parse_module(data, path.name)
            return MonosResult(mod.file, module_monos(mod), 10).to_json(), generic_groups(item_graph(mod)).to_json()

    slow_monos, slow_groups = refcache.cached(
        "monos-python-demangler", refcache.digest(data), slow,
        code=[python_demangler_only, test_monos_of_biome_as_with_the_python_demangler], tree=refcache.WASM_STAGE)
    assert slow_monos == fast and slow_groups == fast
    assert generic_groups(item_graph(mod)).to_json() == fast


def test_crate_views_of_biome_as_with_the_python_demangler(monkeypatch):
    """`auditor crates`'s two views: the same with and without the compiled demangler
    (the views made with the Python demangler alone are the reference: refcache)."""
    from auditor.wasm.analysis.ownership import crate_views
    from auditor.wasm.parse import parse_module

    path = next(p for p in real_modules() if "biome" in p.name)
    data = path.read_bytes()
    fast = crate_views(parse_module(data, path.name))

    def slow():
        with monkeypatch.context() as m:
            python_demangler_only(m)
            views = crate_views(parse_module(data, path.name))
            return views.to_json(), views.of_function

    slow_json, slow_of_function = refcache.cached(
        "crate-views-python-demangler", refcache.digest(data), slow,
        code=[python_demangler_only, test_crate_views_of_biome_as_with_the_python_demangler], tree=refcache.WASM_STAGE)
    assert slow_json == fast.to_json() and slow_of_function == fast.of_function


def test_threads_share_the_instance_safely():
    """One wasmtime store, callers in several threads (ctypes releases the GIL during a
    call): each gets its own names' answers."""
    from concurrent.futures import ThreadPoolExecutor

    names = readable(biome_names())[:4000]
    want = answers(names, MAX, generics=True)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: answers(names[k::4], MAX, generics=True), range(4)))
    for k in range(4):
        assert got[k] == want[k::4]


def test_stack_use_is_small_at_the_depth_limit():
    """demangle.c's shadow stack (64 KB, below its static data: an overflow would not
    trap) stays small for the deepest names it reads (it declines deeper ones)."""
    import ctypes

    inst = native._instance()
    top = inst.heap  # the stack grows down from __heap_base
    inst.reserve(top + (4 << 20))
    size = 65536 - 64
    ctypes.memset(inst.base + top - size, 0xAA, size)
    names = []
    for depth in (99, 100):
        names += ["_RIC0" + "R" * depth + "pE", "_RIC0" + "T" * depth + "p" + "E" * depth + "E",
                  "_RIC0" + "INvC1a1f" * depth + "p" + "E" * depth + "E",
                  "_RMC0WmO" + "O" * depth + "N" + "E" * (depth + 1),
                  "_RIC0KA" + "A" * depth + "h1_" + "E" * (depth + 1) + "E",
                  "_RIC0" + "D" * 40 + "NvC1a1bEL_" * 40 + "E", "_RIC0" + "FG_" * 60 + "Eu" * 60 + "E"]
    names += [nested_pairs(k) for k in (10, 30, 60, 90)] + [lifetimes_bomb(3)]
    answers(names, MAX, True, True, True)
    mem = ctypes.string_at(inst.base + top - size, size)
    used = size - next(i for i in range(size) if mem[i] != 0xAA)
    assert 0 < used < 16 << 10, used


def test_small_reservation_when_the_big_one_cannot_be_made(monkeypatch):
    """Under an address-space cap the 4 GiB reservation fails: the small (bounds-checked)
    instance is made instead, with the same answers."""
    names = readable(biome_names())[:2000]
    want = answers(names, MAX, True, True, True)
    real = native._Instance

    def no_big(small):
        if not small:
            raise RuntimeError("cannot reserve 4 GiB")
        return real(small)

    monkeypatch.setattr(native, "_Instance", no_big)
    monkeypatch.setattr(native, "_INSTANCE", None)
    assert answers(names, MAX, True, True, True) == want
    assert native._compiled(True) is not None
    monkeypatch.setattr(native, "_INSTANCE", None)  # (the big one again for the next tests)
