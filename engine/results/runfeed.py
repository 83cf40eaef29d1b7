"""Follow one run through the store: its rows, and its new events by seq, folded into a RunView.

Why the synchronous :class:`engine.store.StoreReader` rather than the async Store: the
reader is meant to run in a thread of its own (the TUI's feed worker, next to an engine sharing the
UI's event loop), so it never holds that loop; WAL lets it read while the engine writes, the same
way in the engine's own process and in another one. It only reads: control goes through the
commands table.

Each :meth:`RunFeed.poll` reads at most ``batch`` events, so a reader attaching to a long run
catches up in steps and can show progress on the way.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..store import StoreReader
from .runview import RunSnapshot, RunView


class RunFeed:
    def __init__(self, db_path: Path, run_id: str, batch: int = 5000):
        self.db_path = Path(db_path)
        self.run_id = run_id
        self.batch = batch
        self.view = RunView(run_id)
        #: True when the last poll stopped at ``batch`` events: more are waiting.
        self.behind = False
        self._reader: StoreReader | None = None
        self._instances = 0

    def poll(self) -> bool:
        """Read what changed since the last poll; True if anything was folded."""
        if self._reader is None:
            if not self.db_path.exists():
                return False
            self._reader = StoreReader(self.db_path)
        try:
            return self._poll(self._reader)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the engine is creating the store right now
                return False
            raise

    def _poll(self, reader: StoreReader) -> bool:
        view, run_id = self.view, self.run_id
        run = reader.run(run_id)
        if run is None:
            return False
        before = (view.status, view.exit_code, view.heartbeat)
        view.load_run(run, json.loads(run["config_json"] or "{}"))
        count = reader.instance_count(run_id)
        if count != self._instances:
            view.load_instances(reader.instance_plan(run_id))
            self._instances = count
        phases = reader.phase_states(run_id)
        changed = before != (view.status, view.exit_code, view.heartbeat) or [
            (p.index, p.status, p.decision) for p in view.phases
        ] != [(p["phase"], p["status"], p["decision"]) for p in phases]
        view.load_phases(phases)
        events = reader.events(run_id, after=view.seq, limit=self.batch)
        for event in events:
            view.apply(event)
        self.behind = len(events) == self.batch
        return changed or bool(events)

    def catch_up(self) -> RunFeed:
        """Poll until every stored event is folded (for one-shot readers such as ``ramp status``)."""
        self.poll()
        while self.behind:
            self.poll()
        return self

    def snapshot(self, now: float) -> RunSnapshot:
        return self.view.snapshot(now)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
