"""The bundled task definitions: one directory per task under ``tasks/``, read and checked.

Each task is shipped as plain files rather than as a git repository, so the package stays
installable from a wheel and a reviewer reads the bug, the fix and the tests as ordinary files::

    tasks/<name>/task.yaml   issue text, FAIL_TO_PASS, PASS_TO_PASS, ... (see TaskFile)
    tasks/<name>/base/       the whole repository at base_commit
    tasks/<name>/fix/        every file the gold patch changes or adds, as it is after the fix
    tasks/<name>/test/       every test file the test patch changes or adds, as it is after it

The builder (:mod:`.builder`) turns these into a real repository and real ``git diff`` patches.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...core.errors import DatasetError

TASKS_DIR = Path(__file__).with_name("tasks")
#: GitHub-style owner of every bundled repository: repo is "ramp-bundled/<name>".
OWNER = "ramp-bundled"
#: Spec version of every bundled task (keys engine.datasets.specs).
VERSION = "1.0"
#: Files that may appear next to the shipped sources but are never part of a repository.
_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".DS_Store"}


class TaskFile(BaseModel):
    """task.yaml: the parts of a SWE-bench row that are written by hand."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str = Field(
        pattern=r"^ramp-bundled__[a-z0-9_-]+-\d+$", description="ramp-bundled__<name>-<n>."
    )
    problem_statement: str = Field(min_length=1, description="The issue, as a user would file it.")
    hints_text: str = Field(default="", description="Comments made before the fix, if any.")
    created_at: str = Field(description="When the fixing PR was opened (ISO 8601, UTC).")
    version: Literal["1.0"] = Field(default="1.0", description="Spec version in engine.datasets.specs.")
    FAIL_TO_PASS: list[str] = Field(min_length=1, description="pytest node ids fixed by the patch.")
    PASS_TO_PASS: list[str] = Field(default_factory=list, description="Node ids that stay green.")
    deleted_by_fix: list[str] = Field(
        default_factory=list, description="Repository paths the gold patch deletes."
    )
    demo: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form data for the scripted demo (e.g. per-task scripted answers).",
    )


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` as {posix relative path: content}, without caches."""
    if not root.is_dir():
        return {}
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not _IGNORED_PARTS.intersection(relative.parts) and path.suffix != ".pyc":
            files[relative.as_posix()] = path.read_bytes()
    return files


class BundledTask(BaseModel):
    """One bundled task: its directory and its parsed task.yaml."""

    name: str = Field(description="Directory name; the repository is ramp-bundled/<name>.")
    directory: Path = Field(description="tasks/<name>/ in the installed package.")
    spec: TaskFile = Field(description="The parsed task.yaml.")

    @property
    def repo(self) -> str:
        return f"{OWNER}/{self.name}"

    @cached_property
    def base_files(self) -> dict[str, bytes]:
        return read_tree(self.directory / "base")

    @cached_property
    def fix_files(self) -> dict[str, bytes]:
        return read_tree(self.directory / "fix")

    @cached_property
    def test_files(self) -> dict[str, bytes]:
        return read_tree(self.directory / "test")

    def digest(self, salt: str) -> str:
        """A hash of every shipped file plus ``salt`` (the builder's settings): the cache key."""
        digest = hashlib.sha256(salt.encode())
        for relative, content in read_tree(self.directory).items():
            digest.update(f"\0{relative}\0{len(content)}\0".encode())
            digest.update(content)
        return digest.hexdigest()

    def check(self) -> None:
        """Refuse a task whose overlays cannot produce two separate, non-empty patches."""
        where = str(self.directory)
        if self.spec.instance_id != f"{OWNER}__{self.name}-1":
            raise DatasetError(
                f"instance_id {self.spec.instance_id!r} should be {OWNER}__{self.name}-1",
                file=where,
                field="instance_id",
            )
        if not self.base_files or not self.test_files:
            raise DatasetError("a task needs base/ and test/ directories", file=where)
        if not self.fix_files and not self.spec.deleted_by_fix:
            raise DatasetError("fix/ is empty and nothing is deleted: no gold patch", file=where)
        overlap = set(self.fix_files) & set(self.test_files)
        if overlap:
            raise DatasetError(
                f"files in both fix/ and test/: {sorted(overlap)}; the gold patch and the test "
                "patch must touch different files",
                file=where,
            )
        for path in self.spec.deleted_by_fix:
            if path not in self.base_files or path in self.fix_files:
                raise DatasetError(
                    f"deleted_by_fix lists {path!r}, which must exist in base/ and not in fix/",
                    file=where,
                    field="deleted_by_fix",
                )


def task_names() -> list[str]:
    """Names of the bundled tasks, sorted; cheap (no file is parsed)."""
    return sorted(p.parent.name for p in TASKS_DIR.glob("*/task.yaml"))


def load_task(name: str) -> BundledTask:
    directory = TASKS_DIR / name
    path = directory / "task.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = TaskFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise DatasetError(f"invalid bundled task: {exc}", file=str(path)) from exc
    task = BundledTask(name=name, directory=directory, spec=spec)
    task.check()
    return task


def load_tasks() -> list[BundledTask]:
    return [load_task(name) for name in task_names()]
