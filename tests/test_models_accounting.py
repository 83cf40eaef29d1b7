"""The accounting wrapper: daily quotas that survive a restart, the run budget, unpriced models, and
the scripted provider going through the same books."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from engine.core.errors import AttemptError
from engine.models.base import CallContext, Message
from engine.models.scripted import ScriptedModel
from engine.models.tokens import count_messages, count_text
from tests.fakeservers import Harness, OpenAIServer, ok, openai_entry

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = [Message(role="user", content="Please fix the failing test in parser.py.")]
QUOTA_MODEL = {"provider": "scripted", "account": "quota-acct", "daily_call_quota": 3, "options": {"default": "ok"}}


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


async def test_daily_quota_survives_a_new_process_and_stops_calls_clearly(tmp_path):
    script = textwrap.dedent(f"""
        import sys, anyio
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.fakeservers import Harness
        from engine.models.base import Message

        async def main():
            async with Harness(Path({str(tmp_path)!r}), {{"q": {QUOTA_MODEL!r}}}) as h:
                for _ in range(3):
                    await h.models.get("q").complete([Message(role="user", content="hi")], context=h.CTX)

        anyio.run(main)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    async with Harness(tmp_path, {"q": QUOTA_MODEL}) as h:
        assert await h.store.calls_today("quota-acct") == 3
        model = h.models.get("q")
        with pytest.raises(AttemptError) as caught:
            await model.complete(MESSAGES, context=h.CTX)
        assert caught.value.error_class == "budget"
        assert "daily call quota reached: quota-acct allows 3 calls per UTC day" in str(caught.value)
        assert model.inner.calls == [] and len(await h.rows()) == 3
        assert h.models.budget_stopped
        assert any("daily call quota" in a for a in h.alerts())


async def test_budget_stops_calls_before_it_would_be_crossed(tmp_path, server):
    entry = openai_entry(server, price={"input": 100.0, "output": 100.0})  # 17 tokens: $0.0017 a call
    budget = 0.006
    async with Harness(tmp_path, {"m": entry}, budget_usd=budget) as h:
        model = h.models.get("m")
        worst = (int(count_messages(MESSAGES) * 1.15) + 20) * 100.0 / 1e6
        await model.complete(MESSAGES, max_tokens=20, context=h.CTX)
        await model.complete(MESSAGES, max_tokens=20, context=h.CTX)
        spent = await h.store.run_spend(h.RUN)
        assert spent + worst > budget  # a third call could cross it...
        with pytest.raises(AttemptError) as caught:
            await model.complete(MESSAGES, max_tokens=20, context=h.CTX)
        assert len(server.calls("/v1/chat/completions")) == 2  # ...so it was never sent
        assert caught.value.error_class == "budget" and h.models.budget_stopped
        [alert] = [a for a in h.alerts() if "run budget" in a]
        assert alert.startswith("run budget $0.0060 reached: spent $0.0034") and "could cost up to" in alert
        assert await h.store.run_spend(h.RUN) <= budget


async def test_unpriced_model_is_flagged_never_free_and_refused_under_a_budget(tmp_path, server):
    entry = openai_entry(server, price=None)
    async with Harness(tmp_path, {"free?": entry}) as h:
        first = await h.models.get("free?").complete(MESSAGES, context=h.CTX)
        await h.models.get("free?").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
        alerts = [a for a in h.alerts() if "no price" in a]
    assert first.cost_usd is None and [r["cost_usd"] for r in rows] == [None, None]
    assert len(alerts) == 1 and "not $0" in alerts[0]
    async with Harness(tmp_path / "b", {"free?": entry}, budget_usd=5.0) as h:
        with pytest.raises(AttemptError, match="cannot be enforced: model free\\? has no price"):
            await h.models.get("free?").complete(MESSAGES, context=h.CTX)


async def test_scripted_model_goes_through_the_same_books(tmp_path):
    async with Harness(tmp_path, {"s": {"provider": "scripted", "options": {
        "replies": ["first", "second"], "rules": [{"when": "(?i)haiku", "reply": "five seven five"}],
    }}}) as h:
        model = h.models.get("s")
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "first"
        haiku = await model.complete([Message(role="user", content="a Haiku please")], context=h.CTX)
        assert haiku.text == "five seven five"
        assert (await model.complete(MESSAGES, context=h.CTX)).text == "second"
        with pytest.raises(AttemptError, match="ran out of replies") as caught:
            await model.complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
        attempt = await h.attempt()
    assert caught.value.error_class == "model_format"
    assert [(r["status"], r["cost_usd"], r["estimated"], r["provider"]) for r in rows] == (
        [("ok", 0.0, 1, "scripted")] * 3 + [("error", 0.0, 0, "scripted")]
    )
    assert rows[0]["input_tokens"] == count_messages(MESSAGES) and rows[0]["output_tokens"] == count_text("first")
    assert attempt["calls"] == 4


async def test_scripted_from_a_callable_or_a_script_file(tmp_path):
    seen: list[CallContext] = []

    async def respond(messages: list[Message], context: CallContext) -> str:
        seen.append(context)
        return f"echo: {messages[-1].content}"

    script = tmp_path / "script.yaml"
    script.write_text("rules:\n  - when: patch\n    reply: DIFF\ndefault: nothing to do\n")
    async with Harness(tmp_path, {"file": {"provider": "scripted", "options": {"script": str(script)}}}) as h:
        echo = h.models.wrap(ScriptedModel.of(respond, model_id="echo"))
        assert (await echo.complete(MESSAGES, context=h.CTX)).text.startswith("echo: Please fix")
        assert seen[0].instance_id == "inst-1"
        from_file = h.models.get("file")
        assert (await from_file.complete([Message(role="user", content="send a patch")])).text == "DIFF"
        assert (await from_file.complete(MESSAGES)).text == "nothing to do"
        assert len(await h.rows()) == 3


async def test_cancelled_while_waiting_for_a_slot_is_not_recorded(tmp_path, server):
    server.default = ok(delay_s=1.0)
    slow = {"connect_s": 2.0, "read_s": 5.0, "total_s": 10.0}
    async with Harness(tmp_path, {"m": openai_entry(server, concurrency=1, timeouts=slow)}) as h:
        model = h.models.get("m")
        async with anyio.create_task_group() as tg:
            tg.start_soon(model.complete, MESSAGES)
            with anyio.fail_after(10):  # the first call holds the only slot once the server has it
                while not server.calls("/v1/chat/completions"):
                    await anyio.sleep(0.01)
            with anyio.move_on_after(0.05):
                await model.complete(MESSAGES)  # waits for the only slot, then gives up
        assert len(server.calls("/v1/chat/completions")) == len(await h.rows()) == 1


async def test_budget_holds_when_the_provider_counts_far_more_tokens_than_the_estimate(tmp_path, server):
    """A provider counting 3x the local estimate once took a $0.05 budget to $0.0506: the worst case
    assumed the estimate. After its first reply the ledger uses the provider's own ratio."""
    estimate = count_messages(MESSAGES)
    server.default = ok("ok", usage={"prompt_tokens": 3 * estimate, "completion_tokens": 20,
                                     "total_tokens": 3 * estimate + 20})
    entry = openai_entry(server, price={"input": 100.0, "output": 100.0})
    budget = 0.045  # room for 6 calls of $0.0068; the estimate's worst case ($0.0038) let a 7th through
    async with Harness(tmp_path, {"m": entry}, budget_usd=budget) as h:
        model = h.models.get("m")
        with pytest.raises(AttemptError) as caught:
            for _ in range(100):
                await model.complete(MESSAGES, max_tokens=20, context=h.CTX)
        spent = await h.store.run_spend(h.RUN)
        calls = len(server.calls("/v1/chat/completions"))
    assert caught.value.error_class == "budget"
    each = (3 * estimate + 20) * 100.0 / 1e6
    assert spent <= budget and calls == int(budget // each), (spent, calls)


async def test_the_catalogs_output_limit_is_sent_on_every_request(tmp_path, server):
    """SmolLM2 under an entry saying 512 once generated 4,095 tokens a call: nothing was sent."""
    async with Harness(tmp_path, {"m": openai_entry(server, max_output_tokens=512)}) as h:
        model = h.models.get("m")
        await model.complete(MESSAGES, context=h.CTX)  # the agent sets none: the catalog's limit
        await model.complete(MESSAGES, max_tokens=100, context=h.CTX)  # the agent's, smaller
        await model.complete(MESSAGES, max_tokens=4096, context=h.CTX)  # capped at the catalog's
    assert [r.body["max_tokens"] for r in server.calls("/v1/chat/completions")] == [512, 100, 512]


async def test_a_call_with_no_quota_or_budget_to_check_is_admitted_without_a_pass_of_the_event_loop(tmp_path):
    # A lock taken for nothing to check queued each new call behind every ready task of the run.
    async with Harness(tmp_path, {"q": QUOTA_MODEL, "free": {"provider": "scripted", "options": {"default": "ok"}}}) as h:
        order: list[str] = []

        async def other() -> None:
            order.append("other task")

        for name, expected in (("free", ["admitted", "other task"]), ("q", ["other task", "admitted"])):
            model = h.models.get(name)
            order.clear()
            async with anyio.create_task_group() as tg:
                tg.start_soon(other)
                reserved = await model.ledger.admit(model.entry, 10, None, h.CTX)
                order.append("admitted")
            model.ledger.release(model.entry, reserved)
            assert order == expected, name  # a quota is checked against the store: that waits


async def test_without_a_budget_a_provider_that_reports_usage_is_never_counted_here(tmp_path, server, monkeypatch):
    """No budget, and the provider counts its tokens: nothing is counted here and no tokenizer is
    loaded (the local count only calibrated a budget's worst case, and cost 0.15 s of CPU to load).
    A provider that reports no usage still has it counted, with the tokenizer warmed while its first
    call waits; a scripted model with ``usage:`` reports what it was given."""
    from engine.models import accounting

    counted: list[object] = []
    warmed: list[int] = []
    monkeypatch.setattr(accounting, "count_messages", lambda messages: counted.append(messages) or 0)
    monkeypatch.setattr(accounting, "warm_tokenizer", lambda: warmed.append(1))
    reporting = {"provider": "scripted", "options": {"default": "ok", "usage": {"input_tokens": 12, "output_tokens": 1}}}
    silent = {"provider": "scripted", "options": {"default": "ok"}}
    async with Harness(tmp_path, {"m": openai_entry(server), "r": reporting, "s": silent}) as h:
        served = await h.models.get("m").complete(MESSAGES, context=h.CTX)
        given = await h.models.get("r").complete(MESSAGES, context=h.CTX)
        assert counted == [] and warmed == []
        estimated = await h.models.get("s").complete(MESSAGES, context=h.CTX)
        rows = await h.rows()
    assert not served.usage.estimated and served.usage.input_tokens > 0
    assert (given.usage.input_tokens, given.usage.output_tokens, given.usage.estimated) == (12, 1, False)
    assert warmed == [1] and estimated.usage.estimated and estimated.usage.input_tokens == count_messages(MESSAGES)
    assert [(r["input_tokens"], r["estimated"]) for r in rows][1:] == [(12, 0), (count_messages(MESSAGES), 1)]
