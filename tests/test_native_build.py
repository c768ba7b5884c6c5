"""The committed auditor/wasm/native/codescan.wasm is what its committed source builds to:
scripts/build-native.sh (clang-16, wasm-ld-16, fixed flags) rebuilds it into a temporary
file and the bytes must be identical. A change to codescan.c without a rebuild, or a
build that depends on the machine (a path, a timestamp, a wasm-opt pass), fails here."""

from __future__ import annotations

import subprocess
from pathlib import Path

from auditor.wasm import native

REPO = Path(__file__).resolve().parent.parent


def test_committed_module_is_the_source_rebuilt(tmp_path):
    out = tmp_path / "sub dir" / "codescan.wasm"
    out.parent.mkdir()
    proc = subprocess.run(["bash", str(REPO / "scripts" / "build-native.sh"), str(out)], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = out.read_bytes()
    committed = native.WASM.read_bytes()
    assert built[:8] == b"\0asm\x01\0\0\0"
    assert built == committed, "codescan.wasm differs from a rebuild of codescan.c: run bash scripts/build-native.sh"
    # nothing of the machine in it: no paths, no custom sections (wasm-objdump: an independent reader)
    for marker in (str(REPO).encode(), str(tmp_path).encode(), b"clang", b"/usr/"):
        assert marker not in built
    headers = subprocess.run(["wasm-objdump", "-h", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Custom" not in headers and "Code" in headers
