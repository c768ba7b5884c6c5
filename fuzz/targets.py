"""The fuzz targets: what each input is fed to (see fuzz/fuzz_wasm.py).

Plain functions without atheris, so tests/test_fuzz.py replays fuzz/regressions/ with
them in-process.
"""

from __future__ import annotations

from auditor.errors import AuditorError
from auditor.wasm import crates, demangle, dwarf, inspect
from auditor.wasm.parse import parse_module


def _fresh_caches() -> None:
    """The property is per input (one `auditor` run reads one module); without this a
    fuzzing process would measure the name caches filling across thousands of inputs."""
    demangle.demangle.cache_clear()
    demangle.strip_hash.cache_clear()
    crates.crate_of.cache_clear()


def fuzz_module(data: bytes) -> None:
    _fresh_caches()
    try:
        result = inspect.inspect_bytes(data, "fuzz.wasm", compression="none")
        result.to_json()
    except AuditorError as e:
        _one_line(e)


def fuzz_dwarf(data: bytes) -> None:
    try:
        mod = parse_module(data, "fuzz.wasm")
    except AuditorError as e:
        _one_line(e)
        return
    summary = dwarf.dwarf_summary(mod)
    if summary is not None:
        dwarf.dwarf_walk(mod).to_json(mod)


def fuzz_names(data: bytes) -> None:
    _fresh_caches()
    name = data.decode("utf-8", "replace")
    out = demangle.demangle(name)
    crates.crate_of(demangle.strip_hash(out))
    demangle.is_rust_symbol(name)


def _one_line(e: AuditorError) -> None:
    line = e.line()
    if "\n" in line or "\r" in line:
        raise AssertionError(f"multi-line error: {line!r}")


TARGETS = {"module": fuzz_module, "dwarf": fuzz_dwarf, "names": fuzz_names}
