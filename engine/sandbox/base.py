"""The sandbox protocol: a workspace at base_commit where an agent reads, edits and runs commands.

The local sandbox is a git clone on the host; the docker sandbox (later) is the same workspace inside
a container. Agents only see this protocol, so they run unchanged in either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.proc import CommandResult  # what a sandbox command returns (defined in the core)

if TYPE_CHECKING:
    from ..datasets.rows import TaskRow


@runtime_checkable
class Sandbox(Protocol):
    """A workspace checked out at the task's base commit."""

    #: Where the repository lives, as commands inside the sandbox see it.
    workdir: str

    async def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        """Run a shell command in workdir; stdout and stderr are merged."""
        ...

    async def read_file(self, path: str) -> str:
        """Read a file relative to workdir. Raises FileNotFoundError."""
        ...

    async def write_file(self, path: str, content: str) -> None:
        """Write a file relative to workdir, refusing paths that leave it."""
        ...

    async def list_files(self) -> list[str]:
        """Tracked and untracked (not ignored) files, relative to workdir."""
        ...

    async def diff(self) -> str:
        """The unified diff of everything changed since base_commit, new files included."""
        ...

    async def aclose(self) -> None:
        """Remove the workspace."""
        ...


class NoSandbox:
    """What an agent that declares ``uses_sandbox = False`` gets: no checkout is made, and any
    use is a bug in that declaration, said as such."""

    workdir = ""

    def __init__(self, agent: str):
        self.agent = agent

    def _refuse(self) -> RuntimeError:
        return RuntimeError(f"agent {self.agent!r} declares uses_sandbox = False but used its sandbox")

    async def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        raise self._refuse()

    async def read_file(self, path: str) -> str:
        raise self._refuse()

    async def write_file(self, path: str, content: str) -> None:
        raise self._refuse()

    async def list_files(self) -> list[str]:
        raise self._refuse()

    async def diff(self) -> str:
        raise self._refuse()

    async def aclose(self) -> None:
        return None


class NoSandboxFactory:
    """The factory of a task family without repositories (code completion): its agents declare
    ``uses_sandbox = False``, so it is asked for nothing but its preflight."""

    name = "none"

    async def create(self, instance: TaskRow, key: str) -> Sandbox:
        raise RuntimeError(f"{instance.instance_id}: this task family has no sandbox to make")

    async def preflight(self, instances: list[TaskRow]) -> list[str]:
        return []


class SandboxFactory(Protocol):
    """Makes one fresh sandbox per attempt; what a run checks before it starts."""

    name: str

    async def create(self, instance: TaskRow, key: str) -> Sandbox:
        """A sandbox at the instance's base commit, named by ``key`` (unique per attempt)."""
        ...

    async def preflight(self, instances: list[TaskRow]) -> list[str]:
        """What is missing to make sandboxes for these instances (empty: ready)."""
        ...
