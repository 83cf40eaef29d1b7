"""The instance table, virtualized: it draws only the lines on screen, whatever the run's size.

Why not a DataTable: a DataTable owns a copy of every row and re-measures them on change, which
for a 2,300-instance, 7,000-attempt run means holding and refreshing thousands of rows several
times a second. This is a ScrollView over the sequence it is handed (immutable
:class:`~engine.results.runview.InstanceRow` objects, already filtered and sorted by its screen), whose
``render_line`` formats just the row under each visible line, so a keypress costs the same for 12
instances or 12,000. Line 0 is a sticky column header.

Messages up: :class:`InstanceTable.Highlighted` when the cursor lands on an instance,
:class:`InstanceTable.Selected` on Enter or a click.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.results.runview import InstanceRow

from ..format import cells, columns_for, header, line
from ..glyphs import UNICODE, Glyphs


class InstanceTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    InstanceTable { height: 1fr; overflow-x: hidden; }
    InstanceTable > .instance-table--header { text-style: bold; background: $panel; }
    InstanceTable > .instance-table--cursor { background: $accent 40%; text-style: bold; }
    InstanceTable:focus > .instance-table--cursor { background: $accent 70%; }
    """
    COMPONENT_CLASSES = {"instance-table--header", "instance-table--cursor"}
    BINDINGS = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
        Binding("enter", "select", "open"),
    ]

    cursor = reactive(0, init=False)

    class Highlighted(Message):
        def __init__(self, instance_id: str) -> None:
            super().__init__()
            self.instance_id = instance_id

    class Selected(Message):
        def __init__(self, instance_id: str) -> None:
            super().__init__()
            self.instance_id = instance_id

    def __init__(self, glyphs: Glyphs = UNICODE, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.glyphs = glyphs
        self.rows: Sequence[InstanceRow] = ()
        self.now = 0.0
        self.attempts_k = 1
        self.caption = "instance"
        self._announced: str | None = None

    # -- attributes down -----------------------------------------------------------------------

    def show_rows(self, rows: Sequence[InstanceRow], now: float, attempts_k: int, caption: str = "instance") -> None:
        """Show ``rows`` (``caption`` heads the instance column); the cursor stays on the same
        instance if it is still among them."""
        current = self.selected
        self.rows, self.now, self.attempts_k, self.caption = rows, now, attempts_k, caption
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        if current is not None:
            index = next((i for i, r in enumerate(rows) if r.instance_id == current), None)
            if index is not None and index != self.cursor:
                self.set_reactive(InstanceTable.cursor, index)
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.call_later(self._announce)
        self.refresh()

    @property
    def selected(self) -> str | None:
        return self.rows[self.cursor].instance_id if 0 <= self.cursor < len(self.rows) else None

    # -- cursor --------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        body = max(1, self.size.height - 1)
        if new < self.scroll_y:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= self.scroll_y + body:
            self.scroll_to(y=new - body + 1, animate=False, immediate=True)
        self.refresh()
        self.call_later(self._announce)

    def _announce(self) -> None:
        """Post Highlighted when the selected instance changed. Run through call_later, so the
        message comes from this widget even when a parent moved the cursor (Textual does not bubble
        a message back to the node that sent it)."""
        if self.selected is not None and self.selected != self._announced:
            self._announced = self.selected
            self.post_message(self.Highlighted(self.selected))

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 2))

    def action_jump(self, index: int) -> None:
        if self.rows:
            self.cursor = index % len(self.rows)

    def action_select(self) -> None:
        if self.selected is not None:
            self.post_message(self.Selected(self.selected))

    def on_click(self, event: Click) -> None:
        index = int(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self.rows):
            self.cursor = index
            if event.chain > 1:
                self.action_select()

    # -- rendering -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = columns_for(width)
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("instance-table--header")
            return self._strip(header(columns, self.caption, self.glyphs.ascii), width, style)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        text = line(cells(row, self.now, self.attempts_k, self.glyphs), columns, self.glyphs.ascii)
        style = base + self.get_component_rich_style("instance-table--cursor") if index == self.cursor else base
        return self._strip(text, width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        segments = Segment.apply_style(text.render(self.app.console, end=""), style)
        return Strip(segments).crop(0, width).adjust_cell_length(width, style)
