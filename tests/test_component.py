"""The deep analyses on a component (twiggy cannot read one: AlexEne/twiggy#753): each core
module is analysed as a module file, where it is and how big it is as `wasm-tools
objdump` says, and the component's own bytes are what no core module holds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clirun

WASM_TOOLS = str(Path(sys.executable).parent / "wasm-tools")

# A core module with a dead function, one in a nested component, one more at the top level.
COMPONENT = """(component
  (core module $m
    (func $used (result i32) i32.const 1)
    (func $dead (result i32) i32.const 2 i32.const 3 i32.add)
    (func (export "f") (result i32) call $used)
    (memory (export "mem") 1))
  (component $inner
    (core module $n (func (export "g"))))
  (core module $o (func $x) (func (export "h") call $x)))"""
# `dead`: locals 00, i32.const 2 (41 02), i32.const 3 (41 03), i32.add (6a), end (0b) = 7,
# its size byte and its function-section entry: 9 bytes (by hand)
DEAD = 9
ANALYSES = ("top", "dominators", "garbage", "monos", "crates", "sources", "data")


def auditor(*args, expect=0):
    proc = clirun.run(args)
    assert proc.returncode == expect, proc.stderr
    return proc


@pytest.fixture(scope="module")
def component(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("component")
    (d / "c.wat").write_text(COMPONENT)
    subprocess.run([WASM_TOOLS, "parse", str(d / "c.wat"), "-o", str(d / "c.wasm")], check=True)
    subprocess.run([WASM_TOOLS, "validate", str(d / "c.wasm")], check=True)
    return d / "c.wasm"


def objdump_modules(path: Path) -> list[tuple[str, int, int]]:
    """(label, offset, size) of every core module `wasm-tools objdump` lists, in file
    order, labelled by its own numbering (`start component N` / `start module N`)."""
    out = subprocess.run([WASM_TOOLS, "objdump", str(path)], capture_output=True, text=True, check=True).stdout
    stack: list[str] = []
    pending: tuple[int, int] | None = None
    found = []
    for line in out.splitlines():
        m = re.match(r"\s*(module|component)\s*\|\s*0x([0-9a-f]+) -\s*0x([0-9a-f]+) \|\s*(\d+) bytes", line)
        if m:
            pending = (int(m.group(2), 16), int(m.group(4)))
            continue
        m = re.match(r"\s*-+ start (module|component) (\d+) -+", line)
        if m:
            stack.append(f"{m.group(1)}[{m.group(2)}]")
            if m.group(1) == "module":
                assert pending is not None
                found.append(("/".join(stack), *pending))
            continue
        if re.match(r"\s*-+ end (module|component) \d+ -+", line):
            stack.pop()
    return found


def test_core_modules_are_where_wasm_tools_says(component):
    j = json.loads(auditor("top", component, "--format", "json").stdout)
    assert j["schema"] == "auditor.component/1" and j["analysis"] == "top"
    ours = [(m["label"], m["offset"], m["bytes"]) for m in j["modules"]]
    assert ours == objdump_modules(component)
    assert [label for label, _, _ in ours] == ["module[0]", "component[0]/module[0]", "module[1]"]
    size = component.stat().st_size
    assert j["bytes"] == size
    assert j["component_bytes"] == size - sum(b for _, _, b in ours)
    for m in j["modules"]:
        inner = m["result"]
        assert inner["schema"] == "auditor.top/1" and inner["bytes"] == m["bytes"]


def test_each_core_module_answers_as_its_own_file(component, tmp_path):
    """The bytes at each range are a valid core module (wasm-tools), and every analysis of
    the component gives, per module, the analysis of that module as a file."""
    data = component.read_bytes()
    comp = {a: json.loads(auditor(a, component, "--format", "json").stdout) for a in ANALYSES}
    for m in comp["top"]["modules"]:
        alone = tmp_path / f"m{m['index']}.wasm"
        alone.write_bytes(data[m["offset"]:m["offset"] + m["bytes"]])
        subprocess.run([WASM_TOOLS, "validate", str(alone)], check=True)
        for a in ANALYSES:
            mine = json.loads(auditor(a, alone, "--format", "json").stdout)
            inner = next(x["result"] for x in comp[a]["modules"] if x["index"] == m["index"])
            mine.pop("file")
            assert {k: v for k, v in inner.items() if k != "file"} == mine, a
            assert inner["file"] == f"{component} {m['label']}"
        shallow = json.loads(auditor("top", alone, "-n", "1000", "--format", "json").stdout)["items"]
        assert sum(it["shallow"] for it in shallow) == m["bytes"]


def test_garbage_by_hand_in_the_first_module(component):
    j = json.loads(auditor("garbage", component, "--format", "json").stdout)
    per = {m["label"]: m["result"] for m in j["modules"]}
    assert [(it["name"], it["shallow"]) for it in per["module[0]"]["items"]] == [("dead", DEAD)]
    assert per["component[0]/module[0]"]["items"] == [] and per["module[1]"]["items"] == []
    text = auditor("garbage", component).stdout
    assert "a component" in text and "== module[0] (at byte 10, " in text and "dead" in text


def test_a_query_answers_where_it_matches(component):
    j = json.loads(auditor("paths", component, "^x$", "--format", "json").stdout)
    assert [m["label"] for m in j["modules"]] == ["module[1]"]
    assert [m["label"] for m in j["unmatched"]] == ["module[0]", "component[0]/module[0]"]
    assert j["modules"][0]["result"]["paths"] == [['export "h"', "function[1]", "x"]]
    d = json.loads(auditor("dominators", component, 'export "g"', "--format", "json").stdout)
    assert [m["label"] for m in d["modules"]] == ["component[0]/module[0]"]
    for cmd in (["paths", component, "nowhere"], ["dominators", component, "nowhere"]):
        proc = auditor(*cmd, expect=2)
        assert proc.stdout == "" and proc.stderr == f"auditor: {component}: no item is named or matches 'nowhere'\n"


def _section(sid: int, payload: bytes) -> bytes:
    n, leb = len(payload), bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        leb.append(b | (0x80 if n else 0))
        if not n:
            return bytes([sid]) + bytes(leb) + payload


PREAMBLE = b"\0asm\x0d\x00\x01\x00"


def test_malformed_components_are_one_line_with_the_file_offset(tmp_path):
    bad_module = b"\0asm\x01\x00\x00\x00" + b"\x01\x05\x01\x60\x00"  # type section cut short
    cases = {
        # the core module's own error, at its offset in the file
        "bad-module": (PREAMBLE + _section(1, bad_module), r"byte 1[0-9] \(0x[0-9a-f]+\): .* \(in module\[0\]\)$"),
        "overrun": (PREAMBLE + b"\x01\x7f" + b"\0" * 4, r"byte 10 \(0xa\): section 1 at byte 8 runs 123 bytes past"),
        "nested-preamble": (PREAMBLE + _section(4, b"\0asm\x01\x00\x00\x00"),
                            r"byte 10 \(0xa\): a nested component without the component preamble$"),
    }
    for name, (data, pattern) in cases.items():
        path = tmp_path / f"{name}.wasm"
        path.write_bytes(data)
        for cmd in ("top", "monos"):
            proc = auditor(cmd, path, expect=2)
            assert proc.stdout == "" and proc.stderr.count("\n") == 1, (name, proc.stderr)
            assert re.search(pattern, proc.stderr.strip()), (name, proc.stderr)


def test_deep_nesting_is_refused_in_linear_time(tmp_path):
    data = b""
    for _ in range(5000):  # a component in a component in ...: 5,000 levels, 60 KB
        data = PREAMBLE + _section(4, data) if data else PREAMBLE
    path = tmp_path / "deep.wasm"
    path.write_bytes(data)
    t0 = time.monotonic()
    proc = auditor("top", path, expect=2)
    assert time.monotonic() - t0 < 2
    assert "components nested more than 100 deep" in proc.stderr and proc.stderr.count("\n") == 1
