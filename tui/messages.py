"""Messages the app's workers post up to the screens.

Why ``RunUpdated.can_replace``: the feed may produce snapshots faster than a slow terminal draws
them; a newer snapshot holds everything an older one did, so a queued one is dropped in favour of
the next (the same coalescing toolong uses for file changes). Nothing the engine does waits on it.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from engine.results.runview import RunSnapshot

from .details import InstanceDetail


class RunUpdated(Message):
    """The run's picture changed (or the clock ticked): the latest snapshot."""

    def __init__(self, snapshot: RunSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated)


class DetailLoaded(Message):
    """An instance's attempts, diffs, test results, steps and log tail were read."""

    def __init__(self, detail: InstanceDetail) -> None:
        super().__init__()
        self.detail = detail


class CommandSent(Message):
    """A command was written to the run's commands table (the engine picks it up from there)."""

    def __init__(self, command: str, arg: str, command_id: int) -> None:
        super().__init__()
        self.command = command
        self.arg = arg
        self.command_id = command_id


class LeaderboardLoaded(Message):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows


class EngineFinished(Message):
    """The in-process run returned (``exit_code``) or failed (``error``)."""

    def __init__(self, exit_code: int, error: str = "") -> None:
        super().__init__()
        self.exit_code = exit_code
        self.error = error
