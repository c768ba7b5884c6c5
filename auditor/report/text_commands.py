"""`auditor scan --print-commands`: each variant's cargo command, with what was injected,
then its shipping stages' commands (wasm-bindgen, wasm-opt) when the scan runs them."""

from __future__ import annotations

from auditor.build.result import CommandList


def render(result: CommandList, *, color: bool = False) -> str:
    lines = []
    for r in result.variants:
        lines.append(f"# {r['id']}  (in {r['cwd']})")
        if r["injected"]:
            lines.append(f"#   after adding to [dependencies]: {r['injected']['dependency']}")
            lines.append("#   and to the crate root: " + r["injected"]["global_allocator"].replace("\n", " "))
        lines.append(r.get("shell") or r["command"])
        for st in r.get("ship") or []:
            lines.append(f"#   then the {st['stage']} stage" + (f" ({st['note']})" if st.get("note") else ""))
            lines.append(st["shell"])
    return "\n".join(lines)
