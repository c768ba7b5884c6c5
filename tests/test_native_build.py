"""The committed auditor/wasm/native/*.wasm (codescan, graphcore, demangle) are what their
committed sources build to: scripts/build-native.sh (clang-16, wasm-ld-16, fixed flags)
rebuilds each into a temporary file and the bytes must be identical. A change to a .c
without a rebuild, or a build that depends on the machine (a path, a timestamp, a
wasm-opt pass), fails here.

The rebuilt bytes are a function of the script, the sources and the two tools, so they
are kept in tests/refcache.py under exactly that key (the tools by their binaries' bytes
and their --version lines): an edit of a .c, .h or the script, or another clang or
wasm-ld, builds again; the committed module is compared with them every time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.wasm import native
from auditor.wasm.native import demangler, graph

import refcache
import toolcache

REPO = Path(__file__).resolve().parent.parent


# name -> (the committed module, an export its loader calls)
MODULES = {"codescan": (native.WASM, None), "graphcore": (graph.WASM, None), "demangle": (demangler.WASM, "demangle")}


def build_inputs() -> tuple:
    """What a rebuild's bytes depend on: the script, every source beside the modules (by
    content), and clang-16 and wasm-ld (binary and version line), as the script finds them."""
    native_dir = REPO / "auditor" / "wasm" / "native"
    files = [REPO / "scripts" / "build-native.sh"] + sorted(p for p in native_dir.iterdir()
                                                            if p.suffix in (".c", ".h"))
    tools = []
    for tool in ("clang-16", "wasm-ld-16" if shutil.which("wasm-ld-16") else "wasm-ld"):
        version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout
        tools.append((toolcache.identity(tool), version.splitlines()[:1]))
    return tuple((p.name, refcache.digest(p.read_bytes())) for p in files), tuple(tools)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_committed_module_is_the_source_rebuilt(tmp_path, name):
    committed, export = MODULES[name]
    out = tmp_path / "sub dir" / f"{name}.wasm"
    out.parent.mkdir()

    def build() -> tuple[int, str, bytes]:
        build_dir = tmp_path / "build dir"
        build_dir.mkdir()
        proc = subprocess.run(["bash", str(REPO / "scripts" / "build-native.sh"), str(build_dir / out.name), name],
                              capture_output=True, text=True, check=False, cwd=build_dir)
        made = build_dir / out.name
        return proc.returncode, proc.stderr[-3000:], made.read_bytes() if made.is_file() else b""

    rc, stderr, built = refcache.cached("build-native", (name, build_inputs()), build, tree=None)
    assert rc == 0, stderr
    out.write_bytes(built)
    assert built[:8] == b"\0asm\x01\0\0\0"
    assert built == committed.read_bytes(), \
        f"{name}.wasm differs from a rebuild of {name}.c: run bash scripts/build-native.sh"
    # nothing of the machine in it: no paths, no custom sections (wasm-objdump: an independent reader)
    for marker in (str(REPO).encode(), str(tmp_path).encode(), b"clang", b"/usr/"):
        assert marker not in built
    headers = toolcache.run_checked("wasm-objdump", ["-h"], out)
    assert "Custom" not in headers and "Code" in headers
    if export:
        exports = toolcache.run_checked("wasm-objdump", ["-x", "-j", "Export"], out)
        assert f'-> "{export}"' in exports
