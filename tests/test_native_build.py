"""The committed auditor/wasm/native/*.wasm (codescan, graphcore, demangle) are what their
committed sources build to: scripts/build-native.sh (clang-16, wasm-ld-16, fixed flags)
rebuilds each into a temporary file and the bytes must be identical. A change to a .c
without a rebuild, or a build that depends on the machine (a path, a timestamp, a
wasm-opt pass), fails here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.wasm import native
from auditor.wasm.native import demangler, graph

REPO = Path(__file__).resolve().parent.parent


# name -> (the committed module, an export its loader calls)
MODULES = {"codescan": (native.WASM, None), "graphcore": (graph.WASM, None), "demangle": (demangler.WASM, "demangle")}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_committed_module_is_the_source_rebuilt(tmp_path, name):
    committed, export = MODULES[name]
    out = tmp_path / "sub dir" / f"{name}.wasm"
    out.parent.mkdir()
    proc = subprocess.run(["bash", str(REPO / "scripts" / "build-native.sh"), str(out), name], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = out.read_bytes()
    assert built[:8] == b"\0asm\x01\0\0\0"
    assert built == committed.read_bytes(), \
        f"{name}.wasm differs from a rebuild of {name}.c: run bash scripts/build-native.sh"
    # nothing of the machine in it: no paths, no custom sections (wasm-objdump: an independent reader)
    for marker in (str(REPO).encode(), str(tmp_path).encode(), b"clang", b"/usr/"):
        assert marker not in built
    headers = subprocess.run(["wasm-objdump", "-h", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Custom" not in headers and "Code" in headers
    if export:
        exports = subprocess.run(["wasm-objdump", "-x", "-j", "Export", str(out)], capture_output=True, text=True,
                                 check=True).stdout
        assert f'-> "{export}"' in exports
