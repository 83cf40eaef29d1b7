"""The model interface: messages in, a completion out.

A completion carries the text, the usage (input, output and cached tokens, and whether they were
estimated with a tokenizer because the provider gave none), the cost in USD, the latency of the whole
call and the time to first token.

A provider (engine/models/openai_compat.py, ollama_chat.py, scripted.py) makes exactly one request
per call and raises a classified :class:`ProviderError` when it fails. The accounting wrapper
(engine/models/accounting.py), which is what agents are handed, retries what is transient, limits,
budgets and records every request, and raises :class:`engine.core.errors.AttemptError` with a class
(rate_limit, infra, model_format, budget) once its retries are spent, so the scheduler retries only
what is retryable and never scores an infrastructure failure as a model failure. Whatever the
provider does wrong (it hangs past its timeouts, drops the connection, cuts a body or a stream, sends
a reply with no choices, answers 5xx) is ``infra``: ``timeout`` is the agent's own wall-clock limit,
and ``model_format`` is for what the model wrote, or a request the provider refused as too long.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict, Unpack, runtime_checkable

from pydantic import BaseModel, Field

from ..core.errors import AttemptError, ErrorClass


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ProviderError(AttemptError):
    """One request failed, classified. Carries what the retry loop needs to decide what to do next.

    ``retry_after`` is the provider's Retry-After, in seconds, when it sent one; ``retryable`` is
    False for failures that another identical request cannot fix (a rejected key, an unknown model,
    a prompt longer than the context window), even when their class is retryable at the attempt level.
    """

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(error_class, message)
        self.retry_after = retry_after
        self.status = status
        self._retryable = retryable

    @property
    def retryable(self) -> bool:
        return super().retryable if self._retryable is None else self._retryable


class SpendLimitReached(AttemptError):
    """The run budget or a provider's daily call quota refused a call before it was sent.

    Not the attempt's fault, and not an agent's own per-attempt budget (those end the attempt with
    error class ``budget`` too): this one means the run must stop starting attempts.
    """

    def __init__(self, message: str):
        super().__init__("budget", message)


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


class Sampling(TypedDict, total=False):
    """How a reply is sampled: the keyword options of :meth:`Model.complete`, one list for every
    provider (each sends the ones set, under its own names)."""

    max_tokens: int | None
    temperature: float | None
    stop: list[str] | None


def sampling_options(sampling: Sampling, *, max_tokens_key: str = "max_tokens") -> dict[str, Any]:
    """The options that are set, as a provider's request names them (``max_tokens`` is
    ``num_predict`` for Ollama); an empty stop list is not sent."""
    options: dict[str, Any] = {}
    if sampling.get("max_tokens") is not None:
        options[max_tokens_key] = sampling["max_tokens"]
    if sampling.get("temperature") is not None:
        options["temperature"] = sampling["temperature"]
    if sampling.get("stop"):
        options["stop"] = sampling["stop"]
    return options


@runtime_checkable
class Model(Protocol):
    """A model provider. An implementation may also say ``reports_usage = True`` when its replies
    normally carry the provider's own token counts: the accounting then loads no tokenizer for it
    (one still loads, once, if a reply comes back without counts and they must be estimated)."""

    model_id: str

    async def complete(
        self, messages: list[Message], *, context: CallContext | None = None, **sampling: Unpack[Sampling]
    ) -> Completion: ...

    async def aclose(self) -> None:
        """Release connections; called once when the run ends."""
        ...
