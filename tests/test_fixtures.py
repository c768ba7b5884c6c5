"""The fixtures themselves: every one builds, is what it claims to be, and the
hand-computed facts in the .wat headers agree with wabt (an independent reader)."""

from __future__ import annotations

import random
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import wasmtime

import fixturelib
import toolcache
from objdump import code_sizes, sections

# cdylib fixture -> (build arguments, {export: wasm-objdump signature})
RUST_FIXTURES = {
    "minimal": ({}, {"add": "(i32, i32) -> i32"}),
    "heavy": ({}, {"render": "(i32) -> i32", "checked_ratio": "(i32, i32) -> i32",
                   "lookup": "(i32) -> i32"}),
    "guarded": ({}, {"safe_allocation": "(i32) -> i32", "try_reserve_bytes": "(i32) -> i32"}),
    "unguarded": ({}, {"unsafe_allocation": "(i32) -> i32", "reserve_bytes": "(i32) -> i32"}),
    "pinned": ({}, {"sum_squares": "(i32) -> i32"}),
    "bindgen_like": ({}, {"__wbindgen_malloc": "(i32, i32) -> i32",
                          "__wbindgen_realloc": "(i32, i32, i32, i32) -> i32",
                          "__wbindgen_free": "(i32, i32, i32) -> nil",
                          "greet": "(i32) -> i32"}),
    "workspace:ws_app": ({"package": "ws_app"}, {"app_checksum": "(i32, i32) -> i32"}),
    "workspace:ws_tool": ({"package": "ws_tool"}, {"tool_digits": "(i32) -> i32"}),
    "wasi_hello": ({"target": fixturelib.WASI}, {"_start": "() -> nil"}),
}
PROBE_EXPORTS = {"__auditor_alloc", "__auditor_dealloc", "__auditor_realloc", "__auditor_try_reserve"}
ALLOCATORS = ("default", *fixturelib.ALLOCATOR_FEATURES)
PAGE = 65536


def objdump(*args: str | Path) -> str:
    """wasm-objdump ARGS... PATH (the path last), cached by the file's content (tests/toolcache.py)."""
    return toolcache.run_checked("wasm-objdump", [str(a) for a in args[:-1]], args[-1])


def build(key: str) -> Path:
    kwargs, _ = RUST_FIXTURES[key]
    return fixturelib.build_crate(key.split(":")[0], **kwargs)


def details(path: Path) -> dict[str, str]:
    """`wasm-objdump -x` split per section ("Type", "Export", ...); absent ones are ""."""
    out: dict[str, str] = {}
    kind = ""
    for line in objdump("-x", path).splitlines():
        m = re.match(r"^(\w+)(\[\d+\])?:$", line)
        if m:
            kind = m.group(1)
        out[kind] = out.get(kind, "") + line + "\n"
    return {k: out.get(k, "") for k in ("Type", "Import", "Function", "Export")} | out


def exported_signatures(path: Path) -> dict[str, str]:
    """export name -> signature as wasm-objdump prints it ("(i32) -> i32")."""
    section = details(path)
    types = dict(re.findall(r"^ - type\[(\d+)\] (.*)$", section["Type"], re.M))
    sig_of = dict(re.findall(r"^ - func\[(\d+)\] sig=(\d+)", section["Import"] + section["Function"], re.M))
    return {name: types[sig_of[idx]]
            for idx, name in re.findall(r'^ - func\[(\d+)\] .*-> "([^"]+)"$', section["Export"], re.M)}


def function_names(path: Path) -> list[str]:
    return re.findall(r"^ - func\[\d+\] <(.*)>$", objdump("-x", "-j", "name", path), re.M)


def instance(path: Path, cap_bytes: int | None = None):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    if cap_bytes:
        store.set_limits(memory_size=cap_bytes)
    inst = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(path)), [])
    return store, inst.exports(store)


# ------------------------------------------------------------------ Rust crates

@pytest.mark.cargo
@pytest.mark.parametrize("key", sorted(RUST_FIXTURES))
def test_rust_fixture_builds_valid_module_with_its_exports(key):
    path = build(key)
    assert subprocess.run(["wasm-objdump", "-h", str(path)], capture_output=True).returncode == 0
    assert subprocess.run(["wasm-validate", str(path)], capture_output=True).returncode == 0
    signatures = exported_signatures(path)
    for name, sig in RUST_FIXTURES[key][1].items():
        assert signatures.get(name) == sig, (name, signatures)


@pytest.mark.cargo
@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_probe_crate_builds_with_each_allocator(allocator, toolchain):
    path = fixturelib.build_with_allocator(allocator, toolchain=toolchain)
    assert subprocess.run(["wasm-validate", str(path)], capture_output=True).returncode == 0
    assert PROBE_EXPORTS <= set(exported_signatures(path))


@pytest.mark.cargo
@pytest.mark.parametrize("allocator, functions", [
    ("bump", ("bump_alloc", "bump_grow")),
    ("freelist", ("freelist_alloc", "freelist_free", "freelist_grow")),
    ("arena", ("arena_alloc", "arena_free")),
])
@pytest.mark.parametrize("lto", [False, True], ids=["release", "lto"])
def test_fixture_allocator_is_linked_and_named(allocator, functions, lto):
    config = ["profile.release.lto=true"] if lto else []
    names = function_names(fixturelib.build_with_allocator(allocator, config=config))
    crate = f"auditor_fixture_{allocator}"
    for fn in functions:  # legacy mangling: _ZN<len>auditor_fixture_X<len>fn17h<hash>E
        assert any(re.fullmatch(rf"_ZN{len(crate)}{crate}{len(fn)}{fn}17h[0-9a-f]{{16}}E", n)
                   for n in names), (fn, [n for n in names if crate in n])
    others = {f"auditor_fixture_{a}" for a in fixturelib.ALLOCATOR_FEATURES} - {crate}
    assert not any(o in n for n in names for o in others)
    assert not any("dlmalloc" in n for n in names)  # std's allocator is not linked


@pytest.mark.cargo
def test_default_probe_links_std_dlmalloc_only():
    names = function_names(fixturelib.build_with_allocator("default"))
    assert any("dlmalloc" in n for n in names)
    assert not any("auditor_fixture_" in n for n in names)


@pytest.mark.cargo
def test_pinned_crate_links_its_own_freelist_allocator():
    names = function_names(build("pinned"))
    assert any("auditor_fixture_freelist" in n and "freelist_alloc" in n for n in names)
    assert not any("dlmalloc" in n for n in names)
    source = (fixturelib.CRATES / "pinned" / "src" / "lib.rs").read_text().splitlines()
    assert source.index("#[global_allocator]") + 1 == 8  # the line its docs promise


@pytest.mark.cargo
def test_arena_allocator_never_grows_memory():
    disassembly = objdump("-d", fixturelib.build_with_allocator("arena"))
    assert "memory.grow" not in disassembly


@pytest.mark.cargo
def test_workspace_members_use_their_path_dependencies():
    assert any("ws_common" in n and "mix" in n for n in function_names(build("workspace:ws_app")))
    # shared_util lives outside the workspace root: it built from the copied tree.
    assert any("shared_util" in n and "decimal_digits" in n
               for n in function_names(build("workspace:ws_tool")))
    # A member directory builds its own package too.
    member = fixturelib.build_crate(fixturelib.CRATES / "workspace" / "members" / "app")
    assert member.read_bytes() == build("workspace:ws_app").read_bytes()


@pytest.mark.cargo
def test_workspace_root_without_package_is_refused():
    with pytest.raises(fixturelib.FixtureError, match=r"2 \.wasm artifacts.*package="):
        fixturelib.build_crate(fixturelib.CRATES / "workspace")


@pytest.mark.cargo
def test_crate_without_cdylib_yields_no_module():
    with pytest.raises(fixturelib.FixtureError, match=r'0 \.wasm artifacts.*crate-type = \["cdylib"\]'):
        fixturelib.build_crate("nocdylib")


@pytest.mark.cargo
def test_failed_build_reports_command_and_compiler_error(tmp_path):
    crate = tmp_path / "broken"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "broken"\nversion = "0.1.0"\n'
                                      'edition = "2021"\n[lib]\ncrate-type = ["cdylib"]\n'
                                      '[workspace]\n')
    (crate / "src" / "lib.rs").write_text("pub fn f() -> i32 { \"not an int\" }\n")
    with pytest.raises(fixturelib.FixtureError) as err:
        fixturelib.build_crate(crate)
    assert "cargo build" in str(err.value) and "mismatched types" in str(err.value)
    assert not (crate / "target").exists() and not (crate / "Cargo.lock").exists()


@pytest.mark.cargo
def test_builds_never_write_into_the_repository():
    def snapshot() -> dict[str, tuple[int, int]]:
        return {str(p): (p.stat().st_size, p.stat().st_mtime_ns)
                for p in fixturelib.FIXTURES.rglob("*")}

    before = snapshot()
    # A fresh key (unused env var) forces a real cargo run.
    fixturelib.build_crate("minimal", env={"AUDITOR_FIXTURE_TEST_NONCE": str(random.random())})
    fixturelib.build_crate("workspace", package="ws_tool", env={"AUDITOR_FIXTURE_TEST_NONCE": "x"})
    assert snapshot() == before
    assert not list(fixturelib.FIXTURES.rglob("target"))


@pytest.mark.cargo
def test_build_is_memoised_and_output_read_only():
    first = fixturelib.build_crate("minimal")
    assert fixturelib.build_crate(fixturelib.CRATES / "minimal") == first
    assert not first.stat().st_mode & 0o222


@pytest.mark.cargo
def test_rebuild_in_another_target_dir_is_byte_identical():
    again = fixturelib.build_crate("heavy", env={"AUDITOR_FIXTURE_TEST_NONCE": "repro"})
    assert again != build("heavy") and again.read_bytes() == build("heavy").read_bytes()


@pytest.mark.cargo
def test_v0_mangling_option():
    # rustc 1.63 accepts -C symbol-mangling-version=v0 on stable; the prebuilt std keeps
    # legacy names, so a v0 build mixes both schemes.
    v0 = function_names(fixturelib.build_crate("pinned", mangling="v0"))
    legacy = function_names(build("pinned"))
    assert any(n.startswith("_R") and "24auditor_fixture_freelist14freelist_alloc" in n for n in v0)
    assert any(n.startswith("_ZN") for n in v0)
    assert not any(n.startswith("_R") for n in legacy)
    with pytest.raises(ValueError):
        fixturelib.build_crate("pinned", mangling="v1")


@pytest.mark.cargo
def test_heavy_carries_panic_locations_in_data():
    path = build("heavy")
    ((start, size),) = [(start, size) for kind, start, size in sections(path) if kind == "Data"]
    assert b"src/lib.rs" in path.read_bytes()[start:start + size]


# ------------------------------------------------------------------ behaviour (wasmtime)

def churn(path: Path, rounds: int, sizes: tuple[int, ...], live: int, cap_pages: int = 256):
    """Pages after every 100 rounds of alloc/free with a bounded live set; contents of
    every live block are checked before it is freed, so allocator bugs show up."""
    store, ex = instance(path, cap_pages * PAGE)
    mem, alloc, dealloc = ex["memory"], ex["__auditor_alloc"], ex["__auditor_dealloc"]
    rng = random.Random(7)
    blocks: list[tuple[int, int, bytes]] = []
    pages = []
    for r in range(rounds):
        size = rng.choice(sizes)
        ptr = alloc(store, size, 8)
        assert ptr % 8 == 0
        fill = bytes([r % 251]) * size
        mem.write(store, fill, ptr)
        blocks.append((ptr, size, fill))
        if len(blocks) > live:
            ptr, size, fill = blocks.pop(rng.randrange(len(blocks)))
            assert mem.read(store, ptr, ptr + size) == fill
            dealloc(store, ptr, size, 8)
        if r % 100 == 99:
            pages.append(mem.size(store))
    for ptr, size, fill in blocks:
        assert mem.read(store, ptr, ptr + size) == fill
    return pages


@pytest.mark.cargo
@pytest.mark.parametrize("allocator", ["default", "freelist"])
def test_reusing_allocators_plateau_under_churn(allocator):
    pages = churn(fixturelib.build_with_allocator(allocator), 3000, (24, 100, 1000, 5000), 40)
    assert pages[len(pages) // 3] == pages[-1]


@pytest.mark.cargo
def test_bump_allocator_grows_without_bound_under_churn():
    pages = churn(fixturelib.build_with_allocator("bump"), 3000, (24, 100, 1000, 5000), 40)
    assert pages[-1] - pages[len(pages) // 3] > 20  # ~2 MB freed but never reused


@pytest.mark.cargo
def test_arena_allocator_reuses_cells_then_fails_at_capacity():
    path = fixturelib.build_with_allocator("arena")
    pages = churn(path, 2000, (24, 100, 1000), 40)  # fits the 256 KiB arena
    store, ex = instance(path)
    start = ex["memory"].size(store)
    assert set(pages) == {start}
    count = 0
    with pytest.raises(wasmtime.Trap) as trap:  # infallible probe alloc aborts on null
        while count < 1000:
            ex["__auditor_alloc"](store, 4096, 8)
            count += 1
    assert trap.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    assert 56 <= count <= 64  # 256 KiB / 4 KiB, minus the cells std took already
    assert ex["memory"].size(store) == start


@pytest.mark.cargo
def test_oom_guards_of_guarded_and_unguarded():
    cap = 4 * 1024 * 1024
    store, ex = instance(build("guarded"), cap)
    assert ex["safe_allocation"](store, 1000) == 1
    before = ex["memory"].size(store)
    assert ex["safe_allocation"](store, 200_000_000) == 0  # above the 100 MB limit
    assert ex["try_reserve_bytes"](store, 200_000_000) == 0  # Err, no trap
    assert ex["try_reserve_bytes"](store, 50_000_000) == 0  # under the limit, over the cap
    assert ex["memory"].size(store) == before
    store, ex = instance(build("unguarded"), cap)
    assert ex["unsafe_allocation"](store, 1000) == 1
    for export in ("unsafe_allocation", "reserve_bytes"):
        with pytest.raises(wasmtime.Trap) as trap:
            ex[export](store, 200_000_000)
        assert trap.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    assert ex["unsafe_allocation"](store, 1000) == 1  # the instance still works


@pytest.mark.cargo
def test_wasi_hello_prints_known_lines():
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    with tempfile.TemporaryDirectory() as tmp:
        config = wasmtime.WasiConfig()
        config.stdout_file = f"{tmp}/out"
        config.stderr_file = f"{tmp}/err"
        store.set_wasi(config)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module.from_file(engine, str(build("wasi_hello")))
        linker.instantiate(store, module).exports(store)["_start"](store)
        assert Path(f"{tmp}/out").read_text() == "hello from wasi_hello\nargs=0 vars=0\n"
        assert Path(f"{tmp}/err").read_text() == "wasi_hello: this line goes to stderr\n"
    del store


def test_runaway_bomb_stops_at_the_cap():
    store, ex = instance(fixturelib.wat("runaway"), 8 * PAGE)
    assert ex["bomb"](store) == 7 and ex["memory"].size(store) == 8


# ------------------------------------------------------------------ .wat

def test_every_wat_declares_flags_and_facts():
    for name in fixturelib.wat_names():
        text = fixturelib.wat_path(name).read_text()
        assert re.search(r"^;; wat2wasm:", text, re.M), name
        assert {"bytes", "sections", "functions"} <= set(fixturelib.wat_facts(name)), name


def test_wat_flags_are_read_from_the_header():
    assert fixturelib.wat_flags("multi_memory") == ["--enable-multi-memory"]
    assert fixturelib.wat_flags("names") == ["--debug-names"]
    assert fixturelib.wat_flags("segments") == []
    # The flag matters: without it wat2wasm refuses the module.
    plain = subprocess.run(["wat2wasm", str(fixturelib.wat_path("multi_memory")), "-o", "/dev/null"],
                           capture_output=True)
    assert plain.returncode != 0


@pytest.mark.parametrize("name", fixturelib.wat_names())
def test_wat_facts_agree_with_objdump(name):
    path = fixturelib.wat(name)
    facts = fixturelib.wat_facts(name)
    assert path.stat().st_size == facts["bytes"]
    # Section size including id and length bytes = payload end - previous section end.
    dumped, prev_end = [], 8
    for _kind, start, size in sections(path):
        dumped.append(start + size - prev_end)
        prev_end = start + size
    assert dumped == [s["size"] for s in facts["sections"]]
    assert prev_end == facts["bytes"]
    assert code_sizes(path) == {f["index"]: f["size"] for f in facts["functions"]}
    dump = objdump("-x", path)
    if "exports" in facts:
        found = re.findall(r'^ - (\w+)\[(\d+)\].*-> "([^"]+)"$', dump.split("Export[")[1], re.M) \
            if "Export[" in dump else []
        assert [(k, int(i), n) for k, i, n in found] == \
            [(e["kind"], e["index"], e["name"]) for e in facts["exports"]]
    if "memories" in facts:
        lines = re.findall(r"^ - memory\[\d+\] pages: (.*)$", dump, re.M)
        assert len(lines) == len(facts["memories"])
        for line, mem in zip(lines, facts["memories"]):
            assert f"initial={mem['initial_pages']}" in line
            assert (f"max={mem['max_pages']}" in line) == (mem["max_pages"] is not None)
            assert ("shared" in line) == mem["shared"] and (" i64" in line) == mem["memory64"]
            assert ("<-" in line) == mem["imported"]
    if "memory_grow_sites" in facts:
        offsets = [int(o, 16) for o in re.findall(r"^ ([0-9a-f]+): 40 .*memory\.grow", objdump("-d", path), re.M)]
        assert offsets == [s["offset"] for s in facts["memory_grow_sites"]]
        assert all(path.read_bytes()[o] == 0x40 for o in offsets)
    if "imports" in facts:
        found = re.findall(r"^ - (\w+)\[\d+\].*<- (\w+)\.(\w+)$", dump, re.M)
        assert found == [(i["kind"], i["module"], i["field"]) for i in facts["imports"]]
    if "types" in facts:
        types = re.findall(r"^ - type\[\d+\] (.*)$", dump, re.M)
        def show(ts): return ts[0] if len(ts) == 1 else "(" + ", ".join(ts) + ")"
        assert types == [f"({', '.join(t['params'])}) -> {show(t['results']) if t['results'] else 'nil'}"
                         for t in facts["types"]]
    if "start" in facts:
        assert f"start function: {facts['start']}" in dump
    if "tags" in facts:
        assert f"Tag[{facts['tags']}]" in dump
    if "data_segments" in facts:
        modes = re.findall(r"^ - segment\[\d+\](?: <[^>]*>)? (passive|memory=\d+) size=(\d+)", dump, re.M)
        assert [("passive" if m == "passive" else "active", int(s)) for m, s in modes] == \
            [(d["mode"], d["size"]) for d in facts["data_segments"]]
    if "element_segments" in facts:
        flags = [int(f) for f in re.findall(r"^ - segment\[\d+\] flags=(\d+)", dump, re.M)]
        assert [("declarative" if f & 3 == 3 else "passive" if f & 1 else "active") for f in flags] == \
            [e["mode"] for e in facts["element_segments"]]
    if "local_names" in facts:
        for func, names in facts["local_names"].items():
            assert re.findall(rf"^ - func\[{func}\] local\[\d+\] <(\w+)>$", dump, re.M) == names


# ------------------------------------------------------------------ C / C++

def test_c_fixtures_build_and_show_their_features():
    built = {name: fixturelib.clang_module(name) for name in fixturelib.c_names()}
    assert set(built) == {"bulk_simd", "cxx_names", "debug_info", "malloc_free"}
    for path in built.values():
        assert subprocess.run(["wasm-validate", "--enable-all", str(path)],
                              capture_output=True).returncode == 0
        assert "name" in [kind for kind, _, _ in sections(path)]  # not stripped by wasm-opt
    ops = objdump("-d", built["bulk_simd"])
    for op in ("memory.copy", "memory.fill", "i32x4.add", "i32.extend8_s", "i32.extend16_s"):
        assert op in ops
    assert {".debug_info", ".debug_line"} <= {kind for kind, _, _ in sections(built["debug_info"])}
    assert re.search(r'-> "_ZN8geometry5twiceIxEET_S1_"', objdump("-x", "-j", "Export", built["cxx_names"]))
    assert exported_signatures(built["malloc_free"]) == {"malloc": "(i32) -> i32", "free": "(i32) -> nil"}


def test_clang_flags_compose_and_accept_suffixed_names():
    assert fixturelib.clang_flags("debug_info")[-2:] == ["-g", "-Wl,--export-all"]
    assert fixturelib.clang_flags("debug_info", ["-O0"])[-1] == "-O0"
    assert fixturelib.clang_module("bulk_simd.c") == fixturelib.clang_module("bulk_simd")
    with pytest.raises(fixturelib.FixtureError):
        fixturelib.clang_module("no_such_module")


def test_malloc_free_returns_null_at_the_cap():
    store, ex = instance(fixturelib.clang_module("malloc_free"), 4 * PAGE)
    first = ex["malloc"](store, 1000)
    assert first and ex["malloc"](store, 10 * PAGE) == 0
    ex["free"](store, first)
    assert ex["malloc"](store, 1000) == first  # the last block is reused


# ------------------------------------------------------------------ malformed corpus

def test_malformed_corpus_covers_every_file(malformed_cases):
    by_file = {p.name.split(".")[0] for p, _ in malformed_cases}
    assert by_file == {p.stem for p in fixturelib.MALFORMED_DIR.glob("*.wast")}
    assert len(malformed_cases) >= 45
    assert all(p.is_file() for p, _ in malformed_cases)
    assert (malformed_cases[0][0].stat().st_size, malformed_cases[0][1]) == (24, "unexpected end")


def test_every_malformed_case_is_rejected_by_wabt(malformed_cases):
    accepted = []
    for path, reason in malformed_cases:
        validate = subprocess.run(["wasm-validate", str(path)], capture_output=True)
        dump = subprocess.run(["wasm-objdump", "-x", str(path)], capture_output=True)
        if validate.returncode == 0 and dump.returncode == 0:
            accepted.append((path.name, reason))
    assert accepted == []
