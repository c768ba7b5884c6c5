"""The wasm-bindgen ABI for scenarios and stubs (issue 11 item 4).

A `#[wasm_bindgen] fn f(size: usize) -> Option<Vec<u8>>` is, in cargo's module,
`f(retptr, size) -> ()`: the function writes its return words at `retptr` (for
`Option<Vec<u8>>` the pointer and the length, pointer 0 for `None`; for
`Result<T, JsValue>` T's words, the error's externref index, then an is-error flag). The
CLI's module returns the same words as multiple values. `&[u8]` arguments are a pointer
and a length into memory the JS glue fills after `__wbindgen_malloc(len, 1)`.

Scenarios say what they expect at the Rust level: `expect = "none" | "some" | "err"`
(and "ok"), and pass byte slices as `{ bytes = N }` (N bytes, byte i = i % 251) or
`{ data = [1, 2, 3] }`. Imports that the JS glue would satisfy get stubs by kind
(rules/ship.toml [js-stubs]): a rising clock for `performance.now`, console output
captured into the scenario's `stdout`, the describe/externref machinery as no-ops.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any

from auditor.wasm.model import WASM_BINDGEN_MODULES

BINDGEN_EXPECTS = ("none", "some", "err")
MALLOC = "__wbindgen_malloc"


def is_bytes_arg(a: object) -> bool:
    return isinstance(a, dict) and (("bytes" in a) ^ ("data" in a))


def arg_bytes(a: dict[str, Any]) -> bytes:
    if "data" in a:
        return bytes(int(x) & 0xFF for x in a["data"])
    return bytes(i % 251 for i in range(int(a["bytes"])))


@lru_cache(maxsize=1)
def _kinds() -> list[tuple[re.Pattern[str], str]]:
    from auditor.data import load_rules_file

    table = load_rules_file("ship.toml").get("js-stubs", {})
    return [(re.compile(p), kind) for p, kind in table.items()]


def stub_kind(module: str, name: str) -> str | None:
    """The kind of a JS import (`clock`, `console`, `noop`), None when not a wasm-bindgen one."""
    if module not in WASM_BINDGEN_MODULES:
        return None
    for pat, kind in _kinds():
        if pat.search(name):
            return kind
    return None


def js_stub(session: Any, module: str, name: str, results: list[str]) -> Any:
    """A stub for a wasm-bindgen import by kind, or None (the harness's own stub then)."""
    kind = stub_kind(module, name)
    if kind is None:
        return None
    defaults = {"i32": 0, "i64": 0, "f32": 0.0, "f64": 0.0}
    start = time.perf_counter()

    def ret() -> Any:
        vals = [defaults.get(r) for r in results]
        return None if not vals else vals[0] if len(vals) == 1 else vals

    if kind == "clock":
        def clock(*args: Any) -> Any:
            return (time.perf_counter() - start) * 1000.0  # milliseconds, rising like performance.now()
        return clock

    if kind == "console":
        def console(*args: Any) -> Any:
            text = f"<{name}>"
            if len(args) == 2 and all(isinstance(a, int) for a in args) and session.memory is not None:
                ptr, n = args[0] & 0xFFFFFFFF, args[1] & 0xFFFFFFFF
                try:
                    text = bytes(session.memory.read(session.store, ptr, ptr + min(n, 4096))).decode(
                        "utf-8", errors="replace")
                except Exception:  # noqa: BLE001 - out of bounds: keep the placeholder
                    pass
            session.console.append(text)
            return ret()
        return console

    def noop(*args: Any) -> Any:
        return ret()
    return noop


def expand_args(session: Any, args: list[Any]) -> list[Any]:
    """Scenario args with every byte slice copied in through `__wbindgen_malloc` and
    replaced by (ptr, len)."""
    out: list[Any] = []
    for a in args:
        if not is_bytes_arg(a):
            out.append(a)
            continue
        data = arg_bytes(a)
        if not session.has(MALLOC):
            raise ValueError(f"a byte-slice argument needs the {MALLOC} export (a wasm-bindgen module)")
        r = session.call(MALLOC, len(data), 1)
        if not r.ok:
            raise ValueError(f"{MALLOC}({len(data)}, 1) failed: {r.outcome}")
        ptr = r.value & 0xFFFFFFFF
        if data:
            session.memory.write(session.store, data, ptr)
        out += [ptr, len(data)]
    return out


def wants_retptr(params: tuple[str, ...], results: tuple[str, ...], nargs: int) -> bool:
    """cargo's form of a function returning through memory: one extra leading i32, no result."""
    return not results and len(params) == nargs + 1 and params[0] == "i32"


def retptr_area(session: Any) -> int:
    r = session.call(MALLOC, 32, 8)
    if not r.ok:
        raise ValueError(f"{MALLOC}(32, 8) failed: {r.outcome}")
    return r.value & 0xFFFFFFFF


def read_words(session: Any, ptr: int, n: int = 8) -> list[int]:
    raw = bytes(session.memory.read(session.store, ptr, ptr + 4 * n))
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]


def decode(expect: str, words: list[int], nwords: int | None) -> str:
    """The Rust-level outcome of a retptr/multi-value return: "none", "some", "err" or "ok".
    Option<Vec<_>>/Option<String>: word 0 is the pointer (0 = None). Result<T, JsValue>:
    the last of `nwords` words is the is-error flag (nwords: the multi-value result count;
    for cargo's retptr form the scenario's expectation decides how it is read: "err"/"ok"
    read word `nwords-1`, default 3, Result<u32|i32|usize, JsValue>)."""
    if expect in ("none", "some"):
        return "none" if words[0] == 0 else "some"
    flag = words[(nwords or 3) - 1]
    return "err" if flag else "ok"
