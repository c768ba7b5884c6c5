"""`auditor inspect` on real rustc output, clang-16 modules and hand-written .wat, checked
against wasm-objdump, gzip and brotli as independent readers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import clirun
import fixturelib
from objdump import OBJDUMP_KIND, code_sizes, sections

RUST_CRATES = ["minimal", "heavy", "guarded", "unguarded", "pinned"]


def run_inspect(path: Path, *args: str) -> dict:
    """`auditor inspect --format json` through the CLI's main() in-process (tests/clirun.py)."""
    proc = clirun.run(["inspect", "--format", "json", *args, path])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def check_against_objdump(path: Path, report: dict) -> None:
    ours = [(s["name"] if s["custom"] else OBJDUMP_KIND[s["name"]],
             s["offset"] + s["size"] - s["payload_size"], s["payload_size"]) for s in report["sections"]]
    assert ours == sections(path)
    assert {f["index"]: f["size"] for f in report["functions"]} == code_sizes(path)
    assert 8 + sum(s["size"] for s in report["sections"]) == report["bytes"] == path.stat().st_size


@pytest.fixture(scope="module")
def rust_modules() -> dict[str, Path]:
    return {name: fixturelib.build_crate(name) for name in RUST_CRATES}


@pytest.mark.cargo
@pytest.mark.parametrize("name", RUST_CRATES)
def test_rust_fixture_matches_objdump(rust_modules, name):
    path = rust_modules[name]
    report = run_inspect(path, "--compression", "none")
    check_against_objdump(path, report)
    assert report["schema"] == "auditor.inspect/1"
    assert report["rustc_version"].startswith("1.63")
    assert any(s["name"].startswith(".debug_") for s in report["sections"])  # Debian std ships DWARF


@pytest.mark.cargo
def test_memory_stack_and_symbols_of_a_rust_module(rust_modules):
    path = rust_modules["minimal"]
    report = run_inspect(path, "--compression", "none")
    (mem,) = report["memories"]
    assert not mem["imported"] and mem["max_pages"] is None and mem["unbounded"]
    assert mem["exports"] == ["memory"]
    # Independent: wasm-objdump's view of the memory and globals.
    dump = "".join(subprocess.run(["wasm-objdump", "-x", "-j", sec, str(path)],
                                  capture_output=True, text=True, check=True).stdout for sec in ("Memory", "Global"))
    initial = int(re.search(r"memory\[0\] pages: initial=(\d+)", dump).group(1))
    assert mem["initial_pages"] == initial
    inits = {m.group(2): int(m.group(3)) for m in re.finditer(r"global\[(\d+)\] i32 mutable=\d <([^>]*)> - init i32=(-?\d+)", dump)}
    assert report["symbols"]["__heap_base"] == inits["__heap_base"]
    assert report["symbols"]["__data_end"] == inits["__data_end"]
    # rustc 1.63 links with --stack-first and a 1 MiB stack (DESIGN.md).
    assert report["stack"]["layout"] == "stack-first" and report["stack"]["size"] == 1048576
    # initial pages = ceil(__heap_base / 64 KiB)
    assert initial == -(-inits["__heap_base"] // 65536)


@pytest.mark.cargo
def test_max_memory_from_linker_flag():
    path = fixturelib.build_crate("minimal", env={"RUSTFLAGS": "-C link-arg=--max-memory=4194304"})
    report = run_inspect(path, "--compression", "none")
    assert report["memories"][0]["max_pages"] == 64 and not report["memories"][0]["unbounded"]
    assert report["memories"][0]["max_bytes"] == 4194304


@pytest.mark.cargo
def test_compressed_sizes(rust_modules, tmp_path):
    """gzip is zlib level 9 in a gzip container (as size-limit and nginx compute it) and
    brotli is the brotli library at quality 11; the CLIs use other encoders, so they are
    checked as independent bounds, and the streams as real, decodable gzip/brotli."""
    import gzip
    import zlib

    import brotli

    # A small (stripped, LTO) module: brotli -q 11 on megabytes of DWARF takes seconds.
    path = fixturelib.build_crate("heavy", config=["profile.release.strip=true", "profile.release.lto=true"])
    data = path.read_bytes()
    assert len(data) < 1 << 20
    report = run_inspect(path)
    assert report["compression"] == "exact"
    assert report["compression_impl"]["zlib"] == zlib.ZLIB_RUNTIME_VERSION
    ours = gzip.compress(data, 9, mtime=0)
    assert report["gzip"] == len(ours)
    (tmp_path / "x.gz").write_bytes(ours)
    assert subprocess.run(["gzip", "-d", "-c", str(tmp_path / "x.gz")], capture_output=True, check=True).stdout == data
    cli_gz = len(subprocess.run(["gzip", "-9", "-n", "-c", str(path)], capture_output=True, check=True).stdout)
    assert abs(report["gzip"] - cli_gz) / cli_gz < 0.01
    assert report["brotli"] == len(brotli.compress(data, quality=11))
    cli_br = len(subprocess.run(["brotli", "-q", "11", "-c", str(path)], capture_output=True, check=True).stdout)
    assert abs(report["brotli"] - cli_br) / cli_br < 0.01
    if shutil.which("node"):  # an independent binding of the brotli library
        node = subprocess.run(["node", "-e", "const z=require('zlib');const b=require('fs').readFileSync(process.argv[1]);"
                               "console.log(z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length)",
                               str(path)], capture_output=True, text=True, check=True)
        assert report["brotli"] == int(node.stdout)


@pytest.mark.cargo
def test_functions_demangled_and_rolled_up_by_crate(rust_modules):
    report = run_inspect(rust_modules["heavy"], "--compression", "none")
    names = [f["demangled"] for f in report["functions"] if f["demangled"]]
    assert any(n.startswith("core::fmt::") for n in names)
    assert not any(re.search(r"::h[0-9a-f]{16}$", n) for n in names)  # hashes stripped
    crates = {c["name"]: c for c in report["crates"]}
    assert {"core", "alloc"} <= set(crates)
    assert sum(c["size"] for c in report["crates"]) == sum(f["size"] for f in report["functions"])
    assert sum(c["functions"] for c in report["crates"]) == len(report["functions"])


@pytest.mark.cargo
def test_default_allocator_detected(rust_modules):
    report = run_inspect(rust_modules["guarded"], "--compression", "none")
    al = report["allocator"]
    assert al["name"] == "default"
    assert any("dlmalloc" in e["function"] for e in al["evidence"])
    assert al["evidence_bytes"] == sum(e["size"] for e in al["evidence"])
    sites = report["memory_grow_sites"]
    assert sites and all(s["checked"] for s in sites)  # dlmalloc compares with -1
    data = rust_modules["guarded"].read_bytes()
    assert all(data[s["offset"]] == 0x40 for s in sites)


@pytest.mark.cargo
@pytest.mark.parametrize("allocator, expected", [("bump", "fixture_bump"), ("freelist", "fixture_freelist"), ("arena", "fixture_arena")])
def test_fixture_allocators_detected(allocator, expected):
    path = fixturelib.build_with_allocator(allocator)
    report = run_inspect(path, "--compression", "none")
    assert report["allocator"]["name"] == expected, report["allocator"]
    if allocator == "arena":
        assert report["memory_grow_sites"] == []


@pytest.mark.cargo
def test_pinned_allocator_detected(rust_modules):
    report = run_inspect(rust_modules["pinned"], "--compression", "none")
    assert report["allocator"]["name"] == "fixture_freelist"


@pytest.mark.cargo
def test_stripped_module_gives_unknown_and_class_hint(rust_modules, tmp_path):
    stripped = tmp_path / "s.wasm"
    subprocess.run(["wasm-strip", str(rust_modules["guarded"]), "-o", str(stripped)], check=True)
    report = run_inspect(stripped, "--compression", "none")
    assert report["allocator"]["name"] == "unknown"
    assert report["allocator"]["class_hint"].startswith("typical")
    assert all(f["name"] is None for f in report["functions"])
    assert report["unnamed_functions"]["count"] == report["function_count"]
    check_against_objdump(stripped, report)
    # Export names still label functions (wasm-objdump -x -j Export is the reference).
    dump = subprocess.run(["wasm-objdump", "-x", "-j", "Export", str(stripped)], capture_output=True, text=True,
                          check=True).stdout
    expected = {int(m.group(1)): m.group(2) for m in re.finditer(r"func\[(\d+)\](?: <[^>]*>)? -> \"([^\"]+)\"", dump)}
    assert {f["index"]: f["exports"][0] for f in report["functions"] if f["exports"]} == expected
    text = clirun.run(["inspect", "--compression", "none", "--top", "0", stripped]).stdout
    assert all(f'func[{i}] (export "{name}")' in text for i, name in expected.items())


def test_module_without_functions_has_no_allocator_rather_than_a_stripped_one(tmp_path):
    # wat2wasm of `(module (memory 1))`: nothing can allocate, and there are no names to miss
    src = tmp_path / "nofunc.wat"
    src.write_text("(module (memory 1) (data (i32.const 0) \"hi\"))")
    path = tmp_path / "nofunc.wasm"
    subprocess.run(["wat2wasm", str(src), "-o", str(path)], check=True)
    report = run_inspect(path, "--compression", "none")
    assert [(OBJDUMP_KIND[s["name"]], s["payload_size"]) for s in report["sections"]] == \
        [(name, size) for name, _, size in sections(path)] == [("Memory", 3), ("Data", 8)]
    assert report["function_count"] == 0
    assert (report["allocator"]["name"], report["allocator"]["description"]) == ("none", "no function bodies")


@pytest.mark.cargo
def test_lto_strip_build_matches_objdump():
    path = fixturelib.build_crate("heavy", config=['profile.release.lto=true', 'profile.release.opt-level="z"',
                                                    'profile.release.codegen-units=1', 'profile.release.panic="abort"'])
    report = run_inspect(path, "--compression", "none")
    check_against_objdump(path, report)


@pytest.mark.parametrize("name", fixturelib.wat_names())
def test_wat_fixtures_match_objdump(name):
    path = fixturelib.wat(name)
    check_against_objdump(path, run_inspect(path, "--compression", "none"))


@pytest.mark.parametrize("flags", [("-O2", "-mbulk-memory", "-msign-ext"), ("-O2", "-msimd128"), ("-O0", "-g", "-mbulk-memory", "-msimd128")])
def test_clang_modules_match_objdump(flags):
    for src in sorted(fixturelib.C_DIR.glob("*.c")) + sorted(fixturelib.C_DIR.glob("*.cpp")):
        path = fixturelib.clang_module(src.name, flags)
        check_against_objdump(path, run_inspect(path, "--compression", "none"))


@pytest.mark.cargo
def test_text_report(rust_modules):
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--top", "5", str(rust_modules["heavy"])],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    out = proc.stdout
    for heading in ("Sections", "Memory", "Interface", "Allocator: default", "Functions:", "Crates"):
        assert heading in out
    assert "no maximum: memory can grow without bound" in out
    # The top-5 table has exactly five rows before the remainder line.
    block = out.split("Functions:")[1].split("Crates")[0].strip().splitlines()
    assert re.match(r"\s*\.\.\. [\d,]+ more functions", block[-1])
    assert len(block) == 1 + 2 + 5 + 1  # heading, header, rule, 5 rows, remainder
    assert "\033[" not in out  # no colour when not a TTY


def test_top_zero_lists_every_function_as_in_diff():
    # grow_sites.wat has 4 bodies (24, 9, 9, 7 bytes by hand); --top 0 means all, not none
    path = fixturelib.wat("grow_sites")
    for fmt, row in (("text", r"^\s+\d+\s+[\d.]+%\s+\[unnamed\]\s+func\[\d\]( \(export \"\w+\"\))?$"), ("markdown", r"^\| \d+ \| `\[unnamed\]` \|")):
        out = clirun.run(["inspect", "--top", "0", "--format", fmt, path]).stdout
        assert len(re.findall(row, out, re.M)) == 4, out
        assert "more functions" not in out


def test_markdown_headline_sizes_say_each_figure_once():
    # grow_sites.wat: 159 bytes, code section 56 (hand-computed in its header); no "159 B (159 B)"
    out = clirun.run(["inspect", "--format", "markdown", "--compression", "none", fixturelib.wat("grow_sites")]).stdout
    assert "| 159 B | - | - | 56 B | 0 B | 0 B |" in out


@pytest.mark.cargo
def test_output_file_is_written_and_stdout_stays_empty(rust_modules, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--format", "json", "-o", str(out),
                           "--compression", "none", str(rust_modules["minimal"])], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["schema"] == "auditor.inspect/1"
    assert not list(tmp_path.glob(".r.json.*"))  # no temp file left behind


@pytest.mark.cargo
def test_source_paths_in_data(rust_modules):
    path = rust_modules["heavy"]
    data = path.read_bytes()
    report = run_inspect(path, "--compression", "none")
    texts = [p["text"] for p in report["source_paths"]]
    assert "src/lib.rs" in texts  # heavy's own unwrap/expect locations
    assert any(t.startswith("/") and "/library/" in t for t in texts)  # std's, with the build machine's path
    for p in report["source_paths"]:
        assert data[p["offset"]:p["offset"] + p["bytes"]].decode() == p["text"]
    assert run_inspect(rust_modules["minimal"], "--compression", "none")["source_paths"] == []


@pytest.mark.cargo
def test_module_rules_run_in_inspect(rust_modules, tmp_path):
    path = rust_modules["heavy"]
    report = run_inspect(path, "--compression", "none")
    rules = {f["rule"] for f in report["findings"]}
    assert {"AUD301", "AUD401", "AUD404"} <= rules  # unbounded memory, DWARF shipped, source paths
    sarif = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--compression", "none", "--format", "sarif", str(path)],
                           capture_output=True, text=True)
    assert sarif.returncode == 0  # warnings and notes only
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == rules
    # A config can raise a rule to error: then inspect exits 1.
    cfg = tmp_path / "auditor.toml"
    cfg.write_text('[rules]\nAUD401 = "error"\n')
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--compression", "none", "--config", str(cfg), str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "AUD401 error" in proc.stdout


@pytest.mark.cargo
def test_dwarf_block_in_inspect(rust_modules):
    report = run_inspect(rust_modules["heavy"], "--compression", "none")
    dw = report["dwarf"]
    assert dw["compile_units"] > 10 and "DW_LANG_Rust" in dw["languages"]
    assert dw["bytes"] == sum(s["size"] for s in report["sections"] if s["name"].startswith(".debug_"))
    assert "functions" not in dw  # the full walk is opt-in
    walked = run_inspect(rust_modules["heavy"], "--compression", "none", "--dwarf")["dwarf"]["functions"]
    assert walked["matched"] > 0.7 * walked["bodies"]
    assert run_inspect(fixturelib.build_crate("minimal", config=["profile.release.strip=true"]),
                       "--compression", "none")["dwarf"] is None


@pytest.mark.cargo
def test_markdown_report(rust_modules):
    path = rust_modules["guarded"]
    proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--format", "markdown", "--compression", "none",
                           "--top", "3", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    md = proc.stdout
    assert md.startswith("## auditor inspect")
    assert f"| {path.stat().st_size:,} B" in md
    assert "**Allocator:** `default`" in md and "`memory.grow` sites: 1" in md
    assert "**Findings:**" in md and "AUD401" in md
