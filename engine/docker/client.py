"""The daemon connection, Ramp's labels, and a way to call the SDK without blocking the loop.

The docker SDK talks to the daemon with blocking HTTP calls. :func:`call` runs each of them in a
worker thread (``anyio.to_thread``), so a slow ``commit`` or a long ``exec`` never stalls the
scheduler, the governor or the display.

Every container and image Ramp makes is labelled with a marker, its kind, the run id and its
*owner* (host, pid and the process's start time). The owner label is what makes a leftover an
orphan: a container whose owning process no longer exists on this host was left by a crash.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import psutil

from ..core.errors import InfraError

LABEL_MARKER = "ramp.marker"
MARKER = "ramp"
LABEL_KIND = "ramp.kind"
LABEL_RUN = "ramp.run"
LABEL_OWNER = "ramp.owner"
#: Filter matching everything Ramp made.
RAMP_FILTER = f"{LABEL_MARKER}={MARKER}"

T = TypeVar("T")

INSTALL_HINT = (
    "install Debian's docker.io (`apt-get install docker.io`) and start the daemon "
    "(`dockerd > /var/log/dockerd.log 2>&1 &`, or `systemctl start docker`)"
)


class DockerUnavailable(InfraError):
    """No docker daemon answers."""


def connect(timeout: float = 300.0) -> Any:
    """A client of the daemon named by DOCKER_HOST (default the local socket), checked with a ping."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerUnavailable(f"no docker daemon answers at {where} ({exc}); {INSTALL_HINT}") from None
    return client


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking SDK call in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def owner_id() -> str:
    """This process, as ``host:pid:start-time``: a pid alone may be reused after a crash."""
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{int(me.create_time())}"


def owner_alive(owner: str) -> bool:
    """False only when the owner was a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's daemon client, or not ours to judge
    try:
        process = psutil.Process(int(pid_text))
    except psutil.NoSuchProcess:
        return False
    return not started.isdigit() or int(process.create_time()) == int(started)


def labels(kind: str, run_id: str = "", **extra: str) -> dict[str, str]:
    """Ramp's labels for a container or image of ``kind`` (eval, sandbox, build, env, python)."""
    out = {LABEL_MARKER: MARKER, LABEL_KIND: kind, LABEL_OWNER: owner_id()}
    if run_id:
        out[LABEL_RUN] = run_id
    return out | extra
