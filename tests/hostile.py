"""A hand-made module whose names are hostile: control bytes and terminal escape
sequences in a function name (name section), an export name and a custom section's
name, for the tests of what reports do with untrusted module text.

Made with wat2wasm (a placeholder function name of 8 bytes, then patched in place so
every size LEB stays right) plus one custom section appended by hand:
  function 0 name  "grow_" + FUNC_TAIL   (0x01, ESC c = terminal reset, OSC 8 hyperlink start)
  export name      EXPORT                (ESC [2J = clear screen)
  custom section   CUSTOM                (ESC [31m = red), payload b"x"
Function 0 calls memory.grow and shifts the result without comparing it with -1, so
`inspect` reports AUD303 naming the function.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FUNC_TAIL = "\x01\x1bc\x1b]8;;"  # 8 bytes, the placeholder's length
FUNC = "grow_" + FUNC_TAIL
EXPORT = "grow\x1b[2Jx"
CUSTOM = "\x1b[31mevil"
RAW = ("\x01", "\x1b", "\x9b")  # what must never reach a terminal raw

WAT = r"""(module
  (memory 1)
  (func $grow_AAAAAAAA (export "grow\1b[2Jx") (param i32) (result i32)
    local.get 0
    memory.grow
    i32.const 16
    i32.shl))
"""


def hostile_wasm(where: Path) -> Path:
    wat, wasm = where / "hostile.wat", where / "hostile.wasm"
    wat.write_text(WAT)
    subprocess.run(["wat2wasm", "--debug-names", str(wat), "-o", str(wasm)], check=True)
    data = wasm.read_bytes()
    assert data.count(b"AAAAAAAA") == 1
    data = data.replace(b"AAAAAAAA", FUNC_TAIL.encode())
    name = CUSTOM.encode()
    section = bytes([len(name)]) + name + b"x"
    wasm.write_bytes(data + bytes([0, len(section)]) + section)
    return wasm
