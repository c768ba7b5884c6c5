"""Rule engine: interprets the `check` tables of rules/*.toml over a report's JSON facts.

Rules work on the documented JSON contracts (auditor.manifest/1, auditor.inspect/1,
auditor.run/1, auditor.scan/1), never on Python objects, so a rule written against the
README's field list keeps working whatever the stage's internals become.

Check language (all keys optional except `when`):

    [rule.check]
    for-each = "packages[*]"            # items to test; default: the whole facts object
    measurable = [ COND, ... ]          # all must hold or the check is "error" (not measured)
    compute.NAME = { op = "sum", from = "functions[*]", field = "size", where = [COND] }
    when = [ COND, ... ]                # all hold -> one finding for the item
    at = ["profile.at.lto", "profile"]  # first path resolving to {file, line[, column]}
    variant = "{profile}/{allocator}"   # tag findings with a variant id (scan rules)

    COND = { path = P, op = OP, value = V | threshold = "name" | value-from = P }
         | { all = [COND...] } | { any = [COND...] } | { not = COND }
    OP   = eq ne in not-in gt ge lt le exists missing null not-null truthy falsy
           matches not-matches contains startswith
    compute ops: sum count max min first list, or expr = "ceil(({a} + {b}) / 65536)"

Paths: `a.b.0.c` from the item; `$.x` from the facts root; `.` the item itself;
`threshold.x` a threshold (config can override); `let.x` a computed value; selectors add
`[*]` to fan out over lists. Messages are templates: `{path}`, `{path:toml}` (TOML-style
value), `{path:bytes}` (human bytes), `{path:pct}`; `{path?text}` prints `text` when the
value is null or missing (an unnamed function is not a function called "none");
`{list[*].field}` prints the fields comma-separated.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.findings import Check, Finding
from auditor.manifest.toml import literal
from auditor.records.scan import join_id
from auditor.rules.catalog import Rule, load_catalog

MISSING = object()


class NotMeasured(Exception):
    """A fact the rule needs is absent: the check is reported as "error", not pass."""


@dataclass
class Ctx:
    item: Any  # the object a condition reads (the facts, or one `for-each` element)
    root: Any  # the whole facts record (`$.` paths)
    thresholds: dict[str, Any]
    let: dict[str, Any]


# --------------------------------------------------------------------------- paths

_SEG = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]")


@functools.lru_cache(maxsize=4096)
def _segments(path: str) -> tuple:
    """A path's steps, parsed once per distinct path (rules evaluate the same few hundred
    paths over every variant and item)."""
    out: list = []
    for m in _SEG.finditer(path):
        if m.group(1) is not None:
            out.append(int(m.group(1)) if m.group(1).lstrip("-").isdigit() else m.group(1))
        else:
            out.append("*" if m.group(2) == "*" else int(m.group(2)))
    return tuple(out)


def _step(cur, seg):
    if isinstance(seg, int):
        return cur[seg] if isinstance(cur, list) and -len(cur) <= seg < len(cur) else MISSING
    if isinstance(cur, dict):
        return cur.get(seg, MISSING)
    return MISSING


def select(obj, selector: str) -> list:
    """All values a selector reaches; `[*]` fans out over lists (and dict values)."""
    cur = [obj]
    for seg in _segments(selector):
        nxt = []
        for c in cur:
            if seg == "*":
                if isinstance(c, list):
                    nxt.extend(c)
                elif isinstance(c, dict):
                    nxt.extend(c.values())
                elif c is not None and c is not MISSING:
                    nxt.append(MISSING)
            else:
                v = _step(c, seg)
                if v is not MISSING:
                    nxt.append(v)
        cur = nxt
    return cur


def resolve(ctx: Ctx, path: str):
    """A path's value relative to the item, the root (`$.`), a threshold or a computed `let.` value."""
    if path == ".":
        return ctx.item
    if path == "$":
        return ctx.root
    if path.startswith("$."):
        base, path = ctx.root, path[2:]
    elif path.startswith("threshold."):
        base, path = ctx.thresholds, path[len("threshold."):]
    elif path.startswith("let."):
        base, path = ctx.let, path[len("let."):]
    else:
        base = ctx.item
    return _walk(base, path)


def _walk(cur, path: str):
    for seg in _segments(path):
        cur = _step(cur, seg)
        if cur is MISSING:
            return MISSING
    return cur


# --------------------------------------------------------------------------- conditions


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eq(a, b) -> bool:
    # TOML true must not equal 1, nor false equal 0
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _compare(op: str, a, b) -> bool:
    if op == "eq":
        return _eq(a, b)
    if op == "ne":
        return not _eq(a, b)
    if op in ("in", "not-in"):
        inside = any(_eq(a, x) for x in (b if isinstance(b, list) else [b]))
        return inside if op == "in" else not inside
    if op in ("gt", "ge", "lt", "le"):
        if not (_num(a) and _num(b)):
            return False
        return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
    if op in ("matches", "not-matches"):
        hit = isinstance(a, str) and re.search(str(b), a) is not None
        return hit if op == "matches" else not hit
    if op == "contains":
        return isinstance(a, (list, str)) and (b in a)
    if op == "startswith":
        return isinstance(a, str) and a.startswith(str(b))
    raise AuditorError(f"unknown operator {op!r} in rule data")


def holds(cond: dict, ctx: Ctx, strict: bool = True) -> bool:
    """Evaluate one condition; a missing fact raises NotMeasured when `strict`."""
    if "all" in cond:
        return all(holds(c, ctx, strict) for c in cond["all"])
    if "any" in cond:
        return any(holds(c, ctx, strict) for c in cond["any"])
    if "not" in cond:
        return not holds(cond["not"], ctx, strict)
    op = cond["op"]
    v = resolve(ctx, cond["path"])
    if op == "exists":
        return v is not MISSING
    if op == "missing":
        return v is MISSING
    if v is MISSING:
        if strict:
            raise NotMeasured(cond["path"])
        return False
    if op == "null":
        return v is None
    if op == "not-null":
        return v is not None
    if op == "truthy":
        return bool(v)
    if op == "falsy":
        return not v
    if "threshold" in cond:
        ref = ctx.thresholds.get(cond["threshold"], MISSING)
        if ref is MISSING:
            raise AuditorError(f"rule data names unknown threshold {cond['threshold']!r}")
    elif "value-from" in cond:
        ref = resolve(ctx, cond["value-from"])
        if ref is MISSING:
            if strict:
                raise NotMeasured(cond["value-from"])
            return False
    else:
        ref = cond.get("value")
    return _compare(op, v, ref)


# --------------------------------------------------------------------------- compute


_EXPR_FUNCS = {"ceil": math.ceil, "floor": math.floor, "min": min, "max": max, "abs": abs, "round": round}
_PLACEHOLDER = re.compile(r"\{([\w$.\-]+(?::\w+)?)\}")
_TEMPLATE = re.compile(r"\{([\w$.\-\[\]*]+(?::\w+)?)(?:\?([^{}]*))?\}")  # messages: {path:style?fallback}


@functools.lru_cache(maxsize=1024)
def _parsed_expr(expr: str) -> tuple[tuple[str, ...], ast.Expression]:
    """An expression's placeholders (in order) and its tree over v0, v1, ...: parsed once."""
    paths: list[str] = []

    def sub(m):
        paths.append(m.group(1))
        return f"v{len(paths) - 1}"

    tree = ast.parse(_PLACEHOLDER.sub(sub, expr), mode="eval")
    return tuple(paths), tree


def _expr(expr: str, ctx: Ctx):
    """Arithmetic over facts without eval(): only numbers, + - * / // %, and a few math functions."""
    names: dict = {}
    paths, tree = _parsed_expr(expr)
    for i, path in enumerate(paths):
        v = resolve(ctx, path.strip())
        if v is MISSING or v is None:
            raise NotMeasured(path)
        names[f"v{i}"] = v

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and _num(n.value):
            return n.value
        if isinstance(n, ast.Name) and n.id in names:
            return names[n.id]
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                   ast.Div: lambda: a / b if b else math.inf, ast.FloorDiv: lambda: a // b if b else math.inf,
                   ast.Mod: lambda: a % b}
            if type(n.op) in ops:
                return ops[type(n.op)]()
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _EXPR_FUNCS:
            return _EXPR_FUNCS[n.func.id](*[ev(a) for a in n.args])
        raise AuditorError(f"unsupported expression in rule data: {expr!r}")

    return ev(tree)


_UNARY_OPS = frozenset({"exists", "missing", "null", "not-null", "truthy", "falsy"})


def _plain_key(path: Any) -> bool:
    """A path that is one key of the item (`size`, `demangled`): no root, threshold, let,
    nesting, index or `.`."""
    return (isinstance(path, str) and path not in (".", "$") and not path.startswith(("$.", "threshold.", "let."))
            and len(_segments(path)) == 1 and isinstance(_segments(path)[0], str) and _segments(path)[0] == path)


def _item_test(cond: dict):
    """`holds(cond, Ctx(item, ...), strict=False)` as a function of the item alone, for a
    condition on one key of the item with a literal value (None for any other): a
    `compute` over a 45 MB module's 35,823 functions then costs a dict lookup and a test
    per function instead of a context, a path walk and an operator dispatch (issue 16)."""
    if not isinstance(cond, dict) or set(cond) - {"path", "op", "value"} or not _plain_key(cond.get("path")):
        return None
    key, op = cond["path"], cond["op"]
    if op in _UNARY_OPS:
        return lambda item: holds(cond, Ctx(item, None, {}, {}), strict=False)
    ref = cond.get("value")
    if op in ("matches", "not-matches"):
        hit = op == "matches"
        compiled: list = []  # compiled on first use, as re.search(str(ref), a) compiles it (a bad one raises then)

        def test(item) -> bool:
            v = item.get(key, MISSING) if isinstance(item, dict) else MISSING
            if v is MISSING:
                return False
            if not isinstance(v, str):
                return not hit
            if not compiled:
                compiled.append(re.compile(str(ref)))
            return (compiled[0].search(v) is not None) is hit
        return test
    if op not in ("eq", "ne", "in", "not-in", "gt", "ge", "lt", "le", "contains", "startswith"):
        return None  # an unknown operator raises, as holds() does

    def compare(item) -> bool:
        v = item.get(key, MISSING) if isinstance(item, dict) else MISSING
        return v is not MISSING and _compare(op, v, ref)
    return compare


_PLANS: dict[int, tuple[dict, list | None]] = {}  # id(compute spec) -> (spec, item tests or None)


def _item_tests(spec: dict) -> list | None:
    """The `where` conditions of a compute spec as item tests, made once per spec (rule
    data lives as long as the process); None when one needs the context."""
    plan = _PLANS.get(id(spec))
    if plan is None or plan[0] is not spec:
        tests = [_item_test(w) for w in spec.get("where", [])]
        plan = (spec, None if any(t is None for t in tests) else tests)
        _PLANS[id(spec)] = plan
    return plan[1]


def _compute(spec: dict, ctx: Ctx, memo: dict | None = None):
    """A `compute.NAME` aggregate; a missing list is NotMeasured, an empty one is a measured zero.

    `memo` (one per item of a rule): computes over the same list with the same item-only
    `where` share the filtered list (a rule's `count` and `sum` of the same functions)."""
    if "expr" in spec:
        return _expr(spec["expr"], ctx)
    base = ctx.root if spec.get("from", "").startswith("$.") else ctx.item
    sel = spec["from"][2:] if spec["from"].startswith("$.") else spec["from"]
    tests = _item_tests(spec)
    key = (spec["from"], repr(spec.get("where", [])))
    if tests is not None and memo is not None and key in memo:
        elems, kept_items = memo[key]
    else:
        elems = select(base, sel)
        if any(e is MISSING for e in elems) or (not elems and not _reaches(base, sel)):
            raise NotMeasured(spec["from"])
        kept_items = None
        if tests is not None:
            kept_items = [e for e in elems if all(t(e) for t in tests)] if tests else elems
            if memo is not None:
                memo[key] = (elems, kept_items)
    field = spec.get("field")
    if kept_items is not None and (field is None or _plain_key(field)):
        if field is None:
            vals = list(kept_items)
        else:
            vals = [v for v in (e.get(field, MISSING) if isinstance(e, dict) else MISSING for e in kept_items)
                    if v is not MISSING]
    else:
        subs = [Ctx(e, ctx.root, ctx.thresholds, ctx.let) for e in elems]
        kept = [c for c in subs if all(holds(w, c, strict=False) for w in spec.get("where", []))]
        vals = [resolve(c, spec["field"]) if "field" in spec else c.item for c in kept]
        vals = [v for v in vals if v is not MISSING]
    op = spec.get("op", "list")
    if op == "sum":
        return sum(v for v in vals if _num(v))
    if op == "count":
        return len(vals)
    if op in ("max", "min"):
        nums: list[float] = [v for v in vals if _num(v)]
        return (max if op == "max" else min)(nums) if nums else None
    if op == "first":
        return vals[0] if vals else None
    if op == "list":
        return vals
    raise AuditorError(f"unknown compute op {op!r} in rule data")


def _reaches(base, selector: str) -> bool:
    """Whether the selector's list itself exists (an empty list is a measured zero)."""
    return _walk(base, selector.split("[*]")[0]) is not MISSING


# --------------------------------------------------------------------------- templates


def render_value(v, style: str = "") -> str:
    """How a value reads inside a message: TOML-like, human bytes, percent or pages."""
    if style == "toml":
        return "none" if v is None else literal(v)
    if style == "bytes" and _num(v):
        from auditor.units import human_bytes

        return f"{human_bytes(int(v))}" if abs(v) >= 1024 else f"{int(v)} B"
    if style == "pct" and _num(v):
        return f"{v:.1f}%"
    if style == "pages" and _num(v):
        return f"{int(v)} pages ({render_value(int(v) * 65536, 'bytes')})"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join(render_value(x) for x in v)
    return str(v)


def _template_value(ctx: Ctx, path: str):
    """resolve(), plus selectors: `{evidence[*].function}` reads as the list of names."""
    if "[*]" not in path:
        return resolve(ctx, path)
    base, sel = (ctx.root, path[2:]) if path.startswith("$.") else (ctx.item, path)
    if not _reaches(base, sel):
        return MISSING
    return [v for v in select(base, sel) if v is not MISSING]


def fill(template: str, ctx: Ctx) -> str:
    def sub(m):
        path, _, style = m.group(1).partition(":")
        v = _template_value(ctx, path.strip())
        if m.group(2) is not None and (v is MISSING or v is None):
            return m.group(2)
        return "?" if v is MISSING else render_value(v, style.strip())

    return _TEMPLATE.sub(sub, template)


# --------------------------------------------------------------------------- evaluation


def _location(rule: Rule, ctx: Ctx) -> dict:
    for path in rule.check.get("at", []):
        v = resolve(ctx, path)
        if isinstance(v, dict) and "file" in v and "line" in v:
            return v
    return {}


def _effective(rule: Rule, config) -> tuple[str, dict]:
    level, thresholds = rule.level, dict(rule.thresholds)
    if config is not None:
        level = config.rule_level(rule.id) or level
        thresholds.update(config.rule_thresholds(rule.id))
    return level, thresholds


def evaluate_rule(rule: Rule, facts: Mapping[str, Any], config: ConfigView | None = None, *, target: str,
                  variant: str | None = None, default_file: str | None = None) -> Check | None:
    """One rule on one facts object: a Check (None when the rule is off)."""
    level, thresholds = _effective(rule, config)
    if level == "off":
        return None
    check = rule.check
    root_ctx = Ctx(facts, facts, thresholds, {})
    try:
        for cond in check.get("measurable", []):
            if not holds(cond, root_ctx, strict=False):
                return Check(rule.id, target, "error", _unmeasured(cond, root_ctx))
        if "for-each" in check:
            sel = check["for-each"]
            items = select(facts, sel)
            if not _reaches(facts, sel):
                raise NotMeasured(sel)
        else:
            items = [facts]
        findings = []
        for item in items:
            ctx = Ctx(item, facts, thresholds, {})
            memo: dict = {}
            for name, spec in check.get("compute", {}).items():
                ctx.let[name] = _compute(spec, ctx, memo)
            if all(holds(c, ctx) for c in check.get("when", [])):
                loc = _location(rule, ctx)
                findings.append(Finding(
                    rule=rule.id, level=level, message=fill(rule.message or rule.title, ctx),
                    title=rule.title, category=rule.category,
                    file=loc.get("file", default_file), line=loc.get("line"), column=loc.get("column"),
                    variant=fill(check["variant"], ctx) if "variant" in check else variant,
                    help=fill(rule.fix, ctx),
                ))
    except NotMeasured as e:
        return Check(rule.id, target, "error", f"not measured: the report has no {e.args[0]}")
    if findings:
        return Check(rule.id, target, "fail", findings[0].message if len(findings) == 1
                     else f"{len(findings)} findings", findings)
    return Check(rule.id, target, "pass")


def _unmeasured(cond: dict, ctx: Ctx) -> str:
    """Why a `measurable` condition failed, with the report's own `reason` when it has one
    next to the fact ("churn.verdict is not-probed: no allocation exports")."""
    path = cond.get("path")
    if not path:
        return "not measured"
    value = resolve(ctx, path)
    if value is MISSING:
        return f"not measured: the report has no {path}"
    parent = path.rpartition(".")[0]
    reason = resolve(ctx, f"{parent}.reason") if parent else MISSING
    text = f"not measured: {path} is {render_value(value)}"
    return text + (f": {reason}" if isinstance(reason, str) and reason else "")


def matching(item: Any, when: list[dict[str, Any]], compute: dict[str, Any] | None = None) -> Ctx | None:
    """The context of `item` (with its `compute` values as `let.`) when every `when`
    condition holds, else None. Lenient: a fact the item lacks makes its condition false
    instead of "not measured" (for policies such as the scan's recommendation, where a
    variant without runtime results is simply not ruled out)."""
    ctx = Ctx(item, item, {}, {})
    try:
        for name, spec in (compute or {}).items():
            ctx.let[name] = _compute(spec, ctx)
    except NotMeasured:
        return None
    return ctx if all(holds(c, ctx, strict=False) for c in when) else None


def rules_for(kind: str) -> list[Rule]:
    return [r for r in load_catalog().values() if r.kind == kind and r.check]


def evaluate(kind: str, facts: Mapping[str, Any], config: ConfigView | None = None) -> tuple[list[Finding], list[Check]]:
    """Findings and checks of every data rule of `kind` over one report's JSON object.

    kind: "manifest" (auditor.manifest/1), "inspect" (auditor.inspect/1), "run"
    (auditor.run/1) or "scan" (auditor.scan/1: scan rules, then the inspect and run
    rules on every variant's `wasm` and `runtime`, findings tagged with the variant).
    """
    if kind not in ("manifest", "inspect", "run", "scan"):
        raise AuditorError(f"no rules of kind {kind!r}")
    checks: list[Check] = []
    if kind == "manifest":
        target = (facts.get("root") or {}).get("manifest", "Cargo.toml")
        checks += _run(rules_for("manifest"), facts, config, target=target, default_file=target)
    elif kind == "inspect":
        target = facts.get("file") or "module"
        checks += _run(rules_for("inspect"), facts, config, target=target, default_file=facts.get("file"))
    elif kind == "run":
        target = facts.get("file") or "module"
        checks += _run(rules_for("run"), facts, config, target=target, default_file=facts.get("file"))
    else:
        crate = facts.get("crate")
        manifest = crate.get("manifest_path") if isinstance(crate, dict) else crate
        checks += _run(rules_for("scan"), facts, config, target=str(manifest or "scan"),
                       default_file=manifest if isinstance(manifest, str) else None)
        for v in facts.get("variants", []):
            vid = v.get("id") or join_id(str(v.get("profile")), str(v.get("allocator")))
            wasm = v.get("wasm")
            if v.get("status") != "ok" or not isinstance(wasm, dict):
                for r in rules_for("inspect"):
                    if _effective(r, config)[0] != "off":
                        checks.append(Check(r.id, vid, "error", f"variant {v.get('status', 'failed')}: not measured"))
                continue
            # A variant's module path names an artifact the scan never writes into the
            # user's target dir: annotations (GitHub, SARIF) point at the manifest instead.
            where = manifest if isinstance(manifest, str) else wasm.get("file")
            # The variant's verified allocator travels with its module's facts, so allocator
            # rules (AUD202) hold for a stripped module whose twin or sibling proved it.
            facts_v = {**wasm, "allocator_check": v.get("allocator_check")}
            checks += _run(rules_for("inspect"), facts_v, config, target=vid, variant=vid, default_file=where)
            if isinstance(v.get("runtime"), dict):
                checks += _run(rules_for("run"), v["runtime"], config, target=vid, variant=vid,
                               default_file=where)
    findings = [f for c in checks for f in c.findings]
    return findings, checks


def _run(rules: list[Rule], facts: Mapping[str, Any], config: ConfigView | None, **kw: Any) -> list[Check]:
    out = []
    for r in rules:
        c = evaluate_rule(r, facts, config, **kw)
        if c is not None:
            out.append(c)
    return out
