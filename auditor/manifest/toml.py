"""TOML files with the line and column of every key.

tomllib gives values and tomlkit keeps formatting, but neither records where a key sits,
and diagnostics (`Cargo.toml:12:1: AUD103 …`), config errors and budget annotations all
need exact lines. So values come from tomllib (fast, strict) and positions from a small
scanner run over the same text once tomllib has accepted it: the scanner can then be
lenient, it only has to follow headers, keys, strings, arrays and inline tables.

Paths are tuples of keys; elements of arrays (of tables or inline) are int indexes:
`[[package.metadata.auditor.budget]]` number 2, key `raw` is
("package", "metadata", "auditor", "budget", 1, "raw").
"""

from __future__ import annotations

import bisect
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from auditor.errors import AuditorError

Path_ = tuple  # tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ERR_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_PLAIN_STR = re.compile(r'"([^"\\\n]*)"')
_SCALAR = re.compile(r"[^\s,\]}#]+(?:[ T][0-9:.+\-Z]+)?")
_ERR_END = re.compile(r"\s*\(at end of document\)\s*$")


@dataclass
class TomlDoc:
    """One parsed TOML file: its text, plain values and key positions (1-based)."""

    path: Path
    display: str  # how diagnostics name the file (relative to the cwd when possible)
    text: str
    data: dict
    positions: dict = field(default_factory=dict)  # path tuple -> (line, col)

    def pos(self, path: Path_) -> tuple[int, int] | None:
        return self.positions.get(tuple(path))

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def where(self, path: Path_) -> str:
        """`file:line:col` of a key, or the bare file when it has no position."""
        p = self.pos(path)
        return f"{self.display}:{p[0]}:{p[1]}" if p else self.display


def display_path(path: Path) -> str:
    """Relative to the working directory when below it or near it (`../Cargo.toml`),
    absolute otherwise: short diagnostics that still open from the shell."""
    return _display(str(path), os.getcwd())


@lru_cache(maxsize=1024)
def _display(path: str, _cwd: str) -> str:
    try:
        p, cwd = Path(path).resolve(), Path.cwd().resolve()
    except OSError:
        return str(path)
    try:
        return str(p.relative_to(cwd))
    except ValueError:
        pass
    common = Path(os.path.commonpath([p, cwd]))
    if common != Path(common.anchor) and len(cwd.relative_to(common).parts) <= 3:
        return os.path.relpath(p, cwd)
    return str(p)


def parse_error(display: str, e: tomllib.TOMLDecodeError, text: str) -> AuditorError:
    msg = str(e)
    m = _ERR_POS.search(msg)
    if m:
        line, col = int(m.group(1)), int(m.group(2))
        msg = msg[: m.start()]
    else:
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        msg = _ERR_END.sub("", msg)
    return AuditorError(f"parse error: {msg}", f"{display}:{line}:{col}")


def parse(text: str, path: Path | str = "<string>", display: str | None = None) -> TomlDoc:
    path = Path(path)
    display = display or display_path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise parse_error(display, e, text) from None
    return TomlDoc(path, display, text, data, scan_positions(text))


def load(path: Path | str) -> TomlDoc:
    """Read and parse a TOML file; bad files raise AuditorError with file:line:col."""
    path = Path(path)
    st = _stat(path)
    return _load_cached(os.path.abspath(path), st, display_path(path))


def _stat(path: Path):
    try:
        st = path.stat()
    except OSError as e:
        raise AuditorError(f"cannot read: {e.strerror}", str(path)) from None
    return (st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _load_cached(resolved: str, _stat_key, display: str) -> TomlDoc:
    path = Path(resolved)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AuditorError(f"cannot read: {e.strerror}", display) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise AuditorError("parse error: invalid UTF-8", f"{display}:{line}:{col}") from None
    return parse(text, path, display)


# --------------------------------------------------------------------------- scanner


class _Scanner:
    """Follows just enough TOML syntax to record where each key starts (tomllib has validated it)."""

    def __init__(self, text: str):
        self.t = text
        self.n = len(text)
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.positions: dict = {}
        self.aot: dict = {}  # array-of-tables path -> current index

    def lc(self, i: int) -> tuple[int, int]:
        k = bisect.bisect_right(self.line_starts, i) - 1
        return k + 1, i - self.line_starts[k] + 1

    def mark(self, path: tuple, i: int) -> None:
        self.positions.setdefault(path, self.lc(i))

    # -- low level
    def skip_ws(self, newlines: bool = False) -> None:
        t, n = self.t, self.n
        while self.i < n:
            c = t[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                j = t.find("\n", self.i)
                self.i = n if j < 0 else j
            else:
                break

    def key_part(self) -> str:
        t = self.t
        c = t[self.i] if self.i < self.n else ""
        if c == '"':
            return self.basic_string()
        if c == "'":
            j = t.find("'", self.i + 1)
            s = t[self.i + 1 : j]
            self.i = j + 1
            return s
        m = _BARE.match(t, self.i)
        if not m:
            raise ValueError(f"key expected at {self.lc(self.i)}")
        self.i = m.end()
        return m.group(0)

    def dotted_key(self) -> list[str]:
        parts = [self.key_part()]
        while True:
            self.skip_ws()
            if self.i < self.n and self.t[self.i] == ".":
                self.i += 1
                self.skip_ws()
                parts.append(self.key_part())
            else:
                return parts

    def basic_string(self) -> str:
        # opening quote at self.i, single line, with escapes
        m = _PLAIN_STR.match(self.t, self.i)
        if m:
            self.i = m.end()
            return m.group(1)
        t = self.t
        i = self.i + 1
        out = []
        while t[i] != '"':
            if t[i] == "\\":
                out.append(_unescape(t, i))
                i += _escape_len(t, i)
            else:
                out.append(t[i])
                i += 1
        self.i = i + 1
        return "".join(out)

    def skip_string(self) -> None:
        t = self.t
        if t.startswith('"""', self.i) or t.startswith("'''", self.i):
            q = t[self.i : self.i + 3]
            i = self.i + 3
            while True:
                j = t.find(q, i)
                if q == '"""':
                    k = j - 1
                    bs = 0
                    while t[k] == "\\":
                        bs += 1
                        k -= 1
                    if bs % 2:
                        i = j + 1
                        continue
                # up to two extra quotes may belong to the content
                while t.startswith(q[0], j + 3):
                    j += 1
                self.i = j + 3
                return
        if t[self.i] == '"':
            self.basic_string()
        else:
            self.i = t.find("'", self.i + 1) + 1

    # -- values
    def value(self, path: tuple) -> None:
        c = self.t[self.i]
        if c in "\"'":
            self.skip_string()
        elif c == "[":
            self.i += 1
            idx = 0
            while True:
                self.skip_ws(newlines=True)
                if self.t[self.i] == "]":
                    self.i += 1
                    return
                self.mark(path + (idx,), self.i)
                self.value(path + (idx,))
                idx += 1
                self.skip_ws(newlines=True)
                if self.t[self.i] == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_ws(newlines=True)
                if self.t[self.i] == "}":
                    self.i += 1
                    return
                self.keyval(path)
                self.skip_ws(newlines=True)
                if self.t[self.i] == ",":
                    self.i += 1
        else:
            # number, bool, date: runs to a delimiter
            m = _SCALAR.match(self.t, self.i)
            self.i = m.end() if m else self.i + 1

    def keyval(self, table: tuple) -> None:
        start = self.i
        parts = self.dotted_key()
        for k in range(1, len(parts) + 1):
            self.mark(table + tuple(parts[:k]), start)
        self.skip_ws()
        self.i += 1  # '='
        self.skip_ws()
        self.value(table + tuple(parts))

    def resolve(self, parts: list[str]) -> tuple:
        out: list = []
        for p in parts:
            out.append(p)
            idx = self.aot.get(tuple(out))
            if idx is not None:
                out.append(idx)
        return tuple(out)

    def run(self) -> dict:
        """Key path -> position for the whole document, tracking [table] and [[array]] context."""
        t = self.t
        table: tuple = ()
        while True:
            self.skip_ws(newlines=True)
            if self.i >= self.n:
                return self.positions
            start = self.i
            if t.startswith("[[", self.i):
                self.i += 2
                self.skip_ws()
                parts = self.dotted_key()
                key = self.resolve(parts[:-1]) + (parts[-1],)
                self.aot[key] = self.aot.get(key, -1) + 1
                # an AoT nested under this one restarts its numbering per element
                for other in [k for k in self.aot if len(k) > len(key) and k[: len(key)] == key]:
                    del self.aot[other]
                table = key + (self.aot[key],)
                for k in range(1, len(key) + 1):
                    self.mark(key[:k], start)
                self.mark(table, start)
                self.skip_ws()
                self.i += 2
            elif t[self.i] == "[":
                self.i += 1
                self.skip_ws()
                parts = self.dotted_key()
                table = self.resolve(parts)
                for k in range(1, len(table) + 1):
                    self.mark(table[:k], start)
                self.skip_ws()
                self.i += 1
            else:
                self.keyval(table)


_ESC = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _escape_len(t: str, i: int) -> int:
    c = t[i + 1]
    return 6 if c == "u" else 10 if c == "U" else 2


def _unescape(t: str, i: int) -> str:
    c = t[i + 1]
    if c in "uU":
        return chr(int(t[i + 2 : i + _escape_len(t, i)], 16))
    return _ESC.get(c, c)


def scan_positions(text: str) -> dict:
    """Key path -> (line, col) for a document tomllib has already accepted."""
    s = _Scanner(text)
    try:
        return s.run()
    except (ValueError, IndexError, AttributeError):
        # A construct the scanner does not follow: keep what it found so far rather
        # than fail a valid file; later keys then fall back to the file name.
        return s.positions


# --------------------------------------------------------------------------- writing
# The one TOML writer for single values: `cargo --config` arguments, dependency lines,
# `auditor config` output and rule messages all write values through it, so every string
# is escaped the way TOML wants (quotes, backslashes, control characters, C0 and C1;
# other non-ASCII as is, never JSON's surrogate pairs).

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def string(text: str) -> str:
    """A TOML basic string."""
    out = []
    for ch in text:
        esc = _ESCAPES.get(ch)
        # C1 controls too: TOML allows them raw, but a terminal reads U+009B as CSI
        if esc is None and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F):
            esc = f"\\u{ord(ch):04X}"
        out.append(esc if esc is not None else ch)
    return '"' + "".join(out) + '"'


def key(name: str) -> str:
    """A key: bare when TOML allows it, else quoted."""
    return name if _BARE.fullmatch(name) else string(name)


def literal(value: object) -> str:
    """A TOML value: booleans, integers, floats (inf and nan too), strings, arrays and
    inline tables. Anything else (None: TOML has no null) is a TypeError."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key(str(k))} = {literal(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")
