"""Build each bundled task into a real git repository, publish it as a bare mirror, derive its row.

Why real repositories: the bundled set stands in for SWE-bench offline, so it must go through the
same machinery as a real row (clone from a repo-source template, checkout at base_commit,
``git apply`` of real patches). Why deterministic: base_commit is part of the row, and a row's
content hash must be the same on every machine. The base commit is therefore made with a fixed
identity and date under a neutral git configuration, and the patches are ``git diff --full-index``
output, which depends only on the files.

Publishing is idempotent and safe when several processes build at once: each task is built in a
private temporary directory next to its mirror and moved into place with one ``rename``. A mirror
carries a record of what it was built from (a hash of the shipped files and of the settings below)
and the derived row, so a later build reuses it when that hash and the mirror's HEAD still match.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...core.errors import InfraError
from ..rows import SWEInstance
from .definitions import BundledTask

#: Fixed author and committer, so base_commit depends only on the files.
COMMIT_IDENTITY = ("Ramp Bundled Tasks", "bundled@ramp.invalid")
#: After pytest 8.3.5's release, so an evaluator that excludes packages newer than the
#: environment commit (uv --exclude-newer) can still install the spec's pinned pytest.
COMMIT_DATE = "2025-06-02T12:00:00+00:00"
#: Changing how repositories or patches are made must change this, to invalidate old mirrors.
BUILD_FORMAT = "ramp-bundled-build-1"
#: The record a published mirror keeps in its git directory (git ignores unknown files there).
RECORD_NAME = "ramp-bundled-row.json"


def mirrors_dir(cache_dir: Path) -> Path:
    return Path(cache_dir).resolve() / "bundled" / "mirrors"


def source_template(cache_dir: Path) -> str:
    """The repo-source URL template that resolves every bundled repo to its local mirror."""
    return f"file://{mirrors_dir(cache_dir)}/{{owner}}+{{name}}.git"


def _git_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    name, email = COMMIT_IDENTITY
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_AUTHOR_DATE=COMMIT_DATE,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
        GIT_COMMITTER_DATE=COMMIT_DATE,
    )
    return env


def _git(*args: str, cwd: Path) -> str:
    try:
        result = subprocess.run(
            ["git", "-c", "core.autocrlf=false", *args],
            cwd=cwd,
            env=_git_env(),
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise InfraError("git is not installed; the bundled task set needs git on PATH") from None
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", errors="replace").strip()
        raise InfraError(f"git {' '.join(args[:2])} failed in {cwd}: {stderr[-400:]}")
    return result.stdout.decode("utf-8")


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _diff_after(work: Path, files: dict[str, bytes], deleted: list[str]) -> str:
    """The patch that turns HEAD into HEAD + ``files`` - ``deleted``; the work tree is reset after."""
    _write_files(work, files)
    for relative in deleted:
        (work / relative).unlink()
    _git("add", "--all", cwd=work)
    patch = _git(
        "diff", "--cached", "--full-index", "--no-renames", "--no-color", "--no-ext-diff", cwd=work
    )
    _git("reset", "--quiet", "--hard", "HEAD", cwd=work)
    return patch


def _build(task: BundledTask, scratch: Path, digest: str) -> Path:
    """Make the repository, a bare mirror holding only base_commit, and the record; return the mirror."""
    work = scratch / "work"
    _git("init", "--quiet", "--initial-branch=main", str(work), cwd=scratch)
    _write_files(work, task.base_files)
    _git("add", "--all", cwd=work)
    _git("commit", "--quiet", "--no-verify", "-m", f"{task.name} 1.0", cwd=work)
    base_commit = _git("rev-parse", "HEAD", cwd=work).strip()
    mirror = scratch / "mirror.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(mirror), cwd=scratch)
    _git("push", "--quiet", str(mirror), "main:main", cwd=work)
    patch = _diff_after(work, task.fix_files, task.spec.deleted_by_fix)
    test_patch = _diff_after(work, task.test_files, [])
    row = SWEInstance(
        repo=task.repo,
        instance_id=task.spec.instance_id,
        base_commit=base_commit,
        patch=patch,
        test_patch=test_patch,
        problem_statement=task.spec.problem_statement,
        hints_text=task.spec.hints_text,
        created_at=task.spec.created_at,
        version=task.spec.version,
        FAIL_TO_PASS=task.spec.FAIL_TO_PASS,
        PASS_TO_PASS=task.spec.PASS_TO_PASS,
        environment_setup_commit=base_commit,
    )
    record = {"digest": digest, "row": row.to_swebench_row()}
    (mirror / RECORD_NAME).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return mirror


def _published_row(mirror: Path, digest: str) -> SWEInstance | None:
    """The row of an existing mirror built from the same files and settings, else None."""
    try:
        record = json.loads((mirror / RECORD_NAME).read_text(encoding="utf-8"))
        if record.get("digest") != digest:
            return None
        row = SWEInstance.model_validate(record["row"])
        head = _git("rev-parse", "HEAD", cwd=mirror).strip()
    except (OSError, ValueError, KeyError, InfraError):
        return None
    return row if head == row.base_commit else None


def _publish(built: Path, mirror: Path, digest: str) -> SWEInstance:
    """Move ``built`` to ``mirror`` atomically, replacing a stale mirror but not a good one."""
    for _ in range(5):
        try:
            os.rename(built, mirror)
        except OSError:
            pass  # a mirror is already there: ours, someone else's, or a stale one
        row = _published_row(mirror, digest)
        if row is not None:
            return row
        stale = mirror.with_name(f".stale-{mirror.name}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(mirror, stale)
        except FileNotFoundError:
            continue  # another process moved it first
        shutil.rmtree(stale, ignore_errors=True)
    raise InfraError(f"could not publish the bundled mirror {mirror}; is another build stuck?")


def build_task(task: BundledTask, cache_dir: Path) -> SWEInstance:
    """Publish ``task``'s mirror under ``cache_dir`` (reusing a matching one) and return its row."""
    directory = mirrors_dir(cache_dir)
    mirror = directory / f"{task.repo.replace('/', '+')}.git"
    digest = task.digest(f"{BUILD_FORMAT}\0{COMMIT_IDENTITY}\0{COMMIT_DATE}")
    row = _published_row(mirror, digest)
    if row is not None:
        return row
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=f".build-{task.name}-") as scratch:
        built = _build(task, Path(scratch), digest)
        return _publish(built, mirror, digest)


def build_tasks(tasks: list[BundledTask], cache_dir: Path) -> list[SWEInstance]:
    """Build every task (a few in parallel: the work is git subprocesses); rows in input order."""
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(tasks)))) as pool:
        return list(pool.map(lambda task: build_task(task, cache_dir), tasks))
