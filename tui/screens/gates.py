"""The phases-and-gates mode: the ramp plan, and one phase's gate rules against measured values.

For a judged phase the rows are the verdict's own checks (engine.core.gates: rule, actual value,
result) with the rule that decided the tier marked; before the verdict they are the configured
rules, not judged yet. Approve and reject are the app's ``a`` and ``x`` keys (with confirmation);
this screen only shows what they would decide.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from engine.core import gates
from engine.results.projections import describe
from engine.results.runview import PhaseView, RunSnapshot

from ..format import TIER_STYLE
from ..widgets.footer import RampFooter
from ..widgets.panels import RunHeader
from .base import RampScreen

RESULT = {True: ("holds", "green"), False: ("FAILED", "bold red"), None: ("not judged", "dim")}


#: Keys that move the plan's cursor: the operator picked a phase to look at.
PICK_KEYS = frozenset({"up", "down", "pageup", "pagedown", "home", "end"})


class GatesScreen(RampScreen):
    def __init__(self) -> None:
        super().__init__()
        self.phase: int | None = None
        #: The operator moved the cursor to a phase: stay there (until a gate waits).
        self._picked = False
        self._phases: tuple[PhaseView, ...] = ()

    def compose(self) -> ComposeResult:
        yield RunHeader(self.ramp.glyphs)
        yield DataTable(id="plan", cursor_type="row", zebra_stripes=True)
        yield Static(id="verdict")
        yield DataTable(id="checks", cursor_type="row")
        yield Static(id="projection")
        yield RampFooter(compact=True)

    def on_mount(self) -> None:
        plan = self.query_one("#plan", DataTable)
        plan.add_columns("phase", "name", "size")
        # A fixed width: the column must not jump when a phase starts waiting for approval.
        plan.add_column("status", width=len("awaiting_approval"))
        plan.add_columns("verdict", "decision")
        self.query_one("#checks", DataTable).add_columns("tier", "rule", "actual", "result")
        self.query_one("#plan", DataTable).focus()
        self.watch(self.app, "snapshot", self.show_snapshot)

    def show_snapshot(self, snapshot: RunSnapshot | None) -> None:
        self.query_one(RunHeader).snapshot = snapshot
        if snapshot is None or snapshot.phases == self._phases:
            return
        self._phases = snapshot.phases
        plan = self.query_one("#plan", DataTable)
        plan.clear()
        for p in snapshot.phases:
            tier = p.verdict.tier if p.verdict else ""
            decision = f"{p.decision} ({p.decided_by})" if p.decision else ""
            plan.add_row(f"{p.index + 1}/{len(snapshot.phases)}", p.name or "", str(p.size), p.status,
                         Text(tier, style=TIER_STYLE.get(tier, "")), decision)
        # Follow the phase worth looking at (a screen opened while the feed catches up would stay on
        # an early gate otherwise) until the operator picks one; a gate that waits always wins.
        if not self._picked or snapshot.awaiting is not None:
            self.phase = _focus_phase(snapshot)
        plan.move_cursor(row=self.phase)
        self._show_phase()

    def on_key(self, event: events.Key) -> None:
        if event.key in PICK_KEYS and self.focused is self.query_one("#plan", DataTable):
            self._picked = True

    def on_click(self, event: events.Click) -> None:
        if event.widget is self.query_one("#plan", DataTable):
            self._picked = True

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "plan" and event.cursor_row != self.phase:
            self.phase = event.cursor_row
            self._show_phase()

    def _show_phase(self) -> None:
        snapshot = self.ramp.snapshot
        if snapshot is None or self.phase is None or self.phase >= len(snapshot.phases):
            return
        phase = snapshot.phases[self.phase]
        checks = self.query_one("#checks", DataTable)
        checks.clear()
        verdict = phase.verdict
        head = Text()
        head.append(f"gate {phase.index + 1}: ", style="bold")
        if verdict is None:
            head.append("not judged yet", style="dim")
            rules = snapshot.rules[min(phase.index, len(snapshot.rules) - 1)] if snapshot.rules else ()
            for tier, rule in rules:
                checks.add_row(tier, rule, "-", Text("not judged", style="dim"))
        else:
            head.append(verdict.tier, style=TIER_STYLE.get(verdict.tier, "bold"))
            head.append(f"  decided by: {verdict.rule}")
            for c in verdict.checks:
                label, style = RESULT[c["passed"]]
                fired = gates.fired(c, verdict.rule)
                checks.add_row(c["tier"], Text(c["rule"], style="bold" if fired else ""), _actual(c["actual"]),
                               Text(label + (" <- decided" if fired else ""), style=style))
        head.append("\n")
        if phase.decision:
            past = {"approve": "approved", "reject": "rejected"}.get(phase.decision, phase.decision)
            head.append(f"{past} by {phase.decided_by}", style="bold")
        elif phase is snapshot.awaiting:
            head.append("waiting for approval: a approves, x rejects", style="bold yellow")
        else:
            head.append(phase.status, style="dim")
        self.query_one("#verdict", Static).update(head)
        projection = verdict.projection if verdict else None
        text = describe(projection) if projection else (
            "last phase: nothing to project" if verdict else "projection: after the phase is judged")
        self.query_one("#projection", Static).update(Text(text, style="italic"))


def _actual(value: object) -> str:
    if value is None:
        return "not measured"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _focus_phase(snapshot: RunSnapshot) -> int:
    """The phase worth looking at: the one waiting for a decision, else the last judged, else the current."""
    if snapshot.awaiting is not None:
        return snapshot.awaiting.index
    judged = [p.index for p in snapshot.phases if p.verdict is not None]
    return judged[-1] if judged else min(snapshot.current_phase, len(snapshot.phases) - 1)
