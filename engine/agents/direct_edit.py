"""The direct-edit agent: localize, read whole files, ask for search/replace edits, test, repeat.

This is the loop from the plan Ramp grew from, and a strong baseline for cheap models: no tool use,
no shell, one structured reply per round. Each round the model sends edit blocks; they are applied
all-or-nothing; the tests the agent may see run in the sandbox; their failures (test ids and trimmed
assertions) and the current content of the edited files go back to the model. It ends when the
tests pass (after an optional LLM judge agrees), when the rounds are used up, when it is stuck (the
same edits, or the same failure, a second time), when the model keeps answering in the wrong format
(error class ``model_format``), or at a budget. Whatever the workspace holds then is the patch.

Sub-states reported (shown under ``agent``): localize, read, edit, test, judge, submit.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.feedback import is_test_path
from ..datasets.rows import SWEInstance, family_row
from ..models.base import Completion, Message, Model
from ..sandbox.base import Sandbox
from . import prompts
from .base import AgentBase, AgentReporter, AgentResult, AgentTask
from .edits import Edit, EditFormatError, apply_edits, parse_edits
from .localize import Candidate, rank_files
from .session import FormatGiveUp, Session, Stuck, Submitted
from .testing import TestReport, TestRunner


class DirectEditConfig(BaseModel):
    """Options of the direct-edit agent (``agents.direct-edit`` in the config)."""

    model_config = ConfigDict(extra="forbid")

    max_rounds: int = Field(default=4, ge=1, description="Edit-and-test rounds before the patch is submitted as it is.")
    max_files: int = Field(default=4, ge=1, description="Files read in full and shown to the model.")
    max_file_chars: int = Field(default=40_000, ge=1, description="Files longer than this are named but not shown.")
    max_context_chars: int = Field(default=80_000, ge=1, description="Total characters of file content shown at once.")
    extensions: list[str] = Field(
        default_factory=lambda: [".py", ".pyi", ".json", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".txt", ".rst"],
        description="File types considered when localizing.",
    )
    localize_with_model: bool = Field(
        default=False, description="Ask the model to pick the files from the ranked candidates (one extra call)."
    )
    candidates_shown: int = Field(default=15, ge=1, description="Ranked candidates offered when the model picks files.")
    run_tests: bool = Field(default=True, description="Run the visible tests after each round of edits.")
    test_command: str = Field(
        default="PYTHONDONTWRITEBYTECODE=1 python -m pytest -rA -p no:cacheprovider {tests}",
        description="Shell command run in the sandbox; {tests} becomes the quoted test files or ids.",
    )
    test_timeout_s: float = Field(default=300.0, gt=0, description="Limit of one test run.")
    max_test_files: int = Field(default=5, ge=1, description="Existing test files run for the edited files.")
    feedback_chars: int = Field(default=4000, ge=200, description="Test feedback sent back to the model, at most.")
    lines_per_failure: int = Field(default=12, ge=1, description="Traceback lines kept per failing test.")
    max_format_errors: int = Field(
        default=3, ge=1, description="Malformed replies in a row tolerated; the last ends the attempt (model_format)."
    )
    judge: bool = Field(default=False, description="Ask the model to review the patch before submitting it.")
    max_reply_tokens: int | None = Field(default=4096, ge=1, description="max_tokens of each model call.")
    temperature: float | None = Field(default=0.0, ge=0, description="Sampling temperature; None leaves the provider's.")
    wall_reserve_s: float = Field(
        default=15.0, ge=0, description="Stop this long before the wall-time budget, to hand the patch back in time."
    )


class DirectEditAgent(AgentBase):
    """Implements agents.base.Agent."""

    name = "direct-edit"
    Config = DirectEditConfig
    config: DirectEditConfig

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Model, reporter: AgentReporter) -> AgentResult:
        session = Session(self.name, task, model, reporter, config=self.config.model_dump(),
                          wall_reserve_s=self.config.wall_reserve_s)
        return await session.conclude(sandbox, lambda: _Loop(self.config, session, task, sandbox).run())


def _edit_key(edits: list[Edit]) -> tuple[Any, ...]:
    return tuple((e.path, e.search, e.replace) for e in edits)


class _Loop:
    """One attempt's state: what was shown, edited, seen and tried."""

    def __init__(self, config: DirectEditConfig, session: Session, task: AgentTask, sandbox: Sandbox):
        self.cfg = config
        self.s = session
        self.task = task
        self.sandbox = sandbox
        self.problem = task.instance.problem_statement
        self.edited: set[str] = set()
        self.tests = TestRunner(
            sandbox, config.test_command, public_tests=task.public_tests, test_patch=family_row(task.instance, SWEInstance, "the direct-edit agent").test_patch,
            max_test_files=config.max_test_files, max_chars=config.feedback_chars,
            lines_per_failure=config.lines_per_failure,
        )

    async def ask(self, messages: list[Message], purpose: str) -> Completion:
        return await self.s.ask(messages, purpose=purpose, max_tokens=self.cfg.max_reply_tokens,
                                temperature=self.cfg.temperature)

    async def run(self) -> None:
        chosen, others = await self.localize()
        await self.s.sub_state("read", ", ".join(chosen))
        files, skipped = await self.read(chosen)
        await self.s.record(f"read {len(files)} file(s)", action={"read": list(files)}, observation={"skipped": skipped})
        shown = "".join(prompts.FILE_SHOWN.format(path=p, content=c) for p, c in files.items())
        more = [*skipped, *others]
        self.s.say("system", prompts.DIRECT_SYSTEM)
        self.s.say("user", prompts.DIRECT_TASK.format(
            problem=self.problem, files=shown or "(none found)\n",
            others=prompts.OTHER_FILES.format(paths=", ".join(more)) if more else "",
        ))
        await self.rounds()

    # -- localize and read ----------------------------------------------------------------------

    async def localize(self) -> tuple[list[str], list[str]]:
        """The files to show, and a few more worth naming."""
        await self.s.sub_state("localize")
        files = await self.sandbox.list_files()
        ranked = await rank_files(self.sandbox, self.problem, files, tuple(self.cfg.extensions))
        if not ranked:  # no evidence at all: the library's own source files, in path order
            ranked = [Candidate(p) for p in files if p.endswith(".py") and not is_test_path(p)]
        paths = [c.path for c in ranked]
        chosen = paths[: self.cfg.max_files]
        completion = None
        if self.cfg.localize_with_model and ranked:
            offered = ranked[: self.cfg.candidates_shown]
            completion = await self.ask([Message(role="user", content=prompts.LOCALIZE.format(
                problem=self.problem, limit=self.cfg.max_files,
                candidates="\n".join(f"- {c.path}" for c in offered),
            ))], purpose="localize")
            picked = [p for p in _paths_in(completion.text) if p in paths]
            chosen = list(dict.fromkeys(picked + chosen))[: self.cfg.max_files]
        await self.s.record(
            "localized: " + ", ".join(chosen), completion=completion,
            action={"ranked": [{"path": c.path, "score": round(c.score, 2), "why": c.reasons} for c in ranked[:20]]},
            observation={"chosen": chosen},
        )
        return chosen, [p for p in paths if p not in chosen][:5]

    async def read(self, paths: list[str]) -> tuple[dict[str, str], list[str]]:
        """Whole files within the size limits; the names of those left out."""
        files: dict[str, str] = {}
        skipped: list[str] = []
        total = 0
        for path in paths:
            try:
                content = await self.sandbox.read_file(path)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue
            if len(content) > self.cfg.max_file_chars or total + len(content) > self.cfg.max_context_chars:
                skipped.append(path)
                continue
            files[path] = content
            total += len(content)
        return files, skipped

    # -- the edit loop --------------------------------------------------------------------------

    async def next_edits(self) -> tuple[Completion, list[Edit]]:
        """The model's next well-formed reply; malformed ones get a format correction."""
        malformed = 0
        while True:
            completion = await self.ask(self.s.messages, "edit")
            self.s.say("assistant", completion.text)
            try:
                return completion, parse_edits(completion.text)
            except EditFormatError as exc:
                malformed += 1
                await self.s.record(f"malformed reply ({malformed}/{self.cfg.max_format_errors}): {exc}",
                                    completion=completion, observation=str(exc))
                if malformed >= self.cfg.max_format_errors:
                    raise FormatGiveUp(f"{malformed} malformed replies in a row; the last: {exc}") from None
                self.s.say("user", prompts.FORMAT_CORRECTION.format(error=exc, format=prompts.EDIT_FORMAT))

    async def rounds(self) -> None:
        seen_edits: set[tuple[Any, ...]] = set()
        seen_failures: set[str] = set()
        for number in range(1, self.cfg.max_rounds + 1):
            await self.s.sub_state("edit", f"round {number}")
            completion, edits = await self.next_edits()
            action = [{"path": e.path, "search": "\n".join(e.search), "replace": "\n".join(e.replace)} for e in edits]
            if _edit_key(edits) in seen_edits:
                await self.s.record("the same edits as before", completion=completion, action=action)
                raise Stuck("the model sent the same edits a second time")
            seen_edits.add(_edit_key(edits))
            changed, failures = await apply_edits(self.sandbox, edits)
            if failures:
                text = "\n".join(f.message for f in failures)
                await self.s.record(f"{len(failures)} of {len(edits)} edit(s) did not apply", completion=completion,
                                    action=action, observation=text)
                self.s.say("user", prompts.EDITS_NOT_APPLIED.format(failures=text))
                continue
            self.edited.update(changed)
            report = await self.test()
            await self.s.record(
                f"edited {', '.join(changed)}; tests: {_verdict(report)}", completion=completion,
                action=action, observation={"command": report.command, "feedback": report.feedback,
                                            "failing": report.failing},
            )
            if report.passed or not report.ran:
                reason = await self.judge(report) if self.cfg.judge else None
                if reason is None:
                    raise Submitted(f"round {number}: {_verdict(report)}")
                self.s.say("user", prompts.JUDGE_REJECTED.format(
                    paths=", ".join(sorted(self.edited)), tests=_verdict(report), reason=reason))
                continue
            if report.signature in seen_failures:
                raise Stuck(f"round {number}: the same test failure as an earlier round")
            seen_failures.add(report.signature)
            self.s.say("user", prompts.TESTS_FAILED.format(
                paths=", ".join(changed), feedback=report.feedback, files=await self.current_files(),
            ))
        raise Submitted(f"all {self.cfg.max_rounds} rounds used; submitted as it is")

    async def test(self) -> TestReport:
        if not self.cfg.run_tests:
            return TestReport(command="", ran=False, feedback="tests are off")
        await self.s.sub_state("test", ", ".join(sorted(self.edited)))
        left = self.s.remaining_s()
        timeout = self.cfg.test_timeout_s if left is None else max(1.0, min(self.cfg.test_timeout_s, left))
        return await self.tests.run(sorted(self.edited), timeout)

    async def current_files(self) -> str:
        out = []
        for path in sorted(self.edited):
            content = await self.sandbox.read_file(path)
            if len(content) <= self.cfg.max_file_chars:
                out.append(prompts.FILE_SHOWN.format(path=path, content=content))
        return "".join(out)

    async def judge(self, report: TestReport) -> str | None:
        """None when the judge accepts (or says nothing usable), else its reason to reject."""
        await self.s.sub_state("judge")
        patch = await self.sandbox.diff()
        completion = await self.ask([
            Message(role="system", content=prompts.JUDGE_SYSTEM),
            Message(role="user", content=prompts.JUDGE_TASK.format(
                problem=self.problem, patch=patch, tests=_verdict(report))),
        ], purpose="judge")
        first = next((line.strip() for line in completion.text.splitlines() if line.strip()), "")
        reason = None
        if first.upper().startswith("REJECT"):
            reason = first[len("REJECT"):].lstrip(" :-") or "no reason given"
        summary = f"judge: rejected: {reason}" if reason else "judge: accepted"
        if reason is None and not first.upper().startswith("ACCEPT"):
            summary = "judge: no verdict, treated as accepted"
        await self.s.record(summary, completion=completion, observation={"verdict": first[:200]})
        return reason


def _paths_in(text: str) -> list[str]:
    return [line.strip().strip("`*-• ").strip() for line in text.splitlines() if line.strip()]


def _verdict(report: TestReport) -> str:
    if not report.ran:
        return report.feedback or "no tests run"
    if report.passed:
        return f"{report.passed_count} passed"
    return f"{len(report.failing)} failed, {report.passed_count} passed"
