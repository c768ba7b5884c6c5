"""Every renderer is checked by mypy against its kind's result type (issue 10 item 5).

auditor/report/formats.py registers renderers lazily, by module name, so mypy cannot
see them there; its `if TYPE_CHECKING:` block assigns each renderer function to a
`Renderer[ResultType]` slot, which mypy checks (a text renderer of scans annotated
`result: CheckResult` fails `mypy`). This test keeps that block complete and right,
read from the source with `ast`:
- every registration (format, kind) has a slot `Renderer[T]` holding the same
  `module.function` its Lazy names (a generic ANY renderer: one slot per kind it serves);
- T is the result type of that kind: the class named there has that `KIND` (an
  `Audited[X]` alias: X's KIND).
"""

from __future__ import annotations

import ast
import importlib
import runpy
from pathlib import Path

from auditor.report.registry import ANY, Lazy

SOURCE = Path(__file__).resolve().parent.parent / "auditor" / "report" / "formats.py"
# formats.py's registrations alone (a fresh run of it: other tests add kinds to the shared REGISTRY)
REGISTRY = runpy.run_path(str(SOURCE))["REGISTRY"]


def _type_checking_block() -> list[ast.stmt]:
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    blocks = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    assert len(blocks) == 1, "formats.py has one `if TYPE_CHECKING:` block"
    return blocks[0].body


def _slots(body: list[ast.stmt]) -> set[tuple[str, str]]:
    """(type name, "module.function") of every renderer slot: tuple annotations zipped
    with the tuple assigned (`(f,) * n` expanded)."""
    declared: dict[str, list[str]] = {}
    out: set[tuple[str, str]] = set()

    def types(ann: ast.expr) -> list[str]:
        assert isinstance(ann, ast.Subscript) and ast.unparse(ann.value) == "tuple", ast.unparse(ann)
        elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        names = []
        for e in elts:
            assert isinstance(e, ast.Subscript) and ast.unparse(e.value) == "Renderer", ast.unparse(e)
            names.append(ast.unparse(e.slice))
        return names

    def values(v: ast.expr) -> list[str]:
        if isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult):
            (one,) = values(v.left)
            assert isinstance(v.right, ast.Constant)
            return [one] * v.right.value
        assert isinstance(v, ast.Tuple), ast.unparse(v)
        return [ast.unparse(e) for e in v.elts]

    for node in body:
        if isinstance(node, ast.AnnAssign):
            name = ast.unparse(node.target)
            declared[name] = types(node.annotation)
            value = node.value
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) in declared:
            name, value = ast.unparse(node.targets[0]), node.value
        else:
            continue
        if value is not None:
            vals = values(value)
            assert len(vals) == len(declared[name]), f"{name}: {len(vals)} renderers for {len(declared[name])} slots"
            out |= set(zip(declared[name], vals))
    return out


def _kinds_of_types(body: list[ast.stmt]) -> dict[str, str]:
    """type name (or alias) in the block -> the KIND of the class it names."""
    where = {a.asname or a.name: n.module for n in body if isinstance(n, ast.ImportFrom)
             and n.module != "auditor.report" for a in n.names}  # (not the renderer modules)
    out = {}
    for name, module in where.items():
        cls = getattr(importlib.import_module(module or ""), name)
        if isinstance(getattr(cls, "KIND", None), str):
            out[name] = cls.KIND
    for n in body:  # aliases: Inspected = Audited[InspectResult]
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Subscript) and ast.unparse(n.value.value) == "Audited":
            out[ast.unparse(n.targets[0])] = out[ast.unparse(n.value.slice)]
    return out


def test_every_registered_renderer_has_a_typed_slot_of_its_kind():
    body = _type_checking_block()
    slots = _slots(body)
    kind_of = _kinds_of_types(body)
    # kind -> its type's name; the Audited aliases come last: inspect and run render the wrapper
    type_of = {kind: name for name, kind in kind_of.items()}
    assert set(type_of) >= set(REGISTRY.kinds), f"kinds without a result type: {set(REGISTRY.kinds) - set(type_of)}"
    missing = []
    for (fmt, kind), entry in REGISTRY.entries.items():
        r = entry.renderer
        assert isinstance(r, Lazy), (fmt, kind)
        fn = f"{r.module.rsplit('.', 1)[1]}.{r.name}"
        served = [k for k, findings in REGISTRY.kinds.items() if not entry.findings or findings] if kind == ANY \
            else [kind]
        missing += [f"{fmt} {k}: Renderer[{type_of[k]}] = {fn}" for k in served if (type_of[k], fn) not in slots]
    assert not missing, "formats.py's TYPE_CHECKING block lacks:\n" + "\n".join(missing)


def test_the_check_can_fail():
    """A slot holding another kind's renderer is seen (so a green run means something)."""
    slots = _slots(_type_checking_block())
    assert ("ScanResult", "text_scan.render") in slots and ("CheckResult", "text_scan.render") not in slots
    assert ("Inspected", "fmt_sarif.render") in slots and ("MergedReport", "fmt_sarif.render") not in slots
