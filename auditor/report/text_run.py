"""Text rendering of a run record: what happens at the cap, how memory grows, scenarios."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.report.speed_blocks import allocator_code_lines, speed_lines
from auditor.report.table import human_bytes, table
from auditor.units import PAGE

if TYPE_CHECKING:
    from auditor.rules.audit import Audited
    from auditor.runtime.api import RunResult

_BAD = {"leak", "page-per-alloc", "wasteful", "grow", "failed", "out-of-bounds", "timeout", "trap",
        "stack-overflow"}


def _c(s: str, code: str, color: bool) -> str:
    return f"\033[{code}m{s}\033[0m" if color else s


def _bold(s: str, color: bool) -> str:
    return _c(s, "1", color)


def _verdict(v: str | None, color: bool) -> str:
    v = v or "-"
    return _c(v, "33", color) if v in _BAD else v


def _pages(n: int | None) -> str:
    return "-" if n is None else f"{n} pages ({human_bytes(n * PAGE)})"


def _ramp_line(label: str, r: dict, color: bool) -> str:
    if r["outcome"] == "no-failure":
        return f"  {label:<11} {r['entry']:<22} no failure up to {human_bytes(r['requests'][-1])} requests, {r['pages']} pages"
    grew = "grew on the failing call" if r["grew_on_failure"] else "no growth on the failing call"
    text = (f"  {label:<11} {r['entry']:<22} {_verdict(r['outcome'], color)} at {r['pages']} of {r['cap_pages']} pages "
            f"requesting {human_bytes(r['request'])} ({human_bytes(r['live_bytes'])} live); {grew}")
    if r.get("recovered") is not None:
        text += "; instance still works" if r["recovered"] else f"; instance broken afterwards ({r['recovery']})"
    return text


def render(result: Audited[RunResult], *, color: bool = False) -> str:
    j = result.to_json()
    o = j["options"]
    m = j["module"]
    out: list[str] = []
    mx = "no maximum" if m["max_pages"] is None else f"max {m['max_pages']} pages"
    mem = "no memory" if m["initial_pages"] is None else f"memory {m['initial_pages']} initial pages, {mx}"
    out.append(_bold(f"{j['file']}: {j['bytes']:,} bytes", color) + f"; {mem}")
    kinds = [k for k, on in (("WASI", m["wasi"]), ("wasm-bindgen", m["wasm_bindgen"])) if on]
    out.append(f"cap {_pages(o['memory_limit_pages'])}; fuel {o['fuel']:,} per call"
               + (f", {o['timeout']:g} s wall clock" if o["timeout"] else "")
               + f"; unknown imports: {o['unknown_imports']}; seed {o['seed']}"
               + (f"; {', '.join(kinds)} module" if kinds else ""))
    inst = j["instantiate"]
    if inst["outcome"] != "ok":
        out.append(_c(f"instantiation: {inst['outcome']}: {inst['message']}", "31", color))
    e = j["entry"]
    if e["alloc"]:
        ops = " / ".join(x for x in (e["alloc"], e["free"], e["realloc"], e["try_reserve"]) if x)
        out.append(f"allocation entry points ({e['family']}): {ops}")
    for rej in e["rejected"]:
        out.append(f"  rejected {rej['name']} {rej['signature']}: {rej['reason']}")

    oom = j["oom"]
    out.append("")
    if oom["outcome"] == "not-probed" and oom["reason"] != "workload not selected":
        out.append(_bold("Workloads", color) + f": not probed: {oom['reason']}")
    else:
        _workloads(j, out, color)
    _static(j["static"], j["oom"]["outcome"] != "not-probed", out, color)
    out.extend(speed_lines(j.get("speed")))
    out.extend(allocator_code_lines(j.get("allocator_code")))
    _wasi(j["wasi"], o, out, color)
    _scenarios(j["scenarios"], out, color)
    for fd in j["findings"]:
        out.append(f"{fd['level']}[{fd['rule']}]: {fd['message']}")
    return "\n".join(out) + "\n"


def _workloads(j: dict, out: list[str], color: bool) -> None:
    oom = j["oom"]
    out.append(_bold("Out of memory (ramp: doubling requests, all held, until one fails)", color))
    if oom["outcome"] == "not-probed":
        out.append(f"  not probed: {oom['reason']}")
    else:
        out.append(_ramp_line("alloc", oom, color))
        if oom.get("try_reserve"):
            out.append(_ramp_line("try_reserve", oom["try_reserve"], color))
        if oom.get("trap") and oom["trap"].get("frames"):
            out.append(f"  trap in {' <- '.join(oom['trap']['frames'][:4])}")
        _output(oom, out, "  ")

    out.append("")
    out.append(_bold("Growth", color))
    rows, reasons = [], []
    for key, label, unit in (("churn", "churn", "/1k rounds"), ("hold_release", "hold/release", "/1k allocs")):
        g = j[key]
        if g["verdict"] == "not-probed":
            rows.append([label, "not probed", "", "", "", "", ""])
            reasons.append(f"  {label}: {g['reason']}")
            continue
        rows.append([label, _verdict(g["verdict"], color), g["pages_initial"], g["pages_after_warmup"], g["pages_end"],
                     g["pages_max"], f"{g['slope']:g} {unit}"])
        reasons.append(f"  {label}: {g['reason']}")
    out.append(table(["workload", "verdict", "initial", "after warm-up", "end", "max", "slope"], rows,
                     align="llrrrrr"))
    out.extend(reasons)
    f = j["fragmentation"]
    out.append(f"  fragmentation: {_verdict(f['verdict'], color)}: {f['reason']}")
    r = j["realloc"]
    extra = " (emulated: no realloc export)" if r.get("emulated") else ""
    out.append(f"  realloc growth: {_verdict(r['verdict'], color)}: {r['reason']}{extra}")


def _static(s: dict, ramp_ran: bool, out: list[str], color: bool) -> None:
    out.append("")
    out.append(_bold("Static OOM guards", color))
    see = "; see the ramp above" if ramp_ran else "; a scenario shows it at runtime"
    if not s["available"]:
        out.append(f"  unavailable: {s['reason']}")
    else:
        n, bad = s["memory_grow_sites"], s["unchecked_grow_sites"]
        where = ", ".join(f"{g['name'] or 'func ' + str(g['function'])}"
                          + (f" ({g['unchecked']} unchecked)" if g["unchecked"] else "") for g in s["grow_functions"])
        state = "all compared with -1" if n and not bad else (f"{bad} NOT compared with -1" if bad else "")
        out.append(f"  memory.grow sites: {n}" + (f", {state}" if state else "") + (f": {where}" if where else ""))
        if s["aborts_on_oom"]:
            ends = " (the path ends in `unreachable`)" if s.get("oom_path_ends_in_unreachable") else ""
            names = s["exports_reaching_oom"]
            out.append(f"  aborts on OOM: yes, export{'s' if len(names) > 1 else ''} {', '.join(names)} "
                       f"reach{'' if len(names) > 1 else 'es'} {', '.join(s['oom_handlers'][:3])}{ends}")
        elif s["named_functions"]:
            out.append(f"  aborts on OOM: no OOM handler names left (LTO may have inlined them){see}")
        else:
            out.append(f"  aborts on OOM: unknown (no function names){see}")


def _output(rec: dict, out: list[str], indent: str, lines: int = 20) -> None:
    """What a WASI module printed during one record's run (first lines of each stream)."""
    for stream in ("stdout", "stderr"):
        text = rec.get(stream)
        if text:
            out.append(f"{indent}{stream}:")
            out.extend(f"{indent}  | {line}" for line in text.rstrip("\n").splitlines()[:lines])


def _wasi(w: dict | None, o: dict, out: list[str], color: bool) -> None:
    if w:
        out.append("")
        code = f" exit {w['exit_code']}" if w["exit_code"] is not None else ""
        out.append(_bold("WASI _start", color) + f": {_verdict(w['outcome'], color)}{code}, {w['pages']} pages")
        _output(w, out, "  ")
        if w.get("truncated"):
            out.append(f"  (output cut at {o['capture_bytes']:,} bytes per stream)")


def _scenarios(scenarios: list[dict], out: list[str], color: bool) -> None:
    if scenarios:
        out.append("")
        out.append(_bold("Scenarios", color))
        for sc in scenarios:
            mark = _c("PASS", "32", color) if sc["passed"] else _c("FAIL", "31", color)
            got = sc["observed"]
            if sc["value"] is not None:
                got += f" (returned {sc['value']})"
            line = f"  {mark} {sc['name']}: expected {sc['expected']}, observed {got}; cap {sc['memory_limit_pages']} pages"
            if sc["pages_before"] is not None:  # None: the export was never called
                line += f", {sc['pages_before']} -> {sc['pages_after']} pages"
            out.append(line)
            if sc["message"] and not sc["passed"]:
                out.append(f"       {sc['message']}")
            _output(sc, out, "       ", lines=5)
        failed = sum(1 for sc in scenarios if not sc["passed"])
        out.append(f"  {len(scenarios)} scenario(s), {failed} failed")
