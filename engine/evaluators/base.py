"""The evaluator protocol and its result.

An evaluator takes one task row and one patch and says, test by test, what happened. Both evaluators
(docker-less ``swebench-local`` and ``swebench-docker``) grade with swebench's own log parsers and
grading functions, so their verdicts on the same test log are the official harness's verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..core.errors import ErrorClass
from ..datasets.rows import TaskRow


class TestGroup(BaseModel):
    """Which tests of one group (FAIL_TO_PASS or PASS_TO_PASS) passed and which failed."""

    success: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class EvalResult(BaseModel):
    """The graded outcome of one evaluation."""

    resolved: bool = Field(description="True only when every FAIL_TO_PASS and PASS_TO_PASS test passed.")
    applied: bool = Field(description="The model patch applied (trivially true for an empty patch).")
    error_class: ErrorClass | None = Field(
        default=None,
        description="Set when the evaluation did not produce a clean grade: malformed_patch, "
        "infra (setup failed), timeout (tests ran past the limit) or eval_flaky.",
    )
    detail: str = Field(default="", description="One line for humans: why it failed, if it did.")
    tests: dict[str, str] = Field(
        default_factory=dict, description="Status of every test the log parser found (PASSED, FAILED, ...)."
    )
    fail_to_pass: TestGroup = Field(default_factory=TestGroup)
    pass_to_pass: TestGroup = Field(default_factory=TestGroup)
    env_broken: list[str] = Field(
        default_factory=list,
        description="FAIL_TO_PASS/PASS_TO_PASS tests that fail with the gold patch too in this "
        "environment (gold validation): environment breakage, reported apart from model failures.",
    )
    checks: dict[str, Any] = Field(
        default_factory=dict,
        description="What the family's grader saw besides the tests (completion: syntax_valid, "
        "syntax_error, degenerate: the rule broken or None).",
    )
    log_path: str | None = Field(default=None, description="The full test log, under the run folder.")
    node: str = Field(default="", description="The cluster node that ran it (run.executor: ray), else empty.")
    duration_s: float = Field(default=0.0, description="Wall time of the evaluation, setup included.")
    setup_s: float = Field(default=0.0, description="Part of duration_s spent preparing the environment.")


class EvalRequest(BaseModel):
    """What an evaluator needs besides the row: the patch and where to put its files."""

    model_config = {"arbitrary_types_allowed": True}

    instance: TaskRow
    patch: str | None = Field(description="The model patch; None or empty means no patch.")
    log_dir: Path = Field(description="Folder for this attempt's test log and eval files.")
    run_id: str = ""
    key: str = Field(default="", description="A unique key for this evaluation (run/instance/attempt).")
    fail_to_pass: list[str] | None = Field(
        default=None, description="Override the row's FAIL_TO_PASS (feedback-split grading)."
    )
    attempt: int | None = Field(default=None, description="The attempt graded (calls a grader makes are its).")
    model: Any = Field(
        default=None, exclude=True,
        description="The run's accounted model, for a grader that asks one (a suite's rubric judge).",
    )


@runtime_checkable
class Evaluator(Protocol):
    """Grades patches. Implementations hold their own pydantic config."""

    name: str

    async def preflight(self, instances: list[TaskRow]) -> list[str]:
        """Return one line per problem that would stop these instances from being evaluated."""
        ...

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        """Evaluate one patch. Raise AttemptError("infra", ...) when the environment fails."""
        ...

    async def aclose(self) -> None: ...
