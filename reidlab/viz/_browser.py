"""JupyterLab in headless Chromium, driven over the Chrome DevTools Protocol (CDP).

Used by ``tests/test_browser.py`` (the explorers in a real browser) and by
``python -m reidlab.viz.explore --screenshots DIR`` (the README's screenshots). No browser
automation package: the system Chromium (Debian: ``apt-get install chromium``) is started
with ``--remote-debugging-port`` and spoken to with ``websocket-client`` (a dependency of
``jupyter_server``, so the ``lab`` extra already has it).

* :class:`JupyterLab` starts ``jupyter lab`` on loopback (random free port, a token, no
  browser, autosave off, the app exposed as ``window.jupyterapp``) in a private
  configuration / settings / runtime folder, and stops it.
* :class:`Chromium` starts the browser headless (``--no-sandbox`` as root, a fresh
  ``--user-data-dir``) and gives a :class:`Page` to drive.
* :class:`Page` evaluates JavaScript, waits for conditions, clicks elements with real mouse
  events, and takes screenshots.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from reidlab.errors import ReIDLabError

log = logging.getLogger("reidlab")

#: Executables tried in order (``REIDLAB_CHROMIUM`` overrides).
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(ReIDLabError, RuntimeError):
    """The browser or JupyterLab did not start, or a page condition was not met in time."""


def find_chromium() -> Optional[str]:
    """Path of a Chromium / Chrome executable (``$REIDLAB_CHROMIUM`` first), or None."""
    env = os.environ.get("REIDLAB_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_missing_reason() -> Optional[str]:
    """Why the browser tests cannot run (one line), or None when they can."""
    if find_chromium() is None:
        return ("Chromium not found (install it: `apt-get install chromium` on Debian, or set REIDLAB_CHROMIUM "
                "to a Chrome/Chromium executable)")
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (pip install 'reidlab[browser]')"
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound and released: a tiny race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
        return r.read()


def _stop(proc: Optional[subprocess.Popen], name: str) -> None:
    """Terminate a process this module started (by its own handle), then kill after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("%s (pid %d) did not stop; killing it", name, proc.pid)
        proc.kill()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------------------
# JupyterLab
# --------------------------------------------------------------------------------------


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 for one session (a context manager).

    Args:
        root: the server's root folder (notebook paths are relative to it).
        env: extra environment variables for the server and its kernels (e.g.
            ``{"REIDLAB_PROFILE": "smoke", "PYTHONPATH": root}``).
        python: interpreter whose ``jupyterlab`` runs (default: this one; kernels named
            ``python3`` then run this interpreter too).
        log_path: where the server's output goes (default: inside its private folder).
    """

    def __init__(self, root: Union[str, Path], env: Optional[Mapping[str, str]] = None,
                 python: Optional[str] = None, log_path: Optional[Union[str, Path]] = None,
                 start_timeout: float = 60.0) -> None:
        self.root = Path(root).resolve()
        self.extra_env = dict(env or {})
        self.python = python or sys.executable
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.start_timeout = float(start_timeout)
        self._tmp = tempfile.mkdtemp(prefix="reidlab-lab-")
        self.log_path = Path(log_path) if log_path else Path(self._tmp) / "jupyterlab.log"
        self.proc: Optional[subprocess.Popen] = None

    def _settings(self) -> Path:
        """User settings: no autosave (the opened notebook stays untouched on disk), no news."""
        settings = Path(self._tmp) / "settings"
        for rel, value in (("@jupyterlab/docmanager-extension/plugin.jupyterlab-settings", {"autosave": False}),
                           ("@jupyterlab/apputils-extension/notification.jupyterlab-settings",
                            {"fetchNews": "false", "checkForUpdates": False})):
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        return settings

    def start(self) -> "JupyterLab":
        env = dict(os.environ)
        env.update({"JUPYTER_CONFIG_DIR": str(Path(self._tmp) / "config"),
                    "JUPYTER_RUNTIME_DIR": str(Path(self._tmp) / "runtime"),
                    "JUPYTERLAB_SETTINGS_DIR": str(self._settings()),
                    "JUPYTERLAB_WORKSPACES_DIR": str(Path(self._tmp) / "workspaces")})
        env.update(self.extra_env)
        cmd = [self.python, "-m", "jupyterlab", "--no-browser", "--ServerApp.open_browser=False",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(self.root), env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"jupyter lab exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                _get(f"{self.base}/api/status?token={self.token}")
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise BrowserError(f"jupyter lab did not answer within {self.start_timeout:.0f} s; see {self.log_path}")

    def url(self, path: str) -> str:
        """URL of a notebook (path relative to the root) in the lab UI, with the token."""
        return f"{self.base}/lab/tree/{path}?token={self.token}"

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        _stop(self.proc, "jupyter lab")
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# Chromium and a page
# --------------------------------------------------------------------------------------


def chromium_flags(user_data_dir: Union[str, Path], width: int = 1400, height: int = 1000) -> list[str]:
    """Flags for headless Chromium on a server: ``--no-sandbox`` only as root (Chromium
    refuses to start sandboxed as root), a private profile, no network chatter."""
    flags = ["--headless", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={user_data_dir}",
             f"--window-size={width},{height}", "--hide-scrollbars"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")
    return flags


class Page:
    """One browser tab over CDP: JavaScript, waits, clicks, screenshots."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self._id = 0

    def call(self, method: str, **params: Any) -> dict:
        """Send a CDP command and return its result (events that arrive meanwhile are dropped)."""
        self._id += 1
        mid = self._id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text")
            raise BrowserError(f"JavaScript error: {str(text).splitlines()[0]}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float, what: str, interval: float = 0.25) -> Any:
        """Poll a JavaScript expression until it is truthy; BrowserError naming ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
                if value:
                    return value
            except BrowserError as err:
                last_err = err
            time.sleep(interval)
        raise BrowserError(f"timed out after {timeout:.0f} s waiting for {what}" + (f" ({last_err})" if last_err else ""))

    def navigate(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", url=url)

    def set_viewport(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=int(width), height=int(height), deviceScaleFactor=1,
                  mobile=False)
        self.viewport = (int(width), int(height))

    def rect(self, selector: str) -> dict:
        """Scroll the last element matching ``selector`` into view; its viewport rectangle."""
        r = self.evaluate(f"""(() => {{
            const all = document.querySelectorAll({json.dumps(selector)});
            if (!all.length) return null;
            const el = all[all.length - 1];
            el.scrollIntoView({{block: 'start', inline: 'nearest'}});
            const b = el.getBoundingClientRect();
            return {{x: b.x, y: b.y, width: b.width, height: b.height}};
        }})()""")
        if not r:
            raise BrowserError(f"no element matches {selector!r}")
        return r

    def click(self, selector: str) -> None:
        """Click the centre of the last element matching ``selector`` with real mouse events."""
        r = self.rect(selector)
        time.sleep(0.2)  # let the scroll settle
        r = self.rect(selector)
        x, y = r["x"] + r["width"] / 2, r["y"] + r["height"] / 2
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)

    def click_text(self, selector: str, text: str) -> None:
        """Click the last element matching ``selector`` whose text is ``text`` (stripped)."""
        found = self.evaluate(f"""(() => {{
            document.querySelectorAll('[data-reidlab-click]').forEach(e => e.removeAttribute('data-reidlab-click'));
            const all = Array.from(document.querySelectorAll({json.dumps(selector)}))
                .filter(e => e.textContent.trim() === {json.dumps(text)});
            if (!all.length) return false;
            all[all.length - 1].setAttribute('data-reidlab-click', '1');
            return true; }})()""")
        if not found:
            raise BrowserError(f"no element {selector!r} with the text {text!r}")
        self.click("[data-reidlab-click]")

    def screenshot(self, path: Union[str, Path], selector: Optional[str] = None, pad: int = 4) -> Path:
        """Save a PNG of the page, or of the last element matching ``selector``."""
        params: dict = {"format": "png"}
        if selector is not None:
            r = self.rect(selector)
            width, height = getattr(self, "viewport", (0, 0))
            if r["height"] + 150 > height:  # JupyterLab scrolls inside the page: make the page tall enough
                self.set_viewport(width, int(r["height"]) + 250)
            time.sleep(0.5)
            r = self.rect(selector)
            params["clip"] = {"x": max(r["x"] - pad, 0), "y": max(r["y"] - pad, 0),
                              "width": r["width"] + 2 * pad, "height": r["height"] + 2 * pad, "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # pragma: no cover
            pass


class Chromium:
    """Headless Chromium for one session (a context manager); :meth:`page` opens the tab."""

    def __init__(self, executable: Optional[str] = None, width: int = 1400, height: int = 1000,
                 start_timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError(chromium_missing_reason() or "Chromium not found")
        self.width, self.height = int(width), int(height)
        self.start_timeout = float(start_timeout)
        self._profile = tempfile.mkdtemp(prefix="reidlab-chromium-")
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self._pages: list[Page] = []

    def start(self) -> "Chromium":
        cmd = [self.executable, *chromium_flags(self._profile, self.width, self.height), "about:blank"]
        self._log = open(Path(self._profile) / "chromium.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"{self.executable} exited with code {self.proc.returncode}: {self.log_tail()}")
            if port_file.is_file():
                lines = port_file.read_text().split()
                if lines:
                    self.port = int(lines[0])
                    return self
            time.sleep(0.1)
        self.stop()
        raise BrowserError(f"{self.executable} did not open its DevTools port within {self.start_timeout:.0f} s")

    def log_tail(self, n: int = 10) -> str:
        try:
            return " | ".join((Path(self._profile) / "chromium.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def page(self, timeout: float = 60.0) -> Page:
        """The first tab (``about:blank``), connected."""
        deadline = time.monotonic() + 10
        while True:
            targets = json.loads(_get(f"http://127.0.0.1:{self.port}/json/list"))
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not pages:
            raise BrowserError("Chromium has no page to drive")
        page = Page(pages[0]["webSocketDebuggerUrl"], timeout=timeout)
        page.set_viewport(self.width, self.height)
        page.call("Emulation.setFocusEmulationEnabled", enabled=True)  # headless tabs are never focused
        self._pages.append(page)
        return page

    def stop(self) -> None:
        for p in self._pages:
            p.close()
        _stop(self.proc, "chromium")
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# A notebook in the lab
# --------------------------------------------------------------------------------------

_NOTEBOOK_PANEL = """(() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  const panels = Array.from(app.shell.widgets('main')).filter(w => w.content && w.content.model && w.sessionContext);
  return panels.length ? panels[panels.length - 1] : null;
})()"""

_NOTEBOOK_STATE = """(() => {
  const w = """ + _NOTEBOOK_PANEL + """;
  if (!w) return null;
  const cells = w.content.model.cells;
  let total = 0, done = 0; const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    total += 1;
    if (c.executionCount !== null && c.executionCount !== undefined) done += 1;
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j).toJSON();
      if (o.output_type === 'error') errors.push('cell ' + i + ': ' + o.ename + ': ' + o.evalue);
    }
  }
  const s = w.sessionContext.session;
  const status = s && s.kernel ? s.kernel.status : 'none';
  return {path: w.context ? w.context.path : '', total, done, errors, status};
})()"""


def open_notebook(page: Page, lab: JupyterLab, path: str, timeout: float = 90.0) -> dict:
    """Open ``path`` (relative to the lab root) and wait until its kernel is idle."""
    page.navigate(lab.url(path))
    page.wait_for(f"(() => {{ const s = {_NOTEBOOK_STATE}; return s && s.path === {json.dumps(path)} "
                  "&& s.status === 'idle'; })()", timeout, f"{path} to open with an idle kernel")
    return page.evaluate(_NOTEBOOK_STATE)


def run_all(page: Page, timeout: float = 300.0) -> dict:
    """Run every cell of the open notebook; wait until all ran and the kernel is idle.

    Raises BrowserError with the first error output when a cell fails."""
    page.evaluate(f"(() => {{ const w = {_NOTEBOOK_PANEL}; window.jupyterapp.shell.activateById(w.id); "
                  "return window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => true); })()")
    deadline = time.monotonic() + timeout
    state: dict = {}
    time.sleep(1.0)
    while time.monotonic() < deadline:
        state = page.evaluate(_NOTEBOOK_STATE) or {}
        if state.get("errors"):
            raise BrowserError(f"a notebook cell failed in the browser: {state['errors'][0]}")
        if state.get("total") and state.get("done") == state.get("total") and state.get("status") == "idle":
            return state
        time.sleep(0.5)
    raise BrowserError(f"the notebook did not finish within {timeout:.0f} s (state: {state})")


def text_of(page: Page, selector: str) -> Optional[str]:
    """``textContent`` of the last element matching ``selector`` (None when there is none)."""
    return page.evaluate(f"""(() => {{ const a = document.querySelectorAll({json.dumps(selector)});
        return a.length ? a[a.length - 1].textContent : null; }})()""")


def image_digest(page: Page, selector: str) -> Optional[str]:
    """A digest of the bytes behind the last ``<img>`` matching ``selector`` (its blob or data
    URL), to tell whether a widget's picture changed."""
    return page.evaluate(f"""(async () => {{ const a = document.querySelectorAll({json.dumps(selector)});
        if (!a.length || !a[a.length - 1].src) return null;
        const buf = new Uint8Array(await (await fetch(a[a.length - 1].src)).arrayBuffer());
        let h = 2166136261;
        for (let i = 0; i < buf.length; i++) {{ h ^= buf[i]; h = Math.imul(h, 16777619) >>> 0; }}
        return buf.length + ':' + h.toString(16); }})()""", await_promise=True)


def widget_views(page: Page, selectors: Sequence[str]) -> dict:
    """How many elements match each selector (a quick check that widgets rendered)."""
    return {s: page.evaluate(f"document.querySelectorAll({json.dumps(s)}).length") for s in selectors}
