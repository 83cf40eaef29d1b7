"""The leaderboard mode: every run in the store ranked by engine.results.leaderboard, sortable with ``s``.

Rows come from :func:`engine.results.leaderboard.leaderboard_rows`, the same numbers as ``ramp
leaderboard`` and the reports. They are loaded when the mode is shown and again when the followed
run's status changes (a finished run changes the ranking), never on every snapshot: the ranking
recomputes every run's metrics. A line under the table gives the highlighted run whole, so a
terminal too narrow for every column (80) still shows each figure.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from engine.results.leaderboard import leaderboard_rows
from engine.results.runview import RunSnapshot
from engine.store import Store

from ..format import money
from ..messages import LeaderboardLoaded
from ..query import LEADERBOARD_SORTS, sort_leaderboard
from ..widgets.footer import RampFooter
from .base import RampScreen

COLUMNS = ("#", "run", "agent / model", "resolved", "rate", "95% CI", "pass@1", "infra", "$/inst", "verdict",
           "status")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


class LeaderboardScreen(RampScreen):
    BINDINGS = [Binding("s", "sort", "sort"), Binding("g", "reload", "reload")]

    def __init__(self) -> None:
        super().__init__()
        self.sort = 0
        self.rows: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self._status: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="board-title")
        yield DataTable(id="board", cursor_type="row", zebra_stripes=True)
        yield Static(id="board-row")
        yield RampFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.query_one(DataTable).focus()
        self.watch(self.app, "snapshot", self.show_snapshot)

    def on_screen_resume(self) -> None:
        self.load()

    def show_snapshot(self, snapshot: RunSnapshot | None) -> None:
        status = snapshot.status if snapshot else None
        if status != self._status:
            self._status = status
            self.load()

    @work(exclusive=True)
    async def load(self) -> None:
        app = self.ramp
        async with Store(app.db_path) as store:
            rows = await leaderboard_rows(store, app.runs_dir)
        self.post_message(LeaderboardLoaded(rows))

    def on_leaderboard_loaded(self, message: LeaderboardLoaded) -> None:
        self.rows = message.rows
        self._draw()

    def action_sort(self) -> None:
        self.sort = (self.sort + 1) % len(LEADERBOARD_SORTS)
        self._draw()

    def action_reload(self) -> None:
        self.load()

    def _draw(self) -> None:
        column, descending = LEADERBOARD_SORTS[self.sort]
        order = "descending" if descending else "ascending"
        self.query_one("#board-title", Static).update(
            f"leaderboard: {len(self.rows)} run(s), sorted by {column} ({order}); s sorts, g reloads")
        table = self.query_one(DataTable)
        table.clear()
        self.shown = sort_leaderboard(self.rows, self.sort)
        for r in self.shown:
            table.add_row(
                str(r["rank"]), r["run_id"], f"{r['agent']} / {r['model'] or '-'}", f"{r['resolved']}/{r['scored']}",
                _pct(r["resolved_rate"]), _ci(r), _pct(r["pass_at_1"]), str(r["infra_failures"]),
                money(r["cost_per_instance"]), r["last_verdict"] or "-", r["status"],
            )
        self._describe(table.cursor_row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe(event.cursor_row)

    def _describe(self, index: int) -> None:
        line = self.query_one("#board-row", Static)
        if not 0 <= index < len(self.shown):
            line.update("")
            return
        r = self.shown[index]
        line.update(
            f"#{r['rank']} {r['run_id']}: {r['agent']} / {r['model'] or '-'}, {r['resolved']}/{r['scored']} resolved "
            f"({_pct(r['resolved_rate'])}, 95% CI {_ci(r)}), pass@1 {_pct(r['pass_at_1'])}, infra "
            f"{r['infra_failures']}, {money(r['cost_per_instance'])} per instance, last gate "
            f"{r['last_verdict'] or '-'}, {r['status']}"
        )


def _ci(r: dict[str, Any]) -> str:
    low, high = r["ci_low"], r["ci_high"]
    return "-" if low is None or high is None else f"{100 * low:.0f}-{100 * high:.0f}%"
