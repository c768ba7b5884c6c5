"""Reading saved reports: the gate works on JSON written by another run, maybe another
machine or another auditor version, so every file is checked before anything trusts it.

A bad file stops the command with exit 2 and one line naming the file and the problem
(JSON line:column, or the path of the missing field), never a traceback or a silent
"0 bytes" that would let a budget pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

from auditor.config.view import ConfigView
from auditor.errors import AuditorError
from auditor.io import describe, sniff
from auditor.records.inspect import InspectRecord
from auditor.records.scan import ScanRecord, variant_id

__all__ = ["SUPPORTED", "WASM_MAGIC", "baseline_path", "crate_dir", "load_report", "load_scan", "validate_report",
           "variant_id"]

# Schema versions this auditor reads, per report kind.
SUPPORTED = {"scan": 1, "inspect": 1}
_SCHEMA = re.compile(r"^auditor\.([a-z]+)/([0-9]+)$")
WASM_MAGIC = b"\0asm"


def load_scan(path: str | Path, expected: str = "a JSON report") -> ScanRecord:
    """A saved `auditor.scan/1` report, validated (`load_report` with kinds=("scan",))."""
    return cast(ScanRecord, load_report(path, ("scan",), expected))


def load_report(path: str | Path, kinds: tuple[str, ...] = ("scan", "inspect"),
                expected: str = "a JSON report") -> ScanRecord | InspectRecord:
    """The validated JSON object of a saved report of one of `kinds` (`expected`: what
    an error says the command wanted instead of, say, gzip data).

    Typed as the record its `schema` names: the fields the gate reads are checked (kinds,
    types, sizes >= 0); the rest are as the writer left them."""
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AuditorError("file not found", where) from None
    except IsADirectoryError:
        raise AuditorError("is a directory, expected a JSON report", where) from None
    except OSError as e:
        raise AuditorError(f"cannot read: {e.strerror}", where) from None
    if data.startswith(WASM_MAGIC):
        raise AuditorError("is a .wasm module, not a JSON report (make one with `auditor scan --format json -o FILE`)", where)
    if not data.strip():
        raise AuditorError("empty file, expected a JSON report", where)
    found = sniff(data[:512])
    if found is not None and found[0] != "JSON":
        raise AuditorError(describe(data[:512], expected) or f"not {expected}", where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AuditorError(f"not UTF-8 text (byte offset {e.start})", where) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise AuditorError(f"not valid JSON: {e.msg}", f"{where}:{e.lineno}:{e.colno}") from None
    return validate_report(obj, where, kinds)


def validate_report(obj: object, where: str,
                    kinds: tuple[str, ...] = ("scan", "inspect")) -> ScanRecord | InspectRecord:
    """Check the schema key and the fields the gate reads; raise AuditorError at the first problem."""
    if not isinstance(obj, dict):
        raise AuditorError(f"expected a JSON object (an auditor report), got {_json_type(obj)}", where)
    schema = obj.get("schema")
    if schema is None:
        raise AuditorError("missing field 'schema': not an auditor report", where)
    m = _SCHEMA.match(schema) if isinstance(schema, str) else None
    if not m:
        raise AuditorError(f"schema {schema!r} is not an auditor report schema (auditor.KIND/N)", where)
    kind, version = m.group(1), int(m.group(2))
    wanted = " or ".join(f"auditor.{k}/{SUPPORTED[k]}" for k in kinds)
    if kind not in kinds:
        article = "an" if kind[0] in "aeiou" else "a"
        raise AuditorError(f"is {article} {kind} report ({schema}); expected {wanted}", where)
    supported = SUPPORTED[kind]
    if version < supported:
        raise AuditorError(
            f"report schema {schema} is older than this auditor reads (auditor.{kind}/{supported}); "
            f"re-create the report with this version of auditor", where)
    if version > supported:
        raise AuditorError(
            f"report schema {schema} is newer than this auditor reads (auditor.{kind}/{supported}); "
            f"upgrade auditor", where)
    if kind == "scan":
        _check_scan(obj, where)
        return cast(ScanRecord, obj)
    _check_wasm(obj, "", where)
    return cast(InspectRecord, obj)


_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               type(None): "null", int: "a number", float: "a number"}


def _json_type(v: object) -> str:
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _need(obj: dict[str, Any], key: str, types: type | tuple[type, ...], at: str, where: str) -> Any:
    """obj[key], which must exist and be one of `types` (a bool is not a number here)."""
    types = types if isinstance(types, tuple) else (types,)
    if key not in obj:
        raise AuditorError(f"{at}missing field {key!r}", where)
    v = obj[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        names = " or ".join(_TYPE_NAMES[t] for t in types)
        raise AuditorError(f"{at}field {key!r} must be {names}, got {_json_type(v)}", where)
    return v


def _size(obj: dict[str, Any], key: str, at: str, where: str, nullable: bool = False) -> int | None:
    """A byte or page count: a whole number >= 0 (null where the figure may be absent);
    a negative size would let every budget pass."""
    v: int | None = _need(obj, key, (int, type(None)) if nullable else int, at, where)
    if v is not None and v < 0:
        raise AuditorError(f"{at}field {key!r} must not be negative, got {v}", where)
    return v


def _check_scan(obj: dict[str, Any], where: str) -> None:
    _need(obj, "crate", (dict, str), "", where)
    _need(obj, "toolchain", (dict, str), "", where)
    variants = _need(obj, "variants", list, "", where)
    seen: dict[str, int] = {}
    for i, v in enumerate(variants):
        at = f"variants[{i}]: "
        if not isinstance(v, dict):
            raise AuditorError(f"{at}expected an object, got {_json_type(v)}", where)
        _need(v, "profile", str, at, where)
        _need(v, "allocator", str, at, where)
        status = _need(v, "status", str, at, where)
        if status not in ("ok", "failed"):
            raise AuditorError(f"{at}status must be \"ok\" or \"failed\", got {status!r}", where)
        vid = variant_id(v)
        if vid in seen:
            raise AuditorError(f"{at}variant {vid} appears twice (also variants[{seen[vid]}])", where)
        seen[vid] = i
        if status == "ok":
            _check_wasm(_need(v, "wasm", dict, at, where), f"{at[:-2]}.wasm: ", where)
            runtime = v.get("runtime")
            if runtime is not None and not isinstance(runtime, dict):
                raise AuditorError(f"{at}field 'runtime' must be an object or null, got {_json_type(runtime)}", where)


# The lists of an inspect record the gate reads, and the fields of their items:
# "size" is a whole number >= 0, "size?" the same or null.
_ITEMS: dict[str, tuple[tuple[str, str | type | tuple[type, ...]], ...]] = {
    "sections": (("id", int), ("size", "size"), ("name", str)),
    "functions": (("size", "size"), ("name", (str, type(None)))),
    "crates": (("name", str), ("size", "size")),
    "memories": (("initial_pages", "size"), ("max_pages", "size?")),
}


def _check_wasm(w: dict[str, Any], at: str, where: str) -> None:
    _size(w, "bytes", at, where)
    for key in ("gzip", "brotli"):  # null when the scan skipped compression
        _size(w, key, at, where, nullable=True)
    for key in _ITEMS:
        _need(w, key, list, at, where)
    for key, fields in _ITEMS.items():
        for i, item in enumerate(w[key]):
            iat = f"{at}{key}[{i}]: "
            if not isinstance(item, dict):
                raise AuditorError(f"{iat}expected an object, got {_json_type(item)}", where)
            for name, kind in fields:
                if isinstance(kind, str):  # "size" | "size?"
                    _size(item, name, iat, where, nullable=kind == "size?")
                else:
                    _need(item, name, kind, iat, where)


def crate_dir(report: ScanRecord, given: str | None) -> Path:
    """Where the crate's config lives: --crate if given, else the scanned crate's directory
    when it exists on this machine, else the working directory.

    `manifest_path` is relative to the directory the scan ran in, so the absolute
    `package_dir` comes first: `cd crate && auditor scan -o ../r.json; cd ..; auditor
    check r.json` must read the crate's budgets, not whatever ./Cargo.toml holds."""
    if given:
        return Path(given)
    crate: object = report.get("crate")
    if not isinstance(crate, dict):
        return Path(".")
    pkg = crate.get("package_dir")
    if isinstance(pkg, str) and Path(pkg).is_absolute() and (Path(pkg) / "Cargo.toml").is_file():
        return Path(pkg)
    manifest = crate.get("manifest_path")
    if isinstance(manifest, str) and Path(manifest).is_file():
        return Path(manifest).parent
    return Path(".")


def baseline_path(config: ConfigView | None, given: str | None) -> str | None:
    """--baseline as given; else `gate.baseline`, relative to the config file that sets it."""
    if given:
        return given
    if config is None:
        return None
    value: str | None = config.get("gate.baseline")
    if not value:
        return None
    loc = config.location("gate.baseline")
    if loc and not Path(value).is_absolute():
        return str(Path(loc[0]).parent / value)
    return value
