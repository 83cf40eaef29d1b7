"""Running containers: start with limits and labels, exec with a timeout, copy files, always remove.

A container is used through :func:`running`, an async context manager whose ``finally`` removes it
inside a shielded cancel scope: an evaluation cancelled by a stopped run, a timeout or Ctrl-C still
removes its container. Starting is shielded too, so a cancellation that lands while the daemon is
creating the container cannot lose track of it. Whatever a crash leaves anyway carries the owner
label and is reaped at the next start (hygiene.py).

Commands run through ``docker exec`` under GNU ``timeout -k``, which signals the command's whole
process group inside the container, so a test run's grandchildren die with it, as they do on the
host (engine/core/proc.py). Output streams into the log file as it arrives, read in a worker thread that
a cancellation abandons (the container's removal ends the stream).
"""

from __future__ import annotations

import io
import math
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import anyio

from ..core.proc import CommandResult, OutputTee
from .client import call

#: Exit codes of GNU timeout: the command was stopped (TERM) or killed after the grace period.
_TIMEOUT_CODES = (124, 137)
#: How long a command has after its TERM before it is killed.
_GRACE_S = 5


@dataclass(frozen=True)
class Limits:
    """Resources one container may use."""

    memory: str
    cpus: float
    pids: int

    def host_config(self) -> dict[str, Any]:
        return {
            "mem_limit": self.memory,
            "memswap_limit": self.memory,  # no swap beyond the memory limit
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids,
        }


class Box:
    """A started container; every method is async and runs the SDK in a worker thread."""

    def __init__(self, container: Any):
        self.container = container
        self.id: str = container.id
        self.name: str = container.name

    async def exec(
        self,
        command: str | list[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        log_file: Path | None = None,
    ) -> CommandResult:
        """Run ``command`` (a bash string or an argv) and return its merged output and exit code."""
        argv = ["/bin/bash", "-c", command] if isinstance(command, str) else list(command)
        if timeout is not None:
            argv = ["timeout", "-k", str(_GRACE_S), str(max(1, math.ceil(timeout))), *argv]
        api = self.container.client.api
        started = time.monotonic()
        created = await call(api.exec_create, self.id, argv, workdir=cwd, environment=env or {})
        exec_id = created["Id"]

        tee = OutputTee(log_file)

        def pump() -> int:
            try:
                for chunk in api.exec_start(exec_id, stream=True):
                    tee.feed(chunk)
            finally:
                tee.close()
            for _ in range(50):  # the stream can end a moment before the exit code is recorded
                code = api.exec_inspect(exec_id)["ExitCode"]
                if code is not None:
                    return int(code)
                time.sleep(0.05)
            return -1

        guard = None if timeout is None else timeout + _GRACE_S + 30
        code, output, timed_out = -9, "", True  # past the guard the pump is abandoned mid-stream
        with anyio.move_on_after(guard):
            code = await anyio.to_thread.run_sync(pump, abandon_on_cancel=True)
            output = tee.text()
            elapsed = time.monotonic() - started
            timed_out = timeout is not None and code in _TIMEOUT_CODES and elapsed >= timeout
        return CommandResult(
            exit_code=code,
            output=output,
            timed_out=timed_out,
            duration_s=time.monotonic() - started,
        )

    async def put_tree(
        self, source: Path, dest: str, exclude: Callable[[tarfile.TarInfo], Any] | None = None
    ) -> None:
        """Copy the host folder ``source`` to ``dest`` in the container (created with its parents).

        ``exclude`` is a tarfile filter: returning None leaves an entry out.
        """

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            return _as_root(info) if exclude is None or exclude(info) is not None else None

        def pack() -> IO[bytes]:
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to put_archive, closed there
            with tarfile.open(fileobj=spool, mode="w") as tar:
                tar.add(source, arcname=str(PurePosixPath(dest).relative_to("/")), filter=keep)
            spool.seek(0)
            return spool

        archive = await anyio.to_thread.run_sync(pack)
        try:
            await call(self.container.put_archive, "/", archive)
        finally:
            archive.close()

    async def put_bytes(self, dest: str, data: bytes, mode: int = 0o644) -> None:
        """Write one file at the absolute path ``dest`` (its folders are created)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(str(PurePosixPath(dest).relative_to("/")))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        await call(self.container.put_archive, "/", buffer.getvalue())

    async def read_bytes(self, path: str) -> bytes:
        """The content of one regular file. Raises FileNotFoundError or IsADirectoryError."""
        from docker.errors import NotFound

        try:
            stream, _ = await call(self.container.get_archive, path)
            raw = await anyio.to_thread.run_sync(lambda: b"".join(stream))
        except NotFound:
            raise FileNotFoundError(path) from None
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise IsADirectoryError(path)
            extracted = tar.extractfile(member)
            assert extracted is not None
            return extracted.read()

    async def remove(self) -> None:
        """Kill and delete the container, even from a cancelled task."""
        from docker.errors import NotFound

        with anyio.CancelScope(shield=True):
            try:
                await call(self.container.remove, force=True, v=True)
            except NotFound:
                pass


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


async def start_box(
    client: Any,
    image: str,
    *,
    labels: dict[str, str],
    network: str = "none",
    limits: Limits | None = None,
    mounts: list[Any] | None = None,
    env: dict[str, str] | None = None,
    workdir: str | None = None,
) -> Box:
    """Create and start a container that idles until commands are exec'd in it."""
    container = await call(
        client.containers.create,
        image,
        ["sleep", "infinity"],
        labels=labels,
        network_mode=network,
        mounts=mounts or [],
        environment=env or {},
        working_dir=workdir,
        init=True,  # a real PID 1 reaps what timed-out commands leave behind
        **(limits.host_config() if limits else {}),
    )
    box = Box(container)
    try:
        await call(container.start)
    except BaseException:
        await box.remove()
        raise
    return box


@asynccontextmanager
async def running(client: Any, image: str, **options: Any) -> AsyncIterator[Box]:
    """A started container (see :func:`start_box`), removed on the way out whatever happens."""
    with anyio.CancelScope(shield=True):
        box = await start_box(client, image, **options)
    try:
        yield box
    finally:
        await box.remove()
