"""Text for `auditor scan`: one row per variant, the smallest marked, deltas vs release."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from auditor.records.scan import join_id
from auditor.report.speed_blocks import speed_cells, tradeoff_lines
from auditor.report.table import human_bytes, table

if TYPE_CHECKING:
    from auditor.build.result import ScanResult
    from auditor.gate.budgets import CheckResult


def _code_cell(code: Mapping[str, Any] | None) -> str:
    """The allocator's own code in the shipped module (a lower bound; "-" unattributed)."""
    return "-" if not code or code.get("method") == "none" else human_bytes(code["bytes"])


def _style(s: str, code: str, color: bool) -> str:
    return f"\033[{code}m{s}\033[0m" if color else s


def _delta(d: Mapping[str, Any] | None) -> str:
    if not d or not d.get("raw"):
        return "-"
    raw = d["raw"]
    if raw["bytes"] == 0:
        return "0"
    pct = f" ({raw['percent']:+.1f}%)" if raw.get("percent") is not None else ""
    return f"{raw['bytes']:+,}{pct}"


def _allocator(check: Mapping[str, Any] | None) -> str:
    if not check:
        return "-"
    detected = check.get("detected") or "?"
    if check["status"] == "mismatch":
        return f"{detected} != {check['requested']} !"
    if check["status"] == "unverified":
        return f"{detected} ?"
    if check["status"] == "ambiguous":
        return "|".join(check.get("possible") or [detected]) + " ~"
    if check.get("method") in ("twin", "sibling"):
        return f"{detected} ({check['method']})"
    return detected


def _pages(fig: Mapping[str, Any]) -> str:
    if fig["initial_pages"] is None:
        return "-"
    return f"{fig['initial_pages']}/{'-' if fig['max_pages'] is None else fig['max_pages']}"


def _settings(settings: dict) -> str:
    from auditor.manifest.toml import literal as _toml_value

    shown = {k: v for k, v in settings.items() if k != "inherits"}
    if not shown:
        return "the crate's own [profile.release]"
    return ", ".join(f"{k} = {_toml_value(v)}" for k, v in shown.items()) + (
        f" (on top of [profile.{settings['inherits']}])" if settings.get("inherits") else "")


def _origin(profile: str, allocator: str, j: Mapping[str, Any]) -> list[str]:
    """The settings and allocator behind a variant, as the user would write them."""
    out = []
    prof = next((p for p in j["profiles"] if p["name"] == profile), None)
    if prof is not None:
        out.append(f"  profile {profile}: {_settings(prof['settings'])}")
    alloc = next((a for a in j["allocators"] if a["name"] == allocator), None)
    if alloc is not None:
        if alloc["inject"]:
            out.append(f"  allocator {allocator}: {alloc['crate']} as #[global_allocator] ({alloc['item']})")
        elif alloc.get("pinned_at"):
            out.append(f"  allocator {allocator}: the crate's own, {alloc['pinned_at']}")
        else:
            out.append(f"  allocator {allocator}: std's built-in (nothing injected)")
    return out


def _variants(vids: list[str], shown: int = 4) -> str:
    more = f" +{len(vids) - shown} more" if len(vids) > shown else ""
    return ", ".join(vids[:shown]) + more


def _findings(findings, color: bool) -> list[str]:
    """One line per rule and level: how many variants it holds for, which, and one
    example message (messages of one rule differ only in their figures)."""
    groups: dict[tuple, list] = {}
    for f in findings:
        located = f.file and f.line  # a real place (a manifest or config line), not a module
        where = f"{f.file}:{f.line}: " if located else ""
        groups.setdefault((where, f.rule, f.level), []).append(f)
    out = []
    level_color = {"error": "31", "warning": "33", "note": "36"}
    order = {"error": 0, "warning": 1, "note": 2}
    for (where, rule, level), fs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][2], 3), kv[0][1], kv[0][0])):
        named = list(dict.fromkeys(f.variant for f in fs if f.variant))
        messages = list(dict.fromkeys(f.message for f in fs))
        shown = ""
        if named:
            count = f"{len(named)} variant{'s' if len(named) != 1 else ''}: " if len(named) > 1 else ""
            shown = f" [{count}{_variants(named)}]"
        example = messages[0] + (f" (and {len(messages) - 1} similar)" if len(messages) > 1 else "")
        out.append(f"  {where}{rule} {_style(level, level_color.get(level, '0'), color)}{shown}: {example}")
    return out


def _scenarios(variants) -> list[list]:
    """Per scenario: what was expected, what each variant did, how many passed."""
    table_rows: dict[str, dict] = {}
    for v in variants:
        for sc in (v.runtime or {}).get("scenarios") or []:
            row = table_rows.setdefault(sc["name"], {"expected": sc["expected"], "observed": {}, "passed": 0, "total": 0,
                                                     "failed": []})
            row["observed"][sc["observed"]] = row["observed"].get(sc["observed"], 0) + 1
            row["total"] += 1
            if sc["passed"]:
                row["passed"] += 1
            else:
                row["failed"].append(v.id)
    rows = []
    for name, row in table_rows.items():
        observed = ", ".join(f"{o} ({n})" if len(row["observed"]) > 1 else o for o, n in row["observed"].items())
        verdict = f"{row['passed']}/{row['total']}" + (f" FAILED: {_variants(row['failed'], 3)}" if row["failed"] else "")
        rows.append([name, row["expected"], observed, verdict])
    return rows


def _failure_groups(failed) -> list[tuple[list[str], str]]:
    """Variants that failed with the same error (say, one unreachable registry crate)."""
    groups: dict[str, list[str]] = {}
    for v in failed:
        groups.setdefault((v.error or "failed").rstrip(), []).append(v.id)
    return [(ids, err) for err, ids in groups.items()]


def render(result: ScanResult, *, color: bool = False) -> str:
    j: Mapping[str, Any] = result.to_json()  # as written (hand-made and merged reports too)
    crate, tc = j["crate"], j["toolchain"]
    small = result.smallest()
    out = [_style(f"{crate['name']} {crate['version']} ({crate['manifest_path']})", "1", color)
           + f" · {tc['rustc']} + {tc['cargo']} · {tc['target']}"]
    if j["shard"]:
        out[0] += f" · shard {j['shard']['index']}/{j['shard']['count']}"
    rows, failed = [], []
    for v in result.variants:
        mark = "*" if small is not None and v is small else ""
        if v.status != "ok":
            first = (v.error or "failed").strip().splitlines()[0]
            rows.append([mark, v.id, "FAILED", "", "", "", "", "", "", "", "", first[:60]])
            failed.append(v)
            continue
        f = cast("dict[str, int | None]", v.figures())  # an ok variant's
        rows.append([mark, v.id, human_bytes(f["raw"]), human_bytes(f["gzip"]), human_bytes(f["brotli"]),
                     human_bytes(f["code"]), human_bytes(f["data"]), human_bytes(f["custom"]), _pages(f),
                     _allocator(v.allocator_check),
                     "-" if v.build_seconds is None else f"{v.build_seconds:.1f}s", _delta(v.delta)])
    text = table(["", "variant", "raw", "gzip", "brotli", "code", "data", "custom", "pages", "allocator", "build",
                  f"Δ raw vs {j['baseline_variant'] or 'release'}"], rows, align="llrrrrrrrlrl", indent="")
    lines = text.splitlines()
    lines[1] = " " + lines[1][1:]  # no underline under the unnamed marker column
    if color:
        for i, v in enumerate(result.variants, start=2):
            if v is small:
                lines[i] = _style(lines[i], "1;32", color)
            elif v.status != "ok":
                lines[i] = _style(lines[i], "31", color)
    out += [""] + lines
    out.append("")
    from auditor.report.ship_blocks import stage_lines

    out += stage_lines(result.variants)
    if small is not None:
        d = _delta(small.delta)
        small_bytes = cast("Mapping[str, Any]", small.wasm)["bytes"]
        out.append(_style(f"smallest: {small.id}, {small_bytes:,} bytes ({human_bytes(small_bytes)})"
                          + (f", {d} vs {j['baseline_variant']}" if d != "-" and small.id != j["baseline_variant"] else ""),
                          "1", color))
        out += _origin(small.profile, small.allocator, j)
    rec = j.get("recommended")
    if rec is not None and small is not None:
        if rec["variant"] == small.id:
            note = "the smallest; its runtime probes found nothing wrong" if rec["runtime_checked"] else \
                "the smallest (runtime probes did not run: --no-runtime)"
            out.append(_style(f"recommended: {rec['variant']} — {note}", "1", color))
        else:
            d = _delta({"raw": (rec.get("delta") or {}).get("raw")})
            out.append(_style(f"recommended: {rec['variant']}, {rec['bytes']:,} bytes ({human_bytes(rec['bytes'])})"
                              + (f", {d} vs {j['baseline_variant']}" if d not in ("-", "0") else "")
                              + " — the smallest whose runtime probes found nothing wrong", "1", color))
            out += _origin(rec["profile"], rec["allocator"], j)
        for sk in rec["skipped"]:
            out.append(f"  passed over: {sk['reason']} ({_variants(sk['variants'], 3)})")
        balanced = ((rec.get("tradeoff") or {}).get("balanced") or {}).get("variant")
        if balanced and balanced != rec["variant"] and len(rec["tradeoff"].get("axes") or []) > 1:
            out.append(_style(f"balanced choice: {balanced} — size, speed and heap efficiency weighed "
                              "(trade-off below)", "1", color))
        out += tradeoff_lines(rec.get("tradeoff"))
    elif small is not None:
        out.append(_style("recommended: none — the runtime probes found a problem in every variant", "33", color))
        for sk in result.passed_over:
            out.append(f"  passed over: {sk['reason']} ({_variants(sk['variants'], 3)})")
    mism = [v for v in result.variants if v.allocator_check and v.allocator_check["status"] == "mismatch"]
    for v in mism:
        out.append(_style(f"allocator mismatch in {v.id}: {cast('Mapping[str, Any]', v.allocator_check)['message']}",
                          "33", color))
    nonrepro = [v.id for v in result.variants if v.reproducible is False]
    if nonrepro:
        out.append(_style(f"not byte-identical when rebuilt: {', '.join(nonrepro)}", "33", color))

    rt_rows = []
    for v in result.variants:
        if v.status != "ok":
            continue
        pb = v.probe_build
        probed = join_id(pb["profile"], pb["allocator"]) if pb else "-"
        if v.runtime is None:
            if v.runtime_error:
                rt_rows.append([v.id, probed, v.runtime_error[:70], "", "", "", "", "", "", "", ""])
            continue
        r: Mapping[str, Any] = v.runtime
        oom, churn, frag, realloc = (r.get(k) or {} for k in ("oom", "churn", "fragmentation", "realloc"))
        slope = churn.get("slope")
        overhead = realloc.get("overhead")
        grow = realloc.get("verdict", "-")
        if overhead is not None and grow != "failed":
            grow += f" {overhead:g}x"
        rt_rows.append([v.id, probed, oom.get("outcome", "-"), oom.get("pages", "-"), churn.get("verdict", "-"),
                        "-" if slope is None else f"{slope:g}", frag.get("verdict", "-"), grow,
                        *speed_cells(r), _code_cell(v.allocator_code)])
    if rt_rows:
        n_probes = len({(v.probe_build or {}).get("path") for v in result.variants if v.probe_build})
        out += ["", _style(f"Runtime ({n_probes} probe module{'s' if n_probes != 1 else ''}: one per allocator and "
                           "behaviour setting, named under 'probed'; alloc code: the variant's own module)", "1",
                           color)]
        out.append(table(["variant", "probed", "oom", "pages at cap", "churn", "slope /1k", "fragmentation",
                          "realloc growth", "fuel/action", "heap eff.", "alloc code"], rt_rows,
                         align="lllrlrllrrr"))
    sc_rows = _scenarios(result.variants)
    if sc_rows:
        out += ["", _style("Scenarios (on each variant's probe build)", "1", color)]
        out.append(table(["scenario", "expected", "observed", "passed"], sc_rows, align="llll"))
    if failed:
        out += ["", _style(f"Failed variants ({len(failed)})", "1;31", color)]
        for ids, err in _failure_groups(failed):
            out.append(f"  {_variants(ids, 6)}:")
            out += [f"    {line}" for line in err.splitlines()]
    if j["notices"]:
        out += ["", "Notices"] + [f"  {n}" for n in j["notices"]]
    # With --gate the budget block below lists its own findings.
    findings = [f for f in result.findings if result.check is None or f not in result.check.findings]
    if findings:
        out += ["", _style("Findings", "1", color)]
        out += _findings(findings, color)
    if result.check is not None:
        from auditor.report import text_check

        out += ["", text_check.render(cast("CheckResult", result.check), color=color).rstrip()]
    if j.get("attribution"):
        from auditor.report.text_deep import attribution_lines

        out += [""] + attribution_lines(j["attribution"])
    return "\n".join(out).rstrip() + "\n"
