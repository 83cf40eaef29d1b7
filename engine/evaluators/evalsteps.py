"""The steps of one evaluation after setup, the same wherever they run.

The official eval script applies the prediction (with the three ``GIT_APPLY_CMDS`` fallbacks),
resets the test files to base_commit, applies the test patch and runs the spec's test command on
the test files that patch touches; the harness then grades the log. Both of Ramp's evaluators run
exactly these steps through :func:`run_eval`, which talks to a :class:`Workspace`: the local
evaluator's is a worktree on the host, the docker evaluator's is /testbed in a container. Sharing
the code, the log format and the grading is what makes their verdicts comparable test by test.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Protocol

from swebench.harness.test_spec.python import get_test_directives
from swebench.harness.utils import get_modified_files

from ..core import progress
from ..core.errors import InfraError
from ..core.proc import CommandResult
from ..datasets.rows import SWEInstance, family_row
from ..datasets.specs import get_spec
from .base import EvalRequest, EvalResult
from .grading import TEST_LOG_NAME, Grade, TestLog, grade_log
from .patching import apply_patch, check_patch_paths
from .testenv import test_program


class Workspace(Protocol):
    """The repository an evaluation patches and tests, and how commands reach it."""

    #: The repository's path, as the workspace's commands see it.
    root: str

    async def shell(self, command: str) -> CommandResult:
        """Run a git/patch command in the repository."""
        ...

    async def stage(self, name: str, text: str) -> str:
        """Save a patch (also under the attempt's log folder); return the path commands read it at."""
        ...

    async def check_imports(self) -> None:
        """Raise InfraError unless the project's packages import from this repository."""
        ...

    async def check_program(self, program: str) -> None:
        """Raise InfraError unless ``program`` (the test command's) is the environment's own."""
        ...

    async def run_tests(self, script: str, timeout: float, log_file: Path) -> CommandResult:
        """Run the test script in the repository's environment, output appended to ``log_file``."""
        ...


def refused(problems: list[str], started: float) -> EvalResult:
    """A patch refused before anything was applied: graded unresolved, class malformed_patch."""
    return EvalResult(
        resolved=False,
        applied=False,
        error_class="malformed_patch",
        detail="patch refused before applying: " + "; ".join(problems),
        duration_s=time.monotonic() - started,
    )


def swe_row(request: EvalRequest) -> SWEInstance:
    """The request's row, which the SWE-bench evaluators need as an SWE-bench row."""
    return family_row(request.instance, SWEInstance, "the SWE-bench evaluator")


def screen(request: EvalRequest, started: float) -> EvalResult | None:
    """Make the attempt's log folder, then refuse what must never be applied, before any workspace
    exists: an unsafe test_patch is an infra error (the dataset row is wrong), an unsafe model patch
    a refused, unresolved result. None when both may go ahead."""
    Path(request.log_dir).mkdir(parents=True, exist_ok=True)
    instance = swe_row(request)
    if problems := check_patch_paths(instance.test_patch):
        raise InfraError(f"{instance.instance_id}: the row's test_patch is unsafe: {'; '.join(problems)}")
    if problems := check_patch_paths(request.patch or ""):
        return refused(problems, started)
    return None


def summary(grade: Grade) -> str:
    """One line: the counts, and the failing tests when unresolved."""
    f2p, p2p = grade.fail_to_pass, grade.pass_to_pass
    counts = (
        f"FAIL_TO_PASS {len(f2p.success)}/{len(f2p.success) + len(f2p.failure)}, "
        f"PASS_TO_PASS {len(p2p.success)}/{len(p2p.success) + len(p2p.failure)}"
    )
    if grade.resolved:
        return f"resolved: {counts}"
    failing = [f"{t} ({grade.tests.get(t, 'missing')})" for t in f2p.failure + p2p.failure]
    shown = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
    return f"unresolved: {counts}; failing: {shown}"


async def run_eval(
    request: EvalRequest,
    workspace: Workspace,
    *,
    eval_steps: list[str],
    test_timeout_s: float,
) -> EvalResult:
    """Patch, reset and patch the tests, run them, and grade the log with swebench's functions."""
    instance = swe_row(request)
    patch = request.patch or ""
    log = TestLog(Path(request.log_dir) / TEST_LOG_NAME)
    if patch.strip():
        patch_file = await workspace.stage("patch.diff", patch)
        outcome = await apply_patch(workspace.root, patch_file, shell=workspace.shell)
        if not outcome.applied:
            log.patch_failed("pred", outcome.output)
            return EvalResult(
                resolved=False,
                applied=False,
                error_class="malformed_patch",
                detail="the patch does not apply with git apply, git apply --reject or patch --fuzz=5",
                log_path=str(log.path),
            )
        log.patch_applied("pred", outcome.command, outcome.output)
    else:
        log.write("(no model patch)")
    notes: list[str] = []
    test_files = get_modified_files(instance.test_patch)
    if test_files:
        files = " ".join(shlex.quote(f) for f in test_files)
        reset = await workspace.shell(f"git checkout {instance.base_commit} -- {files}")
        log.command(f"git checkout {instance.base_commit} {' '.join(test_files)}", reset.output)
    test_patch_file = await workspace.stage("test_patch.diff", instance.test_patch)
    applied_tests = await workspace.shell(f"git apply -v {shlex.quote(test_patch_file)}")
    log.command("git apply -v test_patch.diff", applied_tests.output)
    if applied_tests.exit_code != 0:
        notes.append("the test patch did not apply on top of the model patch")
    await workspace.check_imports()
    spec = get_spec(instance.repo, instance.version)
    if program := test_program(spec["test_cmd"]):
        await workspace.check_program(program)
    test_cmd = " ".join([spec["test_cmd"], *get_test_directives(instance.to_swebench_row())])
    log.start_tests(test_cmd)
    await progress.report("tests", f"running {len(instance.FAIL_TO_PASS) + len(instance.PASS_TO_PASS)} tests")
    run = await workspace.run_tests("\n".join([*eval_steps, test_cmd]), test_timeout_s, log.path)
    if run.timed_out:
        log.timed_out(test_timeout_s)
        return EvalResult(
            resolved=False,
            applied=True,
            error_class="timeout",
            detail=f"tests ran past {test_timeout_s:g} s and were killed",
            log_path=str(log.path),
        )
    log.end_tests()
    grade = grade_log(instance, log.path, request.fail_to_pass)
    if not grade.log_complete:
        detail = "the test log has no complete test output"
    elif not grade.tests:
        detail = "no test results in the log: the test command could not start or collect"
    else:
        detail = summary(grade)
    return EvalResult(
        resolved=grade.resolved,
        applied=True,
        detail="; ".join([detail, *notes]),
        tests=grade.tests,
        fail_to_pass=grade.fail_to_pass,
        pass_to_pass=grade.pass_to_pass,
        log_path=str(log.path),
    )
