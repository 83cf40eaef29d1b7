"""How the TUI holds up on a big run: 2,300 instances, 7,000 attempts of synthetic events.

1. A child process fills a real store (runs/ramp.sqlite in a temp folder) through the Store API:
   every attempt's state events, agent steps, model calls, evaluation and outcome, about 13 events
   per attempt, the way the scheduler writes them.
2. This process attaches the app to it (as ``ramp watch`` does), headless at 80×24, and times:
   catching up on the whole event log; keypresses until their frame is drawn (cursor down, page
   down, typing a filter, sorting, opening an instance's detail and closing it again), median and
   p95; the lines the instance table renders per keypress (virtualized: a screenful, never the run);
   the full garbage collections met while opening details (each one stalls the keypress it meets);
   and the RSS.

Run: python benchmarks/tui_table.py [--instances 2300] [--attempts 7000] [--details 40]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from engine.core.events import (  # noqa: E402
    AgentStep,
    AttemptFinished,
    EvaluationDone,
    LLMCall,
    RunStarted,
    StateChanged,
)
from engine.store import Store  # noqa: E402

RUN = "bench-1"
T0 = 1_767_225_600.0


async def fill(runs: Path, instances: int, attempts: int) -> int:
    """The store of one run; returns the number of events written."""
    ids = [f"repo{i % 40}__pkg-{i}" for i in range(instances)]
    per = [attempts // instances + (1 if i < attempts % instances else 0) for i in range(instances)]
    events = 0
    async with Store(runs / "ramp.sqlite") as store:
        await store.create_run(RUN, config={"run": {"attempts": 3}, "ramp": {}}, meta={"agent": "direct-edit"})
        await store.add_instances(RUN, [(iid, f"org/repo{i % 40}", 0, i) for i, iid in enumerate(ids)])
        await store.set_phases(RUN, [(instances, "all")])
        await store.append(RunStarted(run_id=RUN, ts=T0, agent="direct-edit", evaluator="local", dataset="synthetic",
                                      instances=instances, attempts=3, phases=[instances]))
        for index, (iid, count) in enumerate(zip(ids, per, strict=True)):
            statements = []
            events_of_instance: list = []
            for n in range(1, count + 1):
                at = T0 + index + n * 30
                outcome = "resolved" if (index + n) % 3 == 0 else "unresolved"
                batch = [StateChanged(instance_id=iid, attempt=n, from_state=a, to_state=b, ts=at + k)
                         for k, (a, b) in enumerate(zip(
                             [None if n == 1 else "unresolved", "queued", "preparing", "agent", "patched",
                              "eval_queued", "evaluating"],
                             ["queued", "preparing", "agent", "patched", "eval_queued", "evaluating", outcome],
                             strict=True))]
                batch += [AgentStep(instance_id=iid, attempt=n, step=s, sub_state=name, summary=name, ts=at + 3)
                          for s, name in enumerate(("localize", "edit"))]
                batch += [LLMCall(instance_id=iid, attempt=n, model_id="m", provider="p", input_tokens=2000,
                                  output_tokens=150, cost_usd=0.0006, latency_s=0.5 + (index * 7 + n) % 40 / 10,
                                  ts=at + 3) for _ in range(2)]
                batch.append(EvaluationDone(instance_id=iid, attempt=n, resolved=outcome == "resolved",
                                            applied=True, ts=at + 7))
                batch.append(AttemptFinished(instance_id=iid, attempt=n, outcome=outcome, ts=at + 8))  # type: ignore[arg-type]
                for event in batch:
                    event.run_id = RUN
                events_of_instance += batch
                statements.append((
                    "INSERT INTO attempts (run_id, instance_id, attempt, status, outcome, started_at, finished_at)"
                    " VALUES (?,?,?,?,?,?,?)", (RUN, iid, n, "done", outcome, at, at + 8)))
            statements.append(store.instance_update(
                RUN, iid, {"state": "resolved" if count % 3 == 0 else "unresolved", "attempt": count}))
            await store.apply(statements, events_of_instance)
            events += len(events_of_instance)
        await store.update_run(RUN, status="completed")
    return events


def stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {1000 * statistics.median(ordered):6.1f} ms   p95 {1000 * p95:6.1f} ms   (n={len(ordered)})"


async def measure(runs: Path, details: int) -> None:
    """Keypress latency = from the key event reaching the app to the end of the first frame drawn
    after it (after the detail's data arrived, for Enter); frames are paced at Textual's 60 fps."""
    from textual import events

    from tui.app import RampApp
    from tui.glyphs import UNICODE
    from tui.messages import DetailLoaded
    from tui.widgets.instance_table import InstanceTable

    lines = {"n": 0}
    original = InstanceTable.render_line

    def counting(self: InstanceTable, y: int):  # type: ignore[no-untyped-def]
        lines["n"] += 1
        return original(self, y)

    InstanceTable.render_line = counting  # type: ignore[method-assign]
    marks: dict[str, float] = {}
    frames: list[float] = []

    def hook(message: object) -> None:
        if isinstance(message, events.Key) and "key" not in marks:
            marks["key"] = time.perf_counter()
        elif isinstance(message, DetailLoaded) and "ready" not in marks:
            marks["ready"] = time.perf_counter()

    app = RampApp(runs, RUN, glyphs=UNICODE)
    began = time.perf_counter()
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        display = app._display

        def drawn(screen, renderable):  # type: ignore[no-untyped-def]
            display(screen, renderable)
            frames.append(time.perf_counter())

        app._display = drawn  # type: ignore[method-assign]
        while app.snapshot is None or app.snapshot.seq < wanted_seq(runs):
            await pilot.pause(0.02)
        print(f"catch-up: whole event log folded and drawn in {time.perf_counter() - began:.2f} s "
              f"({len(app.snapshot.rows)} instances, last seq {app.snapshot.seq})")

        async def timed(key: str, wait_for_detail: bool = False) -> tuple[float, int]:
            await pilot.pause()
            marks.clear()
            lines["n"] = 0
            await pilot.press(key)
            while "key" not in marks or (wait_for_detail and "ready" not in marks):
                await pilot.pause(0.001)
            start = marks["ready"] if wait_for_detail else marks["key"]
            while not frames or frames[-1] < start:
                await pilot.pause(0.001)
            first = next(t for t in frames if t >= start)
            return first - marks["key"], lines["n"]

        results: dict[str, list[tuple[float, int]]] = {"cursor down": [], "page down": [], "sort (s)": [],
                                                        "filter keystroke": [], "open detail (Enter)": []}
        for _ in range(80):
            results["cursor down"].append(await timed("down"))
        for _ in range(30):
            results["page down"].append(await timed("pagedown"))
        for _ in range(10):
            results["sort (s)"].append(await timed("s"))
        for _ in range(5):
            await pilot.press("slash")
            for char in "repo1 pkg":
                results["filter keystroke"].append(await timed(char))
            await pilot.press("escape")
        full: list[float] = []
        began_gc: list[float] = []

        def collection(phase: str, info: dict) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    began_gc[:] = [time.perf_counter()]
                elif began_gc:
                    full.append(time.perf_counter() - began_gc[0])

        gc.callbacks.append(collection)
        for _ in range(details):
            results["open detail (Enter)"].append(await timed("enter", wait_for_detail=True))
            await pilot.press("escape", "down")
        gc.callbacks.remove(collection)
        print("open detail samples (ms):", [round(1000 * t) for t, _ in results["open detail (Enter)"]])
        print(f"full collections while opening {details} details: {len(full)}, "
              f"longest {1000 * max(full, default=0):.1f} ms, total {1000 * sum(full):.1f} ms")
        for name, samples in results.items():
            rendered = statistics.median(n for _, n in samples)
            print(f"{name:<20} {stats([t for t, _ in samples])}   table lines rendered: median {rendered:.0f}")
        rss = psutil.Process().memory_info().rss / 2**20
        print(f"RSS of the app process: {rss:.0f} MiB")


def wanted_seq(runs: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(runs / "ramp.sqlite")
    try:
        return conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2300)
    parser.add_argument("--attempts", type=int, default=7000)
    parser.add_argument("--details", type=int, default=40, help="how many times to open (and close) a detail")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        began = time.perf_counter()
        events = asyncio.run(fill(args.fill, args.instances, args.attempts))
        print(f"store: {args.instances} instances, {args.attempts} attempts, {events} events written in "
              f"{time.perf_counter() - began:.1f} s")
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        subprocess.run([sys.executable, __file__, "--fill", str(runs), "--instances", str(args.instances),
                        "--attempts", str(args.attempts)], check=True)
        asyncio.run(measure(runs, args.details))


if __name__ == "__main__":
    main()
