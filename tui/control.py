"""Acting on a run: every key that changes a run writes a row to its commands table.

Why the table even when the engine runs in this very process: it is the one control channel the
scheduler and the gate keeper already obey (``ramp ctl`` uses it too), it is durable (an approval
written while the engine is down still counts), and it makes an attached ``ramp watch`` and the
in-process app behave identically. A short-lived Store connection per command keeps the UI free
of any long-held writer.
"""

from __future__ import annotations

from pathlib import Path

from engine.store import Store


class Control:
    def __init__(self, db_path: Path, run_id: str):
        self.db_path = Path(db_path)
        self.run_id = run_id

    async def send(self, command: str, arg: str = "") -> int:
        """Queue ``command`` for the run; returns the command's id."""
        async with Store(self.db_path) as store:
            return await store.add_command(self.run_id, command, arg)
