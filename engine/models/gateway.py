"""An OpenAI-compatible endpoint on 127.0.0.1 in front of one of Ramp's models.

Agents Ramp does not know the insides of (SWE-agent, OpenHands, Aider, a script with the ``openai``
client) speak to it as to any OpenAI server: ``POST /v1/chat/completions`` (streamed or not) and
``GET /v1/models``. Every call goes through the model it was given, which for a run is the accounted
model: the same ledger, limits, budgets, retries and redaction as Ramp's own agents, each call an
``llm_calls`` row of the attempt the gateway serves (its :class:`CallContext`).

A random key is required (``Authorization: Bearer KEY``), so that no other local process can spend
the run's budget. Errors come back in OpenAI's shape: a rate limit is 429 (clients retry it), a
budget stop 403 (they must not), a provider failure 502, a bad request 400.

The HTTP side is the standard library's threading server in a worker thread; each request is handed
to the event loop through a blocking portal, so the model runs where the run's other calls run.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal

from ..core.errors import AttemptError
from .base import CallContext, Completion, Message, Model, Sampling, SpendLimitReached

#: The largest request body accepted (a prompt of a few hundred thousand tokens fits).
MAX_BODY_BYTES = 16 * 2**20
#: Called after each answered request: the request's messages and the completion.
OnCall = Callable[[list[Message], Completion], Awaitable[None]]


class GatewayError(Exception):
    def __init__(self, status: int, message: str, kind: str):
        super().__init__(message)
        self.status, self.kind = status, kind


def _messages(body: dict[str, Any]) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise GatewayError(400, "messages must be a non-empty list", "invalid_request_error")
    if body.get("tools") or body.get("functions"):
        raise GatewayError(400, "tool calling is not supported by Ramp's gateway: send plain messages",
                           "invalid_request_error")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("system", "user", "assistant"):
            raise GatewayError(400, f"messages[{i}]: role must be system, user or assistant", "invalid_request_error")
        content = item.get("content")
        if isinstance(content, list):  # content parts: the text ones, joined
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise GatewayError(400, f"messages[{i}]: content must be text", "invalid_request_error")
        out.append(Message(role=item["role"], content=content))
    return out


def _sampling(body: dict[str, Any]) -> Sampling:
    sampling: Sampling = {}
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if tokens is not None:
        if not isinstance(tokens, int) or tokens <= 0:
            raise GatewayError(400, "max_tokens must be a positive integer", "invalid_request_error")
        sampling["max_tokens"] = tokens
    if body.get("temperature") is not None:
        if not isinstance(body["temperature"], int | float):
            raise GatewayError(400, "temperature must be a number", "invalid_request_error")
        sampling["temperature"] = float(body["temperature"])
    stop = body.get("stop")
    if stop is not None:
        sampling["stop"] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    return sampling


def _failure(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, SpendLimitReached):
        return GatewayError(403, f"budget: {exc}", "budget_exceeded")
    if isinstance(exc, AttemptError):
        if exc.error_class == "rate_limit":
            return GatewayError(429, str(exc), "rate_limit_exceeded")
        if exc.error_class == "model_format":
            return GatewayError(400, str(exc), "invalid_request_error")
        return GatewayError(502, f"{exc.error_class}: {exc}", "api_error")
    return GatewayError(500, f"{type(exc).__name__}: {exc}", "api_error")


def completion_body(completion: Completion, model_name: str, call_id: str) -> dict[str, Any]:
    usage = completion.usage
    return {
        "id": call_id, "object": "chat.completion", "created": int(time.time()), "model": model_name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                     "finish_reason": completion.finish_reason or "stop"}],
        "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                  "total_tokens": usage.input_tokens + usage.output_tokens},
    }


def stream_chunks(body: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A whole completion as the chunks of a stream: the text, then the finish (then the usage)."""
    choice = body["choices"][0]
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": choice["message"]["content"]},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": body["usage"]})
    return chunks


class Gateway:
    """``async with Gateway(model, ...) as gw:`` serves ``model`` at ``gw.base_url`` with ``gw.key``."""

    def __init__(self, model: Model, *, context: CallContext, model_name: str, on_call: OnCall | None = None,
                 port: int = 0):
        self.port = port
        self.model = model
        self.context = context
        self.model_name = model_name
        self.on_call = on_call
        self.key = "ramp-" + secrets.token_urlsafe(24)
        self.calls = 0
        self._portal: BlockingPortal | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the gateway is not serving"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    async def complete(self, messages: list[Message], sampling: Sampling) -> Completion:
        completion = await self.model.complete(messages, context=self.context, **sampling)
        self.calls += 1
        if self.on_call is not None:
            await self.on_call(messages, completion)
        return completion

    async def __aenter__(self) -> Gateway:
        self._portal = BlockingPortal()
        await self._portal.__aenter__()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self, self._portal))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ramp-gateway", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        server, portal = self._server, self._portal
        self._server = self._portal = None
        if server is not None:
            with anyio.CancelScope(shield=True):  # a cancelled attempt still frees its port
                await anyio.to_thread.run_sync(server.shutdown)
            server.server_close()
        if portal is not None:  # its task group is exited in the task that entered it, unshielded
            await portal.__aexit__(None, None, None)


def _handler(gateway: Gateway, portal: BlockingPortal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # requests are accounted in llm_calls, not printed

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: GatewayError) -> None:
            self._send(error.status, {"error": {"message": str(error), "type": error.kind, "code": error.kind}})

        def _authorized(self) -> bool:
            if self.headers.get("authorization", "") == f"Bearer {gateway.key}":
                return True
            self._error(GatewayError(401, "missing or wrong API key (use the OPENAI_API_KEY Ramp set)",
                                     "invalid_api_key"))
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if not self._authorized():
                return
            if self.path.rstrip("/") not in ("/v1/models", "/models"):
                return self._error(GatewayError(404, f"no route {self.path}", "not_found"))
            self._send(200, {"object": "list", "data": [
                {"id": gateway.model_name, "object": "model", "created": 0, "owned_by": "ramp"},
            ]})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if not self._authorized():
                return
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._error(GatewayError(404, f"no route {self.path}", "not_found"))
            try:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    raise GatewayError(413, f"request body over {MAX_BODY_BYTES // 2**20} MB", "invalid_request_error")
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise GatewayError(400, f"body is not JSON: {exc}", "invalid_request_error") from None
                if not isinstance(body, dict):
                    raise GatewayError(400, "body must be a JSON object", "invalid_request_error")
                messages, sampling = _messages(body), _sampling(body)
                completion = portal.call(gateway.complete, messages, sampling)
            except Exception as exc:  # every failure is an answer in OpenAI's shape, never a dropped socket
                return self._error(_failure(exc))
            reply = completion_body(completion, gateway.model_name, f"chatcmpl-ramp-{gateway.calls}")
            if not body.get("stream"):
                return self._send(200, reply)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for chunk in stream_chunks(reply, include_usage):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    return Handler
