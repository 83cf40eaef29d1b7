"""The dashboard mode: header, the virtualized instance table, counters, alerts and footer.

The screen holds only view state (the filter text and the sort order); which rows match and in
what order comes from :mod:`tui.query`. Each snapshot is handed down: panels get it as an
attribute, the table gets the visible rows.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from engine.results.runview import RunSnapshot

from ..query import INSTANCE_SORTS, visible_rows
from ..widgets.footer import RampFooter
from ..widgets.instance_table import InstanceTable
from ..widgets.panels import AlertStrip, CountersBar, RunHeader, SelectedLine
from .base import RampScreen
from .detail import show_detail

#: ``d`` and ``l`` share one footer label: "d l diff/log".
SHOW = Binding.Group("diff/log")


class DashboardScreen(RampScreen):
    BINDINGS = [
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("s", "sort", "sort"),
        Binding("d", "open('diff')", "diff", group=SHOW),
        Binding("l", "open('log')", "log", group=SHOW),
        Binding("escape", "clear_filter", "clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.sort = 0

    def compose(self) -> ComposeResult:
        glyphs = self.ramp.glyphs
        yield RunHeader(glyphs)
        yield InstanceTable(glyphs, id="instances")
        yield Input(placeholder="filter: words in the id, repo, state or outcome (Enter keeps, Esc clears)",
                    id="filter")
        yield SelectedLine(glyphs)
        yield CountersBar(glyphs)
        yield AlertStrip(glyphs)
        yield RampFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(InstanceTable).focus()
        self.watch(self.app, "snapshot", self.show_snapshot)

    def show_snapshot(self, snapshot: RunSnapshot | None) -> None:
        for panel in self.query("RunHeader, SelectedLine, CountersBar, AlertStrip"):
            panel.snapshot = snapshot  # type: ignore[attr-defined]
        if snapshot is not None:
            self._show_rows(snapshot)

    def _show_rows(self, snapshot: RunSnapshot) -> None:
        rows = visible_rows(snapshot.rows, self.filter_text, self.sort, snapshot.now)
        name = INSTANCE_SORTS[self.sort % len(INSTANCE_SORTS)][0]
        scope = f"{len(rows)}/{len(snapshot.rows)}" if self.filter_text else f"{len(rows)}"
        table = self.query_one(InstanceTable)
        table.show_rows(rows, snapshot.now, snapshot.attempts_k, caption=f"instance ({scope}) by {name}")

    def _refresh_rows(self) -> None:
        snapshot = self.ramp.snapshot
        if snapshot is not None:
            self._show_rows(snapshot)

    def action_sort(self) -> None:
        self.sort = (self.sort + 1) % len(INSTANCE_SORTS)
        self._refresh_rows()

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._refresh_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = bool(self.filter_text)
        self.query_one(InstanceTable).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        self.query_one(InstanceTable).focus()

    def on_instance_table_highlighted(self, message: InstanceTable.Highlighted) -> None:
        self.query_one(SelectedLine).instance_id = message.instance_id

    def on_instance_table_selected(self, message: InstanceTable.Selected) -> None:
        show_detail(self.app, message.instance_id, "diff")

    def action_open(self, tab: str) -> None:
        selected = self.query_one(InstanceTable).selected
        if selected is not None:
            show_detail(self.app, selected, tab)
