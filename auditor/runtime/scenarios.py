"""OOM-guard scenarios: call one export under a cap and compare with the expected outcome.

A scenario is how a team states "this export must fail gracefully, not abort, when
memory runs out" (the seed note's `safe_allocation(size)` returning None above a
limit). They come from `[[package.metadata.auditor.scenario]]` / `[[scenario]]` in
auditor.toml, or from `--scenario` on the command line in the same keys.
"""

from __future__ import annotations

from typing import cast

from auditor.records.run import ScenarioRecord
from auditor.runtime.harness import TRAP_OUTCOMES, Harness, InstantiateError, to_signed
from auditor.runtime.options import Scenario, from_config, parse_spec

__all__ = ["Scenario", "from_config", "parse_spec", "passes", "run_scenario"]


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


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


def run_scenario(h: Harness, sc: Scenario, default_cap: int) -> ScenarioRecord:
    """The report record of one scenario (never raises for module behaviour)."""
    cap = sc.memory_limit_pages or default_cap
    rec: ScenarioRecord = {"name": sc.label(), "export": sc.export, "args": list(sc.args), "expected": sc.expect,
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
    from auditor.runtime import bindgen as bg

    nargs = sum(2 if bg.is_bytes_arg(a) else 1 for a in sc.args)
    retptr = bg.wants_retptr(params, results, nargs) and h.func_signature(bg.MALLOC) is not None
    plain = params[1:] if retptr else params
    if len(plain) != nargs:
        rec["observed"] = "bad-arguments"
        rec["message"] = f"{sc.export} takes {len(params)} argument(s) ({', '.join(params)}), got {len(sc.args)}"
        return rec
    if sc.expect in bg.BINDGEN_EXPECTS and not retptr and len(results) < 2:
        rec["observed"] = "bad-arguments"
        rec["message"] = (f"expect = {sc.expect!r} reads a wasm-bindgen return (Option/Result through a return "
                          f"pointer or several results); {sc.export} is ({', '.join(params)}) -> ({', '.join(results)})")
        return rec
    if not any(bg.is_bytes_arg(a) for a in sc.args):
        try:
            args = [_arg(a, t) for a, t in zip(sc.args, plain)]
        except ValueError as e:
            rec["observed"], rec["message"] = "bad-arguments", str(e)
            return rec
    try:
        s = h.session(cap)
    except InstantiateError as e:
        rec["observed"], rec["message"] = "instantiate-failed", f"{e.outcome}: {e.message}"
        return rec
    decoded: str | None = None
    with s:
        if sc.fuel:
            s.fuel_override = sc.fuel
        try:
            flat = bg.expand_args(s, list(sc.args))
            args = [_arg(a, t) for a, t in zip(flat, plain)]
            area = bg.retptr_area(s) if retptr else None
        except ValueError as e:
            rec["observed"], rec["message"] = "bad-arguments", str(e)
            return rec
        rec["pages_before"] = s.pages()
        r = s.call(sc.export, *([area] if area is not None else []), *args)
        rec["pages_after"] = s.pages()
        rec["stdout"], rec["stderr"], _ = s.output()
        if s.console:
            rec["stdout"] = (rec["stdout"] or "") + "".join(f"{line}\n" for line in s.console)
        if r.ok and (retptr or len(results) >= 2) and sc.expect in bg.BINDGEN_EXPECTS:
            words = bg.read_words(s, area) if area is not None else [int(x) & 0xFFFFFFFF for x in cast(list, r.value)]
            decoded = bg.decode(sc.expect, words, None if area is not None else len(results))
            r.value = words[:len(results)] if area is None else words[:4]
    if r.ok:
        rec["value"] = r.value
        graceful = sc.error_value is not None and _matches(r.value, sc.error_value)
        rec["observed"] = decoded if decoded in bg.BINDGEN_EXPECTS else ("graceful-error" if graceful else "ok")
    else:
        rec["observed"], rec["trap"], rec["message"] = r.outcome, r.trap_json(), r.message
        if r.exit_code is not None:
            rec["value"] = r.exit_code
    rec["passed"] = passes(sc.expect, rec["observed"] or "")
    return rec
