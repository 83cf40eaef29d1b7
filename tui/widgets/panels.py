"""The dashboard's fixed panels: run header, counters and alert strip.

Each takes a :class:`~engine.results.runview.RunSnapshot` as an attribute (set by its screen) and draws it;
none of them reads the store, keeps history or decides anything. Heights are fixed so the
instance table gets every remaining line of an 80×24 terminal.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from engine.results.runview import RunSnapshot

from ..format import (
    LEVEL_STYLE,
    OUTCOME_STYLE,
    attempt_label,
    count,
    duration,
    money,
    seconds,
    state_label,
)
from ..glyphs import UNICODE, Glyphs

STATUS_STYLE = {
    "running": "bold green", "paused": "bold yellow", "completed": "bold cyan", "gate_stop": "bold red",
    "stopped": "bold yellow", "interrupted": "bold yellow", "failed": "bold red", "starting": "dim",
}


class SnapshotPanel(Widget):
    """A panel that draws the latest snapshot; ``None`` until the first one arrives."""

    snapshot: reactive[RunSnapshot | None] = reactive(None, always_update=True)

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.glyphs = glyphs

    def lines(self, *lines: Text) -> Text:
        """Lines cut at the panel's edge (with an ellipsis only where Unicode is safe)."""
        width = self.content_size.width
        for line in lines:
            line.truncate(width, overflow="crop" if self.glyphs.ascii else "ellipsis")
        return Text("\n").join(lines)


class RunHeader(SnapshotPanel):
    """Run id, status, phase n/N, progress, ETA, elapsed, cost against budget, CPU and memory."""

    DEFAULT_CSS = """
    RunHeader { height: 2; background: $primary-background; padding: 0 1; }
    """

    def render(self) -> Text:
        s, g = self.snapshot, self.glyphs
        if s is None:
            return Text("connecting to the store…" if not g.ascii else "connecting to the store...", style="dim")
        phase = s.phases[s.current_phase] if s.current_phase < len(s.phases) else None
        top = Text()
        top.append(s.run_id, style="bold")
        if s.awaiting is not None:  # a gate wait is its own state, not "running"
            top.append(f"  waiting for approval of gate {s.awaiting.index + 1}", style="bold yellow")
        else:
            top.append(f"  {s.status}", style=STATUS_STYLE.get(s.status, "bold"))
        if s.exit_code is not None:
            top.append(f" (exit {s.exit_code})")
        if s.phases:
            top.append(f"  phase {s.current_phase + 1}/{len(s.phases)}")
            if phase is not None and phase.name:
                top.append(f" {phase.name}", style="italic")
        who = "/".join(str(v) for v in (s.meta.get("agent"), s.meta.get("model")) if v)
        if who:
            top.append(f"  {who}", style="dim")
        total = len(s.rows)
        done = s.finished
        bottom = Text()
        bottom.append(g.bar(done / total if total else 0.0, 10), style="green")
        bottom.append(f" {done}/{total} {done / total if total else 0:.0%}")
        bottom.append(" ETA ", style="dim")
        bottom.append(duration(s.eta_s))
        bottom.append(" up ", style="dim")
        bottom.append(duration(s.elapsed_s))
        spent = s.counters.cost_usd
        cost_style = "bold red" if s.budget_usd and spent >= 0.8 * s.budget_usd else ""
        bottom.append(" ")
        bottom.append(money(spent) + (f"/{money(s.budget_usd)}" if s.budget_usd else ""), style=cost_style)
        if s.governor is not None:
            cpu = s.governor.cpu_percent
            bottom.append(" cpu ", style="dim")
            bottom.append(g.bar(cpu / 100, 6), style="red" if cpu >= 80 else "cyan")
            bottom.append(f"{cpu:.0f}%")
            bottom.append(" mem ", style="dim")
            bottom.append(f"{s.governor.memory_available_mb / 1024:.0f}G")
        return self.lines(top, bottom)


class CountersBar(SnapshotPanel):
    """Model calls, tokens, cost, latency percentiles, and errors by class."""

    DEFAULT_CSS = """
    CountersBar { height: 2; padding: 0 1; background: $boost; }
    """

    def render(self) -> Text:
        s = self.snapshot
        if s is None:
            return Text("")
        c = s.counters
        top = Text()
        top.append("calls ", style="dim")
        top.append(f"{c.calls}")
        if c.failed_calls:
            top.append(f" ({c.failed_calls} failed)", style="red")
        top.append("  in ", style="dim")
        top.append(count(c.input_tokens))
        top.append("  out ", style="dim")
        top.append(count(c.output_tokens))
        top.append("  cost ", style="dim")
        top.append(money(c.cost_usd, 4) + ("+?" if c.unpriced_calls else ""))
        if c.cached_calls:
            top.append("  cached ", style="dim")
            top.append(f"{c.cached_calls} ({money(c.cache_saved_usd, 4)} saved)", style="green")
        bottom = Text()
        bottom.append("latency ", style="dim")
        bottom.append(f"p50 {seconds(c.latency_p50_s)} p90 {seconds(c.latency_p90_s)} p99 {seconds(c.latency_p99_s)}")
        bottom.append("  errors ", style="dim")
        if c.errors_by_class:
            bottom.append(", ".join(f"{name} {n}" for name, n in c.errors_by_class), style="red")
        else:
            bottom.append("none")
        if c.checked_samples:  # code completion: what the samples look like, beside pass/fail
            top.append("  pass@1 ", style="dim")
            top.append(f"{c.passed_samples / c.checked_samples:.0%}")
            bottom.append("  syntax ", style="dim")
            bottom.append(f"{c.syntax_valid / c.checked_samples:.0%}")
            bottom.append(" degen ", style="dim")
            bottom.append(f"{c.degenerate / c.checked_samples:.0%}", style="red" if c.degenerate else "")
        return self.lines(top, bottom)


class SelectedLine(SnapshotPanel):
    """The selected instance in full: its id, repository, state, attempt and why its last attempt
    ended, which the table's columns cut on a narrow terminal. One line, wrapped onto a second when
    the reason needs it (and cut only past that)."""

    DEFAULT_CSS = """
    SelectedLine { height: auto; max-height: 2; padding: 0 1; background: $boost; }
    """

    instance_id: reactive[str | None] = reactive(None, layout=True)

    def watch_snapshot(self) -> None:
        # Its height follows its text (one line or two): a new snapshot may change the reason.
        text = self.render().plain
        if (len(text) > self.content_size.width) != (self.size.height > 1):
            self.refresh(layout=True)

    def render(self) -> Text:
        s = self.snapshot
        row = s.row(self.instance_id) if s is not None and self.instance_id else None
        if row is None:
            return Text("")
        out = Text()
        out.append(row.instance_id, style="bold")
        out.append(f"  {row.repo}", style="dim")
        out.append(f"  {state_label(row)}", style=OUTCOME_STYLE.get(row.state, ""))
        out.append(f"  attempt {attempt_label(row, s.attempts_k if s else 1)}", style="dim")
        if row.detail:
            out.append(f"  {row.detail}")
        return out


class AlertStrip(SnapshotPanel):
    """The most pressing alerts: standing conditions first, then the engine's latest alerts."""

    DEFAULT_CSS = """
    AlertStrip { height: 2; padding: 0 1; }
    """

    def render(self) -> Text:
        s, g = self.snapshot, self.glyphs
        alerts = s.alerts[: max(1, self.size.height)] if s is not None else ()
        if not alerts:
            return Text("no alerts", style="dim")
        lines = []
        for alert in alerts:
            line = Text()
            line.append(f"{g.alert.get(alert.level, '!')} ", style=LEVEL_STYLE.get(alert.level, ""))
            line.append(alert.message)
            lines.append(line)
        return self.lines(*lines)
