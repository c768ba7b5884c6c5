"""Regenerates the committed seed corpora in fuzz/seeds/ from the project's own fixtures.

  .venv/bin/python fuzz/make_seeds.py

module/  every fixtures/wat/*.wat (wat2wasm), the C/C++ fixtures (clang-16), the small
         Rust fixtures (rustc 1.63 release without DWARF, legacy and v0 mangling) and
         hand-assembled modules
         for the proposals wabt cannot assemble (GC rec groups, custom descriptors,
         compact imports, exceptions, wide arithmetic): one file each, all under 64 KB
dwarf/   the C/C++ fixtures built with -g (DWARF 4 and 5)
names/   one symbol per file: Rust legacy and v0 names from the Rust fixtures' name
         sections, C++ names from fixtures/c/cxx_names.cpp

Seeds are inputs, not expectations: the fuzzer only needs them to start deep. Nothing
here is fetched; everything is built from files in this repository.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from auditor.wasm.parse import parse_module  # noqa: E402 (after the sys.path line)

import fixturelib  # noqa: E402

MAX_SEED = 64 * 1024
HEADER = b"\0asm\1\0\0\0"


def _section(sid: int, payload: bytes) -> bytes:
    return bytes((sid, len(payload))) + payload


def hand_assembled() -> dict[str, bytes]:
    types = _section(1, b"\x03\x4e\x02\x4d\x01\x5f\x00\x4c\x00\x5f\x01\x64\x62\x00\x00"
                        b"\x50\x00\x60\x01\x7e\x02\x7e\x7e\x5e\x78\x01")
    imports = _section(2, b"\x02\x01m\x01f\x20\x02\x01m\x00\x7e\x00\x02\x02\x01a\x01b")
    body = (b"\x00\x1f\x40\x01\x02\x00\x42\x01\x42\x02\xfc\x15\x1a\x1a\x0b"
            b"\xfb\x07\x03\x1a\x20\x00\x20\x00\x12\x00\x0b")
    code = _section(10, b"\x01" + bytes((len(body),)) + body)
    gc_exc = HEADER + types + imports + _section(3, b"\x01\x02") + _section(13, b"\x01\x00\x02") + code
    simd = (b"\x00\xfd\x0c" + bytes(16) + b"\xfd\x0c" + bytes(16) + b"\xfd\x0c" + bytes(16)
            + b"\xfd\x89\x02\xfd\x0d" + bytes(range(16)) + b"\x1a\x0b")
    relaxed = (HEADER + _section(1, b"\x01\x60\x00\x00") + _section(3, b"\x01\x00")
               + _section(10, b"\x01" + bytes((len(simd),)) + simd))
    out = {"gc_exceptions_descriptors.wasm": gc_exc, "relaxed_simd.wasm": relaxed}
    # One section at the very end of the file, for each kind: truncations and count
    # mutations then hit each reader's end-of-data paths (how issue 15's IndexError in
    # the table reader was reached).
    last = {
        "type": _section(1, b"\x02\x60\x01\x7f\x01\x7e\x5f\x01\x7f\x01"),
        "import": _section(2, b"\x01\x01m\x01t\x01\x70\x01\x00\x02"),
        "function": _section(3, b"\x02\x00\x00"),
        "table": _section(4, b"\x02\x70\x01\x00\x00\x40\x00\x6f\x00\x01\xd0\x6f\x0b"),
        "memory": _section(5, b"\x02\x00\x01\x05\x01\x02"),
        "tag": _section(13, b"\x01\x00\x00"),
        "global": _section(6, b"\x01\x7f\x01\x41\x80\x80\x04\x0b"),
        "export": _section(7, b"\x01\x01e\x02\x00"),
        "start": _section(8, b"\x00"),
        "element": _section(9, b"\x01\x00\x41\x00\x0b\x02\x00\x00"),
        "datacount": _section(12, b"\x01"),
        "code": _section(10, b"\x01\x06\x01\x01\x7f\x20\x00\x0b"),
        "data": _section(11, b"\x01\x00\x41\x10\x0b\x02hi"),
        "custom": _section(0, b"\x04name\x01\x04\x01\x00\x01f"),
    }
    for kind, sec in last.items():
        out[f"ends_with_{kind}.wasm"] = HEADER + sec
    return out


def main() -> None:
    seeds: dict[str, dict[str, bytes]] = {"module": {}, "dwarf": {}, "names": {}}
    for name in fixturelib.wat_names():
        seeds["module"][f"wat_{name}.wasm"] = fixturelib.wat(name).read_bytes()
    for name in fixturelib.c_names():
        seeds["module"][f"c_{name}.wasm"] = fixturelib.clang_module(name).read_bytes()
        seeds["dwarf"][f"c_{name}_g.wasm"] = fixturelib.clang_module(name, ("-g",)).read_bytes()
        seeds["dwarf"][f"c_{name}_g5.wasm"] = fixturelib.clang_module(name, ("-g", "-gdwarf-5")).read_bytes()
    seeds["module"].update(hand_assembled())
    symbols: set[str] = set()
    strip_dwarf = ['profile.release.strip="debuginfo"']  # keeps the name section
    for crate, mangling in (("guarded", "legacy"), ("guarded", "v0"), ("unguarded", "legacy"), ("heavy", "v0")):
        path = fixturelib.build_crate(crate, mangling=mangling, config=strip_dwarf)
        data = path.read_bytes()
        if len(data) <= MAX_SEED:
            seeds["module"][f"rust_{crate}_{mangling}.wasm"] = data
        names = sorted(parse_module(data, str(path)).function_names.values())
        symbols.update(names[:: max(1, len(names) // 40)])
    cxx = parse_module(fixturelib.clang_module("cxx_names").read_bytes()).function_names.values()
    symbols.update(n for n in cxx if n.startswith("_Z"))
    for s in sorted(symbols):
        seeds["names"][f"sym_{hashlib.sha256(s.encode()).hexdigest()[:12]}"] = s.encode()
    for target, files in seeds.items():
        out = HERE / "seeds" / target
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for fname, blob in sorted(files.items()):
            if len(blob) <= MAX_SEED:
                (out / fname).write_bytes(blob)
        print(f"fuzz/seeds/{target}: {len(list(out.iterdir()))} files", file=sys.stderr)


if __name__ == "__main__":
    main()
