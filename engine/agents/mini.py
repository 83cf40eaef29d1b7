"""mini-swe-agent's own agent loop, inside Ramp: ``--agent mini``.

The loop is mini-swe-agent's ``DefaultAgent`` from the ``mini-swe-agent`` package, with its SWE-bench
configuration (``config/benchmarks/swebench_backticks.yaml``: one bash block a turn, submitted with
``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT``); ``agents.mini.config`` names another file of the same
shape. Two adapters connect it to Ramp, so nothing is bypassed:

- :class:`RampMiniModel`, mini's Model protocol: every query is a call of the run's model through
  Ramp's model layer (accounting, limits, budget, redaction), an ``llm_calls`` row of the attempt;
- :class:`SandboxEnvironment`, mini's Environment protocol: every action runs in the attempt's
  sandbox (local or docker), under the configured timeout.

mini's loop is synchronous, so it runs in a worker thread and each model call and command is handed
back to the event loop. Its trajectory is mini's own format, saved after every step as the attempt's
``trajectory.json``; each step is also an ``agent_step`` event. The patch is the checkout's diff
when the loop ends. Ramp's budgets apply: ``max_steps`` is mini's step limit and the attempt's
wall-time budget its time limit; the run budget is enforced by the accounting. The configuration's
models use text actions: Ramp's model layer does not send tool calls (so mini's tool-calling
default configuration is not the one used).
"""

from __future__ import annotations

import os
import shlex
import tempfile
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import ConfigError
from ..core.yamlfile import read_yaml
from ..models.base import CallContext, Message, Model
from ..sandbox.base import Sandbox
from .base import AgentBase, AgentReporter, AgentResult, AgentTask, ExitStatus

# mini-swe-agent is imported quietly: no banner, and its global config folder (whose .env it would
# load into this process's environment) is an empty one of Ramp's, not the user's.
os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault("MSWEA_GLOBAL_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "ramp-mini-config"))
from minisweagent import package_dir  # noqa: E402
from minisweagent.agents.default import DefaultAgent  # noqa: E402
from minisweagent.exceptions import FormatError, Submitted  # noqa: E402
from minisweagent.models.utils.actions_text import format_observation_messages, parse_regex_actions  # noqa: E402

SUBMIT = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


class MiniConfig(BaseModel):
    """``agents.mini`` in config/ramp.yaml."""

    model_config = ConfigDict(extra="forbid")

    config: Path | None = Field(
        default=None, description="A mini-swe-agent config YAML (agent, environment and model sections); "
        "default: the package's config/benchmarks/swebench_backticks.yaml.",
    )
    command_timeout_s: float = Field(default=60.0, gt=0, description="Time limit of one command, in seconds.")
    max_tokens: int | None = Field(default=None, gt=0, description="max_tokens sent with every model call.")
    temperature: float | None = Field(default=None, ge=0, description="Sampling temperature of every call.")


def load_mini_config(path: Path | None) -> dict[str, Any]:
    source = path or Path(package_dir) / "config" / "benchmarks" / "swebench_backticks.yaml"
    data = read_yaml(source, missing="set agents.mini.config to a mini-swe-agent config YAML, or leave it unset")
    if not isinstance(data, dict) or not isinstance(data.get("agent"), dict):
        raise ConfigError(f"{source}: expected an 'agent' section (system_template, instance_template, ...)",
                          field="agents.mini.config")
    return data


class _Stop(Exception):
    """The attempt ended on Ramp's side (cancelled, out of time): mini's loop must stop."""


class RampMiniModel:
    """mini's Model protocol over Ramp's model layer (text actions, parsed by mini's own parser)."""

    def __init__(self, model: Model, context: CallContext, config: dict[str, Any], sampling: dict[str, Any],
                 stop: threading.Event):
        self.model, self.context, self.sampling, self.stop = model, context, sampling, stop
        self.config = _ModelSettings(**{k: v for k, v in config.items() if k in _ModelSettings.model_fields})

    def query(self, messages: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        if self.stop.is_set():
            raise _Stop("the attempt ended")
        prompt = [Message(role=m["role"] if m["role"] in ("system", "user", "assistant") else "user",
                          content=str(m.get("content") or "")) for m in messages]
        completion = anyio.from_thread.run(self._complete, prompt)
        extra = {"cost": completion.cost_usd or 0.0, "usage": completion.usage.model_dump(),
                 "finish_reason": completion.finish_reason}
        try:
            actions = parse_regex_actions(
                completion.text, action_regex=self.config.action_regex,
                format_error_template=self.config.format_error_template,
                template_kwargs={"finish_reason": completion.finish_reason or "stop"},
            )
        except FormatError as exc:
            exc.messages[0].setdefault("extra", {}).update(extra)
            raise
        return {"role": "assistant", "content": completion.text, "extra": {"actions": actions, **extra}}

    async def _complete(self, prompt: list[Message]) -> Any:
        return await self.model.complete(prompt, context=self.context, **self.sampling)

    def format_message(self, **kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)

    def format_observation_messages(
        self, message: dict[str, Any], outputs: list[dict[str, Any]], template_vars: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        return format_observation_messages(outputs, observation_template=self.config.observation_template,
                                           template_vars=template_vars)

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return {**self.config.model_dump(), "model_name": self.model.model_id, **kwargs}

    def serialize(self) -> dict[str, Any]:
        return {"info": {"config": {"model": {**self.config.model_dump(mode="json"), "model_name": self.model.model_id},
                                    "model_type": "ramp"}}}


class _ModelSettings(BaseModel):
    """The model section of a mini config that applies when Ramp is the model (the rest, such as
    model_name and model_kwargs, names litellm's and is ignored)."""

    action_regex: str = r"```mswea_bash_command\s*\n(.*?)\n```"
    format_error_template: str = "Please always provide EXACTLY ONE action in triple backticks, found {{actions|length}} actions."
    observation_template: str = "<returncode>{{output.returncode}}</returncode>\n<output>\n{{output.output}}</output>"


class SandboxEnvironment:
    """mini's Environment protocol over the attempt's sandbox."""

    def __init__(self, sandbox: Sandbox, config: dict[str, Any], timeout: float, stop: threading.Event):
        self.sandbox, self.timeout, self.stop = sandbox, timeout, stop
        self.config = _EnvSettings(cwd=sandbox.workdir, env={str(k): str(v) for k, v in (config.get("env") or {}).items()})

    def execute(self, action: dict[str, Any], cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        if self.stop.is_set():
            raise _Stop("the attempt ended")
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in self.config.env.items())
        result = anyio.from_thread.run(self._run, exports + str(action.get("command", "")), float(timeout or self.timeout))
        output = {"output": result.output, "returncode": result.exit_code,
                  "exception_info": f"the command timed out after {self.timeout:.0f}s" if result.timed_out else ""}
        lines = result.output.lstrip().splitlines(keepends=True)
        if lines and lines[0].strip() == SUBMIT and result.exit_code == 0:
            submission = "".join(lines[1:])
            raise Submitted({"role": "exit", "content": submission,
                             "extra": {"exit_status": "Submitted", "submission": submission}})
        return output

    async def _run(self, command: str, timeout: float) -> Any:
        return await self.sandbox.run(command, timeout=timeout)

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return {**self.config.model_dump(), **kwargs}

    def serialize(self) -> dict[str, Any]:
        return {"info": {"config": {"environment": self.config.model_dump(mode="json"), "environment_type": "ramp"}}}


class _EnvSettings(BaseModel):
    cwd: str
    env: dict[str, str] = Field(default_factory=dict)


class MiniAgent(AgentBase):
    """Implements agents.base.Agent with mini-swe-agent's DefaultAgent."""

    name = "mini"
    Config = MiniConfig
    config: MiniConfig

    def __init__(self, config: MiniConfig | None = None):
        super().__init__(config)
        self.mini_config = load_mini_config(self.config.config)

    async def run(self, task: AgentTask, sandbox: Sandbox, model: Model, reporter: AgentReporter) -> AgentResult:
        stop = threading.Event()
        budgets = task.budgets
        agent_config = {**self.mini_config["agent"], "output_path": task.trajectory_path,
                        "step_limit": budgets.max_steps or 0, "cost_limit": 0,
                        "wall_time_limit_seconds": int(budgets.max_wall_s or 0)}
        sampling = {k: v for k, v in (("max_tokens", self.config.max_tokens),
                                      ("temperature", self.config.temperature)) if v is not None}
        mini_model = RampMiniModel(model, CallContext(run_id=task.run_id, instance_id=task.instance.instance_id,
                                                      attempt=task.attempt),
                                   self.mini_config.get("model") or {}, sampling, stop)
        env = SandboxEnvironment(sandbox, self.mini_config.get("environment") or {}, self.config.command_timeout_s, stop)
        agent = ReportingAgent(mini_model, env, reporter=reporter, **agent_config)
        try:
            outcome = await anyio.to_thread.run_sync(agent.run, task.instance.problem_statement)
        finally:
            stop.set()
        patch = await sandbox.diff()
        exit_status = str(outcome.get("exit_status", ""))
        if exit_status in ("LimitsExceeded", "TimeExceeded"):
            status: ExitStatus = "budget_exhausted"
        elif exit_status == "RepeatedFormatError":
            return AgentResult(patch=patch, exit_status="error", error_class="model_format", steps=agent.n_calls,
                               detail="mini: the model kept answering without exactly one bash block",
                               trajectory_path=_path(task))
        else:
            status = "submitted" if patch.strip() else "no_patch"
        return AgentResult(patch=patch, exit_status=status, steps=agent.n_calls, detail=f"mini: {exit_status}",
                           trajectory_path=_path(task))


def _path(task: AgentTask) -> str | None:
    return str(task.trajectory_path) if task.trajectory_path else None


class ReportingAgent(DefaultAgent):
    """mini's DefaultAgent, reporting each step to Ramp as it happens."""

    def __init__(self, *args: Any, reporter: AgentReporter, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.reporter = reporter

    def step(self) -> list[dict[str, Any]]:
        try:
            return super().step()
        finally:
            anyio.from_thread.run(self.reporter.step, self.n_calls - 1, _summary(self.messages))


def _summary(messages: list[dict[str, Any]]) -> str:
    """The last step as one line: its command, or what ended it."""
    for message in reversed(messages):
        actions = message.get("extra", {}).get("actions") if message.get("role") == "assistant" else None
        if actions:
            command = str(actions[0].get("command", "")).strip()
            return f"$ {command.splitlines()[0][:200]}" if command else "(empty command)"
    return str(messages[-1].get("content", ""))[:200] if messages else ""
