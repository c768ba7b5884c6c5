"""Coverage-guided fuzzing (atheris / libFuzzer) of everything that reads untrusted bytes.

Targets (fuzz/targets.py; the first argument here), each with a committed seed corpus in
fuzz/seeds/<target> (fuzz/make_seeds.py rebuilds them from the repository's fixtures):

  module   parse_module, then everything `inspect` derives from what it accepts (names,
           producers, data, memory.grow sites, allocator, crates, the DWARF summary,
           the JSON record)
  dwarf    the DWARF readers (summary and the full pyelftools walk) on modules whose
           .debug_* sections are fuzzed (seeds: clang modules with DWARF 4 and 5)
  names    the demanglers (Rust legacy and v0, C++), hash stripping, crate attribution

The property, on every input: nothing but auditor's own error type (AuditorError, as
one line) escapes. libFuzzer enforces the rest: -timeout=2 (seconds per input),
-rss_limit_mb=500, -max_len=1048576 (inputs under 1 MB). Any other exception, a timeout
or the memory limit is a crash: libFuzzer writes the input to crash-*/timeout-*/oom-* and
exits non-zero; each one becomes a file in fuzz/regressions/<target>/, which
tests/test_fuzz.py replays on every run.

Usage (tests/test_fuzz.py runs each target for a bounded time in the suite):
  python fuzz/fuzz_wasm.py module -max_total_time=60 -timeout=2 -rss_limit_mb=500 \\
      -max_len=1048576 NEW_CORPUS_DIR fuzz/seeds/module
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import atheris

#: The auditor modules instrumented for each target (atheris adds coverage counters to
#: them and to every auditor module they import). `module` reaches most of the wasm stage
#: and imports much of it only when it runs (refs, layout, the item graph, the name and
#: DWARF readers, the compiled graph and demangler): every module of auditor.wasm
#: (WASM_PACKAGE). tests/test_fuzz.py checks that every auditor module a target runs on
#: its seeds is among them.
WASM_PACKAGE = "auditor.wasm"
INSTRUMENT = {
    "module": [WASM_PACKAGE],
    "dwarf": ["auditor.wasm.parse", "auditor.wasm.dwarf"],
    "names": ["auditor.wasm.demangle", "auditor.wasm.crates"],
}


def _modules(names: list[str]) -> list[str]:
    """The names, WASM_PACKAGE expanded to every module under it (found by file, so
    nothing is imported before the instrumentation starts)."""
    out = []
    for name in names:
        if name != WASM_PACKAGE:
            out.append(name)
            continue
        root = Path(__file__).resolve().parent.parent / Path(*WASM_PACKAGE.split("."))
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent.parent).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in INSTRUMENT:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(INSTRUMENT)}}} [libFuzzer options] [corpus dirs]")
    # Only the modules this target runs carry coverage counters (with what they import):
    # instrumenting every module took ~1.4 CPU-s per start, most of it for code the
    # target never reaches. tests/test_fuzz.py checks that INSTRUMENT covers every
    # auditor module each target runs on its seeds.
    with atheris.instrument_imports(include=["auditor"]):
        for name in _modules(INSTRUMENT[argv[1]]):
            importlib.import_module(name)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from targets import TARGETS

    atheris.Setup([argv[0], *argv[2:]], TARGETS[argv[1]])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
