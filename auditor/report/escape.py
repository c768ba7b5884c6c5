"""Text from modules is untrusted: the one place it is made safe for where it goes.

A wasm module's names (name section, exports, imports, custom-section names, data
strings) are bytes the module's author chose. Written raw, `ESC c` resets the reader's
terminal, `ESC ]8;;` makes a hyperlink, a carriage return overwrites a line, U+202E
reverses what follows, and a byte such as 0x01 makes XML that no parser accepts.

- `visible(text)`: every control character (C0 but tab, newline and CRLF when `lines`, DEL,
  C1), the bidirectional overrides and isolates, line/paragraph separators, lone
  surrogates and non-characters become a visible `\\xNN` / `\\uNNNN` escape, and a
  backslash that would start one is doubled only when the text needs escaping (so
  ordinary Windows paths and `a\\b` stay as they are). Terminal and markdown formats.
- `TERMINAL_FILTER`: `visible(…, lines=True)` as the registry's output filter of the
  text, markdown and github formats: every renderer of those formats, present and
  future, is filtered (`Registry.render` renders without colour first, so a control
  character it finds can only come from the data; then colour is given up).
- `xml_text(text)`: what XML 1.0 cannot carry at all (C0 but tab/newline/CR, U+FFFE/F,
  surrogates), escaped the same way; the serializer handles `<`, `&` and quotes.
"""

from __future__ import annotations

import re

from auditor.report.registry import OutputFilter

# C0 controls but \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates and marks,
# line and paragraph separators, BOM / zero-width no-break, lone surrogates, non-characters.
_UNSAFE_BUT_CR = ("\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff"
                  "\ud800-\udfff\ufffe\uffff")
# lines: a CR is kept only as half of a CRLF line end (a CRLF Cargo.toml's `fix` diff must
# still apply with patch); a lone CR, which rewrites the line on a terminal, is escaped
_TERMINAL = re.compile(f"[{_UNSAFE_BUT_CR}]|\r(?!\n)")
_TERMINAL_ONE_LINE = re.compile(f"[{_UNSAFE_BUT_CR}\r\t\n]")
_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def needs_escape(text: str, *, lines: bool = False) -> bool:
    return bool((_TERMINAL if lines else _TERMINAL_ONE_LINE).search(text))


def visible(text: object, *, lines: bool = False) -> str:
    """`text` safe for a terminal, a log or markdown: control and invisible-direction
    characters shown as escapes. With `lines`, tab and newline are kept (multi-line
    text the report itself lays out); otherwise they are escaped too (a name, a cell)."""
    s = "" if text is None else str(text)
    pattern = _TERMINAL if lines else _TERMINAL_ONE_LINE
    if not pattern.search(s):
        return s
    return pattern.sub(lambda m: _escape(m.group()), s.replace("\\", "\\\\"))


def xml_text(text: object) -> str:
    """`text` that XML 1.0 can carry (ElementTree escapes markup; this removes what no
    escaping can: C0 controls, U+FFFE/U+FFFF, surrogates)."""
    s = "" if text is None else str(text)
    if not _XML.search(s):
        return s
    return _XML.sub(lambda m: _escape(m.group()), s.replace("\\", "\\\\"))


def _needs_lines(text: str) -> bool:
    return needs_escape(text, lines=True)


def _visible_lines(text: str) -> str:
    return visible(text, lines=True)


# The output filter of the text, markdown and github formats (registered in formats.py).
TERMINAL_FILTER = OutputFilter(_needs_lines, _visible_lines)
