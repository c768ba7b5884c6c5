"""Headless Chromium (Debian's `chromium`) for the HTML report tests: load a file:// page,
let its scripts run, and read the DOM back (and optionally a screenshot).

Flags: --headless --no-sandbox --disable-gpu --disable-background-networking
--hide-scrollbars, a private profile directory. The page under test reports what it drew
in `#auditor-status` (data-ready="1" when its scripts are done).

One browser per test process, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: JSON messages ended by NUL on fds 3 and 4); each load() opens
the page in a fresh browser context (its own cookies, storage and cache, like a fresh
profile) and a tab of the given size, waits for the page's data-ready (or the load
timeout), and returns `document.documentElement.outerHTML` (what `--dump-dom` printed)
and the viewport as a PNG (what `--screenshot` wrote).

WHY: a Chromium start-up costs ~1.6 CPU-s (~2 s wall) before it loads anything; the
HTML tests started it six times per session, one process per page (`--dump-dom`, and
`--screenshot` in a second process for the same page), about 10 CPU-s of the quick subset.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import html
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
#: Seconds a page may take to report data-ready (the old per-process timeout).
LOAD_TIMEOUT = 180.0


def chromium() -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed (scripts/setup.sh installs Debian's chromium)"
    return exe


class Browser:
    """One headless Chromium and its DevTools pipe."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="auditor-chromium-")
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()
        # The browser reads commands on fd 3 and writes answers on fd 4. bash moves the
        # two pipe ends there; first they are moved above 9, clear of 3 and 4.
        to_browser_r, from_browser_w = (_above_nine(fd) for fd in (to_browser_r, from_browser_w))
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        # stderr to a file: Chromium logs on every start (D-Bus), a pipe nobody reads would fill
        self._log = Path(self.profile) / "stderr.log"
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", script, chromium(), *FLAGS, f"--user-data-dir={self.profile}",
                 "--remote-debugging-pipe", "about:blank"],
                pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
        """The result of one DevTools command (events on the way are dropped)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    assert "error" not in reply, f"{method}: {reply['error']}"
                    return reply["result"]
            left = deadline - time.monotonic()
            assert left > 0 and self.alive(), f"chromium did not answer {method} (exit {self.proc.poll()}): " \
                f"{self._stderr()}"
            if select.select([self._r], [], [], min(left, 1.0))[0]:
                chunk = os.read(self._r, 1 << 20)
                assert chunk, f"chromium closed its DevTools pipe during {method}: {self._stderr()}"
                self._buf += chunk

    def _stderr(self) -> str:
        try:
            return self._log.read_bytes()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        try:
            if self.alive():
                self.send("Browser.close", timeout=5)
                self.proc.wait(5)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        if self.alive():
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)


def _above_nine(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


_browser: Browser | None = None


def browser() -> Browser:
    """This process's browser, started on first use (and again if it died)."""
    global _browser
    if _browser is None or not _browser.alive():
        if _browser is not None:
            _browser.close()
        _browser = Browser()
        atexit.register(_browser.close)
    return _browser


def shutdown() -> None:
    """Closes this process's browser (the HTML tests' module does, when it is done)."""
    global _browser
    if _browser is not None:
        _browser.close()
        _browser = None


_READY = ("document.readyState === 'complete' && location.href === {url} && "
          "!!document.querySelector('#auditor-status[data-ready=\"1\"]')")


def load(page: Path, *, screenshot: Path | None = None, size: str = "1300,3000") -> str:
    """The DOM after the page's scripts ran (and a PNG of the viewport when `screenshot`)."""
    b = browser()
    width, height = (int(x) for x in size.split(","))
    url = page.resolve().as_uri()
    context = b.send("Target.createBrowserContext")["browserContextId"]
    try:
        target = b.send("Target.createTarget", {"url": "about:blank", "browserContextId": context,
                                                "width": width, "height": height})["targetId"]
        session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                      "mobile": False}, session)
        b.send("Page.navigate", {"url": url}, session)
        ready = _READY.format(url=json.dumps(url))
        deadline = time.monotonic() + LOAD_TIMEOUT
        while not _evaluate(b, session, ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        dom = _evaluate(b, session, "document.documentElement.outerHTML")
        if screenshot is not None:
            png = b.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
            screenshot.write_bytes(base64.b64decode(png))
        return dom
    finally:
        b.send("Target.disposeBrowserContext", {"browserContextId": context})


def _evaluate(b: Browser, session: str, expression: str) -> Any:
    result = b.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    assert "exceptionDetails" not in result, result["exceptionDetails"]
    return result["result"].get("value")


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
