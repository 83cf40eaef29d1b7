"""The ollama provider (the ollama package's async client) against a real NDJSON server on 127.0.0.1."""

from __future__ import annotations

import pytest

from engine.core.errors import AttemptError
from engine.models.base import Message
from engine.models.factory import model_checks
from engine.models.tokens import count_messages
from tests.fakeservers import (
    FAST,
    Harness,
    OllamaServer,
    bad_json,
    drop,
    ok,
    ollama_entry,
    slow,
    status,
    truncated,
)

MESSAGES = [Message(role="user", content="Write a haiku about tests.")]
CHAT = "/api/chat"


@pytest.fixture
def server():
    with OllamaServer() as running:
        yield running


async def test_streamed_call_takes_usage_from_eval_counts_and_costs_exactly_zero(tmp_path, server):
    server.script(ok("green bars at dawn", chunk_delay_s=0.03))
    entry = ollama_entry(server, options={"num_ctx": 8192, "keep_alive": "5m"})
    async with Harness(tmp_path, {"llama": entry}, budget_usd=0.0) as h:
        done = await h.models.get("llama").complete(MESSAGES, max_tokens=32, temperature=0.2, stop=["\n\n"], context=h.CTX)
        [row] = await h.rows()
    assert done.text == "green bars at dawn"
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.estimated) == (12, 5, False)
    assert done.cost_usd == 0.0 and type(done.cost_usd) is float and row["cost_usd"] == 0.0
    assert 0.03 <= done.ttft_s < done.latency_s and done.finish_reason == "stop"
    body = server.calls(CHAT)[0].body
    assert body["model"] == "llama3.1:8b" and body["stream"] is True and body["keep_alive"] == "5m"
    assert body["options"] == {"num_ctx": 8192, "num_predict": 32, "temperature": 0.2, "stop": ["\n\n"]}


async def test_missing_eval_counts_are_estimated(tmp_path, server):
    server.script(ok("cached prompt", usage=None))
    async with Harness(tmp_path, {"llama": ollama_entry(server)}) as h:
        done = await h.models.get("llama").complete(MESSAGES, context=h.CTX)
    assert done.usage.estimated and done.usage.input_tokens == count_messages(MESSAGES)


async def test_server_errors_are_retried(tmp_path, server):
    server.script(status(500), truncated(), drop(), ok("recovered"))
    entry = ollama_entry(server, retry={**FAST["retry"], "max_retries": 4})
    async with Harness(tmp_path, {"llama": entry}) as h:
        done = await h.models.get("llama").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
    assert done.text == "recovered"
    assert len(server.calls(CHAT)) == len(rows) == 4
    assert [r["error_class"] for r in rows] == ["infra", "infra", "infra", None]


@pytest.mark.parametrize(("reply", "error_class", "requests"), [
    (status(429), "rate_limit", 3),
    (status(503), "infra", 3),
    (slow(0.6), "infra", 3),  # a provider that does not answer is infrastructure, never the model
    (truncated(), "infra", 3),
    (bad_json(), "infra", 3),
    (status(404, '{"error": "model \\"llama3.1:8b\\" not found, try pulling it first"}'), "infra", 1),
])
async def test_each_failure_is_classified(tmp_path, server, reply, error_class, requests):
    server.default = reply
    async with Harness(tmp_path, {"llama": ollama_entry(server)}) as h:
        with pytest.raises(AttemptError) as caught:
            await h.models.get("llama").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
    assert caught.value.error_class == error_class
    assert len(server.calls(CHAT)) == len(rows) == requests


async def test_preflight_checks_reachability_and_that_the_model_is_pulled(tmp_path, server):
    async with Harness(tmp_path, {
        "pulled": ollama_entry(server),
        "missing": ollama_entry(server, name="qwen2.5-coder:7b"),
        "down": ollama_entry(server, base_url="http://127.0.0.1:9", account="elsewhere"),
    }) as h:
        checks = await model_checks(list(h.catalog.models.values()), h.secrets, "models.yaml")
    by_name = {c.name: c for c in checks}
    assert by_name["model pulled reachability"].ok
    missing = by_name["model missing reachability"]
    assert not missing.ok and "ollama pull qwen2.5-coder:7b" in missing.detail
    down = by_name["model down reachability"]
    assert not down.ok and "unreachable" in down.detail
    assert {r.path for r in server.requests} == {"/api/tags"}
