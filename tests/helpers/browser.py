"""Load an HTML report in a real headless browser (Debian's chromium): console errors, the DOM
after scripts ran, and a screenshot.

Why the DevTools protocol over ``--remote-debugging-pipe``, and not ``--enable-logging``:
chromium logs every console message to stderr as ``INFO:CONSOLE`` whatever its level, so a
``console.error`` cannot be told from a ``console.log`` there, and the format is not an
interface. The protocol reports each message with its level (``Runtime.consoleAPICalled``),
uncaught exceptions (``Runtime.exceptionThrown``) and the browser's own errors such as a failed
resource load (``Log.entryAdded``). The pipe is two file descriptors (3 and 4) of JSON messages
ended by NUL: no port is opened, nothing new is installed (a WebSocket client would be a new
dependency), and the DOM and the screenshot come from the same page load in one browser start
(rather than three with ``--dump-dom`` and ``--screenshot``).

Network is off: every host name resolves to nothing, so a report that needs anything beyond
its own file fails to load it, which is reported as a console error and in
``PageResult.requests``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 2000
MAX_SCREENSHOT_HEIGHT = 8000  # long reports are cut here: enough to look at, a sane PNG


class BrowserError(RuntimeError):
    """The browser could not be started or did not answer in time."""


@dataclass(frozen=True)
class PageResult:
    console_errors: list[str]  # console.error/assert, uncaught exceptions, browser errors
    dom: str  # document.documentElement.outerHTML once the page loaded and scripts ran
    screenshot: Path
    title: str
    requests: list[str]  # every URL the page requested other than its own file
    values: dict[str, Any] = field(default_factory=dict)  # the ``evaluate`` expressions' values
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt texts (dismissed)


def chromium_path() -> str | None:
    """The browser binary: $PROVENA_CHROMIUM, else the first of CANDIDATES on PATH."""
    env = os.environ.get("PROVENA_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class _Pipe:
    """DevTools protocol over chromium's pipe: send commands, collect events, await replies."""

    def __init__(self, write_fd: int, read_fd: int, proc: subprocess.Popen, deadline: float):
        self.w, self.r, self.proc, self.deadline = write_fd, read_fd, proc, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}

    def _read_some(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BrowserError("chromium did not answer in time")
        ready, _, _ = select.select([self.r], [], [], min(left, 0.5))
        if not ready:
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with status {self.proc.returncode}")
            return
        chunk = os.read(self.r, 1 << 20)
        if not chunk:
            raise BrowserError("chromium closed the DevTools pipe")
        self.buf += chunk
        *messages, self.buf = self.buf.split(b"\0")
        for m in messages:
            msg = json.loads(m)
            if "id" in msg:
                self.replies[msg["id"]] = msg
            else:
                self.events.append(msg)
                if msg.get("method") == "Page.javascriptDialogOpening":
                    self._dismiss(msg.get("sessionId"))

    def _dismiss(self, session: str | None) -> None:
        """An alert blocks the page until answered: answer it (and keep the event)."""
        self.next_id += 1
        msg: dict[str, Any] = {
            "id": self.next_id,
            "method": "Page.handleJavaScriptDialog",
            "params": {"accept": False},
        }
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mine = self.next_id  # a dialog answered while waiting takes the next id
        msg: dict[str, Any] = {"id": mine, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while mine not in self.replies:
            self._read_some()
        reply = self.replies.pop(mine)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def wait_for(self, method: str) -> dict[str, Any]:
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev.get("method") == method:
                    return ev
            seen = len(self.events)
            self._read_some()


def _describe(ev: dict[str, Any]) -> str | None:
    """The text of an event that is an error, else None."""
    method, p = ev.get("method"), ev.get("params", {})
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        args = [a.get("value", a.get("description", "")) for a in p.get("args", [])]
        return f"console.{p['type']}: " + " ".join(map(str, args))
    if method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        return "uncaught: " + str(d.get("exception", {}).get("description") or d.get("text"))
    if method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        e = p["entry"]
        return f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip()
    return None


def _above_9(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def load(
    html_path: Path,
    screenshot_path: Path,
    *,
    timeout: float = 60,
    evaluate: dict[str, str] | None = None,
    width: int = WIDTH,
) -> PageResult:
    """Open ``html_path`` in headless chromium without network, wait for the load event and
    the scripts it started, and return its console errors, DOM and a PNG screenshot
    (``width`` px wide, ``WIDTH`` unless given; the page's full height up to ``MAX_SCREENSHOT_HEIGHT``), the values of
    the ``evaluate`` JavaScript expressions (by name) and the texts of any dialogs it opened."""
    binary = chromium_path()
    if binary is None:
        raise BrowserError("no chromium binary; run `make setup-browser`")
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="provena-chromium-") as profile:
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads them on fd 3
        res_r, res_w = os.pipe()  # chromium writes replies on fd 4, we read them
        # the child's ends move above 9, so neither is 3 or 4 when bash moves them there
        cmd_r, res_w = _above_9(cmd_r), _above_9(res_w)
        args = [
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where the sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            f"--window-size={width},{HEIGHT}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: no name resolves
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "about:blank",
        ]
        stderr = open(Path(profile) / "stderr.log", "w+b")  # noqa: SIM115 (closed below)
        # bash, not sh: dash takes one-digit fds only
        redirect = f'exec "$0" "$@" 3<&{cmd_r} 4>&{res_w} {cmd_r}<&- {res_w}>&-'
        proc = subprocess.Popen(
            ["bash", "-c", redirect, binary, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(cmd_r, res_w),
            start_new_session=True,
        )
        os.close(cmd_r)
        os.close(res_w)
        cdp = _Pipe(cmd_w, res_r, proc, time.monotonic() + timeout)
        try:
            target = cdp.call("Target.createTarget", url="about:blank")["targetId"]
            s = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable", s)
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                s,
                width=width,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            start = len(cdp.events)
            cdp.call("Page.navigate", s, url=url)
            cdp.wait_for("Page.loadEventFired")
            # let timers and animation frames that the page's scripts started run
            cdp.call(
                "Runtime.evaluate",
                s,
                expression="new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))",
                awaitPromise=True,
            )
            dom = cdp.call(
                "Runtime.evaluate",
                s,
                expression="document.documentElement.outerHTML",
                returnByValue=True,
            )["result"]["value"]
            title = cdp.call("Runtime.evaluate", s, expression="document.title", returnByValue=True)
            values = {
                name: cdp.call("Runtime.evaluate", s, expression=expr, returnByValue=True)[
                    "result"
                ].get("value")
                for name, expr in (evaluate or {}).items()
            }
            size = cdp.call("Page.getLayoutMetrics", s)["cssContentSize"]
            height = min(max(int(size["height"]), HEIGHT), MAX_SCREENSHOT_HEIGHT)
            png = cdp.call(
                "Page.captureScreenshot",
                s,
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            )["data"]
            events = cdp.events[start:]
            with contextlib.suppress(BrowserError):  # it may close the pipe before it answers
                cdp.call("Browser.close")
        except BrowserError as err:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-2000:]
            raise BrowserError(f"{err} (loading {url}); chromium's stderr ends:\n{tail}") from None
        finally:
            os.close(cmd_w)
            os.close(res_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)  # the wrapper script's whole group, only ours
                proc.wait(timeout=10)
            stderr.close()
    screenshot_path = Path(screenshot_path)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    screenshot_path.write_bytes(base64.b64decode(png))
    errors = [e for e in map(_describe, events) if e]
    requests = [
        ev["params"]["request"]["url"]
        for ev in events
        if ev.get("method") == "Network.requestWillBeSent" and ev["params"]["request"]["url"] != url
    ]
    dialogs = [
        ev["params"].get("message", "")
        for ev in events
        if ev.get("method") == "Page.javascriptDialogOpening"
    ]
    return PageResult(
        errors, dom, screenshot_path, title["result"]["value"], requests, values, dialogs
    )
