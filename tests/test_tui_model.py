"""The TUI's data path without a terminal: the reducer, the store feed, alerts, glyphs, columns,
filters, and the CLI seam that hands the UI to ``ramp``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

import pytest

from engine.core.events import (
    AttemptFinished,
    GateVerdict,
    GovernorSample,
    LLMCall,
    RunFinished,
    RunStarted,
    StateChanged,
)
from engine.frontend import interactive
from engine.results.metrics import run_metrics
from engine.results.runfeed import RunFeed
from engine.results.runview import STUCK_AFTER_S, PhaseView, RunView, derived_alerts
from engine.store import Store
from tui.format import cells, columns_for, pipeline, state_label
from tui.glyphs import ASCII, UNICODE, detect
from tui.query import failed_rows, visible_rows

from .runhelpers import ramp
from .tuihelpers import NOW, T0, fill


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("tui-model") / "runs"
    asyncio.run(fill(path))
    return path


def view_with(*events) -> RunView:
    view = RunView("r")
    view.load_instances([{"instance_id": "a", "repo": "o/a", "phase": 0, "position": 0},
                         {"instance_id": "b", "repo": "o/b", "phase": 0, "position": 1}])
    view.apply(RunStarted(ts=T0, agent="gold", evaluator="local", dataset="d", instances=2, attempts=3, phases=[2]))
    for event in events:
        view.apply(event)
    return view


def test_the_reducer_follows_the_state_machine_and_keeps_the_best_outcome():
    view = view_with(
        StateChanged(instance_id="a", attempt=1, from_state=None, to_state="queued", ts=T0),
        StateChanged(instance_id="a", attempt=1, from_state="queued", to_state="preparing", ts=T0 + 1),
        LLMCall(instance_id="a", attempt=1, model_id="m", provider="p", input_tokens=100, output_tokens=10,
                cost_usd=0.5, latency_s=2.0),
        StateChanged(instance_id="a", attempt=1, from_state="evaluating", to_state="resolved", ts=T0 + 61),
        AttemptFinished(instance_id="a", attempt=1, outcome="resolved"),
        StateChanged(instance_id="a", attempt=2, from_state="resolved", to_state="queued", ts=T0 + 70),
        StateChanged(instance_id="a", attempt=2, from_state="queued", to_state="preparing", ts=T0 + 71),
        StateChanged(instance_id="a", attempt=2, from_state="evaluating", to_state="error", error_class="infra",
                     ts=T0 + 81),
        AttemptFinished(instance_id="a", attempt=2, outcome="error", error_class="infra"),
    )
    snap = view.snapshot(T0 + 100)
    a, b = snap.rows
    assert (a.state, a.attempt, a.attempts_done, a.outcome) == ("error", 2, 2, "resolved")
    assert (a.input_tokens, a.output_tokens, a.cost_usd, a.duration(snap.now)) == (100, 10, 0.5, 10.0)
    assert state_label(a) == "error:infra" and b.state == "queued" and b.duration(snap.now) is None
    assert snap.counters.errors_by_class == (("infra", 1),) and snap.counters.latency_p50_s == 2.0
    assert snap.finished == 1 and snap.eta_s == pytest.approx(100.0)  # one left, at 100 s each


def test_rows_are_replaced_not_mutated_so_a_reader_sees_change_by_identity():
    view = view_with()
    before = view.snapshot(T0)
    view.apply(StateChanged(instance_id="a", attempt=1, from_state="queued", to_state="preparing", ts=T0 + 1))
    after = view.snapshot(T0)
    assert before.rows[0].state == "queued" and after.rows[0] is not before.rows[0]
    assert after.rows[1] is before.rows[1]


def test_the_feed_shows_the_same_counters_as_the_run_metrics(runs):
    snap = RunFeed(runs / "ramp.sqlite", "nightly-1").catch_up().snapshot(NOW)

    async def metrics():
        async with Store(runs / "ramp.sqlite") as store:
            return await run_metrics(store, "nightly-1")

    m = asyncio.run(metrics())
    c = snap.counters
    assert (c.calls, c.input_tokens, c.output_tokens) == (m["calls"], m["input_tokens"], m["output_tokens"])
    assert c.cost_usd == pytest.approx(m["cost_usd"])
    assert (c.latency_p50_s, c.latency_p90_s, c.latency_p99_s) == pytest.approx(
        (m["latency_p50_s"], m["latency_p90_s"], m["latency_p99_s"]))
    assert snap.finished == m["finished"] and len(snap.rows) == m["instances"]
    assert [p.decision for p in snap.phases] == ["approve", "approve", None]


def test_a_feed_reading_in_small_batches_ends_where_one_read_does(runs):
    whole = RunFeed(runs / "ramp.sqlite", "pilot-1").catch_up().snapshot(NOW)
    stepped = RunFeed(runs / "ramp.sqlite", "pilot-1", batch=7)
    polls = 0
    while stepped.poll() and stepped.behind:
        polls += 1
    snap = stepped.snapshot(NOW)
    assert polls > 5 and snap.seq == whole.seq and snap.rows == whole.rows and snap.counters == whole.counters
    assert snap.awaiting is not None and snap.awaiting.verdict.tier == "CAUTION"


def test_a_feed_on_a_store_that_does_not_exist_yet_waits(tmp_path):
    feed = RunFeed(tmp_path / "runs" / "ramp.sqlite", "later")
    assert feed.poll() is False and feed.snapshot(T0).status == "starting"


def test_derived_alerts_name_the_gate_the_budget_infra_stuck_and_silent_engines():
    view = view_with(*[AttemptFinished(instance_id="b", attempt=n, outcome="error", error_class="infra")
                       for n in (1, 2, 3)],
                     StateChanged(instance_id="a", attempt=1, from_state="queued", to_state="evaluating", ts=T0))
    view.budget_usd = 1.0
    view._counts["cost_micro"] = 900_000
    verdict = GateVerdict(phase=0, tier="CAUTION", rule="resolved_rate >= 0.4 failed (0.2)")
    view.phases = [PhaseView(index=0, size=2, status="awaiting_approval", verdict=verdict)]
    snap = view.snapshot(T0 + STUCK_AFTER_S + 60)
    messages = [a.message for a in snap.alerts]
    assert messages[0] == "gate 1: CAUTION waits for approval (a approve, x reject)"
    assert "budget: $0.90 of $1.00 spent (90%)" in messages
    assert "infra failures rising: 3 of the last 3 attempts" in messages
    assert "a stuck in evaluating for 16m" in messages
    silent = replace(snap, heartbeat=T0)
    assert any(a.message.startswith("no heartbeat for 16m") for a in derived_alerts(silent, []))


def test_a_governor_hold_is_an_alert_saying_why_and_since_when_and_it_clears():
    def sample(at: float, blocked: str, waiting: int) -> GovernorSample:
        return GovernorSample(ts=T0 + at, cpu_percent=95.0, memory_available_mb=1e4, disk_free_mb=1e5,
                              running_evals=2, waiting_evals=waiting, blocked_by=blocked)

    held = "CPU 1.9 of 2 cores busy (target 1.6)"
    view = view_with(sample(0, "", 0), sample(5, held, 3), sample(10, held, 2))
    messages = [a.message for a in view.snapshot(T0 + 47).alerts]
    assert f"2 evaluation(s) wait for a slot for 42s: {held}" in messages
    view.apply(sample(50, "", 0))
    assert not [a for a in view.snapshot(T0 + 51).alerts if "wait for a slot" in a.message]


def test_glyphs_fall_back_to_ascii_without_a_utf8_locale():
    assert detect({"LANG": "en_US.UTF-8"}, "utf-8") is UNICODE
    assert detect({"LANG": "C"}, "utf-8") is ASCII
    assert detect({"LC_ALL": "en_US.ISO-8859-1"}, "utf-8") is ASCII
    assert detect({}, "ascii") is ASCII
    assert detect({"LANG": "C", "RAMP_ASCII": "0"}, "ascii") is UNICODE
    assert detect({"LANG": "en_US.UTF-8", "RAMP_ASCII": "1"}, "utf-8") is ASCII
    text = "".join(g.stage_done + g.stage_now + g.stage_todo + g.resolved + g.bar(0.5, 6) for g in (ASCII,))
    assert text.isascii()


def test_columns_fit_every_width_and_the_pipeline_marks_the_current_stage(runs):
    for width in (40, 78, 80, 120, 158):
        assert sum(c.width + 1 for c in columns_for(width)) <= max(width, 56)
    assert [c.key for c in columns_for(78)] == ["id", "pipeline", "state", "attempt", "outcome", "cost", "duration"]
    snap = RunFeed(runs / "ramp.sqlite", "nightly-1").catch_up().snapshot(NOW)
    agent = next(r for r in snap.rows if r.state == "agent")
    assert pipeline(agent, ASCII).plain == "##>...." and pipeline(agent, UNICODE).plain == "●●●····"
    assert cells(agent, NOW, 2, ASCII)["state"].plain == "agent:edit"


def test_filter_words_and_sorts_and_what_rerun_failed_would_take(runs):
    snap = RunFeed(runs / "ramp.sqlite", "nightly-1").catch_up().snapshot(NOW)
    assert [r.instance_id for r in visible_rows(snap.rows, "django resolved")] == ["django__django-11099"]
    assert [r.state for r in visible_rows(snap.rows, "agent")] == ["agent"]
    by_cost = visible_rows(snap.rows, "", sort=2, now=NOW)
    assert by_cost[0].cost_usd == max(r.cost_usd for r in snap.rows)
    assert {r.instance_id for r in failed_rows(snap.rows)} == {
        "django__django-11133", "pytest-dev__pytest-5227", "pallets__flask-4992"}


def test_the_ui_is_used_only_on_a_terminal_and_never_headless(monkeypatch):
    class FrontEnd:
        def run(self, settings, run_id):
            return 0

        def watch(self, settings, run_id):
            return 0

    front = FrontEnd()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    args = argparse.Namespace(front_end=front, headless=False, json=False)
    assert interactive(args) is front
    assert interactive(argparse.Namespace(front_end=front, headless=True, json=False)) is None
    assert interactive(argparse.Namespace(front_end=front, headless=False, json=True)) is None
    assert interactive(argparse.Namespace(front_end=None, headless=False, json=False)) is None
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert interactive(args) is None


def test_watch_names_a_missing_run_and_needs_the_terminal_ui(runs, tmp_path):
    out = ramp(["watch", "nope", "--runs-dir", str(runs)], cache_dir=tmp_path, timeout=120)
    assert out.returncode == 2 and "no run 'nope'" in out.stderr
    out = ramp(["watch", "nightly-1", "--runs-dir", str(runs)], cache_dir=tmp_path, timeout=120)
    assert out.returncode == 2 and "watch needs the terminal UI" in out.stderr


def test_a_gate_wait_stops_the_eta_and_a_stopped_run_waits_for_nothing():
    view = view_with(StateChanged(instance_id="a", attempt=1, from_state="evaluating", to_state="resolved", ts=T0 + 60),
                     AttemptFinished(instance_id="a", attempt=1, outcome="resolved", ts=T0 + 60))
    assert view.snapshot(T0 + 61).eta_s is not None
    verdict = GateVerdict(phase=0, tier="CAUTION", rule="resolved_rate >= 0.4 failed (0.2)", ts=T0 + 61)
    view.phases = [PhaseView(index=0, size=1, status="awaiting_approval", verdict=verdict)]
    waiting = view.snapshot(T0 + 3600)
    assert waiting.awaiting is not None and waiting.eta_s is None  # not an ETA that grows by the second
    view.apply(RunFinished(status="stopped", exit_code=130, ts=T0 + 3700))
    stopped = view.snapshot(T0 + 3700)
    assert stopped.awaiting is None
    assert not any("waits for approval" in a.message for a in stopped.alerts)
