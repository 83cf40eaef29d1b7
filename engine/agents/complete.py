"""The ``complete`` agent: one model call per sample, for a function-completion problem or a suite task.

The messages come from a template: ``agents.complete.template`` for completion problems,
``suite_template`` for suite tasks, or ``templates.<model id>`` for a model that wants its own
wording or stop sequences. The provider cuts the reply at the first stop sequence. A suite task's
answer is the reply. For a completion problem this agent takes the code out of a fenced block if
there is one, and turns a reply that rewrote the whole function into a completion of the prompt
(the new definition follows the prompt and replaces its stub): what it submits is the candidate the
grader appends to the problem's prefix. The trajectory keeps the messages, the raw reply and the
candidate.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..datasets.completion import CompletionProblem
from ..datasets.rows import family_row
from ..datasets.suite import SuiteTask
from ..sandbox.base import Sandbox
from .base import AgentBase, AgentReporter, AgentResult, AgentTask
from .session import Session

DEFAULT_SYSTEM = (
    "You complete Python functions. Reply with the complete function in one ```python code block "
    "and nothing else."
)


class PromptTemplate(BaseModel):
    """How a problem is put to one model."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(default=DEFAULT_SYSTEM, description="System message; empty sends none.")
    user: str = Field(
        default="{prompt}",
        description="User message; {prompt} is the problem's prompt, {entry_point} its function's name.",
    )
    stop: list[str] = Field(default_factory=list, description="Stop sequences sent with the request.")

    @field_validator("system", "user")
    @classmethod
    def _fills(cls, value: str) -> str:
        try:
            value.format(prompt="", entry_point="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"has a placeholder other than {{prompt}} and {{entry_point}} ({exc!r}); "
                             "write a literal brace as {{ or }}") from None
        return value


class CompleteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=512, ge=1, description="Output tokens per sample.")
    temperature: float | None = Field(
        default=None, ge=0, description="Sampling temperature (None: the provider's default). Use > 0 "
        "with attempt_policy fixed and several attempts, for pass@k over distinct samples.",
    )
    template: PromptTemplate = Field(default_factory=PromptTemplate, description="The default template.")
    templates: dict[str, PromptTemplate] = Field(
        default_factory=dict, description="Templates by model id (config/models.yaml), replacing the default.",
    )
    suite_template: PromptTemplate = Field(
        default_factory=lambda: PromptTemplate(system=""), description="The template of suite tasks.",
    )


_FENCE_LINE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$\n?", re.M)
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


def candidate_of(reply: str, problem: CompletionProblem) -> str:
    """The code to append to the problem's prefix, from a model's reply."""
    blocks = _FENCE.findall(reply)
    code = max(blocks, key=len) if blocks else reply
    code = _FENCE_LINE.sub("", code)  # a lone fence: a closing one without its opening, say
    defines = re.search(rf"^\s*def\s+{re.escape(problem.entry_point)}\s*\(", code, re.M)
    if defines and problem.prefix:
        # The whole function again: put it after the prompt, whose stub it redefines.
        return "\n" + _dedent_to(code, defines.group(0))
    return code.rstrip() + "\n" if code.strip() else ""


def _dedent_to(code: str, definition: str) -> str:
    indent = len(definition) - len(definition.lstrip(" \t\n"))
    lines = code.splitlines()
    if indent and all(not line.strip() or line[:indent].isspace() for line in lines):
        lines = [line[indent:] for line in lines]
    return "\n".join(lines).rstrip() + "\n"


class CompleteAgent(AgentBase):
    """Asks the model once for a completion of the problem."""

    name = "complete"
    uses_sandbox = False
    Config = CompleteConfig

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Any, reporter: AgentReporter) -> AgentResult:
        config = self.config
        assert isinstance(config, CompleteConfig)
        row = task.instance
        problem = row if isinstance(row, CompletionProblem) else None
        if problem is None:
            family_row(row, SuiteTask, "the complete agent")
        default = config.template if problem is not None else config.suite_template
        template = config.templates.get(getattr(model, "model_id", ""), default)
        session = Session(self.name, task, model, reporter, config=config.model_dump(), wall_reserve_s=0)
        prompt = problem.prompt if problem is not None else row.problem_statement
        entry_point = problem.entry_point if problem is not None else ""
        if template.system:
            session.say("system", template.system.format(prompt=prompt, entry_point=entry_point))
        session.say("user", template.user.format(prompt=prompt, entry_point=entry_point))
        try:
            reply = await session.ask(session.messages, purpose="agent", max_tokens=config.max_tokens,
                                      temperature=config.temperature, stop=template.stop or None)
        except BaseException as exc:
            session.finish({"exit_status": "error", "detail": f"{type(exc).__name__}: {exc}",
                            "error_class": getattr(exc, "error_class", None)})
            raise
        candidate = candidate_of(reply.text, problem) if problem is not None else reply.text.strip()
        await session.record(f"completion of {len(candidate)} characters", completion=reply, candidate=candidate)
        result = AgentResult(
            patch=candidate, exit_status="submitted" if candidate.strip() else "no_patch", steps=1,
            trajectory_path=str(task.trajectory_path) if task.trajectory_path else None,
        )
        session.finish(result.model_dump(exclude={"trajectory_path"}))
        return result
