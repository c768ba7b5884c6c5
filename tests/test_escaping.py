"""Untrusted module text never reaches a terminal or a markdown page raw.

The module is made by tests/hostile.py from a .wat (wasm-objdump, the independent
reader, confirms the raw bytes are in it); every text format of every command that reads
it must show them as visible escapes."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from auditor.report.escape import needs_escape, visible, xml_text
from auditor.report.formats import REGISTRY
from auditor.report.registry import Registry

import clirun
from fixturelib import wat
from hostile import CUSTOM, EXPORT, FUNC, hostile_wasm

RAW = [chr(c) for c in [*range(0, 9), *range(11, 32), 127, *range(0x80, 0xA0)]] + [
    "\u061c", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069", "\ufeff"]


def assert_safe(text: str) -> None:
    bad = sorted({c for c in text if c in RAW})
    assert not bad, f"raw {[hex(ord(c)) for c in bad]} in output"


# --------------------------------------------------------------------------- the helper


def test_visible_escapes_every_control_and_direction_character():
    for ch in RAW:
        out = visible(f"a{ch}b")
        assert out == f"a\\x{ord(ch):02x}b" if ord(ch) < 0x100 else f"a\\u{ord(ch):04x}b", (hex(ord(ch)), out)
        assert_safe(out)
    assert visible("tab\there\nline") == "tab\\x09here\\x0aline"  # a name or a cell: one line
    assert visible("tab\there\nline", lines=True) == "tab\there\nline"  # a report's own layout
    assert visible("crlf\r\nline", lines=True) == "crlf\r\nline"  # a CRLF file's diff (fix) still applies
    assert visible("over\rwrite", lines=True) == "over\\x0dwrite"  # a lone CR rewrites the line: escaped
    assert visible("C:\\dir\\file ok — ünïcödé 名前") == "C:\\dir\\file ok — ünïcödé 名前"  # nothing to escape
    assert visible("a\\x01\x01") == "a\\\\x01\\x01"  # when escaping, a literal backslash is doubled
    assert not needs_escape("plain") and needs_escape("\x1bc")
    assert visible(None) == ""


def test_xml_text_keeps_what_xml_can_carry():
    assert xml_text("tab\tnl\ncr\r é \x85 \u202e") == "tab\tnl\ncr\r é \x85 \u202e"  # legal XML 1.0
    assert xml_text("a\x01b\x1b\ufffe") == "a\\x01b\\x1b\\ufffe"


# --------------------------------------------------------------------------- the registry filter


@dataclass
class Hostile:
    KIND: ClassVar[str] = "hostilekind"
    name: str

    def to_json(self):
        return {"name": self.name}


def test_every_terminal_format_is_filtered_even_new_renderers():
    assert {"text", "markdown", "github"} <= set(REGISTRY.filters)
    reg = Registry()
    reg.kind("hostilekind", findings=False)
    reg.add("text", "hostilekind", lambda r, *, color=False: ("\x1b[1m" if color else "") + f"name: {r.name}\n")
    reg.filters = dict(REGISTRY.filters)
    # a clean name: colour as the renderer made it
    assert reg.render(Hostile("ok"), "text", color=True) == "\x1b[1mname: ok\n"
    # a hostile name: escaped, and the colour given up (no escape sequence can be trusted)
    out = reg.render(Hostile(FUNC), "text", color=True)
    assert out == "name: grow_\\x01\\x1bc\\x1b]8;;\n"


# --------------------------------------------------------------------------- real commands on a hostile module


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    where = tmp_path_factory.mktemp("hostile")
    wasm = hostile_wasm(where)
    objdump = subprocess.run(["wasm-objdump", "-x", str(wasm)], capture_output=True, text=True).stdout
    # the independent reader sees the raw names: the module is as hostile as meant
    assert f"<{FUNC}>" in objdump and f'-> "{EXPORT}"' in objdump and f'name: "{CUSTOM}"' in objdump
    return wasm


def auditor(*args, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in this process (tests/clirun.py: non-TTY pipes, the environment replaced);
    the job-summary and `fix` tests below keep a real child each."""
    r = clirun.run(args, cwd=cwd, env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": "", "HOME": "/nonexistent"})
    assert r.returncode in (0, 1), r.stderr
    return r


@pytest.mark.parametrize("fmt", ["text", "markdown", "github"])
def test_inspect_escapes_module_names(hostile, fmt):
    r = auditor("inspect", hostile, "--format", fmt, "--color", "always")
    assert_safe(r.stdout)
    assert_safe(r.stderr)
    # the function name (in a finding in every format; in the tables of text and markdown)
    assert "grow_\\x01\\x1bc\\x1b]8;;" in r.stdout
    if fmt == "text":
        assert "grow\\x1b[2Jx" in r.stdout  # the export
        assert "\\x1b[31mevil" in r.stdout  # the custom section's name


def test_inspect_json_keeps_the_real_names(hostile):
    """JSON is data: it carries the names as they are (escaped by JSON itself)."""
    r = auditor("inspect", hostile, "--format", "json")
    assert_safe(r.stdout)  # json.dumps escapes C0 controls
    report = json.loads(r.stdout)
    assert EXPORT in [e["name"] for e in report["exports"]]


def test_run_and_diff_escape_module_names(hostile, tmp_path):
    r = auditor("run", hostile)
    assert_safe(r.stdout)
    assert "grow_\\x01\\x1bc\\x1b]8;;" in r.stdout
    d = auditor("diff", wat("grow_sites"), hostile, "--format", "text")
    assert_safe(d.stdout)
    assert "grow_\\x01\\x1bc\\x1b]8;;" in d.stdout
    md = auditor("diff", wat("grow_sites"), hostile, "--format", "markdown")
    assert_safe(md.stdout)


def test_github_job_summary_is_escaped(hostile, tmp_path):
    summary = tmp_path / "summary.md"
    r = subprocess.run([sys.executable, "-m", "auditor", "inspect", str(hostile), "--format", "github"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode in (0, 1), r.stderr
    text = summary.read_text()
    assert_safe(text)
    assert "grow_\\x01\\x1bc\\x1b]8;;" in text


def test_fix_diff_of_a_crlf_manifest_is_not_escaped(tmp_path):
    """The filter keeps CRLF line ends: `fix --dry-run` of a CRLF Cargo.toml still applies with GNU patch."""
    d = tmp_path / "c"
    d.mkdir()
    (d / "Cargo.toml").write_bytes(b'[package]\r\nname = "c"\r\nversion = "0.1.0"\r\n\r\n[profile.release]\r\nopt-level = 3\r\n')
    r = subprocess.run([sys.executable, "-m", "auditor", "fix", "--dry-run"], cwd=d, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert b"\r\n" in r.stdout and b"\\x0d" not in r.stdout
    p = subprocess.run(["patch", "-p1", "--dry-run", "--binary", "-o", str(tmp_path / "patched")], input=r.stdout,
                       cwd=d, capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
