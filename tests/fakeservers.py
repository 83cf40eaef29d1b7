"""Real HTTP servers on 127.0.0.1 for the provider tests: OpenAI-compatible and Ollama-compatible.

Each server listens on a random free port, in its own thread and asyncio loop (so it works the same
under sync and async tests), speaks enough HTTP/1.1 for httpx (Content-Length requests, chunked
streaming replies, ``Connection: close``), replays scripted replies in order, and logs every request
it received. Faults are scripted replies too: a status with Retry-After, a reply slower than the
client's timeout, a dropped connection, a stream cut mid-body, unparseable JSON, a 200 with no choices.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.core.events import EventBase
from engine.core.secrets import Redactor, Secrets
from engine.models.base import CallContext
from engine.models.cache import ResponseCache
from engine.models.catalog import parse_catalog
from engine.models.factory import RunModels
from engine.store import Store

DEFAULT_USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}

#: Retries and timeouts short enough for a fast suite; tests override what they measure.
FAST: dict[str, Any] = {
    "retry": {"max_retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.02, "failure_cap": 50, "cooldown_s": 60},
    "timeouts": {"connect_s": 2.0, "read_s": 0.3, "total_s": 5.0},
}


@dataclass
class Reply:
    """One scripted answer. ``kind``: ok, status, drop, truncate, bad_json, no_choices, stream_error."""

    kind: str = "ok"
    text: str = "hello from the fake server"
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0


def ok(text: str = "hello from the fake server", *, usage: dict[str, Any] | None | str = "default",
       delay_s: float = 0.0, chunk_delay_s: float = 0.0) -> Reply:
    return Reply(text=text, usage=dict(DEFAULT_USAGE) if usage == "default" else usage,  # type: ignore[arg-type]
                 delay_s=delay_s, chunk_delay_s=chunk_delay_s)


def status(code: int, body: str = "", *, retry_after: str | None = None, delay_s: float = 0.0) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(kind="status", status=code, body=body or json.dumps({"error": {"message": f"status {code}"}}),
                 headers=headers, delay_s=delay_s)


def slow(seconds: float) -> Reply:
    return Reply(delay_s=seconds)


def drop() -> Reply:
    return Reply(kind="drop")


def truncated() -> Reply:
    return Reply(kind="truncate")


def interrupted() -> Reply:
    """A generation the server stopped (llama.cpp's server, when another request arrives): some
    words, then [DONE] with no finish_reason."""
    return Reply(kind="interrupted")


def bad_json() -> Reply:
    return Reply(kind="bad_json")


def no_choices() -> Reply:
    return Reply(kind="no_choices")


def stream_error(code: int) -> Reply:
    """A 200 stream that carries an error object, as OpenRouter sends when an upstream fails."""
    return Reply(kind="stream_error", status=code)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received: float
    concurrent: int = 0
    answered: float | None = None


class FakeServer:
    """Base: the socket, the request log and the reply script. Subclasses answer the routes."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: deque[Reply] = deque()
        self.default = ok()
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> FakeServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -- HTTP --------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            request = Request(method, path, headers, json.loads(raw) if raw else None, time.monotonic())
            self.requests.append(request)
            self.in_flight += 1
            request.concurrent = self.in_flight
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await self.answer(request, writer)
                await writer.drain()
            finally:
                self.in_flight -= 1
                request.answered = time.monotonic()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def next_reply(self) -> Reply:
        return self.replies.popleft() if self.replies else self.default

    @staticmethod
    def echo(reply: Reply, request: Request) -> Reply:
        """Replace ``{authorization}`` in a reply with the request's header, as careless servers do."""
        auth = request.headers.get("authorization", "")
        return replace(reply, text=reply.text.replace("{authorization}", auth),
                       body=reply.body.replace("{authorization}", auth))

    @staticmethod
    def head(writer: asyncio.StreamWriter, code: int, content_type: str, extra: dict[str, str] | None = None,
             length: int | None = None) -> None:
        lines = [f"HTTP/1.1 {code} X", f"Content-Type: {content_type}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    @staticmethod
    async def chunk(writer: asyncio.StreamWriter, data: str, delay_s: float = 0.0) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        payload = data.encode()
        writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        await writer.drain()

    def whole(self, writer: asyncio.StreamWriter, code: int, body: str, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.head(writer, code, content_type, headers, length=len(body.encode()))
        writer.write(body.encode())

    async def answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class OpenAIServer(FakeServer):
    """``/v1/chat/completions`` (SSE or JSON) and ``/v1/models``."""

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    async def answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/v1/models":
            self.whole(writer, 200, json.dumps({"object": "list", "data": [{"id": "fake-model"}]}))
            return
        if request.path != "/v1/chat/completions":
            self.whole(writer, 404, json.dumps({"error": {"message": "not found"}}))
            return
        reply = self.echo(self.next_reply(), request)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.kind == "drop":
            return
        if reply.kind == "status":
            self.whole(writer, reply.status, reply.body, reply.headers)
            return
        body = request.body or {}
        if not body.get("stream"):
            self._whole_reply(writer, reply)
            return
        self.head(writer, 200, "text/event-stream")

        async def event(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            await self.chunk(writer, f"data: {text}\n\n", reply.chunk_delay_s)

        def delta(content: str | None, finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}
            return {"id": "c1", "object": "chat.completion.chunk", "choices": [choice]}

        if reply.kind == "no_choices":
            await event({"id": "c1", "object": "chat.completion.chunk", "choices": []})
        elif reply.kind == "bad_json":
            await event('{"id": "c1", "choices": [{"delta": {"content": "hel')
        elif reply.kind == "stream_error":
            await event(delta(""))
            await event({"error": {"code": reply.status, "message": reply.body or "upstream failed"}})
        else:
            await event(delta(""))
            words = reply.text.split(" ")
            for i, word in enumerate(words):
                await event(delta(word if i == 0 else " " + word))
            if reply.kind == "truncate":
                writer.transport.abort()  # mid-body: no final chunk, no [DONE]
                return
            if reply.kind != "interrupted":
                await event(delta(None, "stop"))
            if reply.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
                await event({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": reply.usage})
        await event("[DONE]")
        writer.write(b"0\r\n\r\n")

    def _whole_reply(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.kind == "bad_json":
            self.whole(writer, 200, '{"choices": [{"message": {"content": "hel')
            return
        choices = [] if reply.kind == "no_choices" else [
            {"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}
        ]
        data: dict[str, Any] = {"id": "c1", "object": "chat.completion", "choices": choices}
        if reply.usage is not None:
            data["usage"] = reply.usage
        self.whole(writer, 200, json.dumps(data))


class OllamaServer(FakeServer):
    """``/api/chat`` (NDJSON streaming) and ``/api/tags``."""

    def __init__(self, models: tuple[str, ...] = ("llama3.1:8b",)) -> None:
        super().__init__()
        self.models = models

    async def answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/api/tags":
            tags = [{"name": m, "model": m, "size": 1, "digest": "d"} for m in self.models]
            self.whole(writer, 200, json.dumps({"models": tags}))
            return
        if request.path != "/api/chat":
            self.whole(writer, 404, json.dumps({"error": "not found"}))
            return
        reply = self.next_reply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.kind == "drop":
            return
        if reply.kind == "status":
            self.whole(writer, reply.status, reply.body or json.dumps({"error": f"status {reply.status}"}), reply.headers)
            return
        model = (request.body or {}).get("model", "")
        self.head(writer, 200, "application/x-ndjson")

        async def line(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            await self.chunk(writer, text + "\n", reply.chunk_delay_s)

        def part(content: str, done: bool = False) -> dict[str, Any]:
            return {"model": model, "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": content}, "done": done}

        if reply.kind == "bad_json":
            await line('{"model": "x", "message": {"content": "hel')
        else:
            for i, word in enumerate(reply.text.split(" ")):
                await line(part(word if i == 0 else " " + word))
            if reply.kind == "truncate":
                writer.transport.abort()
                return
            final = {**part("", done=True), "done_reason": "stop"}
            if reply.usage is not None:
                final |= {"prompt_eval_count": reply.usage["prompt_tokens"], "eval_count": reply.usage["completion_tokens"]}
            await line(final)
        writer.write(b"0\r\n\r\n")


class Harness:
    """A store, a catalog of test models, and the run's RunModels, as one async context.

    The run has one instance with one started attempt (:data:`CTX`), so usage lands on a real row.
    Every event the models emit is appended to the store and kept in ``events``.
    """

    RUN = "run-1"
    CTX = CallContext(run_id=RUN, instance_id="inst-1", attempt=1)

    def __init__(self, tmp_path: Path, models: dict[str, dict[str, Any]], *, budget_usd: float | None = None,
                 environ: dict[str, str] | None = None, credentials: str = "", cache: str = "off"):
        self.tmp_path = tmp_path
        self.cache_mode = cache
        self.raw_models = models
        self.budget_usd = budget_usd
        self.environ = environ or {}
        self.credentials = credentials
        self.events: list[EventBase] = []

    async def __aenter__(self) -> Harness:
        self.tmp_path.mkdir(parents=True, exist_ok=True)
        secrets_file = self.tmp_path / "credentials.txt"
        secrets_file.write_text(self.credentials)
        self.secrets = Secrets.load(secrets_file, self.environ)
        self.redact = Redactor.for_secrets(self.secrets)
        self.catalog = parse_catalog({"models": self.raw_models}, self.tmp_path / "models.yaml")
        self.store = await Store(self.tmp_path / "ramp.sqlite", redact=self.redact).open()
        if await self.store.get_run(self.RUN) is None:
            await self.store.create_run(self.RUN, config={}, meta={})
            await self.store.add_instances(self.RUN, [("inst-1", "owner/repo", 0, 0)])
            await self.store.start_attempt(self.RUN, "inst-1", 1)
        cache = None
        if self.cache_mode != "off":
            cache = ResponseCache(self.tmp_path / "llm-cache.sqlite", self.cache_mode, redact=self.redact)  # type: ignore[arg-type]
        self.models = RunModels(self.catalog, self.secrets, store=self.store, run_id=self.RUN,
                                budget_usd=self.budget_usd, emit=self._emit, redact=self.redact, cache=cache)
        return self

    async def _emit(self, event: EventBase) -> None:
        await self.store.append(event)
        self.events.append(event)

    async def __aexit__(self, *exc: object) -> None:
        await self.models.aclose()
        await self.store.close()

    def alerts(self) -> list[str]:
        return [e.message for e in self.events if e.kind == "alert"]  # type: ignore[attr-defined]

    async def rows(self) -> list[dict[str, Any]]:
        return await self.store.llm_calls(self.RUN)

    async def attempt(self) -> dict[str, Any]:
        return (await self.store.attempts(self.RUN, "inst-1"))[0]


def openai_entry(server: OpenAIServer, **fields: Any) -> dict[str, Any]:
    return {"provider": "openai-compatible", "base_url": server.url, "name": "fake-model",
            "price": {"input": 0.5, "output": 1.5}, **FAST, **fields}


def ollama_entry(server: OllamaServer, **fields: Any) -> dict[str, Any]:
    return {"provider": "ollama", "base_url": server.root, "name": "llama3.1:8b", "local": True, **FAST, **fields}
