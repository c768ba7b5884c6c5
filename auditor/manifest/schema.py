"""Value checks shared by Cargo.toml profiles and auditor's config schema.

Each check takes a plain TOML value and returns an error text or None. Cargo's profile
keys live here (ground floor) so the manifest reader rejects what `cargo build` rejects
(`opt-level = 9`) and the config schema accepts the same values for scan profiles.
"""

from __future__ import annotations

from collections.abc import Callable

from auditor.manifest import toml

Check = Callable[[object], "str | None"]


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def string(v):
    return None if isinstance(v, str) else "expected a string"


def boolean(v):
    return None if isinstance(v, bool) else "expected true or false"


def integer(v):
    return None if is_int(v) else "expected an integer"


def pos_int(v):
    return None if is_int(v) and v > 0 else "expected a positive integer"


def table(v):
    return None if isinstance(v, dict) else "expected a table"


def choice(*options) -> Check:
    def check(v):
        # TOML true must not pass for 1 (nor false for 0)
        ok = any(type(v) is type(o) and v == o for o in options)
        return None if ok else "expected one of " + ", ".join(_show(o) for o in options)
    return check


def either(*checks: Check) -> Check:
    def check(v):
        errors = [c(v) for c in checks]
        if any(e is None for e in errors):
            return None
        return " or ".join(e if i == 0 else e.removeprefix("expected ") for i, e in enumerate(errors))
    return check


def _show(v) -> str:
    return toml.literal(v)


# Cargo's [profile.*] keys and the values `cargo build` accepts (current cargo; string
# forms of `debug` arrived in cargo 1.71). Unknown keys only make cargo warn.
CARGO_PROFILE: dict[str, Check] = {
    "inherits": string,
    "opt-level": choice(0, 1, 2, 3, "0", "1", "2", "3", "s", "z"),
    "debug": either(boolean, choice(0, 1, 2, "none", "line-directives-only", "line-tables-only", "limited", "full")),
    "split-debuginfo": choice("off", "packed", "unpacked"),
    "strip": either(boolean, choice("none", "debuginfo", "symbols")),
    "debug-assertions": boolean,
    "overflow-checks": boolean,
    "lto": either(boolean, choice("off", "thin", "fat")),
    "panic": choice("unwind", "abort", "immediate-abort"),
    "incremental": boolean,
    "codegen-units": pos_int,
    "rpath": boolean,
    "build-override": table,
    "package": table,
}
