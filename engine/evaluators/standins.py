"""Local stand-ins for the network services some repositories' tests talk to.

requests' tests (versions 2.x before pytest-httpbin) send real requests to ``HTTPBIN_URL``, which
defaults to http://httpbin.org/, and some call ``https://httpbin.org`` by name, follow a redirect
to another host, or connect to an unroutable address to see a timeout. Evaluations have no network,
so without a stand-in those tests fail whatever the patch. The local evaluator serves the
``httpbin`` package (PyPI) instead, from a small venv of its own under the cache (built once with
uv, never the environment under test), with gunicorn as httpbin.org's own image serves it.

- **In a test scope** (scope.py; root with unshare, mount and ip): the tests run in a network
  namespace of their own where the stand-in answers on its real names (:attr:`StandIn.hosts`),
  plain HTTP on port 80 and TLS on 443 with a certificate from a CA made for it (trustme) and
  trusted in the scope, and its tarpit addresses time out. ``HTTPBIN_URL`` is http://httpbin.org/.
- **Otherwise**: one server per evaluator process on a free loopback port, started on first use,
  which exits with Ramp (it watches its parent); ``HTTPBIN_URL`` points at it. Tests that call other
  names or need a timeout fail in every run, and ``ramp validate`` records them as
  environment-broken, not as the model's failures.

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
from .scope import ScopePlan, Server

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
    module: str  # serves its WSGI ``app``
    variable: str  # set to the service's URL
    url: str  # the service's real URL: the variable's value in a test scope
    #: Names the tests call it by, served by the stand-in in a test scope.
    hosts: tuple[str, ...] = ()
    #: Addresses tests connect to expecting a timeout: nothing answers them in a test scope.
    tarpits: tuple[str, ...] = ()


#: Repositories whose tests call a service that has a local stand-in. requests' tests redirect to
#: www.google.co.uk and check only the headers of the redirected request (test_auth_is_stripped_
#: on_redirect_off_host), and connect to 10.255.255.1 for their timeout tests.
STANDINS: dict[str, StandIn] = {
    "psf/requests": StandIn(
        "httpbin", "httpbin>=0.10,<1", "httpbin", "HTTPBIN_URL", "http://httpbin.org/",
        hosts=("httpbin.org", "www.google.co.uk"), tarpits=("10.255.255.1",),
    ),
}
#: What a stand-in's venv holds besides the service: the server and the test CA's maker.
SERVING = ("gunicorn>=21,<24", "trustme>=1.1,<2")
#: Makes the stand-in's CA and its certificate for the hosts (argv: folder, hosts...).
_CERTS = """
import sys, trustme
folder, hosts = sys.argv[1], sys.argv[2:]
ca = trustme.CA()
ca.cert_pem.write_to_path(folder + "/ca.pem")
ca.issue_cert(*hosts).private_key_and_cert_chain_pem.write_to_path(folder + "/server.pem")
"""
#: The host's own CA bundle, kept in the scope's bundle beside the stand-in's CA.
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _holds(marker: Path, wanted: str) -> bool:
    """Whether a folder's ``marker`` file says it was made for ``wanted`` (what it holds)."""
    return marker.exists() and marker.read_text() == wanted


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

    async def scope_plan(self, repo: str) -> tuple[ScopePlan, dict[str, str]]:
        """What a test scope of ``repo`` serves (its stand-ins on their real names, over HTTP and
        TLS), and the variables that point its tests there. Empty when it has no stand-in, or when
        the stand-in cannot be had (its tests then fail as they would offline)."""
        standin = STANDINS.get(repo)
        if standin is None:
            return ScopePlan(), {}
        python = await self._venv(standin)
        certs = await self._certs(standin, python) if python else None
        if python is None or certs is None:
            return ScopePlan(), {}
        serve = [str(python), "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "16",
                 "--chdir", str(certs)]  # fmt: skip
        app = f"{standin.module}:app"
        plan = ScopePlan(
            hosts=list(standin.hosts),
            tarpits=list(standin.tarpits),
            servers=[
                Server(standin.name, [*serve, "--bind", "127.0.0.1:80", app], 80),
                Server(standin.name, [*serve, "--bind", "127.0.0.1:443", "--certfile", "server.pem",
                                      "--keyfile", "server.pem", app], 443),
            ],  # fmt: skip
            ca_bundle=certs / "bundle.pem",
        )
        return plan, {standin.variable: standin.url}

    async def _venv(self, standin: StandIn) -> Path | None:
        """The stand-in's own venv under the cache, built once (with uv) by whichever process
        asks first; made again when what it must hold changes."""
        folder = self.root / standin.name
        python = folder / "bin" / "python"
        ready = folder / "ready"
        wanted = " ".join([standin.requirement, *SERVING]) + "\n"
        if _holds(ready, wanted):
            return python
        uv = uv_binary()
        if uv is None:
            log.warning("uv is needed to build the %s stand-in; its tests run without it", standin.name)
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        async with file_lock(self.root / f"{standin.name}.lock"):
            if _holds(ready, wanted):
                return python
            steps = [
                *([] if python.exists() else
                  [[uv, "venv", "--no-config", "--quiet", "--python", sys.executable, str(folder)]]),
                [uv, "pip", "install", "--no-config", "--quiet", "--python", str(python), standin.requirement, *SERVING],
            ]  # fmt: skip
            for step in steps:
                result = await run_command(step, timeout=600)
                if result.exit_code != 0:
                    log.warning("cannot build the %s stand-in: %s", standin.name, result.output[-300:])
                    return None
            ready.write_text(wanted)
        return python

    async def _certs(self, standin: StandIn, python: Path) -> Path | None:
        """The stand-in's CA, its certificate for the stand-in's hosts, and a bundle of the CA and
        the host's own CAs; made once per set of hosts."""
        folder = self.root / f"{standin.name}-tls"
        ready = folder / "hosts"
        wanted = " ".join(standin.hosts) + "\n"
        if _holds(ready, wanted):
            return folder
        async with file_lock(self.root / f"{standin.name}.lock"):
            if _holds(ready, wanted):
                return folder
            folder.mkdir(parents=True, exist_ok=True)
            result = await run_command([str(python), "-c", _CERTS, str(folder), *standin.hosts], timeout=120)
            if result.exit_code != 0:
                log.warning("cannot make the %s stand-in's certificate: %s", standin.name, result.output[-300:])
                return None
            system = SYSTEM_BUNDLE.read_text() if SYSTEM_BUNDLE.is_file() else ""
            (folder / "bundle.pem").write_text((folder / "ca.pem").read_text() + system)
            ready.write_text(wanted)
        return folder

    async def aclose(self) -> None:
        for process in self._processes:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
        self._processes.clear()
        self._urls.clear()
