"""The read-only store: synchronous sqlite3, for threads and one-shot CLI reads."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.events import Event
from .queries import STEPS_OF_INSTANCE, events_after, parsed, validation_query


@dataclass(frozen=True)
class InstanceRows:
    """What the store holds about one instance of a run, for its detail view."""

    repo: str
    attempts: list[dict[str, Any]]
    #: The official grade (grade 0) of each attempt, by attempt number.
    evaluations: dict[int, dict[str, Any]]
    #: The agent_step events of each attempt, in order, as dicts.
    steps: dict[int, list[dict[str, Any]]]


class StoreReader:
    """A synchronous, read-only view of the store, for a thread of its own (the TUI's feed, its
    detail loader) and for one-shot CLI reads: it never holds an event loop, and WAL lets it read
    while the engine writes, in the engine's process or another. Every query the front ends make is
    here, beside the writer's. Opens lazily; ``sqlite3.Error`` escapes to the caller (a store being
    created this instant has no tables yet)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            self._conn.row_factory = sqlite3.Row
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row is not None else None

    def run_ids(self) -> list[str]:
        """Every run's id, newest first."""
        return [r[0] for r in self.conn.execute("SELECT run_id FROM runs ORDER BY created_at DESC")]

    def instance_count(self, run_id: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM instances WHERE run_id = ?", (run_id,)).fetchone()[0])

    def instance_plan(self, run_id: str) -> list[dict[str, Any]]:
        """Each instance's id, repo, phase and position (not its changing state: events carry that)."""
        return [dict(r) for r in self.conn.execute(
            "SELECT instance_id, repo, phase, position FROM instances WHERE run_id = ?", (run_id,))]

    def phase_states(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT phase, size, name, status, decision, decided_by FROM phases WHERE run_id = ? ORDER BY phase",
            (run_id,),
        )]

    def events(self, run_id: str, after: int = 0, limit: int = 10_000) -> list[Event]:
        return parsed(self.conn.execute(*events_after(run_id, after, limit)).fetchall())

    def instance(self, run_id: str, instance_id: str) -> InstanceRows:
        conn, key = self.conn, (run_id, instance_id)
        row = conn.execute("SELECT repo FROM instances WHERE run_id = ? AND instance_id = ?", key).fetchone()
        attempts = [dict(r) for r in conn.execute(
            "SELECT * FROM attempts WHERE run_id = ? AND instance_id = ? ORDER BY attempt", key)]
        evaluations = {r["attempt"]: dict(r) for r in conn.execute(
            "SELECT * FROM evaluations WHERE run_id = ? AND instance_id = ? AND grade = 0", key)}
        steps: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(STEPS_OF_INSTANCE, key):
            steps.setdefault(r["attempt"], []).append(json.loads(r["data"]))
        return InstanceRows(row["repo"] if row else "", attempts, evaluations, steps)

    def validations(self, evaluator: str | None = None) -> list[dict[str, Any]]:
        """The validation registry (an empty list for a store that predates it)."""
        try:
            return [dict(r) for r in self.conn.execute(*validation_query(evaluator))]
        except sqlite3.OperationalError:
            return []
