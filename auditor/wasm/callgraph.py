"""Call edges between functions, the IR's edges: who calls whom, who is reachable.

Direct edges come from `call` / `return_call`; a function whose index escapes into a
table (element segments) or as `ref.func` may be called indirectly from any
`call_indirect`, so such functions are treated as callees of every function that has an
indirect call — conservative, like twiggy's treatment of tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.wasm.model import Module
from auditor.wasm.opcodes import OP_CALL, OP_CALL_INDIRECT, OP_REF_FUNC, OP_RETURN_CALL, code_start, decode, find_opcode
from auditor.wasm.reader import Reader

_TARGETS = frozenset((OP_CALL, OP_RETURN_CALL, OP_REF_FUNC))


@dataclass
class CallGraph:
    callees: dict[int, set[int]] = field(default_factory=dict)  # func index -> direct callees
    indirect_callers: set[int] = field(default_factory=set)  # functions with call_indirect
    escaping: set[int] = field(default_factory=set)  # in a table or taken by ref.func

    def successors(self, f: int) -> set[int]:
        out = self.callees.get(f, set())
        if f in self.indirect_callers:
            out = out | self.escaping
        return out

    def reachable(self, roots) -> set[int]:
        seen = set()
        todo = list(roots)
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            todo.extend(self.successors(f) - seen)
        return seen


def call_graph(mod: Module) -> CallGraph:
    g = CallGraph()
    data = mod.data
    for seg in mod.elements:
        g.escaping.update(seg.func_indices)
    for f in mod.functions:
        first = code_start(data, f.code_offset, f.end)
        callees: set[int] = set()
        hits = find_opcode(data, first, f.end, _TARGETS)
        if hits is None:  # unusual body: decode exactly (raises on malformed code)
            insns = decode(data, first, f.end, mod.file)
            hits_ops = [(op, v) for _, op, v in insns if op in _TARGETS]
            has_indirect = any(op == OP_CALL_INDIRECT for _, op, _ in insns)
        else:
            hits_ops = []
            for at in hits:
                r = Reader(data, at + 1, f.end)
                hits_ops.append((data[at], r.u32()))
            has_indirect = data.find(bytes((OP_CALL_INDIRECT,)), first, f.end) >= 0 and _has_indirect(data, first, f.end)
        for op, v in hits_ops:
            if op == OP_REF_FUNC:
                g.escaping.add(v)
            else:
                callees.add(v)
        g.callees[f.index] = callees
        if has_indirect:
            g.indirect_callers.add(f.index)
    return g


def _has_indirect(data: bytes, start: int, end: int) -> bool:
    # 0x11 is common inside immediates; confirm with the opcode walk.
    hits = find_opcode(data, start, end, frozenset((OP_CALL_INDIRECT,)))
    return bool(hits) if hits is not None else True
