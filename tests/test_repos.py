"""The repo cache fetches only the commits asked for, and a source missing objects is named.

The mirror here is a real bare repository whose history has a commit with a file whose blob was
later deleted from the mirror (as in snapshots that lack large files of old commits): the newer
commit must still be evaluable, the older one must fail as "source incomplete", never check out
with a silent gap.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.core.errors import InfraError, SourceIncomplete
from engine.workspace.repos import RepoCache
from tests.evalhelpers import git


def _object_path(bare: Path, sha: str) -> Path:
    return bare / "objects" / sha[:2] / sha[2:]


@pytest.fixture
def mirror(tmp_path: Path) -> dict[str, str | Path]:
    """A bare mirror with three commits: old (has big.dat), middle, new (big.dat removed)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "code.py").write_text("x = 1\n")
    (work / "big.dat").write_text("large content\n" * 100)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "old")
    old = git(work, "rev-parse", "HEAD").strip()
    blob = git(work, "rev-parse", "HEAD:big.dat").strip()
    (work / "code.py").write_text("x = 2\n")
    git(work, "commit", "-qam", "middle")
    middle = git(work, "rev-parse", "HEAD").strip()
    git(work, "rm", "-q", "big.dat")
    (work / "code.py").write_text("x = 3\n")
    git(work, "commit", "-qam", "new")
    new = git(work, "rev-parse", "HEAD").strip()
    mirrors = tmp_path / "mirror"
    mirrors.mkdir()
    bare = mirrors / "acme+widget"
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(work), str(bare)], check=True)
    return {"old": old, "middle": middle, "new": new, "blob": blob, "bare": bare,
            "source": f"file://{mirrors}/{{owner}}+{{name}}"}  # fmt: skip


def _explode(bare: Path) -> None:
    """Turn the mirror's pack into loose objects, so one object can be deleted."""
    packs = list((bare / "objects" / "pack").glob("*.pack"))
    for pack in packs:
        moved = pack.with_name(pack.name + ".bak")
        pack.rename(moved)
        pack.with_suffix(".idx").unlink()
        with moved.open("rb") as fh:
            subprocess.run(["git", "unpack-objects", "-q"], cwd=bare, stdin=fh, check=True)
        moved.unlink()


async def test_only_the_commit_asked_for_is_fetched(tmp_path: Path, mirror: dict) -> None:
    cache = RepoCache(tmp_path / "cache", str(mirror["source"]))
    bare = await cache.ensure("acme/widget", str(mirror["middle"]))
    held = git(bare, "rev-list", "--all").split()
    assert held == [mirror["middle"]]  # not the old history, not the future
    dest = await cache.checkout("acme/widget", str(mirror["middle"]), tmp_path / "wt")
    assert (dest / "code.py").read_text() == "x = 2\n"
    assert git(dest, "branch", "-a").strip() == f"* (HEAD detached at {str(mirror['middle'])[:7]})"
    assert git(dest, "status", "--porcelain") == ""


async def test_a_mirror_missing_an_old_blob_serves_newer_commits_and_names_the_gap(
    tmp_path: Path, mirror: dict
) -> None:
    bare = Path(mirror["bare"])
    _explode(bare)
    _object_path(bare, str(mirror["blob"])).unlink()
    cache = RepoCache(tmp_path / "cache", str(mirror["source"]))
    dest = await cache.checkout("acme/widget", str(mirror["new"]), tmp_path / "new")
    assert (dest / "code.py").read_text() == "x = 3\n"
    with pytest.raises(SourceIncomplete, match="source incomplete: acme/widget@") as info:
        await cache.checkout("acme/widget", str(mirror["old"]), tmp_path / "old")
    assert "--repo-source" in str(info.value)
    assert info.value.error_class == "infra"


async def test_a_cache_missing_a_blob_fails_the_checkout_instead_of_leaving_a_gap(
    tmp_path: Path, mirror: dict
) -> None:
    cache = RepoCache(tmp_path / "cache", str(mirror["source"]))
    bare = await cache.ensure("acme/widget", str(mirror["old"]))
    _explode(bare)
    _object_path(bare, str(mirror["blob"])).unlink()
    with pytest.raises(SourceIncomplete, match="big.dat|source incomplete"):
        await cache.checkout("acme/widget", str(mirror["old"]), tmp_path / "wt")
    assert not (tmp_path / "wt").exists()


async def test_an_unknown_commit_or_source_is_an_infra_error_naming_the_fix(
    tmp_path: Path, mirror: dict
) -> None:
    cache = RepoCache(tmp_path / "cache", str(mirror["source"]))
    with pytest.raises(InfraError, match="could not fetch acme/widget@0000000000"):
        await cache.ensure("acme/widget", "0" * 40)
    nowhere = RepoCache(tmp_path / "cache2", f"file://{tmp_path}/none/{{owner}}+{{name}}")
    with pytest.raises(InfraError, match="--repo-source"):
        await nowhere.ensure("acme/widget", str(mirror["new"]))


async def test_a_github_submodule_is_checked_out_from_the_same_source_at_its_gitlink(
    tmp_path: Path,
) -> None:
    """astropy 1.3 builds only with its astropy_helpers submodule, which its setup.py clones from
    github.com: the checkout supplies it from the mirror, registered and at the gitlink's commit."""
    mirrors = tmp_path / "mirror"
    mirrors.mkdir()
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    git(helpers, "init", "-q", "-b", "main")
    (helpers / "helper.py").write_text("VERSION = 1\n")
    git(helpers, "add", "-A")
    git(helpers, "commit", "-qm", "v1")
    pinned = git(helpers, "rev-parse", "HEAD").strip()
    (helpers / "helper.py").write_text("VERSION = 2\n")
    git(helpers, "commit", "-qam", "v2")
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(helpers),
                    str(mirrors / "acme+helpers")], check=True)  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "setup.py").write_text("import helpers.helper\n")
    (work / ".gitmodules").write_text(
        '[submodule "helpers"]\n\tpath = helpers\n\turl = https://github.com/acme/helpers.git\n'
    )
    git(work, "add", "-A")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{pinned},helpers")
    git(work, "commit", "-qm", "with a submodule")
    commit = git(work, "rev-parse", "HEAD").strip()
    subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(work),
                    str(mirrors / "acme+widget")], check=True)  # fmt: skip
    cache = RepoCache(tmp_path / "cache", f"file://{mirrors}/{{owner}}+{{name}}")

    dest = await cache.checkout("acme/widget", commit, tmp_path / "wt")

    assert (dest / "helpers" / "helper.py").read_text() == "VERSION = 1\n"
    status = git(dest, "submodule", "status")
    assert status.strip().startswith(pinned), status  # " <sha>": initialised and up to date
    assert git(dest, "status", "--porcelain").strip() == ""

    (mirrors / "acme+helpers").rename(mirrors / "gone")  # a submodule the source lacks stays empty
    fresh = RepoCache(tmp_path / "cache2", f"file://{mirrors}/{{owner}}+{{name}}")
    dest = await fresh.checkout("acme/widget", commit, tmp_path / "wt2")
    assert (dest / "setup.py").exists() and list((dest / "helpers").iterdir()) == []
