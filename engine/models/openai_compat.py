"""The openai-compatible provider, over httpx: OpenRouter, Chutes, vLLM, llama.cpp's server, LiteLLM.

It streams (SSE) so that time to first token is measured, asks for usage in the final chunk
(``stream_options.include_usage``), and takes the provider's own charge when it reports one
(OpenRouter's ``usage.cost``) rather than recomputing it from list prices.

One call of :meth:`OpenAICompatModel.complete` is exactly one HTTP request. It never retries: it
classifies what went wrong as a :class:`ProviderError` (with Retry-After when given), and the
accounting wrapper decides whether to try again, so that every request is counted once.
"""

from __future__ import annotations

import json
import time
from typing import Any, Unpack

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, Field

from .base import CallContext, Completion, Message, ProviderError, Sampling, Usage, sampling_options
from .catalog import ModelEntry
from .limits import parse_retry_after
from .tokens import estimate_usage

#: Status codes another identical request may fix, and their class. A provider that is slow, busy
#: or broken is infrastructure: its faults are never scored against the model (``timeout`` is kept
#: for the agent's own wall-clock limit, which is the agent's doing).
_TRANSIENT = {408: "infra", 409: "infra", 425: "infra", 429: "rate_limit"}
#: Refusals about the request itself: the prompt, not the endpoint (too long, malformed).
_REQUEST_FAULT = {400, 413, 422}


class OpenAICompatConfig(BaseModel):
    """``options:`` of an openai-compatible model in config/models.yaml."""

    model_config = ConfigDict(extra="forbid")

    stream: bool = Field(
        default=True, description="Stream with SSE so time to first token is measured; turn off only for "
        "a server that cannot stream.",
    )
    include_usage: bool = Field(
        default=True, description="Send stream_options.include_usage so usage arrives in the last chunk. "
        "A few old servers reject the field.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra non-secret headers, e.g. OpenRouter's HTTP-Referer and X-Title.",
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields for every request, e.g. OpenRouter's provider routing.",
    )


def _http_error(status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")[:300]
    message = f"HTTP {status}: {text or '(empty body)'}"
    if status in _TRANSIENT:
        return ProviderError(
            _TRANSIENT[status], message, status=status,  # type: ignore[arg-type]
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if status >= 500:
        return ProviderError("infra", message, status=status, retry_after=parse_retry_after(headers.get("retry-after")))
    if status in _REQUEST_FAULT:
        return ProviderError("model_format", f"request refused: {message}", status=status, retryable=False)
    hint = " (check the API key and the model name)" if status in (401, 402, 403, 404) else ""
    return ProviderError("infra", message + hint, status=status, retryable=False)


def _stream_error(error: Any) -> ProviderError:
    """An error object sent inside a 200 stream (OpenRouter does this when an upstream fails)."""
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message", error) if isinstance(error, dict) else error
    status = code if isinstance(code, int) else 502
    if status == 429:
        return ProviderError("rate_limit", f"error in stream: {message}", status=status)
    if status >= 500:
        return ProviderError("infra", f"error in stream: {message}", status=status)
    return ProviderError("model_format", f"error in stream: {message}", status=status, retryable=False)


class _Reply:
    """What a response has said so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.saw_choices = False
        self.ttft: float | None = None

    def add_choice(self, choice: dict[str, Any], piece: str | None, began: float | None) -> None:
        """``began`` is None for a reply read whole: there is no first token to time."""
        self.saw_choices = True
        if piece:
            if self.ttft is None and began is not None:
                self.ttft = time.monotonic() - began
            self.parts.append(piece)
        self.finish_reason = choice.get("finish_reason") or self.finish_reason


class OpenAICompatModel:
    Config = OpenAICompatConfig

    def __init__(self, entry: ModelEntry, config: OpenAICompatConfig | None = None, *, api_key: str | None = None):
        self.entry = entry
        self.model_id = entry.id
        self.config = config or OpenAICompatConfig()
        #: A reply carries usage unless it is streamed without asking for it.
        self.reports_usage = not self.config.stream or self.config.include_usage
        headers = {**self.config.headers}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        t = entry.timeouts
        self._client = httpx.AsyncClient(
            base_url=(entry.base_url or "").rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(t.read_s, connect=t.connect_s),
            limits=httpx.Limits(max_connections=entry.concurrency, max_keepalive_connections=entry.concurrency),
        )

    def _body(self, messages: list[Message], sampling: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.entry.name,
            "messages": [m.model_dump() for m in messages],
            "stream": self.config.stream,
        }
        if self.config.stream and self.config.include_usage:
            body["stream_options"] = {"include_usage": True}
        return {**body, **sampling_options(sampling), **self.config.extra_body}

    async def complete(
        self, messages: list[Message], *, context: CallContext | None = None, **sampling: Unpack[Sampling]
    ) -> Completion:
        began = time.monotonic()
        reply = _Reply()
        try:
            with anyio.fail_after(self.entry.timeouts.total_s):
                async with self._client.stream(
                    "POST", "chat/completions", json=self._body(messages, sampling)
                ) as response:
                    if response.status_code != 200:
                        raise _http_error(response.status_code, await response.aread(), response.headers)
                    if "text/event-stream" in response.headers.get("content-type", ""):
                        await self._read_stream(response, reply, began)
                    else:
                        self._read_whole(await response.aread(), reply)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ProviderError("infra", f"the provider did not answer in time ({type(exc).__name__})") from None
        except httpx.ConnectError as exc:
            raise ProviderError("infra", f"cannot connect to {self.entry.base_url}: {exc}") from None
        except httpx.TransportError as exc:
            raise ProviderError("infra", f"connection dropped: {type(exc).__name__}: {exc}") from None
        if not reply.saw_choices:
            raise ProviderError("infra", "the provider's reply had no choices")
        text = "".join(reply.parts)
        usage = self._usage(reply.usage, messages, text)
        reported = (reply.usage or {}).get("cost")
        cost = float(reported) if isinstance(reported, int | float) and not self.entry.local else self.entry.cost(usage)
        return Completion(
            text=text, usage=usage, cost_usd=cost, latency_s=time.monotonic() - began, ttft_s=reply.ttft,
            model_id=self.model_id, provider=self.entry.account_name, finish_reason=reply.finish_reason,
        )

    async def _read_stream(self, response: httpx.Response, reply: _Reply, began: float) -> None:
        done = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments, "event:" lines
            data = line[len("data:"):].strip()
            if data == "[DONE]":
                done = True
                break
            # The envelope is the server's, not the model's: a chunk that does not parse is a stream
            # cut mid-line or a broken server, whatever the model wrote inside it.
            try:
                chunk = json.loads(data)
            except json.JSONDecodeError:
                raise ProviderError("infra", f"unparseable stream chunk (truncated?): {data[:200]!r}") from None
            if not isinstance(chunk, dict):
                raise ProviderError("infra", f"stream chunk is not an object: {data[:200]!r}")
            if chunk.get("error"):
                raise _stream_error(chunk["error"])
            for choice in chunk.get("choices") or []:
                reply.add_choice(choice, (choice.get("delta") or {}).get("content"), began)
            if chunk.get("usage"):
                reply.usage = chunk["usage"]
        if reply.finish_reason is None:
            # Every complete generation ends with a finish_reason. [DONE] without one is a generation
            # the server stopped (llama.cpp's server interrupts one when another request arrives).
            raise ProviderError("infra", "the stream ended without a finish_reason (truncated, or the server "
                                f"stopped the generation{' before [DONE]' if not done else ''})")

    def _read_whole(self, raw: bytes, reply: _Reply) -> None:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            text = raw[:200].decode("utf-8", "replace")
            raise ProviderError("infra", f"unparseable JSON reply (truncated?): {text!r}") from None
        if not isinstance(data, dict):
            raise ProviderError("infra", "the reply is not a JSON object")
        if data.get("error"):
            raise _stream_error(data["error"])
        for choice in data.get("choices") or []:
            reply.add_choice(choice, (choice.get("message") or {}).get("content"), None)
        reply.usage = data.get("usage") or None

    def _usage(self, raw: dict[str, Any] | None, messages: list[Message], text: str) -> Usage:
        raw = raw or {}
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            cached = (raw.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            return Usage(input_tokens=prompt, output_tokens=completion, cached_tokens=int(cached))
        return estimate_usage(
            messages, text,
            input_tokens=prompt if isinstance(prompt, int) else None,
            output_tokens=completion if isinstance(completion, int) else None,
        )

    async def preflight(self) -> list[str]:
        """Reachability: a quick GET on ``{base_url}/models``."""
        try:
            response = await self._client.get("models", timeout=5.0)
        except httpx.HTTPError as exc:
            return [f"{self.entry.base_url} is unreachable: {type(exc).__name__}: {exc}"]
        if response.status_code in (401, 403):
            env = self.entry.api_key_env or "the key"
            return [f"{self.entry.base_url} refused the key (HTTP {response.status_code}); check {env}"]
        if response.status_code >= 500:
            return [f"{self.entry.base_url}/models answered HTTP {response.status_code}"]
        return []

    async def aclose(self) -> None:
        await self._client.aclose()
