"""The WebAssembly features a module uses: what a tool that rewrites it (wasm-opt) must
enable so it does not refuse the module (wasm-pack#1501, rust-lang/rust#141080).

Two sources, both from the module itself: the `target_features` custom section rustc and
LLVM write (`+bulk-memory`, ...), and the proposals of the instructions its function
bodies contain (the opcode table's `proposal` of each group, rules/wasm_opcodes.toml),
plus shared or 64-bit memories. Names are the section's feature names and the table's
proposal names; the shipping stage maps them to tool flags (rules/ship.toml).
"""

from __future__ import annotations

from functools import lru_cache

from auditor.wasm import model as m
from auditor.wasm.opcodes import code_start, decode, tables


@lru_cache(maxsize=1)
def _proposals() -> dict[int, str]:
    """Opcode (byte, or prefix << 16 | sub-opcode, as `decode` gives it) -> proposal."""
    t = tables()
    out = {code: op.proposal for code, op in t.single.items()}
    for prefix, subs in t.prefixed.items():
        out.update({prefix << 16 | sub: op.proposal for sub, op in subs.items()})
    return out


def used_features(mod: m.Module) -> list[str]:
    """Sorted feature names: `target_features` entries marked `+` or `=`, the non-core
    proposals of the instructions in every body, `threads`/`memory64` for such memories,
    `multivalue` for a function type with several results."""
    out: set[str] = {name for prefix, name in mod.target_features if prefix in ("+", "=")}
    seen_ops: set[int] = set()
    for f in mod.functions:
        try:
            first = code_start(mod.data, f.code_offset, f.end)
            seen_ops.update(op for _at, op, _v in decode(mod.data, first, f.end))
        except Exception:  # noqa: BLE001 - a malformed body: inspect reports it; features stay partial
            continue
    props = _proposals()
    out |= {props[op] for op in seen_ops if props.get(op, "core") != "core"}
    for mem in mod.memories:
        if mem.limits.shared:
            out.add("threads")
        if mem.limits.memory64:
            out.add("memory64")
    if any(t is not None and len(t.results) > 1 for t in mod.types):
        out.add("multivalue")
    return sorted(out)


def file_features(path: str) -> list[str]:
    from pathlib import Path

    from auditor.wasm.parse import parse_module

    return used_features(parse_module(Path(path).read_bytes(), str(path)))


def compressed(data: bytes, mode: str = "auto") -> tuple[int | None, int | None]:
    """(gzip, brotli) sizes of `data` with the settings `inspect --compression MODE` uses."""
    from auditor.wasm.inspect import AUTO_EXACT_LIMIT, _compress

    if mode == "auto":
        mode = "exact" if len(data) <= AUTO_EXACT_LIMIT else "fast"
    return _compress(data, mode)
