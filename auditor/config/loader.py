"""Effective configuration: layered, validated, and able to say where each value came from.

Layers, first found wins per key (tables merge key by key; arrays, including arrays of
tables such as `budget` and `scenario`, are taken whole from one layer):

1. command line (`cli=` dict, dotted or nested keys; None means "not given")
2. `--config FILE` (keys at top level)
3. `[package.metadata.auditor]` in the crate's Cargo.toml
4. `[workspace.metadata.auditor]` in the workspace-root Cargo.toml
5. the nearest `auditor.toml` / `.auditor.toml` walking up from the crate (top level)

Every layer is checked against SCHEMA before use, so a typo is an error naming the
file:line:col of the key instead of a silently ignored setting.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from auditor.config.schema import REQUIRED, RULE_LEVELS, RULES, SCHEMA, ArrayOf, MapOf
from auditor.errors import AuditorError
from auditor.manifest import toml
from auditor.manifest.locate import find_workspace_root
from auditor.manifest.schema import is_int as _is_int

PACKAGE_PREFIX = ("package", "metadata", "auditor")
WORKSPACE_PREFIX = ("workspace", "metadata", "auditor")
CONFIG_FILES = ("auditor.toml", ".auditor.toml")

_MISSING = object()


# --------------------------------------------------------------------------- layers


@dataclass
class Layer:
    """One config source; keeps its TomlDoc so errors and `auditor config` can name file:line."""

    source: str  # "--config x.toml", "Cargo.toml [package.metadata.auditor]", ...
    data: dict  # the auditor table (keys at top level)
    doc: toml.TomlDoc | None = None  # None for the command line
    prefix: tuple = ()  # where `data` sits inside `doc`

    def where(self, path: tuple) -> str:
        if self.doc is None:
            return "command line: " + ".".join(str(p) for p in path)
        full = self.prefix + tuple(path)
        while full and self.doc.pos(full) is None:
            full = full[:-1]
        return self.doc.where(full)

    def location(self, path: tuple) -> tuple[str, int] | None:
        if self.doc is None:
            return None
        full = self.prefix + tuple(path)
        while full:
            p = self.doc.pos(full)
            if p:
                return (self.doc.display, p[0])
            full = full[:-1]
        return None


def _split(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in key.split(".")) if key else ()


def _lookup(data, path: tuple):
    cur = data
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return _MISSING
            cur = cur[p]
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            return _MISSING
    return cur


def _merge(low: dict, high: dict) -> dict:
    out = dict(low)
    for k, v in high.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Config:
    """The layered configuration of one crate (see module docstring for precedence)."""

    def __init__(self, layers: list[Layer], crate_dir: Path | None = None):
        self.layers = layers
        self.crate_dir = crate_dir

    def get(self, key: str, default=None):
        path = _split(key)
        found = [v for v in (_lookup(layer.data, path) for layer in self.layers) if v is not _MISSING]
        if not found:
            return default
        if not isinstance(found[0], dict):
            return copy.deepcopy(found[0])
        merged: dict = {}
        for v in reversed(found):
            if isinstance(v, dict):
                merged = _merge(merged, v)
        return copy.deepcopy(merged)

    def _layer_of(self, key: str) -> Layer | None:
        path = _split(key)
        return next((l for l in self.layers if _lookup(l.data, path) is not _MISSING), None)

    def source(self, key: str) -> str:
        layer = self._layer_of(key)
        return layer.source if layer else "default"

    def location(self, key: str) -> tuple[str, int] | None:
        layer = self._layer_of(key)
        return layer.location(_split(key)) if layer else None

    def where(self, key: str) -> str | None:
        """`file:line:col` of the winning definition (for error messages)."""
        layer = self._layer_of(key)
        return layer.where(_split(key)) if layer else None

    def _rule_settings(self, rule_id: str) -> dict[str, tuple[Any, Layer]]:
        """A rule's effective settings, each with its layer: level and every threshold are
        keys of their own (`AUD103 = "off"` is {level = "off"}), first found wins per key."""
        out: dict = {}
        for layer in self.layers:
            v = _lookup(layer.data, ("rules", rule_id))
            if v is not _MISSING:
                for k, x in (v if isinstance(v, dict) else {"level": v}).items():
                    out.setdefault(k, (x, layer))
        return out

    def rule_level(self, rule_id: str) -> str | None:
        """Configured level (error/warning/note/off) of a rule, or None for its default."""
        return self._rule_settings(rule_id).get("level", (None,))[0]

    def rule_thresholds(self, rule_id: str) -> dict:
        return {k: v for k, (v, _) in self._rule_settings(rule_id).items() if k != "level"}

    def items(self) -> list[tuple[str, Any, str, tuple[str, int] | None]]:
        """Every effective leaf: (dotted key, value, source, location). Arrays are leaves."""
        out = []

        def walk(node, path):
            for k, v in node.items():
                p = path + (k,)
                if p == ("rules",):
                    for rid in v:
                        rule(rid)
                elif isinstance(v, dict):
                    walk(v, p)
                else:
                    key = ".".join(p)
                    out.append((key, v, self.source(key), self.location(key)))

        def rule(rid):
            settings = self._rule_settings(rid)
            if list(settings) == ["level"]:  # the common `AUD103 = "error"`
                level, layer = settings["level"]
                out.append((f"rules.{rid}", level, layer.source, layer.location(("rules", rid))))
                return
            for k, (v, layer) in settings.items():
                out.append((f"rules.{rid}.{k}", v, layer.source, layer.location(("rules", rid, k))))

        merged: dict = {}
        for layer in reversed(self.layers):
            merged = _merge(merged, layer.data)
        walk(merged, ())
        sections = list(SCHEMA)
        return sorted(out, key=lambda it: sections.index(it[0].split(".")[0])
                      if it[0].split(".")[0] in sections else len(sections))

    def files(self) -> list[str]:
        return [l.source for l in self.layers if l.doc is not None]

    def to_json(self) -> dict:
        return {
            "layers": [l.source for l in self.layers],
            "values": [
                {"key": k, "value": v, "source": s,
                 "file": loc[0] if loc else None, "line": loc[1] if loc else None}
                for k, v, s, loc in self.items()
            ],
        }


# --------------------------------------------------------------------------- loading


def _cli_layer(cli: dict | None) -> Layer | None:
    """Command-line values as a layer; None means the option was not given, so lower layers show through."""
    if not cli:
        return None
    data: dict = {}
    for key, value in cli.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        path = key.split(".")
        cur = data
        for p in path[:-1]:
            cur = cur.setdefault(p, {})
        if isinstance(value, dict) and isinstance(cur.get(path[-1]), dict):
            cur[path[-1]] = _merge(cur[path[-1]], value)
        else:
            cur[path[-1]] = value
    return Layer("command line", data) if data else None


def _table_layer(doc: toml.TomlDoc, prefix: tuple, source: str) -> Layer | None:
    data = _lookup(doc.data, prefix)
    if data is _MISSING:
        return None
    layer = Layer(source, data, doc, prefix)
    if not isinstance(data, dict):
        raise AuditorError(f"[{'.'.join(prefix)}] must be a table", layer.where(()))
    return layer


def _find_config_file(start: Path) -> Path | None:
    for d in (start, *start.parents):
        found = [d / n for n in CONFIG_FILES if (d / n).is_file()]
        if len(found) > 1:
            raise AuditorError("both auditor.toml and .auditor.toml exist here; keep one", str(d))
        if found:
            return found[0]
    return None


def load_config(crate_dir: Path | str, *, config_file: Path | str | None = None,
                cli: dict | None = None) -> Config:
    """The effective config for a crate directory (or its Cargo.toml); see module doc."""
    crate_dir = Path(crate_dir)
    if crate_dir.name == "Cargo.toml" and crate_dir.is_file():
        crate_dir = crate_dir.parent
    layers: list[Layer] = []
    cli_layer = _cli_layer(cli)
    if cli_layer:
        layers.append(cli_layer)
    if config_file is not None:
        cf = Path(config_file)
        if not cf.is_file():
            raise AuditorError("config file not found", str(config_file))
        doc = toml.load(cf)
        layers.append(Layer(f"--config {doc.display}", doc.data, doc, ()))
    manifest = crate_dir / "Cargo.toml"
    if manifest.is_file():
        doc = toml.load(manifest)
        layer = _table_layer(doc, PACKAGE_PREFIX, f"{doc.display} [package.metadata.auditor]")
        if layer:
            layers.append(layer)
        root = find_workspace_root(manifest, doc)
        if root is not None:
            rdoc = toml.load(root)
            layer = _table_layer(rdoc, WORKSPACE_PREFIX, f"{rdoc.display} [workspace.metadata.auditor]")
            if layer:
                layers.append(layer)
    found = _find_config_file(crate_dir.resolve())
    if found is not None:
        doc = toml.load(found)
        layers.append(Layer(doc.display, doc.data, doc, ()))
    for layer in layers:
        validate(layer)
    return Config(layers, crate_dir)


# --------------------------------------------------------------------------- validation


def validate(layer: Layer) -> None:
    """Raise AuditorError at the first unknown key or bad value, with its location."""
    _check_node(layer, SCHEMA, layer.data, ())


def _fail(layer: Layer, path: tuple, what: str) -> NoReturn:
    if layer.doc is None:  # the command line: `where` already names the key, say it once
        what = what.removeprefix(f"{_name(path)}: ")
    raise AuditorError(what, layer.where(path))


def _name(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _check_node(layer: Layer, node, value, path: tuple) -> None:
    """Walk value and schema together so the first bad key is reported at its own position."""
    if node == RULES:
        _check_rules(layer, value, path)
    elif isinstance(node, dict):
        if not isinstance(value, dict):
            _fail(layer, path, f"{_name(path)}: expected a table")
        for k, v in value.items():
            if k not in node:
                where = f"in [{_name(path)}]" if path else "at top level"
                known = ", ".join(sorted(node))
                _fail(layer, path + (k,), f"unknown config key {k!r} {where} (known: {known})")
            _check_node(layer, node[k], v, path + (k,))
    elif isinstance(node, MapOf):
        if not isinstance(value, dict):
            _fail(layer, path, f"{_name(path)}: expected a table of {node.what}s")
        for k, v in value.items():
            _check_node(layer, node.node, v, path + (k,))
    elif isinstance(node, ArrayOf):
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            _fail(layer, path, f"{_name(path)}: expected an array of tables ([[{_name(path)}]])")
        for i, v in enumerate(value):
            _check_node(layer, node.node, v, path + (i,))
            for req in REQUIRED.get(path, ()):
                if req not in v:
                    _fail(layer, path + (i,), f"{_name(path)} #{i + 1}: {req!r} is required")
            broken = node.rule(v) if node.rule is not None else None
            if broken is not None:
                key, problem = broken
                _fail(layer, path + (i, key), f"{_name(path + (i, key))}: {problem}")
    else:
        err = node(value)
        if err:
            _fail(layer, path, f"{_name(path)}: {err}")


def _check_rules(layer: Layer, value, path: tuple) -> None:
    """Rule ids and thresholds come from the catalogue, so a new rule file is configurable at once."""
    from auditor.rules.catalog import load_catalog

    if not isinstance(value, dict):
        _fail(layer, path, "rules: expected a table of rule ids")
    catalog = load_catalog()
    for rid, setting in value.items():
        p = path + (rid,)
        rule = catalog.get(rid)
        if rule is None:
            _fail(layer, p, f"unknown rule id {rid!r} (see `auditor lint --list-rules`)")
        level = setting.get("level") if isinstance(setting, dict) else setting
        if isinstance(setting, dict):
            for k, v in setting.items():
                if k == "level":
                    continue
                if k not in rule.thresholds:
                    known = ", ".join(sorted(rule.thresholds)) or "none"
                    _fail(layer, p + (k,), f"unknown setting {k!r} for rule {rid} (thresholds: {known})")
                default = rule.thresholds[k]
                numeric = (_is_int(default) or isinstance(default, float)) and (_is_int(v) or isinstance(v, float))
                if not numeric and type(v) is not type(default):
                    _fail(layer, p + (k,), f"rules.{rid}.{k}: expected {type(default).__name__} like {default!r}")
            if level is None:
                continue
        if level not in RULE_LEVELS:
            _fail(layer, p, f"rules.{rid}: expected one of {', '.join(RULE_LEVELS)}, got {level!r}")




@dataclass
class ConfigResult:
    """`auditor config`: every effective value and the layer it came from (the report
    layer writes it; `pipeline.config_report` fills `defaults` from the stages)."""

    KIND = "config"
    crate_dir: str
    config: Config
    defaults: dict[str, Any] = field(default_factory=dict)  # built-in values of keys no layer sets

    @property
    def findings(self) -> list[Any]:
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "auditor.config/1",
            "crate": self.crate_dir,
            **self.config.to_json(),
            "defaults": self.defaults,
        }
