"""The docker sandbox: the agent's workspace is /testbed in a container, not a folder on the host.

Agents (``bash``, ``direct-edit``) only see the Sandbox protocol, so they run unchanged here. The
container starts from the same image the docker evaluator tests in (the instance's environment
image, or the official image), so ``python -m pytest`` in an agent's command finds the project's
dependencies, and it runs with ``--network none`` and the evaluator's memory, CPU and pids limits:
whatever an agent's command does, it does to the container. Files are read and written through the
daemon's archive API; paths are checked like the local sandbox's (relative, not into ``.git``).

Which sandbox a run uses is ``run.sandbox`` (``--sandbox``): ``auto`` (the default) picks docker
when the evaluator is docker and local otherwise; the docker options are ``evaluators.docker``'s.
"""

from __future__ import annotations

import posixpath
import shlex
from pathlib import Path

import anyio

from ..datasets.rows import SWEInstance
from ..docker.client import labels
from ..docker.containers import Box, start_box
from ..docker.workspace import WORKDIR, copy_repo
from ..evaluators.docker import DockerEvaluatorConfig
from ..evaluators.docker_backend import ContainerWorkspace, DockerBackend, Target
from ..workspace.repos import RepoCache
from .base import CommandResult


def _inside(path: str) -> str:
    """``path`` under /testbed, refusing absolute paths, climbs out and .git."""
    if path.startswith("/") or "\0" in path:
        raise PermissionError(f"{path!r} is outside the workspace")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise PermissionError(f"{path!r} is outside the workspace")
    if ".git" in normal.split("/"):
        raise PermissionError(f"{path!r} is inside .git")
    return posixpath.join(WORKDIR, normal)


class DockerSandbox:
    """A container with the repository at base_commit in /testbed; implements sandbox.base.Sandbox."""

    workdir = WORKDIR

    def __init__(self, box: Box, target: Target, base_commit: str):
        self.box = box
        self.base_commit = base_commit
        self.shell = ContainerWorkspace(box, target, None, verify_imports=False)
        # No bytecode caches: `git add -A` would put them in the diff, as in the local sandbox.
        self.shell.vars["PYTHONDONTWRITEBYTECODE"] = "1"

    async def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        return await self.shell.exec(command, timeout=timeout)

    async def read_file(self, path: str) -> str:
        return (await self.box.read_bytes(_inside(path))).decode("utf-8", errors="replace")

    async def write_file(self, path: str, content: str) -> None:
        await self.box.put_bytes(_inside(path), content.encode("utf-8"))

    async def list_files(self) -> list[str]:
        result = await self.shell.exec("git ls-files --cached --others --exclude-standard")
        return [line for line in result.output.splitlines() if line]

    async def diff(self) -> str:
        await self.shell.exec("git add -A")
        result = await self.shell.exec(
            f"git -c core.fileMode=false diff --cached {shlex.quote(self.base_commit)}"
        )
        if result.exit_code != 0:
            raise RuntimeError(f"git diff failed: {result.output[-300:]}")
        return result.output

    async def aclose(self) -> None:
        await self.box.remove()


class DockerSandboxFactory:
    """Creates docker sandboxes; shares images (and their builds) with the docker evaluator."""

    name = "docker"

    def __init__(
        self, config: DockerEvaluatorConfig, *, repo_cache: RepoCache, cache_dir: Path, run_id: str = ""
    ):
        self.repos = repo_cache
        self.run_id = run_id
        self.backend = DockerBackend(config, Path(cache_dir), repo_cache)

    async def preflight(self, instances: list[SWEInstance]) -> list[str]:
        return await self.backend.preflight(instances)

    async def create(self, instance: SWEInstance, key: str) -> DockerSandbox:
        client = await self.backend.connect()
        target = await self.backend.target(instance, self.run_id)
        self.backend.images.touch(target.image)
        with anyio.CancelScope(shield=True):  # a cancellation must not lose the container
            box = await start_box(
                client, target.image, network="none", limits=self.backend.limits, workdir=WORKDIR,
                labels=labels("sandbox", self.run_id, **{"ramp.instance": instance.instance_id}),
            )  # fmt: skip
        try:
            if not target.official:
                await copy_repo(box, self.repos, instance.repo, instance.base_commit, self.backend.scratch)
        except BaseException:
            await box.remove()
            raise
        return DockerSandbox(box, target, instance.base_commit)
