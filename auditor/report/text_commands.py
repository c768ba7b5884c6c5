"""`auditor scan --print-commands`: each variant's cargo command, with what was injected."""

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
    return "\n".join(lines)
