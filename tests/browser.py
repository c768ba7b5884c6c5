"""Headless Chromium (Debian's `chromium`) for the HTML report tests: load a file:// page,
let its scripts run, and read the DOM back (and optionally a screenshot).

Flags: --headless --no-sandbox --disable-gpu --disable-background-networking, a private
profile directory, and a virtual time budget so the page's scripts finish before the DOM
is dumped. The page under test reports what it drew in `#auditor-status`.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed (scripts/setup.sh installs Debian's chromium)"
    return exe


def load(page: Path, profile: Path, *, screenshot: Path | None = None, size: str = "1300,3000") -> str:
    """The DOM after the page's scripts ran (and a PNG when `screenshot`)."""
    base = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--hide-scrollbars",
            f"--window-size={size}"]
    if screenshot is not None:
        subprocess.run([*base, f"--screenshot={screenshot}", page.resolve().as_uri()], capture_output=True,
                       timeout=180, check=True)
    r = subprocess.run([*base, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def status(dom: str) -> dict:
    m = re.search(r'<pre id="auditor-status"[^>]*data-ready="1"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, "the page's script did not finish (no #auditor-status)"
    return json.loads(html.unescape(m.group(1)))


def png_colours(path: Path, box: tuple[int, int, int, int] | None = None) -> int:
    """Distinct colours in a PNG (8-bit RGB/RGBA, non-interlaced, as Chromium writes them)."""
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    x0, y0, x1, y1 = box or (0, 0, width, height)
    return len({rows[y][x * bpp:x * bpp + 3] for y in range(y0, min(y1, height), 2) for x in range(x0, min(x1, width), 2)})
