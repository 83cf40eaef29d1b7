"""Follow one run through the store: its rows, and its new events by seq, folded into a RunView.

Why synchronous sqlite3 (:func:`engine.store.connect_readonly`) rather than the async Store: the
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

from .events import parse_event
from .runview import RunSnapshot, RunView
from .store import connect_readonly


class RunFeed:
    def __init__(self, db_path: Path, run_id: str, batch: int = 5000):
        self.db_path = Path(db_path)
        self.run_id = run_id
        self.batch = batch
        self.view = RunView(run_id)
        #: True when the last poll stopped at ``batch`` events: more are waiting.
        self.behind = False
        self._conn: sqlite3.Connection | None = None
        self._instances = 0

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is None and self.db_path.exists():
            self._conn = connect_readonly(self.db_path)
        return self._conn

    def poll(self) -> bool:
        """Read what changed since the last poll; True if anything was folded."""
        conn = self._connection()
        if conn is None:
            return False
        try:
            return self._poll(conn)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the engine is creating the store right now
                return False
            raise

    def _poll(self, conn: sqlite3.Connection) -> bool:
        view, run_id = self.view, self.run_id
        run = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if run is None:
            return False
        before = (view.status, view.exit_code, view.heartbeat)
        view.load_run(dict(run), json.loads(run["config_json"] or "{}"))
        count = conn.execute("SELECT COUNT(*) FROM instances WHERE run_id = ?", (run_id,)).fetchone()[0]
        if count != self._instances:
            view.load_instances([dict(r) for r in conn.execute(
                "SELECT instance_id, repo, phase, position FROM instances WHERE run_id = ?", (run_id,))])
            self._instances = count
        phases = [dict(r) for r in conn.execute(
            "SELECT phase, size, name, status, decision, decided_by FROM phases WHERE run_id = ? ORDER BY phase",
            (run_id,),
        )]
        changed = before != (view.status, view.exit_code, view.heartbeat) or [
            (p.index, p.status, p.decision) for p in view.phases
        ] != [(p["phase"], p["status"], p["decision"]) for p in phases]
        view.load_phases(phases)
        rows = conn.execute(
            "SELECT seq, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, view.seq, self.batch),
        ).fetchall()
        for row in rows:
            event = parse_event(row["data"])
            event.seq = row["seq"]
            view.apply(event)
        self.behind = len(rows) == self.batch
        return changed or bool(rows)

    def catch_up(self) -> RunFeed:
        """Poll until every stored event is folded (for one-shot readers such as ``ramp status``)."""
        self.poll()
        while self.behind:
            self.poll()
        return self

    def snapshot(self, now: float) -> RunSnapshot:
        return self.view.snapshot(now)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
