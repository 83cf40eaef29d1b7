"""A cache of bare repositories holding the commits evaluations need, and cheap checkouts from it.

Commits are fetched one at a time, depth 1, from a URL template (default GitHub; a local mirror such
as ``file:///m/{owner}+{name}`` works the same), never the whole history, and reused by every attempt
and evaluation. A checkout borrows the cache's objects (as ``clone --shared`` does), so it takes
milliseconds and concurrent checkouts never write to shared state. Two processes sharing a cache
serialise their fetches through a lock file.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import anyio

from ..core import progress
from ..core.errors import ConfigError, InfraError, SourceIncomplete
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
        """Return the bare cache of ``repo``, fetching ``commit`` into it if it lacks it.

        Only the commit is fetched, depth 1 (its tree and nothing else), kept under
        ``refs/ramp/<sha>``: evaluating one commit never needs the repository's history, and a
        mirror whose old commits lack some blobs still serves every commit whose tree is whole.
        A source that refuses to serve a commit by its sha gets one full fetch of its branches
        and tags instead. A commit whose tree the source cannot supply is a SourceIncomplete.
        """
        bare = self.bare_path(repo)
        if await self._has_commit(bare, commit):
            return bare
        lock = self._locks.setdefault(repo, anyio.Lock())
        await progress.report("fetch", f"fetching {repo} at {commit[:10]}")
        async with lock, file_lock(bare.with_suffix(".lock")):
            if await self._has_commit(bare, commit):
                return bare
            url = source_url(self.source_template, repo)
            if not (bare / "HEAD").exists():
                partial = bare.with_name(bare.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                result = await git("init", "--quiet", "--bare", str(partial), timeout=60)
                if result.exit_code != 0:
                    raise InfraError(f"cannot create {partial}: {result.output.strip()[-300:]}")
                partial.rename(bare)
            shallow = await git(
                "fetch", "--quiet", "--no-tags", "--depth=1", url, f"+{commit}:refs/ramp/{commit}",
                cwd=bare, timeout=3600,
            )  # fmt: skip
            if shallow.exit_code != 0 and not _incomplete(shallow.output):
                await git(
                    "fetch", "--quiet", "--no-tags", url,
                    "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", cwd=bare, timeout=3600,
                )  # fmt: skip
            if not await self._has_commit(bare, commit):
                reason = shallow.output.strip()[-400:] or "no answer"
                if _incomplete(shallow.output):
                    raise SourceIncomplete(
                        f"{repo}@{commit[:12]}: the source {url} lacks objects of this commit's "
                        f"tree ({reason}); use a complete mirror (--repo-source)"
                    )
                raise InfraError(
                    f"could not fetch {repo}@{commit[:12]} from {url}: {reason} (set --repo-source "
                    "to a reachable mirror, e.g. file:///mirrors/{owner}+{name})"
                )
        return bare

    async def scm_version(self, repo: str, commit: str) -> str | None:
        """The version setuptools_scm would give ``commit`` in a full clone, asked of a local
        source with ``git describe`` (the cache has no tags); None for a remote source or a
        commit no tag precedes."""
        local = source_url(self.source_template, repo).removeprefix("file://")
        if not local.startswith("/") or not Path(local).exists():
            return None
        result = await git("describe", "--tags", "--long", commit, cwd=Path(local), timeout=60)
        return scm_version(result.output.strip()) if result.exit_code == 0 else None

    async def checkout(self, repo: str, commit: str, dest: Path) -> Path:
        """Make ``dest`` a fresh working copy of ``repo`` at ``commit`` (detached, clean).

        The copy borrows the cache's objects (``objects/info/alternates``, as ``clone --shared``
        does) and has no refs, remotes or history beyond what the cache holds, so an agent cannot
        see the future. A file git could not write (a blob missing from the cache) is a
        SourceIncomplete, never a silent gap in the tree that is tested.
        """
        bare = await self.ensure(repo, commit)
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = await git("init", "--quiet", str(dest))
        if result.exit_code == 0:
            (dest / ".git" / "objects" / "info" / "alternates").write_text(f"{bare / 'objects'}\n")
            if (bare / "shallow").exists():
                shutil.copyfile(bare / "shallow", dest / ".git" / "shallow")
            result = await git("checkout", "--quiet", "--detach", commit, cwd=dest)
        if result.exit_code != 0:
            shutil.rmtree(dest, ignore_errors=True)
            if _incomplete(result.output):
                raise SourceIncomplete(f"{repo}@{commit[:12]}: {result.output.strip()[-400:]}")
            raise InfraError(f"could not check out {repo}@{commit[:12]}: {result.output.strip()[-400:]}")
        try:
            await verify_tree(dest, f"{repo}@{commit[:12]}")
        except SourceIncomplete:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        await self._submodules(dest)
        return dest

    async def _submodules(self, worktree: Path) -> None:
        """Check out each GitHub submodule at the commit its gitlink names, fetched through the
        same source template, as ``git submodule update --init`` in a full clone would (astropy
        1.3's build runs exactly that, against github.com). The submodule is registered, so
        ``git submodule status`` reports it up to date and ``git diff`` of the parent ignores it.
        One the source cannot supply is left empty, as a plain clone leaves it."""
        if not (worktree / ".gitmodules").is_file():
            return
        urls = await git("config", "-f", ".gitmodules", "--get-regexp", r"\.url$", cwd=worktree)
        links = await git("ls-files", "--stage", cwd=worktree, timeout=120)
        by_path: dict[str, str] = {}
        for line in links.output.splitlines():
            mode, _, rest = line.partition(" ")
            if mode == "160000":
                sha, _, where = rest.partition("\t")
                by_path[where] = sha.split()[0]
        for line in urls.output.splitlines():
            key, _, url = line.partition(" ")
            name = key.removeprefix("submodule.").removesuffix(".url")
            found = await git("config", "-f", ".gitmodules", f"submodule.{name}.path", cwd=worktree)
            where = found.output.strip()
            match = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url.strip())
            if not by_path.get(where) or not match:
                continue
            try:
                await self.checkout(match.group(1), by_path[where], worktree / where)
            except (InfraError, SourceIncomplete):
                (worktree / where).mkdir(parents=True, exist_ok=True)
                continue
            await git("submodule", "init", "--", where, cwd=worktree)


def scm_version(described: str) -> str | None:
    """setuptools_scm's default version for ``git describe --long`` output: the tag itself at
    distance 0, else the next patch release, ``.devN+gSHA`` (its guess-next-dev scheme)."""
    match = re.fullmatch(r"[^\d]*(\d+(?:\.\d+)*)(.*)-(\d+)-g([0-9a-f]+)", described)
    if not match:
        return None
    release, suffix, distance, sha = match.groups()
    suffix = suffix.replace("-", "")
    if int(distance) == 0:
        return release + suffix
    parts = release.split(".")
    prerelease = re.sub(r"\.?dev\d*$", "", suffix)
    if not suffix:  # a release tag: the next patch release is in development
        parts[-1] = str(int(parts[-1]) + 1)
    return f"{'.'.join(parts)}{prerelease}.dev{distance}+g{sha}"


async def verify_tree(worktree: Path, label: str) -> None:
    """Raise SourceIncomplete when files of the checked-out commit are missing from ``worktree``."""
    result = await git("ls-files", "--deleted", cwd=worktree, timeout=120)
    missing = result.output.split() if result.exit_code == 0 else []
    if result.exit_code != 0 or missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SourceIncomplete(
            f"{label}: the checkout lacks {shown or 'files (git ls-files failed)'}: the source is "
            "missing their content; use a complete mirror (--repo-source)"
        )


#: What git says when the source lacks objects (as opposed to being unreachable or refusing a sha).
_INCOMPLETE = (
    "missing blob", "missing tree", "unable to read", "did not send all necessary objects",
    "bad object", "invalid object",
)  # fmt: skip


def _incomplete(output: str) -> bool:
    """Whether git's output says objects were missing from the source."""
    lower = output.lower()
    return any(marker in lower for marker in _INCOMPLETE)
