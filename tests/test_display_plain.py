"""Headless progress: the plain display never stays silent while the run waits, and names what it
waits for; its summary line carries cost, tokens and wall time."""

from __future__ import annotations

import io

from rich.console import Console

from engine.core.events import AgentStep, GovernorSample, RunStarted, StateChanged, Summary
from engine.run.display import PlainDisplay


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def governor(blocked: str = "", waiting: int = 0) -> GovernorSample:
    return GovernorSample(run_id="r", cpu_percent=95.0, memory_available_mb=1e4, disk_free_mb=1e5,
                          running_evals=1, waiting_evals=waiting, blocked_by=blocked)  # fmt: skip


def test_a_quiet_run_prints_what_it_is_doing_and_why_evaluations_wait():
    out, clock = io.StringIO(), Clock()
    display = PlainDisplay(Console(file=out, width=300, color_system=None), clock=clock)
    display.show(RunStarted(run_id="r", agent="gold", evaluator="local", dataset="d", instances=3, attempts=1,
                            phases=[3]))  # fmt: skip
    for iid, path in (("a", ["queued", "preparing", "agent", "patched", "eval_queued", "evaluating"]),
                      ("b", ["queued", "preparing", "agent", "patched", "eval_queued"]), ("c", ["queued"])):
        for before, after in zip([None, *path], path, strict=False):
            display.show(StateChanged(run_id="r", instance_id=iid, attempt=1, from_state=before, to_state=after))
    clock.now += 3
    display.show(governor("CPU 1.7 of 2 cores busy (target 1.6)", waiting=1))  # 3 s of silence: nothing yet
    assert len(out.getvalue().splitlines()) == 1
    display.show(AgentStep(run_id="r", instance_id="a", attempt=1, step=0, sub_state="env install",
                           summary="building environment sympy__1.1: step install"))
    clock.now += 4
    display.show(governor("CPU 1.7 of 2 cores busy (target 1.6)", waiting=1))
    line = out.getvalue().splitlines()[-1]
    assert line == ("… 0/3 finished after 7s; 1 evaluating: 1 env install (4s); 1 waiting for an "
                    "evaluation slot for 4s: CPU 1.7 of 2 cores busy (target 1.6); 1 queued")
    clock.now += 2
    display.show(governor())  # printed 2 s ago: quiet again
    assert len(out.getvalue().splitlines()) == 2

    clock.now += 30
    display.show(Summary(run_id="r", status="completed", exit_code=0, outcomes={"a": "resolved", "b": "unresolved"},
                         metrics={"calls": 4, "cost_usd": 0.0123, "input_tokens": 12000, "output_tokens": 800}))
    assert out.getvalue().splitlines()[-1] == (
        "completed: 1/2 resolved, $0.0123, 12,000 tokens in / 800 out, 39s, exit 0"
    )


def test_a_resumed_run_counts_on_from_the_attempts_already_finished():
    from engine.core.events import AttemptFinished

    out = io.StringIO()
    display = PlainDisplay(Console(file=out, width=300, color_system=None))
    display.show(RunStarted(run_id="r", agent="gold", evaluator="local", dataset="d", instances=12, attempts=1,
                            phases=[12], resumed=True, finished_attempts=5))  # fmt: skip
    display.show(AttemptFinished(run_id="r", instance_id="x", attempt=1, outcome="resolved"))
    assert "[6/12] resolved" in out.getvalue().splitlines()[-1]


def test_the_heartbeat_interval_is_the_operators():
    out, clock = io.StringIO(), Clock()
    display = PlainDisplay(Console(file=out, width=300, color_system=None), clock=clock, quiet_s=30)
    display.show(RunStarted(run_id="r", agent="gold", evaluator="local", dataset="d", instances=1, attempts=1,
                            phases=[1]))  # fmt: skip
    for _ in range(5):
        clock.now += 5
        display.show(governor())
    assert len(out.getvalue().splitlines()) == 1  # 25 s of silence: under run.heartbeat_s
    clock.now += 5
    display.show(governor())
    assert out.getvalue().splitlines()[-1].startswith("… 0/1 finished after 30s")


def test_json_lines_are_written_once_per_turn_of_the_loop_and_at_once_outside_one():
    """``--json`` wrote and flushed every line, a system call each (two without PYTHONUNBUFFERED);
    a stage's events now share one write. The summary, the last line, is written at once."""
    import asyncio
    import json

    from engine.run.display import JsonLinesDisplay

    class Counted(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    events = [StateChanged(run_id="r", instance_id="o__p-1", attempt=1, from_state=a, to_state=b)
              for a, b in ((None, "queued"), ("queued", "preparing"), ("preparing", "agent"))]
    summary = Summary(run_id="r", status="completed", exit_code=0, outcomes={"o__p-1": "resolved"})

    async def stage(out: Counted) -> list[int]:
        display = JsonLinesDisplay(out)
        for event in events:
            display.show(event)
        seen = [out.writes]
        await asyncio.sleep(0)  # the loop turns
        seen.append(out.writes)
        display.show(summary)
        return [*seen, out.writes]

    out = Counted()
    assert asyncio.run(stage(out)) == [0, 1, 2]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        e.model_dump(mode="json") for e in [*events, summary]]
    outside = Counted()
    JsonLinesDisplay(outside).show(events[0])
    assert outside.writes == 1
