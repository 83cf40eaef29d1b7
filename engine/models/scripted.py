"""The scripted provider: deterministic replies for tests and the offline demo.

It answers from a list of replies (in order), from rules (the first regex that matches the last user
message), from a YAML script file holding either, or from a callable ``f(messages, context) -> str``
(sync or async; it may raise :class:`engine.core.errors.AttemptError` to rehearse failures). It goes
through the same accounting as a real model: usage is counted with the tokenizer and marked
estimated (or, with ``usage:``, reported as a provider that counts its own tokens does), and the
cost is exactly 0. Replies arrive whole, so there is no time to first token.
"""

from __future__ import annotations

import importlib
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Unpack

import anyio
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.errors import AttemptError, ConfigError
from .base import CallContext, Completion, Message, Sampling, Usage
from .catalog import ModelEntry
from .tokens import estimate_usage

Responder = Callable[[list[Message], CallContext], "str | Awaitable[str]"]


class ScriptRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: str = Field(description="Regular expression searched in the last user message.")
    reply: str = Field(description="The reply when it matches.")


class ScriptedUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_tokens: int = Field(ge=0, description="Prompt tokens reported for every call.")
    output_tokens: int = Field(ge=0, description="Reply tokens reported for every call.")


class ScriptedConfig(BaseModel):
    """``options:`` of a scripted model in config/models.yaml."""

    model_config = ConfigDict(extra="forbid")

    replies: list[str] = Field(default_factory=list, description="Replies given in order, one per call.")
    cycle: bool = Field(
        default=False, description="Start the replies over when they run out (otherwise that is a "
        "model_format error, so a test notices an unexpected extra call).",
    )
    rules: list[ScriptRule] = Field(
        default_factory=list, description="Checked before the replies: the first rule matching the last "
        "user message answers.",
    )
    default: str | None = Field(default=None, description="The reply when no rule matches and no replies are left.")
    script: Path | None = Field(
        default=None, description="A YAML file with replies, rules and default, for scripts too long "
        "for the catalog. Relative paths are relative to the working directory.",
    )
    callable: str | None = Field(
        default=None, description="'module:function' called as f(messages, context) -> str; overrides the rest.",
    )
    delay_s: float = Field(default=0.0, ge=0, description="Pretend latency per call, so the demo has a pace.")
    usage: ScriptedUsage | None = Field(
        default=None, description="Usage every reply reports, as a provider that counts its own tokens "
        "does: nothing is counted here, and no tokenizer is loaded for it. Without it, usage is counted "
        "with the tokenizer and marked estimated, as for a provider that reports none.",
    )

    @model_validator(mode="after")
    def _load_script(self) -> ScriptedConfig:
        if self.script is None:
            return self
        try:
            data = yaml.safe_load(self.script.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read script {self.script}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"script {self.script} must be a mapping with replies, rules or default")
        try:
            loaded = ScriptedConfig.model_validate({k: v for k, v in data.items() if k != "script"})
        except ValidationError as exc:
            raise ValueError(f"script {self.script}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        self.replies = self.replies + loaded.replies
        self.rules = self.rules + loaded.rules
        self.default = self.default if self.default is not None else loaded.default
        return self


def _import(path: str) -> Responder:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import scripted callable {path!r}: {exc}", field="options.callable") from None


class ScriptedModel:
    """A Model that answers from a script. Build it from the catalog or with :meth:`of`."""

    Config = ScriptedConfig

    def __init__(self, entry: ModelEntry, config: ScriptedConfig | None = None, *, api_key: str | None = None):
        self.entry = entry
        self.model_id = entry.id
        self.config = config or ScriptedConfig()
        self._respond: Responder | None = _import(self.config.callable) if self.config.callable else None
        self.reports_usage = self.config.usage is not None
        self._next = 0
        #: Every prompt it was sent, for tests that check what an agent asked.
        self.calls: list[list[Message]] = []

    @classmethod
    def of(cls, script: list[str] | Responder, model_id: str = "scripted", **options: Any) -> ScriptedModel:
        """A scripted model from a list of replies or a callable, without a catalog entry."""
        entry = ModelEntry(id=model_id, provider="scripted")
        if callable(script):
            model = cls(entry, ScriptedConfig(**options))
            model._respond = script
            return model
        return cls(entry, ScriptedConfig(replies=list(script), **options))

    def _scripted_reply(self, messages: list[Message]) -> str:
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        for rule in self.config.rules:
            if re.search(rule.when, last_user):
                return rule.reply
        replies = self.config.replies
        if self._next < len(replies) or (self.config.cycle and replies):
            reply = replies[self._next % len(replies)]
            self._next += 1
            return reply
        if self.config.default is not None:
            return self.config.default
        raise AttemptError("model_format", f"scripted model {self.model_id!r} ran out of replies after {self._next}")

    async def complete(
        self, messages: list[Message], *, context: CallContext | None = None, **sampling: Unpack[Sampling]
    ) -> Completion:
        began = time.monotonic()
        self.calls.append(list(messages))
        if self.config.delay_s:
            await anyio.sleep(self.config.delay_s)
        if self._respond is not None:
            text = self._respond(list(messages), context or CallContext())
            if inspect.isawaitable(text):
                text = await text
        else:
            text = self._scripted_reply(messages)
        latency = time.monotonic() - began
        reported = self.config.usage
        usage = (Usage(input_tokens=reported.input_tokens, output_tokens=reported.output_tokens) if reported
                 else estimate_usage(messages, str(text)))  # fmt: skip
        return Completion(
            text=str(text), usage=usage, cost_usd=self.entry.cost(usage), latency_s=latency, ttft_s=None,
            model_id=self.model_id, provider=self.entry.account_name, finish_reason="stop",
        )

    async def preflight(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None
