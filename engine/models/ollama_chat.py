"""The ollama provider, through the ollama package's async client, streaming.

Usage comes from Ollama's ``prompt_eval_count`` and ``eval_count`` on the final (``done``) message;
Ollama leaves ``prompt_eval_count`` out when the whole prompt was served from its cache, and then the
input is counted with the tokenizer and marked estimated. Local models cost exactly 0.

As with every provider, one call is one request, classified on failure; retries belong to the
accounting wrapper.
"""

from __future__ import annotations

import json
import time
from typing import Any, Unpack

import anyio
import httpx
import ollama
from pydantic import BaseModel, ConfigDict, Field

from .base import CallContext, Completion, Message, ProviderError, Sampling, Usage, sampling_options
from .catalog import DEFAULT_OLLAMA_URL, ModelEntry
from .tokens import estimate_usage


class OllamaConfig(BaseModel):
    """``options:`` of an ollama model in config/models.yaml."""

    model_config = ConfigDict(extra="forbid")

    num_ctx: int | None = Field(
        default=None, ge=1, description="Context length Ollama allocates. Its default (2048-4096 tokens, by "
        "version) silently cuts long prompts, so set it for agent work.",
    )
    keep_alive: str | None = Field(
        default=None, description="How long Ollama keeps the model loaded after a call, e.g. '30m'.",
    )
    model_options: dict[str, Any] = Field(
        default_factory=dict, description="Other Ollama model options (seed, top_p, repeat_penalty, ...).",
    )


def _response_error(exc: ollama.ResponseError) -> ProviderError:
    status = exc.status_code
    message = f"ollama: {exc.error}"
    if status == 429:
        return ProviderError("rate_limit", message, status=status)
    if status == -1 or status >= 500:  # -1: an error object inside a 200 stream
        return ProviderError("infra", message, status=status if status > 0 else None)
    if status == 404:
        return ProviderError("infra", f"{message} (is the model pulled? `ollama pull NAME`)", status=status, retryable=False)
    if status in (400, 413, 422):
        return ProviderError("model_format", f"request refused: {message}", status=status, retryable=False)
    return ProviderError("infra", message, status=status, retryable=False)


class OllamaModel:
    Config = OllamaConfig
    #: The final message counts both sides (a prompt answered from Ollama's cache may lack its count).
    reports_usage = True

    def __init__(self, entry: ModelEntry, config: OllamaConfig | None = None, *, api_key: str | None = None):
        self.entry = entry
        self.model_id = entry.id
        self.config = config or OllamaConfig()
        self.host = entry.base_url or DEFAULT_OLLAMA_URL
        t = entry.timeouts
        self._client = ollama.AsyncClient(
            host=self.host,
            timeout=httpx.Timeout(t.read_s, connect=t.connect_s),
            headers={"authorization": f"Bearer {api_key}"} if api_key else None,
        )

    def _options(self, sampling: Sampling) -> dict[str, Any]:
        options = dict(self.config.model_options)
        if self.config.num_ctx:
            options["num_ctx"] = self.config.num_ctx
        return {**options, **sampling_options(sampling, max_tokens_key="num_predict")}

    async def complete(
        self, messages: list[Message], *, context: CallContext | None = None, **sampling: Unpack[Sampling]
    ) -> Completion:
        began = time.monotonic()
        ttft: float | None = None
        parts: list[str] = []
        final: ollama.ChatResponse | None = None
        try:
            with anyio.fail_after(self.entry.timeouts.total_s):
                stream = await self._client.chat(
                    model=self.entry.name,
                    messages=[m.model_dump() for m in messages],
                    stream=True,
                    options=self._options(sampling),
                    keep_alive=self.config.keep_alive,
                )
                async for part in stream:
                    piece = part.message.content if part.message else None
                    if piece:
                        ttft = ttft if ttft is not None else time.monotonic() - began
                        parts.append(piece)
                    if part.done:
                        final = part
        except ollama.ResponseError as exc:
            raise _response_error(exc) from None
        except json.JSONDecodeError as exc:  # the server's envelope, cut or broken: not the model's doing
            raise ProviderError("infra", f"unparseable line in the ollama stream (truncated?): {exc}") from None
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ProviderError("infra", f"ollama did not answer in time ({type(exc).__name__})") from None
        except (ConnectionError, httpx.ConnectError) as exc:
            raise ProviderError("infra", f"cannot connect to ollama at {self.host}: {exc}") from None
        except httpx.TransportError as exc:
            raise ProviderError("infra", f"connection dropped: {type(exc).__name__}: {exc}") from None
        if final is None:
            raise ProviderError("infra", "the ollama stream ended before its done message (truncated)")
        text = "".join(parts)
        usage = self._usage(final, messages, text)
        return Completion(
            text=text, usage=usage, cost_usd=self.entry.cost(usage), latency_s=time.monotonic() - began,
            ttft_s=ttft, model_id=self.model_id, provider=self.entry.account_name, finish_reason=final.done_reason,
        )

    @staticmethod
    def _usage(final: ollama.ChatResponse, messages: list[Message], text: str) -> Usage:
        if final.prompt_eval_count is not None and final.eval_count is not None:
            return Usage(input_tokens=final.prompt_eval_count, output_tokens=final.eval_count)
        return estimate_usage(messages, text, input_tokens=final.prompt_eval_count, output_tokens=final.eval_count)

    async def preflight(self) -> list[str]:
        """Reachability (Ollama's /api/tags) and whether the model is pulled."""
        try:
            with anyio.fail_after(5):
                tags = await self._client.list()
        except (TimeoutError, ConnectionError, httpx.HTTPError, ollama.ResponseError) as exc:
            return [f"ollama at {self.host} is unreachable: {type(exc).__name__}: {exc} (start it with `ollama serve`)"]
        names = {m.model for m in tags.models if m.model}
        wanted = self.entry.name
        if wanted not in names and f"{wanted}:latest" not in names:
            return [f"ollama at {self.host} does not have {wanted!r}: run `ollama pull {wanted}`"]
        return []

    async def aclose(self) -> None:
        await self._client.close()
