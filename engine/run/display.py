"""The displays the engine shows events through (the :class:`~engine.core.events.Display` protocol).

Plain progress lines (rich), JSON lines and the TUI are implementations. The engine writes every
event to the store first and then hands it to the display; a display must return quickly and must
never raise into the engine.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from rich.console import Console

from ..core.events import Display, Event
from ..results.projections import describe

__all__ = ["Display", "JsonLinesDisplay", "NullDisplay", "PlainDisplay"]


class NullDisplay:
    def show(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


class JsonLinesDisplay:
    """``--json``: one JSON object per line on stdout; the summary is the last line."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def show(self, event: Event) -> None:
        self.stream.write(json.dumps(event.model_dump(mode="json")) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class PlainDisplay:
    """Readable progress for a terminal or a log file, one line per meaningful event."""

    def __init__(self, console: Console | None = None):
        # soft_wrap: a log file gets one line per event, not lines cut at 80 columns.
        self.console = console or Console(stderr=False, highlight=False, soft_wrap=True)
        self.done = 0
        self.total = 0

    def show(self, event: Event) -> None:
        self._print(event)
        # Flush every line: cron logs and `tail -f` must see progress as it happens.
        self.console.file.flush()

    def _print(self, event: Event) -> None:
        c = self.console
        match event.kind:
            case "run_started":
                self.total = event.instances
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
                tail = f" ({'; '.join(notes)})" if notes else ""
                c.print(
                    f"[bold]{event.status}[/]: {resolved}/{len(event.outcomes)} resolved, exit {event.exit_code}{tail}"
                )
            case _:
                pass

    def close(self) -> None:
        pass
