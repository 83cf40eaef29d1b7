"""Any agent that speaks OpenAI, run as a shell command in the attempt's sandbox: ``--agent command``.

``agents.command.command`` runs in the checkout with a gateway (engine/models/gateway.py) serving the
run's model on 127.0.0.1 for this attempt alone. The command's environment says where:

- ``OPENAI_BASE_URL`` (and ``OPENAI_API_BASE``), ``OPENAI_API_KEY`` (a random key for this attempt),
  ``OPENAI_MODEL`` (the run's ``--model``);
- ``RAMP_INSTANCE_ID``, ``RAMP_RUN_ID``, ``RAMP_ATTEMPT``, and ``RAMP_PROBLEM_FILE``, a file holding
  the problem statement (outside the checkout, so it is never part of the patch).

So SWE-agent, OpenHands, Aider or a script run under Ramp without Ramp knowing their insides, and
every call they make is accounted, limited and budgeted like Ramp's own agents' (an ``llm_calls`` row
of the attempt). The patch is the checkout's diff when the command ends; its output is the attempt's
``command.log``; each call is a step of the trajectory. The time limit is ``timeout_s`` or the run's
``max_wall_s``, whichever is smaller. The sandbox must be the local one: a container cannot reach the
host's loopback gateway.
"""

from __future__ import annotations

import shlex
import time

from pydantic import BaseModel, ConfigDict, Field

from ..core.artifacts import atomic_write
from ..core.errors import ConfigError
from ..models.base import CallContext, Completion, Message, Model
from ..models.gateway import Gateway
from ..sandbox.base import Sandbox
from ..sandbox.local import LocalSandbox
from .base import AgentBase, AgentReporter, AgentResult, AgentTask, ExitStatus
from .session import Trajectory

#: How much of the command's output the step summary and the trajectory quote.
OUTPUT_TAIL_CHARS = 4000


class CommandConfig(BaseModel):
    """``agents.command`` in config/ramp.yaml."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(
        default="", description="The shell command that runs the agent, in the checkout (bash -c).",
    )
    timeout_s: float = Field(default=1800.0, gt=0, description="Wall-time limit of the command, in seconds.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the command (never credentials: "
        "the gateway key is the only one it needs).",
    )


class CommandAgent(AgentBase):
    """Implements agents.base.Agent for an outside agent behind the model gateway."""

    name = "command"
    Config = CommandConfig
    config: CommandConfig

    def __init__(self, config: CommandConfig | None = None):
        super().__init__(config)
        if not self.config.command.strip():
            raise ConfigError(
                "agent command needs its command: set agents.command.command in the config, e.g. "
                "'python my_agent.py' (it runs in the checkout with OPENAI_BASE_URL and OPENAI_API_KEY set)",
                field="agents.command.command",
            )

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Model, reporter: AgentReporter) -> AgentResult:
        if not isinstance(sandbox, LocalSandbox):
            return AgentResult(patch=None, exit_status="error", error_class="infra", detail=(
                "agent command needs the local sandbox (run.sandbox: local): a container cannot reach the "
                "gateway on the host's loopback"))
        attempt_dir = task.trajectory_path.parent if task.trajectory_path else None
        trajectory = Trajectory(task.trajectory_path, {"agent": self.name, "command": self.config.command,
                                                       "instance_id": task.instance.instance_id})
        trajectory.save()

        async def on_call(messages: list[Message], completion: Completion) -> None:
            index = len(trajectory.data["steps"])
            trajectory.messages.extend([m.model_dump() for m in messages[-1:]])
            trajectory.messages.append({"role": "assistant", "content": completion.text})
            trajectory.data["steps"].append({
                "index": index, "request_messages": len(messages), "reply": completion.text[:2000],
                "input_tokens": completion.usage.input_tokens, "output_tokens": completion.usage.output_tokens,
                "cost_usd": completion.cost_usd,
            })
            trajectory.save()
            await reporter.step(index, f"model call {index + 1}: {completion.usage.output_tokens} tokens out")

        context = CallContext(run_id=task.run_id, instance_id=task.instance.instance_id, attempt=task.attempt)
        wall = task.budgets.max_wall_s
        timeout = min(self.config.timeout_s, wall) if wall else self.config.timeout_s
        problem = attempt_dir / "problem.md" if attempt_dir else sandbox.root.parent / f"{sandbox.root.name}.problem.md"
        atomic_write(problem, task.instance.problem_statement)
        began = time.monotonic()
        async with Gateway(model, context=context, model_name=model.model_id, on_call=on_call) as gateway:
            env = {
                **self.config.env,
                "OPENAI_BASE_URL": gateway.base_url, "OPENAI_API_BASE": gateway.base_url,
                "OPENAI_API_KEY": gateway.key, "OPENAI_MODEL": model.model_id,
                "RAMP_INSTANCE_ID": task.instance.instance_id, "RAMP_RUN_ID": task.run_id,
                "RAMP_ATTEMPT": str(task.attempt), "RAMP_PROBLEM_FILE": str(problem),
            }
            await reporter.sub_state("act", self.config.command[:120])
            exports = "".join(f"export {name}={shlex.quote(value)}; " for name, value in env.items())
            result = await sandbox.run(exports + self.config.command, timeout=timeout)
        seconds = time.monotonic() - began
        if attempt_dir is not None:
            atomic_write(attempt_dir / "command.log", result.output)
        await reporter.sub_state("submit")
        patch = await sandbox.diff()
        outcome = "timed out" if result.timed_out else f"exit code {result.exit_code}"
        trajectory.data["result"] = {"exit_code": result.exit_code, "timed_out": result.timed_out,
                                     "seconds": round(seconds, 3), "calls": gateway.calls,
                                     "output_tail": result.output[-OUTPUT_TAIL_CHARS:]}
        trajectory.save()
        await reporter.step(len(trajectory.data["steps"]), f"command ended: {outcome} after {seconds:.1f}s, "
                                                           f"{gateway.calls} model call(s), {len(patch)} bytes of patch")
        status: ExitStatus = "submitted" if patch.strip() else "no_patch"
        if result.timed_out:
            status = "budget_exhausted"  # the patch so far is graded, as for any agent out of time
        return AgentResult(patch=patch, exit_status=status, steps=gateway.calls,
                           detail=f"command {outcome}",
                           trajectory_path=str(task.trajectory_path) if task.trajectory_path else None)
