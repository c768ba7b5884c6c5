"""The call graph from the parse pass equals the call graph from a walk over the code.

parse_module keeps the calls, indirect calls, `ref.func` and `memory.grow` its validating
regex pass finds in every body (`ParsedRefs`), and `refs.code_references(mod,
full=False)` builds the call graph from them instead of walking the code again (issue
16). Here every hand-written `.wat` fixture (wat2wasm), the synthetic benchmark module
and the four npm modules of scripts/real_modules.sh are read both ways: every body's
callees, tables, referenced functions, memory.grow offsets and segment references must
be equal, and the walk itself is checked against `wasm-objdump -d` call targets on one
module.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.wasm.analysis.refs import code_references
from auditor.wasm.parse import ParsedRefs, parse_module
from auditor.wasm.reader import gc_paused

import fixturelib
import refcache

REPO = Path(__file__).resolve().parent.parent


def both_ways(data: bytes, name: str):
    mod = parse_module(data, name)
    assert ParsedRefs.KEY in mod.derived
    # The same parse without what its validating pass kept (a second parse_module of the
    # bytes gave the same; the npm modules took 4 s to parse twice).
    bare = dataclasses.replace(mod, derived={k: v for k, v in mod.derived.items() if k != ParsedRefs.KEY})
    parsed = code_references(mod, full=False)
    assert ParsedRefs.KEY not in mod.derived  # taken, so its arrays are freed with the graph
    walked = code_references(bare, full=False)
    return mod, parsed, walked


def facts(refs):
    # the sets compare as sets (sorting them first cost 1.5 CPU-s on the npm modules)
    return {i: (b.calls, b.indirect_tables, b.ref_funcs, b.grow, b.data_segments, b.elem_segments, b.tags)
            for i, b in refs.bodies.items()}


@pytest.mark.parametrize("name", fixturelib.wat_names())
def test_wat_fixtures(name):
    path = fixturelib.wat(name)
    mod, parsed, walked = both_ways(path.read_bytes(), name)
    assert facts(parsed) == facts(walked)


def test_synthetic_module_and_objdump():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from inspect_speed import synthetic_module

    data = synthetic_module(300_000)
    mod, parsed, walked = both_ways(data, "synthetic.wasm")
    assert facts(parsed) == facts(walked)
    # callees as wasm-objdump -d disassembles them (an independent decoder)
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["wasm-objdump", "-d", f.name], capture_output=True, text=True, check=True).stdout
    calls: dict[int, set[int]] = {}
    current = None
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ func\[(\d+)\]", line)
        if head:
            current = int(head.group(1))
            calls[current] = set()
            continue
        call = re.search(r"\|\s+call (\d+)", line)
        if call and current is not None:
            calls[current].add(int(call.group(1)))
    assert {i: set(b.calls) for i, b in parsed.bodies.items()} == calls


@gc_paused()  # 10^6 acyclic objects per module: the collector re-walking them was a third of the CPU
def test_real_modules():
    """The walk's facts come from tests/refcache.py when auditor's sources and the bytes
    are those it last ran on (~2.5 CPU-s a session); the parse pass's refs are always read."""
    paths = list(fixturelib.real_modules())
    for path in paths:
        data = path.read_bytes()
        mod = parse_module(data, path.name)
        bare = dataclasses.replace(mod, derived={k: v for k, v in mod.derived.items() if k != ParsedRefs.KEY})
        parsed = facts(code_references(mod, full=False))
        assert ParsedRefs.KEY not in mod.derived
        walked = refcache.cached("call-graph-walk", refcache.digest(data),
                                 lambda bare=bare: facts(code_references(bare, full=False)), [facts],
                                 refcache.WASM_STAGE)
        assert parsed == walked, path.name
