"""Human quantities: "150 KiB", "1.5 MB", "20 pages", "5%".

kB/MB/GB are decimal (1 kB = 1,000 bytes) as size-limit and most CI dashboards use them;
KiB/MiB/GiB are binary (1 KiB = 1,024 bytes). A page is a wasm page, 65,536 bytes.
Fractions of a byte round half up, the same for numbers and strings.
"""

from __future__ import annotations

import math
import re

PAGE = 65536
# wasmtime counts fuel in a u64: a larger value would wrap (to 0 for 2**64)
MAX_FUEL = (1 << 64) - 1

_BYTE_UNITS = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
    "page": PAGE, "pages": PAGE,
}

_NUM = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def _whole(x: float, what: str, value: object) -> int:
    if not math.isfinite(x):
        raise ValueError(f"{what}: {value!r} is not a finite size")
    if x < 0:
        raise ValueError(f"{what}: negative size {value!r}")
    return int(math.floor(x + 0.5))


def parse_bytes(value: int | float | str, *, what: str = "size") -> int:
    """Bytes from an int or a string with a unit; raises ValueError with a clear message."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a size, got {value!r}")
    if isinstance(value, (int, float)):
        return _whole(value, what, value)
    m = _NUM.match(str(value))
    if not m:
        raise ValueError(f"{what}: cannot read {value!r} as a size (try \"150 KiB\", \"1.5 MB\", \"20 pages\")")
    number, unit = m.groups()
    factor = _BYTE_UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(f"{what}: unknown unit {unit!r} in {value!r} (B, kB, MB, GB, KiB, MiB, GiB, pages)")
    if "." not in number:  # exact integer arithmetic for whole numbers
        return int(number) * factor
    return _whole(float(number) * factor, what, value)


def parse_pages(value: int | str, *, what: str = "memory") -> int:
    """Wasm pages from "64 pages", "4 MiB" (rounded up to whole pages) or a bare number,
    which is pages whether given as 20 or "20"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0 or value != int(value):
            raise ValueError(f"{what}: {value!r} is not a whole number of pages")
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    n = parse_bytes(value, what=what)
    return -(-n // PAGE)


def parse_percent_or_bytes(value: int | float | str, *, what: str = "increase") -> tuple[str, float]:
    """("percent", 5.0) for "5%", else ("bytes", n). Percentages are finite and >= 0."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            raise ValueError(f"{what}: cannot read {value!r} as a percentage") from None
        if not math.isfinite(pct) or pct < 0:
            raise ValueError(f"{what}: {value!r} is not a percentage >= 0")
        return "percent", pct
    return "bytes", float(parse_bytes(value, what=what))


def human_bytes(n: float | None) -> str:
    """1.5 KiB, 4.8 MiB: binary units for display (reports and rule messages)."""
    if n is None:
        return "-"
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# --------------------------------------------------------------------------- figures in text
# Shared by finding messages (gate) and every report format, so one number never reads
# two ways (52.1% in the terminal, 52.2% in the PR comment). Percentages are formatted
# from the exact ratio, once: rounding to 2 decimals for JSON and then to 1 for display
# would round twice (52.15 -> "52.1" instead of "52.2").


def percent(delta: float | None, base: float | None) -> str:
    """" (+5.6%)" of `delta` against `base`; empty when there is no ratio (base 0 or None)."""
    if delta is None or not base:
        return ""
    return f" ({delta * 100 / base:+.1f}%)"


def quantity(value: float | None, unit: str, *, missing: str = "unbounded", readable: bool = True) -> str:
    """A figure with its unit; bytes exact, with a readable figure beside (in tables)."""
    if value is None:
        return missing
    if unit == "bytes":
        exact = f"{value:,} B"
        short = human_bytes(value)
        return exact if not readable or short.endswith(" B") else f"{exact} ({short})"
    if unit == "pages":
        return f"{value:,} pages"
    return f"{value:g} {unit}"


def signed(value: float | None, unit: str, base: float | None = None) -> str:
    """"+1,877 B (+5.7%)": a change in the metric's unit, with its share of `base`."""
    if value is None:
        return "-"
    if unit == "bytes":
        text = f"{value:+,} B"
    elif unit == "pages":
        text = f"{value:+,} pages"
    else:
        text = f"{value:+g} {unit}"
    return text + percent(value, base)
