"""A cache of bare repository clones, and cheap checkouts from it.

Repositories are cloned once per cache from a URL template (default GitHub; a local mirror such as
``file:///m/{owner}+{name}`` works the same) and reused by every attempt and evaluation. A checkout is
a ``git clone --shared`` of the bare cache: it borrows the objects, so it takes milliseconds and
concurrent checkouts never write to shared state. Two processes sharing a cache serialise their
clones and fetches through a lock file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio

from ..core.errors import ConfigError, InfraError
from ..core.proc import git
from .locks import file_lock

DEFAULT_SOURCE = "https://github.com/{repo}.git"


def source_url(template: str, repo: str) -> str:
    """Expand a repo-source template. Placeholders: {repo} (owner/name), {owner}, {name}."""
    owner, _, name = repo.partition("/")
    try:
        return template.format(repo=repo, owner=owner, name=name)
    except (KeyError, IndexError) as exc:
        raise ConfigError(
            f"unknown placeholder {exc} in {template!r}; use {{repo}}, {{owner}} or {{name}}",
            field="repo_source",
        ) from None


class RepoCache:
    """Bare clones under ``cache_dir/repos``, fetched from ``source_template``."""

    def __init__(self, cache_dir: Path, source_template: str = DEFAULT_SOURCE):
        self.root = Path(cache_dir).absolute() / "repos"
        self.source_template = source_template
        self._locks: dict[str, anyio.Lock] = {}

    def bare_path(self, repo: str) -> Path:
        return self.root / (repo.replace("/", "+") + ".git")

    async def _has_commit(self, bare: Path, commit: str) -> bool:
        if not (bare / "HEAD").exists():
            return False
        result = await git("cat-file", "-e", f"{commit}^{{commit}}", cwd=bare, timeout=60)
        return result.exit_code == 0

    async def check_source(self, repo: str, timeout: float = 20.0) -> str | None:
        """None when ``repo`` is cached or its source answers; otherwise what is wrong and the fix.

        A local path only has to exist (cloning it is the real check); a remote URL is asked for
        its refs with a bounded ``git ls-remote``, so an unreachable host is named before the run
        starts instead of failing every instance on it.
        """
        if (self.bare_path(repo) / "HEAD").exists():
            return None
        url = source_url(self.source_template, repo)
        local = url.removeprefix("file://")
        if local.startswith("/"):
            if Path(local).exists():
                return None
            return f"{repo}: mirror {url} does not exist; fix --repo-source (placeholders {{repo}}, {{owner}}, {{name}})"
        result = await git("ls-remote", "--heads", url, timeout=timeout)
        if result.exit_code == 0:
            return None
        lines = result.output.strip().splitlines()
        reason = "no answer" if result.timed_out or not lines else lines[-1]
        return (
            f"{repo}: cannot reach {url} ({reason}); set --repo-source to a reachable mirror, "
            "e.g. file:///mirrors/{owner}+{name}"
        )

    async def ensure(self, repo: str, commit: str) -> Path:
        """Return the bare clone of ``repo``, cloning or fetching until it holds ``commit``."""
        bare = self.bare_path(repo)
        if await self._has_commit(bare, commit):
            return bare
        lock = self._locks.setdefault(repo, anyio.Lock())
        async with lock, file_lock(bare.with_suffix(".lock")):
            if await self._has_commit(bare, commit):
                return bare
            url = source_url(self.source_template, repo)
            if not (bare / "HEAD").exists():
                partial = bare.with_name(bare.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                result = await git("clone", "--bare", "--quiet", url, str(partial), timeout=3600)
                if result.exit_code != 0:
                    shutil.rmtree(partial, ignore_errors=True)
                    raise InfraError(
                        f"could not clone {repo} from {url}: {result.output.strip()[-400:]} "
                        "(set --repo-source to a reachable mirror, e.g. file:///mirrors/{owner}+{name})"
                    )
                partial.rename(bare)
            if not await self._has_commit(bare, commit):
                await git("fetch", "--quiet", "origin", "+refs/*:refs/*", cwd=bare, timeout=3600)
                if not await self._has_commit(bare, commit):
                    # Some servers allow fetching a reachable sha directly.
                    await git("fetch", "--quiet", "origin", commit, cwd=bare, timeout=3600)
            if not await self._has_commit(bare, commit):
                raise InfraError(f"commit {commit} of {repo} is not in {url}")
        return bare

    async def checkout(self, repo: str, commit: str, dest: Path) -> Path:
        """Make ``dest`` a fresh working copy of ``repo`` at ``commit`` (detached, clean)."""
        bare = await self.ensure(repo, commit)
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = await git("clone", "--shared", "--no-checkout", "--quiet", str(bare), str(dest))
        if result.exit_code == 0:
            result = await git("checkout", "--quiet", "--detach", commit, cwd=dest)
        if result.exit_code != 0:
            shutil.rmtree(dest, ignore_errors=True)
            raise InfraError(f"could not check out {repo}@{commit[:12]}: {result.output.strip()[-400:]}")
        # The agent must not see the future: drop the remote and every ref but HEAD.
        await git("remote", "remove", "origin", cwd=dest)
        return dest
