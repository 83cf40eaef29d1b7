"""Modal dialogs: a yes/no confirmation, and the key help built from the real bindings.

The help is handed the bindings the app, screens and widgets actually declare, so it cannot drift
from what the keys do.
"""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

YES_NO = "y / Enter: yes    n / Esc: no"


class ConfirmScreen(ModalScreen[bool]):
    """Ask before anything that changes a run: dismisses with True (yes) or False (no)."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto; padding: 1 2;
        border: thick $warning; background: $surface;
    }
    ConfirmScreen #hint { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question", markup=False)
            yield Static(YES_NO, id="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


Sections = list[tuple[str, list[BindingType]]]


def key_table(sections: Sections) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column("section", style="dim", no_wrap=True)
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("does")
    for section, bindings in sections:
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            keys = binding.key_display or binding.key
            table.add_row(section, keys.replace("question_mark", "?"), binding.description)
            section = ""
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: thick $primary; background: $surface; overflow-y: auto;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "close")]

    def __init__(self, sections: Sections) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("keys (no mouse needed); 1 dashboard, 2 phases and gates, 3 leaderboard", id="help-title")
            yield Static(key_table(self.sections), id="keys")
