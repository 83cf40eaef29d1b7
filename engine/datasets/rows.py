"""Task rows, validated: :class:`TaskRow`, what the engine needs of any task family's row, and
:class:`SWEInstance`, the SWE-bench row.

The scheduler, the store, metrics, gates and the TUI see only a :class:`TaskRow`: an id that names
folders, a group (the repository, or a benchmark's category), the reference answer (the gold agent's),
the text an agent is given, and the names of the checks that decide it. Each family's backends
(agents, evaluators) take their own row type and say so with :func:`family_row`.

SWE-bench rows come from Hugging Face, from .json/.jsonl/.parquet files, or from the bundled task
set. They all end up as :class:`SWEInstance`. FAIL_TO_PASS and PASS_TO_PASS arrive either as
JSON-encoded strings (as on Hugging Face) or as lists; inside Ramp they are always lists, and
:meth:`to_swebench_row` gives them back in the exact upstream format.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..core.artifacts import id_problem
from .patches import check_patch_paths, patch_paths

#: The fields every SWE-bench row has, in upstream order.
SWEBENCH_FIELDS = (
    "repo",
    "instance_id",
    "base_commit",
    "patch",
    "test_patch",
    "problem_statement",
    "hints_text",
    "created_at",
    "version",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "environment_setup_commit",
)


class TaskRow(BaseModel):
    """What every task family's row gives the engine."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    #: The family the row belongs to: it picks the agents and the evaluator that can run it.
    family: ClassVar[str] = ""

    instance_id: str = Field(min_length=1, description="Unique id; it names folders.")
    repo: str = Field(description="The row's group: a repository, or a benchmark's category.")
    patch: str = Field(default="", description="The reference answer the gold agent submits.")
    problem_statement: str = Field(default="", description="The text the agent is given.")
    FAIL_TO_PASS: list[str] = Field(description="The checks that must pass for the row to be resolved.")
    PASS_TO_PASS: list[str] = Field(default_factory=list, description="Checks that must stay passing.")

    @field_validator("instance_id")
    @classmethod
    def _id_builds_safe_paths(cls, value: str) -> str:
        if problem := id_problem(value):
            raise ValueError(f"unusable as an instance id (it names folders): {problem}")
        return value

    def to_row(self) -> dict[str, Any]:
        """The row in its source's format (what :func:`~engine.datasets.lock.content_sha256` hashes)."""
        return self.model_dump()


RowT = TypeVar("RowT", bound=TaskRow)


def family_row(row: TaskRow, kind: type[RowT], backend: str) -> RowT:
    """``row`` as the family's own row type; TypeError naming ``backend`` for another family's row
    (wiring refuses such a mix before a run starts, so this is a bug, not bad input)."""
    if not isinstance(row, kind):
        raise TypeError(f"{backend} runs {kind.family} rows, not {type(row).family or type(row).__name__} "
                        f"row {row.instance_id}")
    return row


class SWEInstance(TaskRow):
    """One SWE-bench task instance."""

    family: ClassVar[str] = "swebench"

    instance_id: str = Field(min_length=1, description="Unique id, owner__name-number.")
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="GitHub owner/name.")
    base_commit: str = Field(min_length=7, description="Commit the agent starts from.")
    patch: str = Field(default="", description="The reference (gold) patch.")
    test_patch: str = Field(description="Patch adding the tests that decide resolution.")
    problem_statement: str = Field(default="", description="The issue text the agent sees.")
    hints_text: str = Field(default="", description="Comments before the fix, optional for agents.")
    created_at: str = Field(default="", description="Creation time of the fixing PR (ISO 8601).")
    version: str = Field(description="Key into the per-repo install/test specs.")
    environment_setup_commit: str = Field(
        default="", description="Commit whose requirements build the environment."
    )
    FAIL_TO_PASS: list[str] = Field(description="Tests that must go from failing to passing.")
    PASS_TO_PASS: list[str] = Field(default_factory=list, description="Tests that must stay green.")

    @field_validator("test_patch", "patch")
    @classmethod
    def _safe_diff(cls, value: str, info: ValidationInfo) -> str:
        # Empty is allowed (a suite whose failing tests are already in the repository); text that
        # names no file is not a patch at all, and would be silently ignored at evaluation.
        if info.field_name == "test_patch" and value.strip() and not patch_paths(value):
            raise ValueError(
                "is not a unified diff (it names no file); give the patch that adds the tests deciding "
                "resolution, or leave it empty if they are already in the repository"
            )
        if problems := check_patch_paths(value):
            raise ValueError(f"writes outside the repository: {'; '.join(problems)}")
        return value

    @field_validator("FAIL_TO_PASS")
    @classmethod
    def _something_to_fix(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "is empty: with no test that must go from failing to passing, a patch that does "
                "nothing would count as resolved; list the tests the fix makes pass"
            )
        return value

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _decode_test_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of test names ({exc.msg})") from exc
        if hasattr(value, "tolist"):  # numpy arrays from parquet
            value = value.tolist()
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise ValueError("expected a list of test names (or a JSON string of one)")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # Some dumps store "3.0" as the float 3.0; the specs table is keyed by strings.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at_as_text(cls, value: Any) -> Any:
        # Parquet exports may store created_at as a timestamp column; upstream rows carry text.
        return value.isoformat() if isinstance(value, datetime) else value

    @property
    def setup_commit(self) -> str:
        """The commit the environment is built from (upstream falls back to base_commit)."""
        return self.environment_setup_commit or self.base_commit

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    def to_swebench_row(self) -> dict[str, Any]:
        """The row in exact upstream format: test lists as JSON strings, extra fields kept."""
        dumped = self.model_dump()
        row = {name: dumped.pop(name) for name in SWEBENCH_FIELDS} | dumped
        row["FAIL_TO_PASS"] = json.dumps(self.FAIL_TO_PASS)
        row["PASS_TO_PASS"] = json.dumps(self.PASS_TO_PASS)
        return row

    def to_row(self) -> dict[str, Any]:
        return self.to_swebench_row()
