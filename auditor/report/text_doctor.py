"""Text for `auditor doctor`: toolchains in the order a scan tries them, then tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from auditor.build.doctor import DoctorResult
    from auditor.build.toolchain import Toolchain


def _mark(ok: bool | None, color: bool) -> str:
    text = {True: "yes", False: "no", None: "-"}[ok]
    if not color or ok is None:
        return text
    return f"\033[{'32' if ok else '31'}m{text}\033[0m"


def render(result: DoctorResult, *, color: bool = False) -> str:
    out = ["Rust toolchains (tried in this order)" + (" - CARGO/RUSTC set, only that pair is used" if result.explicit else "")]
    if not result.toolchains:
        out.append("  none found")
    for i, tc in enumerate(result.toolchains, 1):
        chosen = "  <- scan uses this" if tc is result.selected else ""
        out.append(f"  {i}. {tc.source}{chosen}")
        out.append(f"     cargo   {tc.cargo}  {tc.cargo_version or '(does not run)'}")
        out.append(f"     rustc   {tc.rustc}  {tc.rustc_version or '(does not run)'}")
        if tc.sysroot:
            out.append(f"     sysroot {tc.sysroot} (host {tc.host})")
        out.append(f"     wasm32-unknown-unknown std: {_mark(tc.wasm32_std, color)}"
                   f"   linker: {tc.linker or _mark(False, color)}"
                   f"   test build: {_mark(tc.can_build, color)}")
        if tc.build_std:
            out.append(f"     build-std: {','.join(tc.build_std)} from source ({tc.build_std_from})")
        if tc.problem:
            out.append(f"     problem: {tc.problem}")
        for fix in tc.fixes:
            out.append(f"     fix:     {fix}")
    out.append("")
    out.append("Tools")
    width = max((len(t.name) for t in result.tools), default=0)
    for t in result.tools:
        state = f"{t.version or 'found'} ({t.path})" if t.found else "missing" + (" - required" if t.required else "")
        out.append(f"  {t.name.ljust(width)}  {_mark(t.found, color)}  {state}")
        out.append(f"  {' ' * width}       for {t.purpose}")
        if t.fix:
            out.append(f"  {' ' * width}       fix: {t.fix}")
    out.append("")
    if result.scan_ready:
        out.append(f"ready: auditor scan will use {cast('Toolchain', result.selected).label()}")  # set when ready
    else:
        out.append(f"not ready: {result.reason}")
    return "\n".join(out) + "\n"
