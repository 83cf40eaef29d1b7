"""Finding and removing what a crashed run left behind.

A run killed with SIGKILL cannot run its ``finally`` blocks, so its evaluation, sandbox and build
containers stay. Each carries the owner label (host, pid, process start time: client.py); at the
next start, :func:`reap_orphans` removes every Ramp container whose owner is gone, whatever run it
belonged to. Containers of live processes (a second run on the same host) are left alone.
"""

from __future__ import annotations

from typing import Any

from .client import LABEL_OWNER, LABEL_RUN, RAMP_FILTER, call, owner_alive


async def ramp_containers(client: Any, run_id: str | None = None) -> list[Any]:
    """Every container Ramp made (of one run, if given), running or not.

    Sparse: one list call, no per-container inspect that a concurrent removal would make fail.
    Read labels with :func:`container_labels`.
    """
    wanted = [RAMP_FILTER] + ([f"{LABEL_RUN}={run_id}"] if run_id else [])
    return list(await call(client.containers.list, all=True, sparse=True, filters={"label": wanted}))


def container_labels(container: Any) -> dict[str, str]:
    """The labels of a (sparse) container from ``containers.list``."""
    return dict(container.attrs.get("Labels") or {})


def container_name(container: Any) -> str:
    return (container.attrs.get("Names") or [container.id[:12]])[0].lstrip("/")


async def reap_orphans(client: Any) -> list[str]:
    """Remove the containers whose owning process is gone; return their names."""
    from docker.errors import APIError, NotFound

    removed = []
    for container in await ramp_containers(client):
        if owner_alive(container_labels(container).get(LABEL_OWNER, "")):
            continue
        try:
            await call(container.remove, force=True, v=True)
        except NotFound:
            continue  # another process reaped it first
        except APIError as exc:
            if "already in progress" not in str(exc):
                raise
        removed.append(container_name(container))
    return removed
