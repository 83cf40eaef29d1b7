"""The bash agent: one shell command per turn, in the manner of mini-swe-agent.

The model sees the issue, replies with a thought and exactly one ```bash block; the command runs in
the sandbox (fresh shell, repository root, timeout) and its output comes back, head and tail kept
when it is long. The model submits by running ``echo RAMP_SUBMIT`` (the sentinel as the first line
of output); the patch is the sandbox's diff. A reply without exactly one block gets a format
correction; too many in a row end the attempt with error class ``model_format``. The same command
with the same output several times in a row means the model is stuck, and ends it too.

Why so little machinery: mini-swe-agent showed that a plain shell loop with a linear history is a
strong, easily reproduced baseline; everything it does is visible in the trajectory.

Sub-states reported (shown under ``agent``): think (waiting for the model), act (running the command),
submit.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from ..models.base import Model
from ..sandbox.base import Sandbox
from . import prompts
from .base import AgentBase, AgentReporter, AgentResult, AgentTask
from .session import FormatGiveUp, Session, Stuck, Submitted

_BLOCK = re.compile(r"```bash[ \t]*\n(.*?)\n?```", re.S)


class BashConfig(BaseModel):
    """Options of the bash agent (``agents.bash`` in the config)."""

    model_config = ConfigDict(extra="forbid")

    command_timeout_s: float = Field(default=60.0, gt=0, description="Limit of one command; it is killed after.")
    max_output_chars: int = Field(
        default=10_000, ge=200, description="Longer output is cut to its head and tail, half of this each."
    )
    sentinel: str = Field(
        default="RAMP_SUBMIT", min_length=3, description="A command whose output starts with this line submits."
    )
    max_format_errors: int = Field(
        default=3, ge=1, description="Malformed replies in a row tolerated; the last ends the attempt (model_format)."
    )
    repeat_limit: int = Field(
        default=3, ge=2, description="The same command with the same output this many times in a row ends it (stuck)."
    )
    max_reply_tokens: int | None = Field(default=2048, ge=1, description="max_tokens of each model call.")
    temperature: float | None = Field(default=0.0, ge=0, description="Sampling temperature; None leaves the provider's.")
    wall_reserve_s: float = Field(
        default=15.0, ge=0, description="Stop this long before the wall-time budget, to hand the patch back in time."
    )


def truncate(output: str, limit: int) -> str:
    """Keep the head and the tail of long output, saying how much was left out."""
    if len(output) <= limit:
        return output
    half = limit // 2
    return f"{output[:half]}\n[... {len(output) - 2 * half} characters left out ...]\n{output[-half:]}"


class BashAgent(AgentBase):
    """Implements agents.base.Agent."""

    name = "bash"
    Config = BashConfig
    config: BashConfig

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Model, reporter: AgentReporter) -> AgentResult:
        session = Session(self.name, task, model, reporter, config=self.config.model_dump(),
                          wall_reserve_s=self.config.wall_reserve_s)
        return await session.conclude(sandbox, lambda: self._loop(session, task, sandbox))

    async def _loop(self, s: Session, task: AgentTask, sandbox: Sandbox) -> None:
        cfg = self.config
        s.say("system", prompts.BASH_SYSTEM.format(
            workdir=sandbox.workdir, timeout=cfg.command_timeout_s, sentinel=cfg.sentinel))
        s.say("user", prompts.BASH_TASK.format(problem=task.instance.problem_statement))
        malformed = 0
        previous: tuple[str, str] | None = None
        repeats = 0
        while True:
            await s.sub_state("think")
            completion = await s.ask(s.messages, purpose="agent", max_tokens=cfg.max_reply_tokens,
                                     temperature=cfg.temperature)
            s.say("assistant", completion.text)
            blocks = _BLOCK.findall(completion.text)
            if len(blocks) != 1:
                malformed += 1
                note = f"{len(blocks)} bash blocks"
                await s.record(f"malformed reply ({malformed}/{cfg.max_format_errors}): {note}",
                               completion=completion, observation=note)
                if malformed >= cfg.max_format_errors:
                    raise FormatGiveUp(f"{malformed} malformed replies in a row; the last had {note}")
                s.say("user", prompts.BASH_FORMAT_CORRECTION.format(count=len(blocks), sentinel=cfg.sentinel))
                continue
            malformed = 0
            command = blocks[0].strip()
            await s.sub_state("act", command.splitlines()[0][:120] if command else "")
            left = s.remaining_s()
            timeout = cfg.command_timeout_s if left is None else max(1.0, min(cfg.command_timeout_s, left))
            result = await sandbox.run(command, timeout=timeout)
            output = truncate(result.output, cfg.max_output_chars)
            lines = result.output.lstrip().splitlines()
            if lines and lines[0].strip() == cfg.sentinel:
                await s.record("submitted", completion=completion, action=command, observation=output)
                raise Submitted("the model submitted")
            if result.timed_out:
                observation = prompts.BASH_TIMEOUT.format(timeout=timeout, output=output)
            else:
                observation = prompts.BASH_OBSERVATION.format(exit_code=result.exit_code, output=output)
            await s.record(f"$ {command.splitlines()[0][:200] if command else ''} -> {result.exit_code}",
                           completion=completion, action=command, observation=observation,
                           exit_code=result.exit_code, duration_s=round(result.duration_s, 3))
            repeats = repeats + 1 if previous == (command, result.output) else 1
            previous = (command, result.output)
            if repeats >= cfg.repeat_limit:
                raise Stuck(f"the same command with the same output {repeats} times in a row")
            s.say("user", observation)
