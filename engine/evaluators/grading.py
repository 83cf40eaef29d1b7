"""The test log, in the official harness's shape, and its grade, by swebench's own functions.

DESIGN asks both evaluators for the official verdict on the same test log. So Ramp writes its log the
way the harness's eval script does (``>>>>> Start Test Output`` / ``>>>>> End Test Output`` around
the test command's output, ``>>>>> Patch Apply Failed`` when a patch did not apply, ``>>>>> Tests
Timed Out`` when the run was killed) and grades it with ``get_logs_eval``,
``get_eval_tests_report`` and ``get_resolution_status`` from ``swebench.harness.grading``, exactly
as ``get_eval_report`` chains them. Only the glue lives here: building the :class:`TestSpec`
those functions read (by hand, because ``make_test_spec`` fetches requirement files over the
network) and honouring a FAIL_TO_PASS override. The docker evaluator reuses this module unchanged.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from swebench.harness.constants import (
    APPLY_PATCH_FAIL,
    APPLY_PATCH_PASS,
    END_TEST_OUTPUT,
    FAIL_ONLY_REPOS,
    FAIL_TO_PASS,
    KEY_INSTANCE_ID,
    PASS_TO_PASS,
    START_TEST_OUTPUT,
    TESTS_TIMEOUT,
    EvalType,
    ResolvedStatus,
)
from swebench.harness.grading import get_eval_tests_report, get_logs_eval, get_resolution_status
from swebench.harness.test_spec.test_spec import TestSpec

from ..datasets.rows import SWEInstance
from ..datasets.specs import export_to_swebench
from .base import TestGroup

#: The file name the official harness gives the test log; swebench's tooling looks for it.
TEST_LOG_NAME = "test_output.txt"


class Grade(BaseModel):
    """swebench's verdict on one test log."""

    log_complete: bool = Field(
        description="The log has both output markers and no failure code (swebench's 'found')."
    )
    resolved: bool
    status: str = Field(description="RESOLVED_FULL, RESOLVED_PARTIAL or RESOLVED_NO.")
    tests: dict[str, str] = Field(default_factory=dict, description="Status of every parsed test.")
    fail_to_pass: TestGroup = Field(default_factory=TestGroup)
    pass_to_pass: TestGroup = Field(default_factory=TestGroup)


def make_test_spec(instance: SWEInstance, fail_to_pass: list[str] | None = None) -> TestSpec:
    """The slice of swebench's TestSpec that its grading functions read; no scripts, no network."""
    export_to_swebench(instance.repo)
    return TestSpec(
        instance_id=instance.instance_id,
        repo=instance.repo,
        version=instance.version,
        repo_script_list=[],
        eval_script_list=[],
        env_script_list=[],
        arch="x86_64",
        FAIL_TO_PASS=list(instance.FAIL_TO_PASS if fail_to_pass is None else fail_to_pass),
        PASS_TO_PASS=list(instance.PASS_TO_PASS),
        language="py",
        docker_specs={},
        namespace=None,
    )


def grade_log(
    instance: SWEInstance, log_path: Path, fail_to_pass: list[str] | None = None
) -> Grade:
    """Grade a test log as ``swebench.harness.grading.get_eval_report`` does, keeping every status.

    ``fail_to_pass`` replaces the row's FAIL_TO_PASS (feedback-split grading on a subset).
    """
    spec = make_test_spec(instance, fail_to_pass)
    status_map, found = get_logs_eval(spec, str(log_path))
    if not found:
        return Grade(log_complete=False, resolved=False, status=ResolvedStatus.NO.value)
    reference = {
        KEY_INSTANCE_ID: spec.instance_id,
        FAIL_TO_PASS: spec.FAIL_TO_PASS,
        PASS_TO_PASS: spec.PASS_TO_PASS,
    }
    eval_type = EvalType.FAIL_ONLY if spec.repo in FAIL_ONLY_REPOS else EvalType.PASS_AND_FAIL
    report = get_eval_tests_report(status_map, reference, eval_type=eval_type)
    status = get_resolution_status(report)
    return Grade(
        log_complete=True,
        resolved=status == ResolvedStatus.FULL.value,
        status=status,
        tests=dict(status_map),
        fail_to_pass=TestGroup(**report[FAIL_TO_PASS]),
        pass_to_pass=TestGroup(**report[PASS_TO_PASS]),
    )


class TestLog:
    """Appends the sections of a test log in the order the official eval script prints them."""

    __test__ = False  # not a pytest test class

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def write(self, text: str) -> None:
        with self.path.open("a", encoding="utf-8", errors="replace") as fh:
            fh.write(text if text.endswith("\n") or not text else text + "\n")

    def command(self, command: str, output: str = "") -> None:
        """A command and its output, shown like ``bash -x`` shows it."""
        self.write(f"+ {command}\n{output}")

    def patch_applied(self, label: str, command: str, output: str) -> None:
        self.write(f"{APPLY_PATCH_PASS} ({label}) with `{command}`:\n{output}")

    def patch_failed(self, label: str, output: str) -> None:
        self.write(f"{APPLY_PATCH_FAIL} ({label}):\n{output}")

    def start_tests(self, command: str) -> None:
        self.write(f"+ : '{START_TEST_OUTPUT}'\n+ {command}")

    def end_tests(self) -> None:
        self.write(f"\n+ : '{END_TEST_OUTPUT}'")

    def timed_out(self, seconds: float) -> None:
        self.write(f"\n\nTimeout error: {seconds:g} seconds exceeded.\n{TESTS_TIMEOUT}")
