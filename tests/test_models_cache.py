"""The LLM response cache, against a real HTTP server on 127.0.0.1: a rerun never pays for the same
call twice, a hit is still a recorded call (cached, $0, its original cost and latency kept apart),
only successful replies are kept, and the key changes with anything that changes the reply."""

from __future__ import annotations

import sqlite3

import pytest

from engine.core.errors import AttemptError
from engine.models.base import Message
from tests.fakeservers import Harness, OpenAIServer, ok, openai_entry, status

from .agenthelpers import shared_cache
from .runhelpers import db_rows, json_lines, ramp

MESSAGES = [Message(role="user", content="Which file holds the parser?")]
KEY = "sk-cache-test-0123456789abcdef"


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


async def test_a_rerun_is_answered_by_the_cache_at_no_cost(tmp_path, server):
    entry = openai_entry(server, api_key_env="FAKE_KEY", daily_call_quota=1)
    server.script(ok("parser.py, and the secret " + KEY))
    async with Harness(tmp_path / "first", {"m": entry}, cache="readwrite", credentials=f"FAKE_KEY={KEY}\n") as h:
        first = await h.models.get("m").complete(MESSAGES, temperature=0.0, context=h.CTX)
        [paid] = await h.rows()
    assert len(server.calls("/v1/chat/completions")) == 1 and paid["cache_hit"] == 0 and paid["cost_usd"] > 0

    # Another run (another store) sharing the cache file: no request reaches the server.
    cache_file = tmp_path / "first" / "llm-cache.sqlite"
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    cache_file.rename(second_dir / "llm-cache.sqlite")
    async with Harness(second_dir, {"m": entry}, cache="readwrite", credentials=f"FAKE_KEY={KEY}\n") as h:
        again = await h.models.get("m").complete(MESSAGES, temperature=0.0, context=h.CTX)
        # The daily quota (1) counts calls that reached the provider: a hit is not one of them.
        assert await h.store.calls_today(paid["provider"]) == 0
        [hit] = await h.rows()
        attempt = await h.attempt()
        [event] = [e for e in h.events if e.kind == "llm_call"]
    assert len(server.calls("/v1/chat/completions")) == 1
    # Kept redacted: the cache file never holds a credential, even one a model echoed.
    assert first.text == f"parser.py, and the secret {KEY}" and again.text == "parser.py, and the secret [REDACTED]"
    assert hit["cache_hit"] == 1 and hit["cost_usd"] == 0 and hit["saved_usd"] == pytest.approx(paid["cost_usd"])
    assert hit["original_latency_s"] == pytest.approx(paid["latency_s"]) and hit["latency_s"] < paid["latency_s"]
    assert attempt["calls"] == 1 and attempt["cost_usd"] == 0
    assert event.cache_hit and event.saved_usd == pytest.approx(paid["cost_usd"])  # type: ignore[attr-defined]
    assert KEY.encode() not in (second_dir / "llm-cache.sqlite").read_bytes()


async def test_only_successes_are_kept_and_the_key_follows_the_request(tmp_path, server):
    entry = openai_entry(server)
    server.script(status(400, "bad request"), ok("one"), ok("two"), ok("three"))
    async with Harness(tmp_path, {"m": entry}, cache="readwrite") as h:
        model = h.models.get("m")
        with pytest.raises(AttemptError):
            await model.complete(MESSAGES, context=h.CTX)
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "one"  # the failure was not kept
        assert (await model.complete(MESSAGES, temperature=0.7, context=h.CTX)).text == "two"  # another key
        other = [Message(role="user", content="Which file holds the lexer?")]
        assert (await model.complete(other, context=h.CTX)).text == "three"
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "one"  # a hit
    assert len(server.calls("/v1/chat/completions")) == 4
    kept = sqlite3.connect(tmp_path / "llm-cache.sqlite").execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert kept == 3


async def test_samples_of_one_problem_are_each_their_own_entry_and_temperature_0_is_shared(tmp_path, server):
    entry = openai_entry(server)
    server.script(ok("sample one"), ok("sample two"), ok("greedy"))
    async with Harness(tmp_path, {"m": entry}, cache="readwrite") as h:
        model = h.models.get("m")
        first, second = (h.CTX.model_copy(update={"attempt": n}) for n in (1, 2))
        assert (await model.complete(MESSAGES, temperature=0.8, context=first)).text == "sample one"
        assert (await model.complete(MESSAGES, temperature=0.8, context=second)).text == "sample two"  # pass@k
        assert (await model.complete(MESSAGES, temperature=0.8, context=first)).text == "sample one"  # a replay
        assert (await model.complete(MESSAGES, temperature=0.0, context=first)).text == "greedy"
        assert (await model.complete(MESSAGES, temperature=0.0, context=second)).text == "greedy"  # shared
    assert len(server.calls("/v1/chat/completions")) == 3


async def test_read_mode_answers_from_the_cache_but_keeps_nothing_new(tmp_path, server):
    entry = openai_entry(server)
    server.script(ok("kept"), ok("fresh"), ok("fresh again"))
    async with Harness(tmp_path, {"m": entry}, cache="readwrite") as h:
        await h.models.get("m").complete(MESSAGES, context=h.CTX)
    async with Harness(tmp_path, {"m": entry}, cache="read") as h:
        model = h.models.get("m")
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "kept"
        other = [Message(role="user", content="something else")]
        assert (await model.complete(other, context=h.CTX)).text == "fresh"
        assert (await model.complete(other, context=h.CTX)).text == "fresh again"  # not kept: asked again
    assert len(server.calls("/v1/chat/completions")) == 3


@pytest.mark.slow
def test_the_demo_twice_with_the_cache_replays_every_call_at_no_cost(tmp_path):
    runs = tmp_path / "runs"
    outs = []
    for run_id in ("demo-a", "demo-b"):
        out = ramp(["demo", "--headless", "--json", "--auto-approve", "--runs-dir", str(runs), "--run-id", run_id],
                   cache_dir=shared_cache(), RAMP_RUN__CACHE="readwrite")
        assert out.returncode == 0, out.stderr[-3000:]
        outs.append(json_lines(out.stdout)[-1])
    first, second = outs
    assert second["outcomes"] == first["outcomes"]
    calls = {r["run_id"]: r for r in db_rows(
        runs, "SELECT run_id, COUNT(*) AS n, SUM(cache_hit) AS hits, SUM(cost_usd) AS cost FROM llm_calls GROUP BY run_id")}
    assert calls["demo-a"]["hits"] == 0 and calls["demo-a"]["n"] > 0
    assert calls["demo-b"]["hits"] == calls["demo-b"]["n"] == calls["demo-a"]["n"]
    assert calls["demo-b"]["cost"] == 0
    assert second["metrics"]["cached_calls"] == calls["demo-b"]["n"]


def test_the_live_view_counts_cache_hits_apart_from_the_providers_latency():
    from engine.core.events import LLMCall
    from engine.results.runview import RunView

    view = RunView("r")
    view.apply(LLMCall(run_id="r", model_id="m", provider="p", cost_usd=0.002, latency_s=3.0))
    view.apply(LLMCall(run_id="r", model_id="m", provider="p", cost_usd=0.0, latency_s=0.001,
                       cache_hit=True, saved_usd=0.002, original_latency_s=3.0))  # fmt: skip
    counters = view.counters()
    assert counters.calls == 2 and counters.cached_calls == 1 and counters.cache_saved_usd == 0.002
    assert counters.cost_usd == 0.002 and counters.latency_p50_s == 3.0
