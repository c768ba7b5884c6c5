"""The import rule of README ("Architecture"), checked on the source: every `import` and
`from ... import` of every module under auditor/ (function-level ones too) is parsed with
`ast` and its target's layer must be one the importer's layer may use.

The rule (a layer may always import itself and the helpers):
- helpers (errors, units, data, io, config.view): nothing else;
- records (the typed JSON contracts, auditor/records/): nothing else; findings: records;
- manifest, wasm: the ground floor, records only;
- config.schema (every config key's check): manifest;
- build: manifest (and config.schema); runtime: wasm (and its own option model,
  runtime.options, which uses config.schema);
- rules: manifest, wasm, findings, the runtime's option model;
- gate: rules and what rules may use, but from the wasm stage only names and the model
  (demangle, model): reading a module is the pipeline's;
- config (the loader): manifest, config.schema, the rule catalogue;
- pipeline: every stage and config (never report, commands or cli);
- report: anything but pipeline, commands and cli, and from the wasm stage, like the gate,
  only names and the model (the HTML page's retained view is handed in);
- commands: pipeline and report; cli: helpers (commands are named, not imported);
nothing imports commands or cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "auditor"

HELPERS = {"auditor", "auditor.errors", "auditor.units", "auditor.data", "auditor.io", "auditor.config.view"}
SINGLES = {  # modules whose layer is not their folder's
    "auditor.findings": "findings",
    "auditor.config.schema": "config-schema",
    "auditor.runtime.options": "runtime-models",
    "auditor.rules.catalog": "rule-catalogue",
    "auditor.cli": "cli",
    "auditor.__main__": "main",
}
GROUND = {"records", "manifest", "wasm"}
RULES = GROUND | {"findings", "config-schema", "runtime-models", "rule-catalogue"}
STAGES = RULES | {"build", "runtime", "rules", "gate"}

# layer -> layers it may import (besides itself and "helpers")
ALLOWED: dict[str, set[str]] = {
    "helpers": set(),
    "records": set(),
    "findings": {"records"},
    "manifest": {"records"},
    "wasm": {"records"},
    "config-schema": {"manifest"},
    "build": {"records", "findings", "manifest", "config-schema"},
    "runtime-models": {"records", "config-schema"},
    "runtime": {"records", "wasm", "runtime-models", "config-schema"},
    "rule-catalogue": {"records", "findings", "manifest"},
    "rules": RULES,
    "gate": RULES | {"rules"},
    "config": {"records", "manifest", "config-schema", "rule-catalogue"},
    "pipeline": STAGES | {"config"},
    "report": STAGES | {"config"},
    "commands": {"pipeline", "report"},
    "cli": set(),
    "main": {"cli"},
}


def layer(module: str) -> str:
    if module in HELPERS:
        return "helpers"
    if module in SINGLES:
        return SINGLES[module]
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in ("records", "manifest", "wasm", "build", "runtime", "rules", "gate", "config", "pipeline", "report",
               "commands"):
        return top
    raise AssertionError(f"{module}: no layer; add it to tests/test_architecture.py and README (Architecture)")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(target: str) -> str:
    """The module a dotted name imports: `auditor.wasm.parse.parse_module` -> auditor.wasm.parse."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        base = REPO.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return name
        parts.pop()
    raise AssertionError(f"cannot resolve {target}")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported auditor module) of every import in the file, nested ones too."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n.split(".")[0] == "auditor":
                out.append((node.lineno, resolve(n)))
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in SOURCES:
        layer(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_layers(path):
    me = module_name(path)
    mine = layer(me)
    bad = []
    for line, target in sorted(set(imports(path))):
        theirs = layer(target)
        if theirs in (mine, "helpers") or theirs in ALLOWED[mine]:
            continue
        bad.append(f"{path.relative_to(REPO)}:{line}: {mine} ({me}) imports {theirs} ({target})")
    assert not bad, "\n".join(bad)


def test_the_rule_can_fail():
    """The checker sees a forbidden edge (so a green run means something)."""
    assert layer("auditor.wasm.inspect") == "wasm"
    assert "rules" not in ALLOWED["wasm"] and "report" not in ALLOWED["gate"]
    assert ("auditor.report.show" in {t for _, t in imports(PACKAGE / "report" / "text_check.py")})


def test_wasm_inspect_knows_no_findings():
    """The wasm stage's record carries no rules-stage objects (the rules fill `findings`)."""
    targets = {t for _, t in imports(PACKAGE / "wasm" / "inspect.py")}
    assert "auditor.findings" not in targets
    from auditor.wasm.inspect import InspectResult

    assert not {"findings", "checks", "top"} & set(InspectResult.__dataclass_fields__)


# What the gate and the report may take from the wasm stage: names (demangling, hash
# stripping) and the model's constants. Reading a module (parse, inspect, the item graph,
# the analyses) is the pipeline's: the gate compares records (auditor/pipeline/reports.py
# load_side reads a .wasm side), the report formats them (the HTML page's retained-size
# view is computed by auditor/pipeline/retained.py and handed in, records/retained.py).
GATE_WASM = {"auditor.wasm.demangle", "auditor.wasm.model"}


def type_only(path: Path) -> set[int]:
    """Lines of the imports under `if TYPE_CHECKING:` (names for mypy: nothing runs)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            out |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom)}
    return out


@pytest.mark.parametrize("stage", ["gate", "report"])
def test_gate_and_report_read_no_modules(stage):
    """Type-only imports are allowed: a renderer annotated with the wasm stage's result
    type (auditor/report/formats.py's typed slots) reads no module."""
    bad = []
    for path in SOURCES:
        if layer(module_name(path)) != stage:
            continue
        typing_only = type_only(path)
        for line, target in sorted(set(imports(path))):
            if layer(target) == "wasm" and target not in GATE_WASM and line not in typing_only:
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {target}")
    assert not bad, "\n".join(bad)


def test_the_gate_rule_can_fail():
    """The wasm stage's readers are what the gate rule keeps out (and they exist)."""
    for reader in ("auditor.wasm.parse", "auditor.wasm.inspect", "auditor.wasm.graph", "auditor.wasm.analysis.results",
                   "auditor.wasm.analysis.dominators", "auditor.wasm.analysis.items"):
        assert layer(resolve(reader)) == "wasm" and reader not in GATE_WASM
    assert {t for _, t in imports(PACKAGE / "pipeline" / "reports.py")} >= {"auditor.wasm.inspect", "auditor.wasm.graph"}
    assert {t for _, t in imports(PACKAGE / "pipeline" / "retained.py")} >= {
        "auditor.wasm.parse", "auditor.wasm.graph", "auditor.wasm.analysis.dominators"}
    # a run-time import is not type-only (the reader moved out of report would be seen)
    retained = PACKAGE / "pipeline" / "retained.py"
    runtime_lines = {line for line, t in imports(retained) if t == "auditor.wasm.parse"}
    assert runtime_lines and not runtime_lines & type_only(retained)
    assert type_only(retained)  # its Module/ItemGraph names are type-only


# Computations a stage does for the report, which the report reads off the result object
# (CheckResult.details, ScanResult.passed_over) instead of calling: module -> names
# (None: the whole module).
NOT_IN_REPORT: dict[str, set[str] | None] = {
    "auditor.rules.recommend": None,
    "auditor.gate.diff": {"budget_diffs", "diff_modules", "diff_reports", "deep_tables"},
}


def _imported_names(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every `from auditor.X import name` in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("auditor"):
            out += [(node.lineno, node.module or "", a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, "*") for a in node.names if a.name.startswith("auditor")]
    return out


@pytest.mark.parametrize("path", [p for p in SOURCES if layer(module_name(p)) == "report"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_report_formats_what_the_stages_computed(path):
    bad = [f"{path.relative_to(REPO)}:{line}: {mod}.{name}" for line, mod, name in _imported_names(path)
           if mod in NOT_IN_REPORT and (NOT_IN_REPORT[mod] is None or name in NOT_IN_REPORT[mod] or name == "*")]
    assert not bad, "\n".join(bad)


def test_only_report_commands_and_cli_write_terminal_escapes():
    """ANSI escape sequences (colours, the status line's erase-line) are drawn in report:
    no other layer holds an ESC character in a string (auditor/pipeline/progress.py's
    status line moved to auditor/report/progress.py)."""
    bad = []
    for path in SOURCES:
        if layer(module_name(path)) in ("report", "commands", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
                if "\x1b" in text or "\x9b" in text:  # ESC, and the 8-bit CSI
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, bad


def test_only_report_commands_and_cli_format_for_terminals():
    """Formatting lives in report: no stage imports click (styles, echo)."""
    bad = []
    for path in SOURCES:
        mine = layer(module_name(path))
        if mine in ("report", "commands", "cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "click" for n in names):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, bad


def _spelled_variant_ids(source: str) -> list[int]:
    """Lines of f-strings shaped `{…profile…}/{…allocator…}`: a variant id spelled by hand."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        for a, sep, b in zip(parts, parts[1:], parts[2:]):
            if (isinstance(a, ast.FormattedValue) and isinstance(b, ast.FormattedValue)
                    and isinstance(sep, ast.Constant) and sep.value == "/"
                    and "profile" in ast.unparse(a.value) and "alloc" in ast.unparse(b.value)):
                lines.append(node.lineno)
    return lines


def test_variant_ids_are_joined_in_one_place():
    """`profile/allocator` is written by records.scan.join_id alone (it was an f-string in
    nine places): budgets select on it and shards split on it, so every spelling must agree."""
    owner = PACKAGE / "records" / "scan.py"
    bad = [f"{path.relative_to(REPO)}:{line}" for path in SOURCES if path != owner
           for line in _spelled_variant_ids(path.read_text(encoding="utf-8"))]
    assert not bad, bad
    assert _spelled_variant_ids(owner.read_text(encoding="utf-8"))  # the one place, found
    assert _spelled_variant_ids("x = f\"{v['profile']}/{v['allocator']} probe\"")  # the check can fail


def _writes_stdout(node: ast.AST) -> bool:
    """A call that writes to stdout by itself: print(), click.echo()/secho() without
    err=True, sys.stdout.write(), emit()."""
    if not isinstance(node, ast.Call):
        return False
    func = ast.unparse(node.func)
    if func in ("print", "click.echo", "click.secho", "echo", "secho"):
        return not any(k.arg in ("err", "file") for k in node.keywords)
    return func in ("sys.stdout.write", "emit", "sys.stdout.buffer.write")


COMMANDS = sorted(p for p in (PACKAGE / "commands").glob("*.py") if p.name not in ("__init__.py", "options.py"))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.stem)
def test_every_command_renders_through_the_registry(path):
    """A command prints its result only through options.render_and_emit (the report
    layer's registry: one renderer per result kind and format), never by itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(ast.unparse(c.func) == "render_and_emit" for c in calls), path.name
    bad = [f"{path.relative_to(REPO)}:{c.lineno}" for c in calls if _writes_stdout(c)]
    assert not bad, bad


def test_the_stdout_check_can_fail():
    tree = ast.parse("click.echo(text)\nclick.echo(msg, err=True)\nprint(x, file=sys.stderr)\nsys.stdout.write(t)")
    assert [_writes_stdout(n) for n in ast.walk(tree) if isinstance(n, ast.Call)] == [True, False, False, True]


def _named_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of modules imported by a name in a string: `import_module("…")`,
    `Lazy("…")` (the renderer registry) and the values of a module's `_EXPORTS` table
    (lazy public names) — imports the `import` statements above do not show."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and ast.unparse(node.func).split(".")[-1] in ("import_module", "Lazy"):
            out.append((node.lineno, node.args[0].value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets) \
                and isinstance(node.value, ast.Dict):
            out += [(v.lineno, v.value) for v in node.value.values if isinstance(v, ast.Constant)]
    return [(line, name) for line, name in out if isinstance(name, str) and name.split(".")[0] == "auditor"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_imported_by_name_follow_the_layers(path):
    me = module_name(path)
    mine = layer(me)
    bad = [f"{path.relative_to(REPO)}:{line}: {mine} ({me}) names {layer(resolve(name))} ({name})"
           for line, name in _named_imports(path.read_text(encoding="utf-8"))
           if layer(resolve(name)) not in (mine, "helpers") and layer(resolve(name)) not in ALLOWED[mine]]
    assert not bad, "\n".join(bad)


def test_the_named_import_check_sees_each_form():
    found = _named_imports('x = Lazy("auditor.report.text_scan")\nimport_module("auditor.wasm.parse")\n'
                           '_EXPORTS = {"scan": "auditor.pipeline.scanner"}\nLazy(name)\n')
    assert sorted(n for _, n in found) == ["auditor.pipeline.scanner", "auditor.report.text_scan", "auditor.wasm.parse"]
