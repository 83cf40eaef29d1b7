"""The displays the engine shows events through (the :class:`~engine.core.events.Display` protocol).

Plain progress lines (rich), JSON lines and the TUI are implementations. The engine writes every
event to the store first and then hands it to the display; a display must return quickly and must
never raise into the engine.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from ..core.events import Display, Event, GovernorSample, Summary
from ..results.projections import describe

if TYPE_CHECKING:  # rich is imported by the plain display only: a --json run starts without it
    from rich.console import Console

__all__ = ["Display", "JsonLinesDisplay", "NullDisplay", "PlainDisplay"]


class NullDisplay:
    def show(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


class JsonLinesDisplay:
    """``--json``: one JSON object per line on stdout; the summary is the last line.

    The lines an event loop turn shows are written together, once the turn ends: an attempt's
    stage shows several events at once, and a write and a flush each were a system call each (and
    with ``PYTHONUNBUFFERED``, as containers often set, even an unflushed write is). Shown from
    outside a running loop, or the summary, a line is written at once.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self._lines: list[str] = []

    def show(self, event: Event) -> None:
        self._lines.append(event.model_dump_json() + "\n")
        if isinstance(event, Summary):
            self._write()  # the last line: written before the run returns
            return
        if len(self._lines) > 1:
            return  # the turn's write is due already
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()
            return
        loop.call_soon(self._due)

    def _due(self) -> None:
        try:
            self._write()
        except (OSError, ValueError):  # a closed pipe or stream: not the engine's to raise
            pass

    def _write(self) -> None:
        lines, self._lines = self._lines, []
        self.stream.write("".join(lines))
        self.stream.flush()

    def close(self) -> None:
        self._write()


class PlainDisplay:
    """Readable progress for a terminal or a log file, one line per meaningful event."""

    #: While nothing else is printed, a progress line at the first governor sample (every 5 s)
    #: after this many seconds of silence (``run.heartbeat_s``): a long environment build or a
    #: governor hold is never mistaken for a hang.
    QUIET_S = 5.0
    #: States whose steps (agent_step sub-states reported from inside a backend) the heartbeat names.
    STEPPED = ("preparing", "evaluating")

    def __init__(self, console: Console | None = None, clock: Callable[[], float] = time.monotonic,
                 quiet_s: float | None = None):
        from rich.console import Console

        # soft_wrap: a log file gets one line per event, not lines cut at 80 columns.
        self.console = console or Console(stderr=False, highlight=False, soft_wrap=True)
        self.done = 0
        self.total = 0
        self.clock = clock
        self.started = self.last_line = clock()
        self.states: dict[str, str] = {}
        self.quiet_s = self.QUIET_S if quiet_s is None else quiet_s
        #: Since when the governor has held evaluations back (None: it is not holding any).
        self.held_since: float | None = None
        #: What each preparing or evaluating instance reports doing (fetch; env <step>, env wait,
        #: tests), and since when.
        self.steps: dict[str, tuple[str, float]] = {}

    def show(self, event: Event) -> None:
        if event.kind == "state" and event.instance_id:
            self.states[event.instance_id] = event.to_state
            self.steps.pop(event.instance_id, None)
        elif event.kind == "agent_step" and self.states.get(event.instance_id) in self.STEPPED and event.sub_state:
            self.steps[event.instance_id] = (event.sub_state, self.clock())
        if event.kind == "governor":
            self.held_since = (self.held_since or self.clock()) if event.holding else None
        if event.kind == "governor" and self.clock() - self.last_line >= self.quiet_s:
            self.console.print(self._progress(event))
            self.last_line = self.clock()
        elif self._print(event):
            self.last_line = self.clock()
        # Flush every line: cron logs and `tail -f` must see progress as it happens.
        self.console.file.flush()

    def _progress(self, sample: GovernorSample) -> str:
        """What the run is doing now, and what it waits for."""
        count = Counter(self.states.values())
        working = [f"{count[s]} {label}{self._steps_of(s)}" for s, label in (
            ("preparing", "preparing a workspace"), ("agent", "with the agent"), ("evaluating", "evaluating"),
        ) if count[s]]  # fmt: skip
        waiting = sum(count[s] for s in ("eval_queued", "patched", "no_patch"))
        if waiting:
            since = f" for {self.clock() - self.held_since:.0f}s" if self.held_since is not None else ""
            held = f"{since}: {sample.blocked_by}" if sample.blocked_by else ""
            working.append(f"{waiting} waiting for an evaluation slot{held}")
        if count["queued"]:
            working.append(f"{count['queued']} queued")
        doing = "; ".join(working) or "starting"
        return f"[dim]… {self.done}/{self.total} finished after {self.clock() - self.started:.0f}s; {doing}[/]"

    def _steps_of(self, state: str) -> str:
        """': 1 env install (42s), 1 tests (3s)': what the instances in ``state`` report doing (a
        fetch while preparing; a build step, a wait for a build, the tests while evaluating), and
        for how long the longest of each has."""
        if state not in self.STEPPED:
            return ""
        now, longest = self.clock(), dict[str, list[float]]()
        for iid, (name, since) in self.steps.items():
            if self.states.get(iid) == state:
                longest.setdefault(name, []).append(now - since)
        if not longest:
            return ""
        parts = [f"{len(ages)} {name} ({max(ages):.0f}s)" for name, ages in sorted(longest.items())]
        return ": " + ", ".join(parts)

    def _print(self, event: Event) -> bool:
        """Print the event's line, if it has one; whether it did."""
        c = self.console
        match event.kind:
            case "run_started":
                self.total = event.instances
                self.done = event.finished_attempts  # a resumed run's count goes on where it stopped
                verb = "resuming" if event.resumed else "starting"
                c.print(
                    f"[bold]{verb} run {event.run_id}[/]: {event.instances} instances, agent {event.agent}, "
                    f"evaluator {event.evaluator}, {event.attempts} attempt(s), phases {event.phases}"
                )
            case "phase_started":
                c.print(f"[bold]phase {event.phase + 1}[/]: {event.size} instances")
            case "attempt_finished":
                self.done += 1
                style = {"resolved": "green", "unresolved": "yellow", "error": "red"}[event.outcome]
                extra = f" ({event.error_class}: {event.detail})" if event.error_class else ""
                c.print(
                    f"  [{self.done}/{self.total}] [{style}]{event.outcome:<10}[/] {event.instance_id} attempt {event.attempt}"
                    f" agent {event.agent_s:.1f}s eval {event.eval_s:.1f}s{extra}"
                )
            case "gate_verdict":
                c.print(f"[bold]gate {event.phase + 1}[/]: {event.tier} — {event.rule}")
                if event.projection:
                    c.print(f"  {describe(event.projection)}")
            case "gate_decision":
                c.print(f"  gate {event.phase + 1}: {event.decision} ({event.by})")
            case "alert":
                c.print(f"[yellow]! {event.message}[/]")
            case "command":
                c.print(f"  command {event.command} {event.arg}: {event.result}")
            case "summary":
                resolved = sum(1 for o in event.outcomes.values() if o == "resolved")
                notes = []
                if event.skipped_rows:
                    notes.append(f"{event.skipped_rows} dataset row(s) skipped")
                if estimated := event.metrics.get("estimated_calls"):
                    notes.append(f"tokens of {estimated} of {event.metrics.get('calls', '?')} model calls estimated")
                if hits := event.metrics.get("cached_calls"):
                    notes.append(f"{hits} of {event.metrics.get('calls', '?')} model calls answered by the cache, "
                                 f"${event.metrics.get('cache_saved_usd') or 0:.4f} saved")
                tail = f" ({'; '.join(notes)})" if notes else ""
                m = event.metrics
                spent = "" if m.get("cost_usd") is None else f", ${m['cost_usd']:.4f}"
                tokens = f", {m.get('input_tokens', 0):,} tokens in / {m.get('output_tokens', 0):,} out" if m.get("calls") else ""
                c.print(
                    f"[bold]{event.status}[/]: {resolved}/{len(event.outcomes)} resolved{spent}{tokens}, "
                    f"{self.clock() - self.started:.0f}s, exit {event.exit_code}{tail}"
                )
            case _:
                return False
        return True

    def close(self) -> None:
        pass
