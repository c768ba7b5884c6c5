"""memory.grow sites and whether each result is compared with -1 before use.

memory.grow returns the old size in pages or -1 on failure; an allocator that uses the
result unchecked turns an out-of-memory into a write at address 0xFFFF0000 (or silent
corruption) instead of a null return. The check is a short forward data-flow walk from
the site over the following instructions of the same body: the result is tracked on a
symbolic stack and through locals (local.set/tee/get) until it meets a comparison with
-1 (or an equivalent test: `< 0`, `> -1`, unsigned compare with a constant above the
page limit, `x + 1 == 0`), is dropped, or the walk ends (`WINDOW` instructions, a call
or the end of the body), in which case it counts as unchecked.

A result that the function returns (on top at `return` or at the body's final `end`,
as in lol_alloc's `DefaultGrower::memory_grow`, a one-line wrapper) is followed into its
callers: each direct `call` of that function is walked the same way with the call's
result in the grow result's place, through further returns up to `RETURN_DEPTH`
functions. The site counts as checked (`use` "compared-by-caller") only when the function
cannot be reached any other way (not exported, not in a table or `ref.func`), has at
least one call site, and every call site compares; otherwise it stays unchecked
(`use` "returned").
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from auditor.records.inspect import GrowSiteRecord
from auditor.wasm.model import Module
from auditor.wasm.opcodes import (
    OP_CALL,
    OP_CALL_INDIRECT,
    OP_DROP,
    OP_I32_CONST,
    OP_I64_CONST,
    OP_LOCAL_GET,
    OP_LOCAL_SET,
    OP_LOCAL_TEE,
    OP_MEMORY_GROW,
    code_start,
    decode,
)

WINDOW = 48
LOOKBEHIND = 6
RETURN_DEPTH = 3
OP_RETURN, OP_END = 0x0F, 0x0B

_EQ_NE = {0x46, 0x47, 0x51, 0x52}
_LT_S = {0x48, 0x53}
_GT_S = {0x4A, 0x55}
_LE_S = {0x4C, 0x57}
_GE_S = {0x4E, 0x59}
_UNSIGNED = {0x49, 0x4B, 0x4D, 0x4F, 0x54, 0x56, 0x58, 0x5A}
_COMPARES = _EQ_NE | _LT_S | _GT_S | _LE_S | _GE_S | _UNSIGNED
_EQZ = {0x45, 0x50}
_ADD = {0x6A, 0x7C}
_STOP = {0x00, 0x0F, 0x12, 0x13}  # unreachable, return, return_call(_indirect)

# c OP G  ==  G SWAP[OP] c
_SWAP = {0x48: 0x4A, 0x4A: 0x48, 0x4C: 0x4E, 0x4E: 0x4C, 0x53: 0x55, 0x55: 0x53, 0x57: 0x59, 0x59: 0x57,
         0x49: 0x4B, 0x4B: 0x49, 0x4D: 0x4F, 0x4F: 0x4D, 0x54: 0x56, 0x56: 0x54, 0x58: 0x5A, 0x5A: 0x58}

G, G1 = "G", "G+1"  # the grow result, and the result plus one


@dataclass
class GrowSite:
    function: int  # function index
    name: str | None
    offset: int  # file offset of the memory.grow opcode
    memory: int
    checked: bool
    use: str  # compared | dropped | unchecked

    def to_json(self) -> GrowSiteRecord:
        return {
            "function": self.function,
            "name": self.name,
            "offset": self.offset,
            "memory": self.memory,
            "checked": self.checked,
            "use": self.use,
        }


def _is_minus_one(v) -> bool:
    return isinstance(v, tuple) and v[1] in (-1, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


def _classify(insns: list, i: int, pops: int = 1) -> str:
    """How the value instruction `i` pushes (memory.grow's result, or a call's: `pops`
    operands) is used: compared | dropped | returned | unchecked."""
    # Start a few instructions early so a constant pushed before the grow's operand
    # (`i32.const -1 ... memory.grow i32.eq`) is on the symbolic stack too.
    stack: list = []
    tainted: set[int] = set()
    lead = max(0, i - LOOKBEHIND)
    last = len(insns) - 1
    for j, (_, op, val) in enumerate(insns[lead : i + 1 + WINDOW], start=lead):
        if j == i:
            for _ in range(pops):
                if stack:
                    stack.pop()
            stack.append(G)
            continue
        if j > i and (op == OP_RETURN or (op == OP_END and j == last)):
            # The function's result: followed into its callers by find_grow_sites.
            return "returned" if stack and stack[-1] == G else "unchecked"
        if j < i and op in (OP_LOCAL_TEE, OP_LOCAL_SET, OP_DROP) + tuple(_STOP):
            # Before the site only the stack shape matters.
            if op == OP_LOCAL_SET or op == OP_DROP:
                if stack:
                    stack.pop()
            elif op in _STOP:
                stack.clear()
            continue
        if op == OP_LOCAL_TEE:
            if stack and stack[-1] in (G, G1):
                tainted.add(val)
            else:
                tainted.discard(val)
        elif op == OP_LOCAL_SET:
            top = stack.pop() if stack else None
            if top == G:
                tainted.add(val)
            else:
                tainted.discard(val)
        elif op == OP_LOCAL_GET:
            stack.append(G if val in tainted else None)
        elif op in (OP_I32_CONST, OP_I64_CONST):
            stack.append(("c", val))
        elif op in _COMPARES:
            b = stack.pop() if stack else None
            a = stack.pop() if stack else None
            if G in (a, b):
                other, g_left = (b, True) if a == G else (a, False)
                if isinstance(other, tuple):
                    c = other[1]
                    if op in _EQ_NE and c == -1:
                        return "compared"
                    # Normalise to "G op c".
                    if not g_left:
                        op = _SWAP.get(op, op)
                    if (op in _LT_S or op in _GE_S) and c == 0:
                        return "compared"
                    if (op in _GT_S or op in _LE_S) and c == -1:
                        return "compared"
                    if op in _UNSIGNED and (c & 0xFFFFFFFFFFFFFFFF) >= 0x10000:
                        return "compared"
            stack.append(None)
        elif op in _EQZ:
            a = stack.pop() if stack else None
            if a == G1:
                return "compared"
            stack.append(None)
        elif op in _ADD:
            b = stack.pop() if stack else None
            a = stack.pop() if stack else None
            if G in (a, b) and (("c", 1) in (a, b)):
                stack.append(G1)
            else:
                stack.append(None)
        elif op == OP_DROP:
            top = stack.pop() if stack else None
            if top == G and not tainted:
                return "dropped"
        elif op in _STOP:
            break
        elif op in (OP_CALL, OP_CALL_INDIRECT):
            stack.clear()
        else:
            # Unknown stack effect: forget the stack, keep following the locals.
            stack.clear()
    return "unchecked"


def find_grow_sites(mod: Module) -> list[GrowSite]:
    """Every memory.grow in every body, in file order.

    The parse pass (which validates every body) kept each body's memory.grow among its
    (opcode, value) pairs, so the bodies with a site are known without another walk (or
    from the item graph when it is built); only those few are decoded in full here.
    """
    grow = _grow_functions(mod)
    sites: list[GrowSite] = []
    data = mod.data
    callers = _Callers(mod)
    for f in mod.functions:
        if f.index not in grow:
            continue
        insns = decode(data, code_start(data, f.code_offset, f.end), f.end, mod.file)
        for i, (at, op, val) in enumerate(insns):
            if op == OP_MEMORY_GROW:
                use = _classify(insns, i)
                if use == "returned":
                    use = "compared-by-caller" if callers.all_compare(f.index, RETURN_DEPTH) else "returned"
                sites.append(GrowSite(f.index, f.name, at, val or 0, use in ("compared", "compared-by-caller"), use))
    return sites


def _grow_functions(mod: Module) -> set[int] | dict[int, list[int]]:
    """Indices of the functions whose body holds a memory.grow: from the (opcode, value)
    pairs the parse pass kept (`parse.ParsedRefs`, left in place for a later item graph)
    when the item graph is not built yet, so `inspect` never builds it (0.1-0.25 s on the
    real modules, issue 16); else the graph's own record."""
    from auditor.wasm.parse import ParsedRefs

    built = mod.derived.get("item_graph")
    parsed = mod.derived.get(ParsedRefs.KEY)
    if built is not None or not isinstance(parsed, ParsedRefs) or len(parsed.starts) != len(mod.functions):
        from auditor.wasm.graph import item_graph

        return item_graph(mod).grow_offsets
    ops = parsed.flat[0::2]  # the opcodes (pairs start at even positions)
    bounds = [s // 2 for s in parsed.starts]
    out: set[int] = set()
    i = 0
    while True:
        try:
            i = ops.index(OP_MEMORY_GROW, i)
        except ValueError:
            return out
        k = bisect_right(bounds, i) - 1  # the body holding pair i (empty bodies before it share its start)
        out.add(mod.functions[k].index)
        i = bounds[k + 1] if k + 1 < len(bounds) else len(ops)


class _Callers:
    """Direct call sites per function (built on first use from the item graph's CALL
    edges) and whether every one of them compares the returned value."""

    def __init__(self, mod: Module):
        self.mod = mod
        self._rev: dict[int, list[int]] | None = None
        self._escapes: set[int] = set()
        self._memo: dict[int, bool] = {}

    def _index(self) -> dict[int, list[int]]:
        if self._rev is None:
            from auditor.wasm.graph import Edge, Kind, item_graph

            g = item_graph(self.mod)
            rev: dict[int, list[int]] = {}
            first_fn, n_fn = g.first[Kind.FUNCTION], g.count[Kind.FUNCTION]
            starts, succ, kinds = g.starts, g.targets, g.edge_kinds
            for item in range(len(starts) - 1):
                for e in range(starts[item], starts[item + 1]):
                    if kinds[e] == Edge.CALL:
                        rev.setdefault(succ[e], []).append(item)
                    else:  # ref.func, element segments, exports, start: reachable other than by a call
                        self._escapes.add(succ[e] - first_fn)
            self._escapes.update(i - first_fn for i in g.roots if first_fn <= i < first_fn + n_fn)
            self._rev = rev
        return self._rev

    def all_compare(self, func: int, depth: int) -> bool:
        if depth <= 0:
            return False
        if func in self._memo:
            return self._memo[func]
        self._memo[func] = False  # recursion through a cycle proves nothing
        rev = self._index()
        from auditor.wasm.graph import Kind, item_graph

        first_fn = item_graph(self.mod).first[Kind.FUNCTION]
        callers = rev.get(func + first_fn, [])
        ok = bool(callers) and func not in self._escapes
        ftype = self.mod.func_type(func)
        pops = len(ftype.params) if ftype is not None else 0
        bodies = {f.index: f for f in self.mod.functions}
        data = self.mod.data
        for caller_item in (callers if ok else []):
            c = bodies.get(caller_item - first_fn)
            if c is None:
                ok = False
                break
            insns = decode(data, code_start(data, c.code_offset, c.end), c.end, self.mod.file)
            for i, (_, op, val) in enumerate(insns):
                if op != OP_CALL or val != func:
                    continue
                use = _classify(insns, i, pops)
                if use == "returned":
                    ok = self.all_compare(c.index, depth - 1)
                else:
                    ok = use == "compared"
                if not ok:
                    break
            if not ok:
                break
        self._memo[func] = ok
        return ok
