"""``ramp serve`` in a real headless Chromium, driven over the DevTools protocol.

A real run waits at its first gate in one process; ``ramp serve`` serves it; Chromium loads the
page with the token, the app's dashboard of that run arrives over the page's websocket, and the
keys typed into the page (``a`` then ``y``: approve, confirmed) reach the app, which approves the
gate through the store, and the run finishes. Requests without the token are refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .runhelpers import ROOT, db_rows, free_port, ramp, ramp_env, ramp_popen

pytest.importorskip("textual_serve", reason="ramp serve needs textual-serve")
aiohttp = pytest.importorskip("aiohttp", reason="textual-serve brings aiohttp")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Page:
    """One Chromium tab over the DevTools protocol: commands, and every event kept."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        ident = self.next_id
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=30)
            if message.get("id") == ident:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    async def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self.events.append(await self.ws.receive_json(timeout=left))
            except TimeoutError:
                return

    def received(self) -> bytes:
        """Everything the page's own websocket received from ramp serve, decoded."""
        out = b""
        for e in self.events:
            if e.get("method") == "Network.webSocketFrameReceived":
                frame = e["params"]["response"]
                data = frame["payloadData"]
                out += base64.b64decode(data) if frame.get("opcode") == 2 else data.encode()
        return out

    async def type_key(self, key: str) -> None:
        for kind in ("keyDown", "char", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, text=key if kind != "keyUp" else "", key=key,
                            unmodifiedText=key)


async def drive(chromium_port: int, url: str, run_id: str, runs: Path) -> bytes:
    async with aiohttp.ClientSession() as session:
        target = await (await session.put(f"http://127.0.0.1:{chromium_port}/json/new?about:blank")).json()
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.send("Network.enable")
            await page.send("Page.enable")
            await page.send("Emulation.setDeviceMetricsOverride", width=1200, height=800, deviceScaleFactor=1,
                            mobile=False)
            await page.send("Page.navigate", url=url)
            deadline = time.monotonic() + 60
            while run_id.encode() not in page.received() or b"approval" not in page.received():
                assert time.monotonic() < deadline, page.received()[-2000:]
                await page.pump(0.5)
            await page.send("Input.dispatchMouseEvent", type="mousePressed", x=600, y=400, button="left", clickCount=1)
            await page.send("Input.dispatchMouseEvent", type="mouseReleased", x=600, y=400, button="left", clickCount=1)
            await page.pump(0.5)
            await page.type_key("a")
            await page.pump(1.5)
            await page.type_key("y")
            deadline = time.monotonic() + 60
            while not db_rows(runs, "SELECT * FROM commands WHERE command = 'approve'"):
                assert time.monotonic() < deadline, "the key never reached the app"
                await page.pump(0.5)
            return page.received()


def test_ramp_serve_in_headless_chromium_shows_a_live_run_and_takes_its_keys(tmp_path):
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    run = ramp_popen(["run", "--agent", "gold", "--phases", "2,12", "--headless", "--runs-dir", str(runs),
                      "--run-id", "live-1"], cache_dir=cache)
    port, chromium_port = free_port(), free_port()
    # `ramp` itself (python -m tui): the browser half lives with the UI, which the engine never imports.
    serve = subprocess.Popen([sys.executable, "-m", "tui", "serve", "live-1", "--port", str(port), "--token",
                              "t0ken-abc", "--runs-dir", str(runs)], cwd=ROOT, env=ramp_env(cache),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chromium = None
    try:
        wait_until(lambda: db_rows(runs, "SELECT * FROM phases WHERE run_id = 'live-1' AND status = 'awaiting_approval'")
                   if (runs / "ramp.sqlite").exists() else None, 300, "the run to wait at gate 1")
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{base}/static/js/textual.js") == 200, 60, "ramp serve to answer")
        assert _status(f"{base}/") == 403 and _status(f"{base}/?token=wrong") == 403
        assert _status(f"{base}/ws") == 403
        chromium = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--remote-debugging-port={chromium_port}", f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_until(lambda: _status(f"http://127.0.0.1:{chromium_port}/json/version") == 200, 60, "chromium")
        seen = asyncio.run(drive(chromium_port, f"{base}/?token=t0ken-abc", "live-1", runs))
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen)
        assert b"live-1" in text and b"gold" in text  # the dashboard's header, drawn for the browser
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr[-2000:]
        assert json.dumps("completed") in json.dumps(db_rows(runs, "SELECT status FROM runs")[0]["status"])
        assert db_rows(runs, "SELECT decided_by FROM phases WHERE phase = 0")[0]["decided_by"]
    finally:
        for process in (chromium, serve, run):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_serve_without_the_ui_says_how_to_run_it(tmp_path):
    out = ramp(["serve", "x", "--runs-dir", str(tmp_path)], cache_dir=tmp_path / "cache")
    assert out.returncode == 2 and "ramp serve needs the terminal UI" in out.stderr


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
