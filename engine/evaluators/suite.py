"""The suite grader: judges a custom suite task's answer with the task's own checker.

``exact`` and ``regex`` are judged in process. ``tests`` runs the task's Python with the answer
bound to ``answer``, under the same limits as code completion (completion.ProgramRunner). ``judge``
asks the run's model (accounted to the attempt, purpose ``judge``) to grade the answer against the
rubric; a reply that is neither PASS nor FAIL is ``eval_flaky`` (retried), and a run without a
model (``--agent gold``) cannot use a judge: that is ``infra``, never a verdict.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from ..core.errors import AttemptError, InfraError
from ..datasets.rows import TaskRow, family_row
from ..datasets.suite import ExactChecker, JudgeChecker, RegexChecker, SuiteTask, TestsChecker
from ..models.base import CallContext, Message
from .base import EvalRequest, EvalResult
from .completion import CompletionGraderConfig, ProgramRunner, graded, log_file

JUDGE_SYSTEM = (
    "You grade an answer against a rubric. Reply with PASS or FAIL on the first line, then one "
    "sentence saying why."
)
_VERDICT = re.compile(r"^\W*(PASS|FAIL)\b", re.I)


class SuiteGraderConfig(CompletionGraderConfig):
    """Options of the suite grader (``evaluators.suite``): the limits of ``tests`` checkers."""


class SuiteGrader:
    name = "suite"
    #: Its rubric judge calls the run's model: an executor keeps its evaluations where the model is.
    asks_model = True
    Config = SuiteGraderConfig

    def __init__(self, config: SuiteGraderConfig, *, cache_dir: Path, **_: Any):
        self.runner = ProgramRunner(config, cache_dir)

    async def preflight(self, instances: list[TaskRow]) -> list[str]:
        uses_tests = any(isinstance(t, SuiteTask) and isinstance(t.checker, TestsChecker) for t in instances)
        return await self.runner.preflight() if uses_tests else []

    async def aclose(self) -> None:
        await self.runner.aclose()

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        started = time.monotonic()
        task = family_row(request.instance, SuiteTask, "the suite grader")
        answer = request.patch or ""
        check = task.FAIL_TO_PASS[0]
        checker = task.checker
        if isinstance(checker, ExactChecker):
            fold = str.casefold if checker.ignore_case else str
            passed = fold(answer.strip()) == fold(checker.expected.strip())
            return graded(check, passed, f"expected {checker.expected.strip()[:80]!r}", None, started)
        if isinstance(checker, RegexChecker):
            passed = re.search(checker.pattern, answer, re.S) is not None
            return graded(check, passed, f"no match for /{checker.pattern[:80]}/", None, started)
        log = await log_file(request)
        if isinstance(checker, TestsChecker):
            passed, why = await self.runner.run(f"answer = {answer!r}\n\n{checker.code}\n", log)
            return graded(check, passed, why, log, started)
        return await self._judge(task, checker, answer, request, log, started)

    async def _judge(self, task: SuiteTask, checker: JudgeChecker, answer: str, request: EvalRequest,
                     log: Path, started: float) -> EvalResult:
        if request.model is None:
            raise InfraError(f"{task.instance_id}: its judge checker needs a model; run with --model")
        messages = [
            Message(role="system", content=JUDGE_SYSTEM),
            Message(role="user", content=f"Rubric:\n{checker.rubric}\n\nTask:\n{task.prompt}\n\nAnswer:\n{answer}"),
        ]
        context = CallContext(run_id=request.run_id, instance_id=task.instance_id, attempt=request.attempt,
                              purpose="judge")
        reply = await request.model.complete(messages, context=context, max_tokens=128, temperature=0)
        log.write_text(f"judge reply:\n{reply.text}\n", encoding="utf-8")
        verdict = _VERDICT.match(reply.text or "")
        if verdict is None:
            raise AttemptError("eval_flaky", f"the judge replied neither PASS nor FAIL: {reply.text[:120]!r}")
        passed = verdict.group(1).upper() == "PASS"
        return graded(task.FAIL_TO_PASS[0], passed, f"the judge said FAIL: {reply.text.strip()[:200]}", log, started)
