"""Four large real modules from the npm registry, read exactly.

scripts/real_modules.sh fetches them once (npm pack, cached outside the repository):
@biomejs/wasm-nodejs 2.5.14 (45.6 MB), @swc/wasm 1.16.21, lightningcss-wasm 1.33.0 (Rust)
and esbuild-wasm 0.28.2 (Go: br_tables of thousands of targets, the reader's slow
shapes). Every section and every function body must equal wasm-objdump's reading — the
fast body validator may not change a single figure on real compiler output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.wasm.parse import parse_module

import fixturelib
from objdump import OBJDUMP_KIND, code_sizes, sections

REPO = Path(__file__).resolve().parent.parent


def _modules() -> list[Path]:
    return list(fixturelib.real_modules())


@pytest.fixture(scope="module")
def modules() -> list[Path]:
    return _modules()


@pytest.mark.cargo  # its `modules` fixture compiles a v0-mangled module with rustc
def test_real_modules_equal_wasm_objdump(modules):
    assert len(modules) == 4
    bodies = 0
    for path in modules:
        mod = parse_module(path.read_bytes(), str(path))
        ours = [(s.name if s.custom else OBJDUMP_KIND[s.name], s.payload_offset, s.payload_size) for s in mod.sections]
        assert ours == sections(path), path.name
        assert {f.index: f.body_size for f in mod.functions} == code_sizes(path), path.name
        assert 8 + sum(s.size for s in mod.sections) == path.stat().st_size
        bodies += len(mod.functions)
    print(f"\n{bodies} function bodies of 4 npm modules equal to wasm-objdump -x")
    assert bodies == 35823 + 16382 + 5483 + 5307
