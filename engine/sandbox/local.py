"""The local sandbox: a git checkout at base_commit on the host.

Commands run with the checkout as working directory and a scrubbed environment (no credentials from
the engine's environment leak into what an agent runs). It isolates files, not processes: use the
docker sandbox when the agent's commands must not touch the host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio

from ..core.proc import git, run_command, safe_environ
from ..datasets.rows import SWEInstance
from ..workspace.repos import RepoCache
from ..workspace.scratch import owned_dir
from .base import CommandResult


class LocalSandbox:
    """A workspace directory with the repository checked out; implements sandbox.base.Sandbox."""

    def __init__(self, root: Path, base_commit: str, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.workdir = str(self.root)
        self.base_commit = base_commit
        # No bytecode caches: `git add -A` would put them in the diff, and a binary patch does not apply.
        self.env = safe_environ({"PYTHONDONTWRITEBYTECODE": "1", **(env or {})})

    def _resolve(self, path: str) -> Path:
        target = (self.root / path).resolve()
        if target != self.root.resolve() and self.root.resolve() not in target.parents:
            raise PermissionError(f"{path!r} is outside the workspace")
        if ".git" in target.relative_to(self.root.resolve()).parts:
            raise PermissionError(f"{path!r} is inside .git")
        return target

    async def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        return await run_command(
            ["/bin/bash", "-c", command], cwd=self.root, env=self.env, timeout=timeout, inherit_env=False
        )

    async def read_file(self, path: str) -> str:
        target = self._resolve(path)
        # Bytes, not read_text: universal newlines would turn CRLF files into LF ones on the next write.
        return (await anyio.Path(target).read_bytes()).decode("utf-8", errors="replace")

    async def write_file(self, path: str, content: str) -> None:
        target = self._resolve(path)
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
        await anyio.Path(target).write_text(content, encoding="utf-8")

    async def list_files(self) -> list[str]:
        result = await git("ls-files", "--cached", "--others", "--exclude-standard", cwd=self.root)
        return [line for line in result.output.splitlines() if line]

    async def diff(self) -> str:
        await git("add", "-A", cwd=self.root)
        result = await git("-c", "core.fileMode=false", "diff", "--cached", self.base_commit, cwd=self.root)
        if result.exit_code != 0:
            raise RuntimeError(f"git diff failed: {result.output[-300:]}")
        return result.output

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self.root, ignore_errors=True))


class LocalSandboxFactory:
    """Creates local sandboxes from the shared repo cache."""

    name = "local"

    def __init__(self, repo_cache: RepoCache, work_dir: Path):
        self.repo_cache = repo_cache
        self.work_dir = owned_dir(work_dir)  # swept at the next start if this process is killed

    async def create(self, instance: SWEInstance, key: str) -> LocalSandbox:
        dest = self.work_dir / key
        await self.repo_cache.checkout(instance.repo, instance.base_commit, dest)
        return LocalSandbox(dest, instance.base_commit)

    async def preflight(self, instances: list[SWEInstance]) -> list[str]:
        """Nothing beyond the host checks (git) and the repo cache, which every run checks."""
        return []
