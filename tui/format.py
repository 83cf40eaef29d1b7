"""Pure formatting: numbers, durations, the state pipeline, and the instance table's columns.

Why separate from the widgets: these are the decisions about what a cell says, and they are the
same in every screen and at every width, so they are plain functions of a row, a clock reading and
a glyph set, easy to test without a terminal. Widgets only place the results.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from engine.results.runview import PIPELINE, InstanceRow

from .glyphs import Glyphs

OUTCOME_STYLE = {"resolved": "green", "unresolved": "yellow", "error": "red"}
LEVEL_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}
TIER_STYLE = {"STOP": "bold red", "CAUTION": "bold yellow", "PROCEED": "bold cyan", "EXCELLENT": "bold green"}


def money(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"${value:,.{digits}f}"


def count(value: int | float | None) -> str:
    """1234 -> 1.2k, 2_500_000 -> 2.5M."""
    if value is None:
        return "-"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def duration(seconds: float | None) -> str:
    """Compact: 42s, 3m05s, 2h07m, 3d04h."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def pipeline(row: InstanceRow, glyphs: Glyphs) -> Text:
    """queued → … → outcome as one glyph per stage: passed stages filled, the current one
    highlighted (reverse video, so it shows without colour), the last one the attempt's outcome."""
    text = Text()
    current = row.stage
    for index, _ in enumerate(PIPELINE):
        if index < current:
            text.append(glyphs.stage_done, style="dim")
        elif index > current:
            text.append(glyphs.stage_todo, style="dim")
        elif index == len(PIPELINE) - 1:
            text.append(glyphs.outcome(row.state), style=f"bold reverse {OUTCOME_STYLE.get(row.state, '')}")
        else:
            text.append(glyphs.stage_now, style="bold reverse cyan")
    return text


def state_label(row: InstanceRow) -> str:
    """``agent:edit`` while the agent works, ``eval:env install`` while an environment builds,
    ``error:infra`` for a classed error, else the state."""
    if row.state == "agent" and row.sub_state:
        return f"agent:{row.sub_state}"
    if row.state == "evaluating" and row.sub_state:
        return f"eval:{row.sub_state}"
    if row.state == "preparing" and row.sub_state:
        return f"prep:{row.sub_state}"
    if row.state == "error" and row.error_class:
        return f"error:{row.error_class}"
    return row.state


def attempt_label(row: InstanceRow, k: int) -> str:
    return f"{row.attempt}/{max(k, row.attempt)}" if row.attempt else f"-/{k}"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    right: bool = False


#: Columns at their natural widths; the instance column takes the room the others leave.
COLUMNS = (
    Column("id", "instance", 24),
    Column("repo", "repo", 16),
    Column("pipeline", "pipeline", 8),
    Column("state", "state", 14),
    Column("attempt", "att", 4, right=True),
    Column("outcome", "outcome", 10),
    Column("tokens", "tokens", 6, right=True),
    Column("cost", "cost", 7, right=True),
    Column("duration", "time", 6, right=True),
)
#: Narrow terminals drop these, in this order, until the instance column keeps MIN_ID cells.
DROP_ORDER = ("repo", "tokens", "outcome")
MIN_ID, FIRST_ID = 20, 32
#: Room left once the instance column has FIRST_ID cells (most ids) goes to these, in turn, up to
#: these widths: full states (error:model_format, eval:env install), outcomes, longer ids,
#: repositories, the longest ids.
GROW = (("state", 22), ("outcome", 12), ("id", 40), ("repo", 28), ("state", 28), ("id", 56))


def columns_for(width: int) -> list[Column]:
    """The columns that fit ``width`` cells, one space apart; a wide terminal's room widens them."""
    chosen = list(COLUMNS)
    for key in DROP_ORDER:
        if width - sum(c.width + 1 for c in chosen if c.key != "id") - 1 >= MIN_ID:
            break
        chosen = [c for c in chosen if c.key != key]
    id_width = min(FIRST_ID, max(10, width - sum(c.width + 1 for c in chosen if c.key != "id") - 1))
    widths = {c.key: (id_width if c.key == "id" else c.width) for c in chosen}
    spare = width - sum(w + 1 for w in widths.values()) - 1
    for key, most in GROW:
        if key in widths and spare > 0:
            extra = min(spare, max(0, most - widths[key]))
            widths[key] += extra
            spare -= extra
    return [Column(c.key, c.title, widths[c.key], c.right) for c in chosen]


def cells(row: InstanceRow, now: float, k: int, glyphs: Glyphs) -> dict[str, Text]:
    outcome = Text(f"{glyphs.outcome(row.outcome)} {row.outcome}" if row.outcome else "",
                   style=OUTCOME_STYLE.get(row.outcome or "", ""))
    tokens = row.input_tokens + row.output_tokens
    return {
        "id": Text(row.instance_id),
        "repo": Text(row.repo, style="dim"),
        "pipeline": pipeline(row, glyphs),
        "state": Text(state_label(row), style=OUTCOME_STYLE.get(row.state, "")),
        "attempt": Text(attempt_label(row, k)),
        "outcome": outcome,
        "tokens": Text(count(tokens) if tokens else "-"),
        # $0 after model calls is a cost (a local model); no calls at all is not.
        "cost": Text(money(row.cost_usd, 3) if (row.cost_usd or tokens) else "-"),
        "duration": Text(duration(row.duration(now))),
    }


def line(values: dict[str, Text], columns: list[Column], ascii: bool = False) -> Text:
    """Cells laid out in fixed-width columns, one space apart; long cells end in an ellipsis
    (or are cut, on an ASCII terminal)."""
    out = Text(no_wrap=True)
    for column in columns:
        cell = values[column.key].copy()
        cell.truncate(column.width, overflow="crop" if ascii else "ellipsis")
        if column.right:
            cell.pad_left(column.width - cell.cell_len)
        else:
            cell.pad_right(column.width - cell.cell_len)
        out.append_text(cell)
        out.append(" ")
    return out


def header(columns: list[Column], caption: str, ascii: bool = False) -> Text:
    """The column titles, with ``caption`` (what is shown and in which order) over the instance column."""
    return line({c.key: Text(caption if c.key == "id" else c.title) for c in columns}, columns, ascii)
