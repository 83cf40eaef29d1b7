"""An instance's repository inside a container, from the host's repo cache and with no network.

Evaluation and sandbox containers run with ``--network none``, so the repository comes from the
host: a depth-1 fetch of base_commit out of the cached bare clone gives a self-contained ``.git``
(one commit, its real sha: ``git checkout <base_commit> -- tests`` and ``git diff <base_commit>``
work as in the harness) with no history beyond it, so an agent cannot see the future. It is copied
to /testbed as a tar stream and the host copy is deleted.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ..core.errors import InfraError
from ..core.proc import git
from ..workspace.repos import RepoCache, verify_tree
from .containers import Box

WORKDIR = "/testbed"
#: Commits made inside containers (pre_install edits) need an identity.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "ramp",
    "GIT_AUTHOR_EMAIL": "ramp@localhost",
    "GIT_COMMITTER_NAME": "ramp",
    "GIT_COMMITTER_EMAIL": "ramp@localhost",
}


async def snapshot(repos: RepoCache, repo: str, commit: str, dest: Path) -> Path:
    """A standalone one-commit clone of ``repo`` at ``commit`` in ``dest``."""
    bare = await repos.ensure(repo, commit)
    steps = [
        ("init", "--quiet", str(dest)),
        ("-C", str(dest), "fetch", "--quiet", "--depth", "1", f"file://{bare}", commit),
        ("-C", str(dest), "checkout", "--quiet", "--detach", "FETCH_HEAD"),
    ]
    for args in steps:
        result = await git(*args)
        if result.exit_code != 0:
            raise InfraError(f"could not snapshot {repo}@{commit[:12]}: {result.output[-400:]}")
    await verify_tree(dest, f"{repo}@{commit[:12]}")
    return dest


async def copy_repo(box: Box, repos: RepoCache, repo: str, commit: str, scratch: Path) -> None:
    """Put ``repo`` at ``commit`` into the container's /testbed."""
    dest = Path(scratch) / uuid.uuid4().hex[:12]
    try:
        await snapshot(repos, repo, commit, dest)
        await box.put_tree(dest, WORKDIR)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
