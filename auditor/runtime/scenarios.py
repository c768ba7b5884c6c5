"""OOM-guard scenarios: call one export under a cap and compare with the expected outcome.

A scenario is how a team states "this export must fail gracefully, not abort, when
memory runs out" (the seed note's `safe_allocation(size)` returning None above a
limit). They come from `[[package.metadata.auditor.scenario]]` / `[[scenario]]` in
auditor.toml, or from `--scenario` on the command line in the same keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.errors import AuditorError
from auditor.runtime.harness import MAX_FUEL, TRAP_OUTCOMES, Harness, InstantiateError, to_signed
from auditor.units import PAGE, parse_bytes

EXPECTS = ("ok", "graceful-error", "trap")
KEYS = ("name", "export", "args", "memory-limit", "expect", "error-value", "fuel")


def limit_pages(value, *, what: str, where: str | None) -> int:
    """Pages from a memory limit ("4 MiB", "64 pages", bytes): whole pages, rounded down."""
    try:
        n = parse_bytes(value, what=what)
    except ValueError as e:
        raise AuditorError(str(e), where) from None
    if n < PAGE:
        hint = f' (a bare number is bytes: "{value} pages" is pages)' if str(value).strip().isdigit() and n else ""
        raise AuditorError(f"{what}: {value!r} is below one 64 KiB page{hint}", where)
    return n // PAGE


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class Scenario:
    export: str
    args: tuple = ()
    expect: str = "ok"
    error_value: int | None = None
    memory_limit_pages: int | None = None
    fuel: int | None = None
    name: str | None = None
    origin: str | None = None  # where it was defined, for messages

    @classmethod
    def from_dict(cls, d: dict, where=lambda key: None, origin: str | None = None) -> "Scenario":
        """`where(key)` locates a key for error messages (file:line:col or a flag name)."""
        for k in d:
            if k not in KEYS:
                raise AuditorError(f"unknown scenario key {k!r} (known: {', '.join(KEYS)})", where(k))
        export = d.get("export")
        if not isinstance(export, str) or not export:
            raise AuditorError("scenario needs `export`, the name of an exported function", where("export"))
        args = d.get("args", [])
        if _int(args) or isinstance(args, float):
            args = [args]
        if not isinstance(args, list) or not all(_int(a) or isinstance(a, float) for a in args):
            raise AuditorError("scenario `args` must be a list of numbers", where("args"))
        expect = d.get("expect", "ok")
        if expect not in EXPECTS:
            raise AuditorError(f"scenario `expect` must be one of {', '.join(EXPECTS)}, got {expect!r}",
                               where("expect"))
        ev = d.get("error-value")
        if ev is not None and not _int(ev):
            raise AuditorError("scenario `error-value` must be an integer", where("error-value"))
        if expect == "graceful-error" and ev is None:
            raise AuditorError("expect = \"graceful-error\" needs `error-value`, the value the export "
                               "returns when it refuses", where("expect"))
        cap = d.get("memory-limit")
        pages = None if cap is None else limit_pages(cap, what="scenario memory-limit", where=where("memory-limit"))
        fuel = d.get("fuel")
        if fuel is not None and not (_int(fuel) and 0 < fuel <= MAX_FUEL):
            raise AuditorError(f"scenario `fuel` must be an integer from 1 to {MAX_FUEL}", where("fuel"))
        name = d.get("name")
        if name is not None and not isinstance(name, str):
            raise AuditorError("scenario `name` must be a string", where("name"))
        return cls(export, tuple(args), expect, ev, pages, fuel, name, origin)

    def label(self) -> str:
        return self.name or f"{self.export}({', '.join(str(a) for a in self.args)})"


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _number(text: str, where: str):
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise AuditorError(f"not a number: {text!r}", where) from None


def parse_spec(spec: str) -> Scenario:
    """`export=NAME,args=[1,2],memory-limit=4 MiB,expect=graceful-error,error-value=0`.

    The first item may be the bare export name; `args` takes `[a, b]`, one number, or
    numbers separated by spaces.
    """
    where = f"--scenario {spec!r}"
    d: dict = {}
    for i, item in enumerate(_split_top(spec)):
        if "=" not in item:
            if i == 0:
                d["export"] = item
                continue
            raise AuditorError(f"expected key=value, got {item!r}", where)
        k, v = (x.strip() for x in item.split("=", 1))
        if k == "args":
            body = v[1:-1] if v.startswith("[") and v.endswith("]") else v
            d[k] = [_number(a, where) for a in re.split(r"[\s,]+", body.strip()) if a]
        elif k in ("error-value", "fuel"):
            d[k] = _number(v, where)
        else:
            d[k] = v
    return Scenario.from_dict(d, where=lambda key: where, origin="--scenario")


def from_config(config) -> list[Scenario]:
    """Scenarios of a Config (anything with `.get`; `.where` used for locations)."""
    items = config.get("scenario", None) or []
    if isinstance(items, dict):
        items = [items]
    locate = getattr(config, "where", None)
    out = []
    for i, d in enumerate(items):
        def where(key, i=i):
            return (locate(f"scenario.{i}.{key}") if locate else None) or f"scenario #{i + 1}"
        if not isinstance(d, dict):
            raise AuditorError("each scenario must be a table", where("export"))
        out.append(Scenario.from_dict(d, where, origin=where("export")))
    return out


# --------------------------------------------------------------------------- running


def _arg(value, ty: str):
    if ty in ("i32", "i64"):
        if not _int(value):
            raise ValueError(f"{value!r} is not an integer for an {ty} parameter")
        bits = 32 if ty == "i32" else 64
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise ValueError(f"{value} does not fit an {ty} parameter")
        return to_signed(value, bits)
    if ty in ("f32", "f64"):
        return float(value)
    raise ValueError(f"cannot pass a number to a {ty} parameter")


def _matches(value, ev: int) -> bool:
    if isinstance(value, list):
        value = value[0] if value else None
    if not _int(value):
        return False
    return value == ev or (value & 0xFFFFFFFFFFFFFFFF) == (ev & 0xFFFFFFFFFFFFFFFF) \
        or (value & 0xFFFFFFFF) == (ev & 0xFFFFFFFF) and -(1 << 31) <= ev < (1 << 32)


def passes(expect: str, observed: str) -> bool:
    if expect == "trap":
        return observed in TRAP_OUTCOMES
    return observed == expect


def run_scenario(h: Harness, sc: Scenario, default_cap: int) -> dict:
    """The report record of one scenario (never raises for module behaviour)."""
    cap = sc.memory_limit_pages or default_cap
    rec = {"name": sc.label(), "export": sc.export, "args": list(sc.args), "expected": sc.expect,
           "error_value": sc.error_value, "memory_limit_pages": cap, "observed": None, "passed": False,
           "value": None, "pages_before": None, "pages_after": None, "trap": None, "message": None,
           "stdout": None, "stderr": None, "origin": sc.origin}
    sig = h.func_signature(sc.export)
    if sig is None:
        rec["observed"] = "missing-export"
        funcs = sorted(n for n in h.export_types if h.func_signature(n))
        rec["message"] = f"no exported function {sc.export!r} (exported: {', '.join(funcs[:12]) or 'none'})"
        return rec
    params, results = sig
    if "v128" in results:  # wasmtime's Python API has no v128 values: the call could not be read
        rec["observed"] = "bad-arguments"
        rec["message"] = f"{sc.export} returns ({', '.join(results)}): auditor cannot call a function returning v128"
        return rec
    if len(params) != len(sc.args):
        rec["observed"] = "bad-arguments"
        rec["message"] = f"{sc.export} takes {len(params)} argument(s) ({', '.join(params)}), got {len(sc.args)}"
        return rec
    try:
        args = [_arg(a, t) for a, t in zip(sc.args, params)]
    except ValueError as e:
        rec["observed"], rec["message"] = "bad-arguments", str(e)
        return rec
    try:
        s = h.session(cap)
    except InstantiateError as e:
        rec["observed"], rec["message"] = "instantiate-failed", f"{e.outcome}: {e.message}"
        return rec
    with s:
        if sc.fuel:
            s.fuel_override = sc.fuel
        rec["pages_before"] = s.pages()
        r = s.call(sc.export, *args)
        rec["pages_after"] = s.pages()
        rec["stdout"], rec["stderr"], _ = s.output()
    if r.ok:
        rec["value"] = r.value
        graceful = sc.error_value is not None and _matches(r.value, sc.error_value)
        rec["observed"] = "graceful-error" if graceful else "ok"
    else:
        rec["observed"], rec["trap"], rec["message"] = r.outcome, r.trap_json(), r.message
        if r.exit_code is not None:
            rec["value"] = r.exit_code
    rec["passed"] = passes(sc.expect, rec["observed"])
    return rec
