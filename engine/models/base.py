"""The model interface: messages in, a completion out.

A completion carries the text, the usage (input, output and cached tokens, and whether they were
estimated with a tokenizer because the provider gave none), the cost in USD, the latency of the whole
call and the time to first token. Providers raise :class:`engine.errors.AttemptError` with a class
(rate_limit, timeout, infra, model_format, budget) once their own retries are spent, so the scheduler
retries only what is retryable and never scores an infrastructure failure as a model failure.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = Field(default=0, description="Input tokens served from the provider's cache.")
    estimated: bool = Field(
        default=False, description="True when counted with a tokenizer because the provider reported none."
    )


class Completion(BaseModel):
    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(
        default=None, description="None only for a model with no price in the catalog (flagged, never $0)."
    )
    latency_s: float = Field(default=0.0, description="From request sent to last byte received.")
    ttft_s: float | None = Field(default=None, description="Time to first token, when streamed.")
    model_id: str = ""
    provider: str = ""
    finish_reason: str | None = None


class CallContext(BaseModel):
    """Who is calling: recorded with every call so usage rolls up per attempt and per run."""

    run_id: str | None = None
    instance_id: str | None = None
    attempt: int | None = None
    purpose: str = Field(default="agent", description="agent, judge, ...")


@runtime_checkable
class Model(Protocol):
    model_id: str

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        context: CallContext | None = None,
    ) -> Completion: ...
