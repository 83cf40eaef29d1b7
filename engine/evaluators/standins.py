"""Local stand-ins for the network services some repositories' tests talk to.

requests' tests (versions 2.x before pytest-httpbin) send real requests to ``HTTPBIN_URL``, which
defaults to http://httpbin.org/. Evaluations have no network, so without a stand-in those tests fail
whatever the patch. The local evaluator serves the ``httpbin`` package (PyPI) on 127.0.0.1 instead,
from a small venv of its own under the cache (built once with uv, never the environment under test),
and points the tests at it. One server per evaluator process, started on first use; it exits with
Ramp (it watches its parent), so a killed run leaves no server behind. Tests that still need the
real internet (timeouts against unroutable addresses) fail in every run and ``ramp validate`` records
them as environment-broken, not as the model's failures.

The docker evaluator's containers run with ``--network none`` and do not get a stand-in.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import Process

from ..core.proc import run_command
from ..workspace.locks import file_lock
from ..workspace.pythons import uv_binary

log = logging.getLogger(__name__)

#: Serves ``app`` of ``module`` on a free loopback port, prints the port, and exits when its parent
#: (whose pid is its first argument, so a parent killed before this line runs is still noticed) is
#: gone.
_SERVE = """
import os, sys, threading, time
parent = int(sys.argv[1])
from werkzeug.serving import make_server
from {module} import app
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
while os.getppid() == parent:
    time.sleep(0.5)
"""


@dataclass(frozen=True)
class StandIn:
    """A service a repository's tests call, and how to point them at a local one."""

    name: str
    requirement: str
    module: str
    variable: str


#: Repositories whose tests call a service that has a local stand-in.
STANDINS: dict[str, StandIn] = {
    "psf/requests": StandIn("httpbin", "httpbin>=0.10,<1", "httpbin", "HTTPBIN_URL"),
}


class StandIns:
    """The stand-in servers of one evaluator: built and started on first use, stopped at close."""

    def __init__(self, cache_dir: Path):
        self.root = Path(cache_dir) / "standins"
        self._lock = anyio.Lock()
        self._urls: dict[str, str | None] = {}
        self._processes: list[Process] = []

    async def variables(self, repo: str) -> dict[str, str]:
        """The variables pointing ``repo``'s tests at their stand-in ({} when it has none, or
        when the stand-in cannot be had: its tests then fail as they would offline)."""
        standin = STANDINS.get(repo)
        if standin is None:
            return {}
        async with self._lock:
            if standin.name not in self._urls:
                self._urls[standin.name] = await self._start(standin)
        url = self._urls[standin.name]
        return {standin.variable: url} if url else {}

    async def _start(self, standin: StandIn) -> str | None:
        python = await self._venv(standin)
        if python is None:
            return None
        process = await anyio.open_process(
            [str(python), "-c", _SERVE.format(module=standin.module), str(os.getpid())],
            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._processes.append(process)
        assert process.stdout is not None
        try:
            with anyio.fail_after(30):
                line = (await process.stdout.receive()).decode().strip()
            port = int(line.splitlines()[0])
        except (TimeoutError, ValueError, anyio.EndOfStream):
            log.warning("the %s stand-in did not start; its tests run without it", standin.name)
            return None
        return f"http://127.0.0.1:{port}/"

    async def _venv(self, standin: StandIn) -> Path | None:
        """The stand-in's own venv under the cache, built once (with uv) by whichever process
        asks first."""
        folder = self.root / standin.name
        python = folder / "bin" / "python"
        ready = folder / "ready"
        if ready.exists():
            return python
        uv = uv_binary()
        if uv is None:
            log.warning("uv is needed to build the %s stand-in; its tests run without it", standin.name)
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        async with file_lock(self.root / f"{standin.name}.lock"):
            if ready.exists():
                return python
            steps = [
                [uv, "venv", "--no-config", "--quiet", "--python", sys.executable, str(folder)],
                [uv, "pip", "install", "--no-config", "--quiet", "--python", str(python), standin.requirement],
            ]
            for step in steps:
                result = await run_command(step, timeout=600)
                if result.exit_code != 0:
                    log.warning("cannot build the %s stand-in: %s", standin.name, result.output[-300:])
                    return None
            ready.write_text("ok\n")
        return python

    async def aclose(self) -> None:
        for process in self._processes:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
        self._processes.clear()
        self._urls.clear()
