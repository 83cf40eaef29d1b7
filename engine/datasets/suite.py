"""Custom task suites (``--dataset suite:PATH``): prompts with a category and a checker, and a seeded,
stratified held-out split.

One JSON object per line:

- ``id`` (or ``instance_id``): unique, it names folders;
- ``category``: what the task exercises or which agent type it is for (coder, tester, researcher);
- ``prompt``: what the model is asked;
- ``checker``: how an answer is judged, one of
  ``{"type": "exact", "expected": "...", "ignore_case": false}``,
  ``{"type": "regex", "pattern": "..."}`` (searched in the answer),
  ``{"type": "tests", "code": "..."}`` (Python run with the answer bound to ``answer``; it passes
  when the code runs to the end), or ``{"type": "judge", "rubric": "..."}`` (the run's model grades
  the answer against the rubric and must reply PASS or FAIL);
- ``reference`` (optional): a known-good answer, what ``--agent gold`` submits.

:func:`split_of` puts each task in ``tune`` or ``heldout``: within each category the tasks are
ordered by a hash of the seed and their id, and the first ``round(share * n)`` are held out. The
split depends only on the ids, the categories, the seed and the share, so it is the same in every
run with the same seed, whatever the file's order; ``run.suite_split`` picks the part a run uses.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .rows import TaskRow

SUITE = "suite"
SPLITS = ("all", "tune", "heldout")


class _Checker(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExactChecker(_Checker):
    type: Literal["exact"]
    expected: str
    ignore_case: bool = False


class RegexChecker(_Checker):
    type: Literal["regex"]
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"is not a regular expression ({exc})") from None
        return value


class TestsChecker(_Checker):
    type: Literal["tests"]
    code: str = Field(min_length=1, description="Python; `answer` holds the answer; it passes when it runs to the end.")


class JudgeChecker(_Checker):
    type: Literal["judge"]
    rubric: str = Field(min_length=1)


Checker = Annotated[ExactChecker | RegexChecker | TestsChecker | JudgeChecker, Field(discriminator="type")]


class SuiteTask(TaskRow):
    """One task of a custom suite."""

    family: ClassVar[str] = SUITE

    prompt: str = Field(min_length=1, description="What the model is asked.")
    category: str = Field(min_length=1, description="The task's category (agent type, skill, ...).")
    checker: Checker = Field(description="How an answer is judged: exact, regex, tests or judge.")
    split: Literal["tune", "heldout", ""] = Field(default="", description="Set when the suite is loaded.")

    @model_validator(mode="before")
    @classmethod
    def _from_suite_format(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        row = dict(value)
        if "id" in row:
            row.setdefault("instance_id", row.pop("id"))
        if "reference" in row:
            row.setdefault("patch", row.pop("reference"))
        row.setdefault("repo", row.get("category", ""))
        row.setdefault("problem_statement", row.get("prompt", ""))
        checker = row.get("checker")
        kind = checker.get("type") if isinstance(checker, dict) else None
        row.setdefault("FAIL_TO_PASS", [f"{kind} check" if kind else "check"])
        return row


def _rank(seed: int, task_id: str) -> str:
    return hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()


def split_of(tasks: list[SuiteTask], *, seed: int, share: float) -> dict[str, str]:
    """Task id -> ``tune`` or ``heldout``, stratified by category (see the module docstring)."""
    by_category: dict[str, list[str]] = {}
    for task in tasks:
        by_category.setdefault(task.category, []).append(task.instance_id)
    out: dict[str, str] = {}
    for ids in by_category.values():
        ordered = sorted(ids, key=lambda i: _rank(seed, i))
        held = round(share * len(ordered))
        out.update({i: "heldout" if n < held else "tune" for n, i in enumerate(ordered)})
    return out


def apply_split(tasks: list[SuiteTask], *, seed: int, share: float, part: str) -> list[SuiteTask]:
    """The tasks of ``part`` (all, tune, heldout), each marked with its side of the split."""
    sides = split_of(tasks, seed=seed, share=share)
    marked = [task.model_copy(update={"split": sides[task.instance_id]}) for task in tasks]
    return marked if part == "all" else [task for task in marked if task.split == part]
