"""The openai-compatible provider against a real SSE server on 127.0.0.1: usage, cost, latency and
TTFT; every fault classified; retries, Retry-After, AIMD and the failure cap; one row per request."""

from __future__ import annotations

import email.utils
import time

import anyio
import pytest

from engine.core.errors import AttemptError
from engine.models.base import Message
from engine.models.tokens import count_messages, count_text
from tests.fakeservers import (
    FAST,
    Harness,
    OpenAIServer,
    bad_json,
    drop,
    interrupted,
    no_choices,
    ok,
    openai_entry,
    slow,
    status,
    stream_error,
    truncated,
)

MESSAGES = [Message(role="system", content="You fix bugs."), Message(role="user", content="Fix the off-by-one.")]
CHAT = "/v1/chat/completions"


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


async def test_streamed_call_records_usage_cost_latency_and_ttft(tmp_path, server):
    server.script(ok("the fix is ready", chunk_delay_s=0.05))
    async with Harness(tmp_path, {"m": openai_entry(server, api_key_env="FAKE_API_KEY")},
                       environ={"FAKE_API_KEY": "sk-test-0123456789abcdef"}) as h:
        done = await h.models.get("m").complete(MESSAGES, max_tokens=64, temperature=0.0, context=h.CTX)
        rows = await h.rows()
        attempt = await h.attempt()
    assert done.text == "the fix is ready"
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.estimated) == (12, 5, False)
    assert done.cost_usd == pytest.approx((12 * 0.5 + 5 * 1.5) / 1e6)
    assert 0.05 <= done.ttft_s < done.latency_s
    body = server.calls(CHAT)[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "fake-model" and body["max_tokens"] == 64 and body["temperature"] == 0.0
    assert server.calls(CHAT)[0].headers["authorization"] == "Bearer sk-test-0123456789abcdef"
    [row] = rows
    assert row["status"] == "ok" and row["error_class"] is None and row["provider"] == f"127.0.0.1:{server.port}"
    assert (row["input_tokens"], row["output_tokens"], row["estimated"]) == (12, 5, 0)
    assert row["cost_usd"] == pytest.approx(done.cost_usd) and row["ttft_s"] == pytest.approx(done.ttft_s)
    assert (attempt["input_tokens"], attempt["output_tokens"], attempt["calls"]) == (12, 5, 1)
    assert [e.kind for e in h.events] == ["llm_call"]


async def test_provider_reported_cost_wins_over_list_prices(tmp_path, server):
    server.script(ok(usage={"prompt_tokens": 100, "completion_tokens": 10, "cost": 0.0123,
                            "prompt_tokens_details": {"cached_tokens": 40}}))
    async with Harness(tmp_path, {"m": openai_entry(server)}) as h:
        done = await h.models.get("m").complete(MESSAGES, context=h.CTX)
    assert done.cost_usd == 0.0123 and done.usage.cached_tokens == 40


async def test_missing_usage_is_counted_with_the_tokenizer_and_marked_estimated(tmp_path, server):
    server.script(ok("no usage here", usage=None))
    async with Harness(tmp_path, {"m": openai_entry(server)}) as h:
        done = await h.models.get("m").complete(MESSAGES, context=h.CTX)
        [row] = await h.rows()
    assert done.usage.estimated and row["estimated"] == 1
    assert done.usage.input_tokens == count_messages(MESSAGES) and done.usage.output_tokens == count_text("no usage here")


async def test_non_streaming_server_is_read_whole(tmp_path, server):
    async with Harness(tmp_path, {"m": openai_entry(server, options={"stream": False})}) as h:
        done = await h.models.get("m").complete(MESSAGES, context=h.CTX)
    assert done.text == "hello from the fake server" and done.ttft_s is None
    assert "stream_options" not in server.calls(CHAT)[0].body


async def test_transient_faults_are_retried_and_every_request_is_recorded_once(tmp_path, server):
    server.script(status(500), drop(), truncated(), slow(0.6), ok("finally"))
    entry = openai_entry(server, retry={**FAST["retry"], "max_retries": 5})
    async with Harness(tmp_path, {"m": entry}) as h:
        done = await h.models.get("m").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
        attempt = await h.attempt()
    assert done.text == "finally"
    assert len(server.calls(CHAT)) == len(rows) == attempt["calls"] == 5
    assert [(r["status"], r["error_class"]) for r in rows] == [
        ("error", "infra"), ("error", "infra"), ("error", "infra"), ("error", "infra"), ("ok", None),
    ]


@pytest.mark.parametrize(("reply", "error_class", "requests"), [
    (status(500), "infra", 3),
    (status(503, retry_after="0"), "infra", 3),
    (status(429), "rate_limit", 3),
    # A provider fault is never the model's: a hang, a cut body or a reply with no choices is infra.
    (slow(0.6), "infra", 3),
    (drop(), "infra", 3),
    (truncated(), "infra", 3),
    (interrupted(), "infra", 3),
    (bad_json(), "infra", 3),
    (no_choices(), "infra", 3),
    (status(400, "context length exceeded"), "model_format", 1),
    (status(401, "invalid key"), "infra", 1),
    (stream_error(502), "infra", 3),
    (stream_error(429), "rate_limit", 3),
    (stream_error(400), "model_format", 1),
])
async def test_each_failure_is_classified_once_retries_are_spent(tmp_path, server, reply, error_class, requests):
    server.default = reply
    async with Harness(tmp_path, {"m": openai_entry(server)}) as h:  # max_retries: 2
        with pytest.raises(AttemptError) as caught:
            await h.models.get("m").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
    assert caught.value.error_class == error_class
    assert len(server.calls(CHAT)) == len(rows) == requests
    assert {r["error_class"] for r in rows} == {error_class}


async def test_non_streaming_unparseable_json_is_a_provider_fault(tmp_path, server):
    server.default = bad_json()  # a 200 whose JSON body is cut
    async with Harness(tmp_path, {"m": openai_entry(server, options={"stream": False})}) as h:
        with pytest.raises(AttemptError) as caught:
            await h.models.get("m").complete(MESSAGES, context=h.CTX)
    assert caught.value.error_class == "infra" and "unparseable JSON" in str(caught.value)
    assert len(server.calls(CHAT)) == 3  # retried like any transient fault


@pytest.mark.parametrize("header", ["seconds", "http-date"])
async def test_retry_after_is_honoured(tmp_path, server, header):
    value = "1" if header == "seconds" else email.utils.formatdate(time.time() + 2, usegmt=True)
    server.script(status(429, retry_after=value), ok())
    async with Harness(tmp_path, {"m": openai_entry(server)}) as h:
        await h.models.get("m").complete(MESSAGES, context=h.CTX)
    first, second = server.calls(CHAT)
    waited = second.received - first.answered
    assert waited >= (0.95 if header == "seconds" else 0.9), waited  # an HTTP date has 1 s resolution


async def test_retry_after_longer_than_the_cap_fails_at_once(tmp_path, server):
    server.default = status(429, retry_after="3600")
    async with Harness(tmp_path, {"m": openai_entry(server)}) as h:
        with pytest.raises(AttemptError, match="asked to wait 3600s") as caught:
            await h.models.get("m").complete(MESSAGES, context=h.CTX)
    assert caught.value.error_class == "rate_limit" and len(server.calls(CHAT)) == 1


async def test_aimd_halves_concurrency_on_429_and_recovers(tmp_path, server):
    server.script(*[status(429, delay_s=0.15) for _ in range(4)])
    server.default = ok(delay_s=0.05)
    entry = openai_entry(server, concurrency=4, retry={**FAST["retry"], "max_retries": 3})
    async with Harness(tmp_path, {"m": entry}) as h:
        model = h.models.get("m")
        limiter = model.limits.concurrency

        async def call() -> None:
            await model.complete(MESSAGES, context=h.CTX)

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(call)
        first_wave, retries = server.calls(CHAT)[:4], server.calls(CHAT)[4:]
        assert max(r.concurrent for r in first_wave) == 4
        assert limiter.halvings == 1  # four 429s from one generation halve once: 4 -> 2
        assert max(r.concurrent for r in retries) <= 3  # regrowing from 2, never back at 4 yet
        assert limiter.limit < 4
        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(call)
        assert limiter.limit == 4.0
        assert len(server.calls(CHAT)) == len(await h.rows()) == 20


async def test_consecutive_failure_cap_trips_fails_fast_and_recovers_after_cooldown(tmp_path, server):
    server.default = status(502, "bad gateway")
    entry = openai_entry(server, retry={**FAST["retry"], "max_retries": 10, "failure_cap": 3, "cooldown_s": 0.3})
    async with Harness(tmp_path, {"m": entry}) as h:
        model = h.models.get("m")
        with pytest.raises(AttemptError, match="failing fast") as caught:
            await model.complete(MESSAGES, context=h.CTX)
        assert caught.value.error_class == "infra" and len(server.calls(CHAT)) == 3
        began = time.monotonic()
        with pytest.raises(AttemptError, match="failing fast"):
            await model.complete(MESSAGES, context=h.CTX)
        assert time.monotonic() - began < 0.1 and len(server.calls(CHAT)) == 3  # nothing sent
        assert any("failed 3 requests in a row" in a for a in h.alerts())
        await anyio.sleep(0.35)
        server.default = ok("back")
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "back"  # the probe closes it
        assert len(server.calls(CHAT)) == len(await h.rows()) == 4


async def test_no_call_lost_or_counted_twice_under_concurrent_faults(tmp_path, server):
    faults = [status(500), drop(), status(429), truncated(), ok(), bad_json(), slow(0.6), ok()]
    server.script(*(faults * 3))
    async with Harness(tmp_path, {"m": openai_entry(server, concurrency=6)}) as h:
        model = h.models.get("m")
        outcomes: list[str] = []

        async def call() -> None:
            try:
                await model.complete(MESSAGES, context=h.CTX)
                outcomes.append("ok")
            except AttemptError as exc:
                outcomes.append(exc.error_class)

        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(call)
        rows = await h.rows()
        attempt = await h.attempt()
    assert len(outcomes) == 12
    assert len(server.calls(CHAT)) == len(rows) == attempt["calls"]
    assert sum(r["status"] == "ok" for r in rows) == outcomes.count("ok")
    assert len({r["id"] for r in rows}) == len(rows)
