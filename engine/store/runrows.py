"""What the store knows about whole runs: the fingerprint their metrics are kept against, the kept
metrics, and removing a run (``ramp runs rm``)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from .connection import Connection


class RunRows(Connection):
    """Whole-run records; :class:`engine.store.Store` has them."""

    async def run_fingerprint(self, run_id: str) -> str:
        """A digest that changes whenever a row a run's metrics come from does: its row, its last
        event, and its attempts, evaluations, model calls, phases and instances (row counts, last
        rowids, and the columns that are updated in place). Indexed by run: cheap per run."""
        row = await self._one(
            "SELECT (SELECT updated_at || status FROM runs WHERE run_id = ?) AS run,"
            " (SELECT MAX(seq) FROM events WHERE run_id = ?) AS events,"
            " (SELECT COUNT(*) || '/' || MAX(rowid) || '/' || GROUP_CONCAT(status || '.' || COALESCE(outcome, '')"
            "  || '.' || COALESCE(error_class, '') || '.' || COALESCE(finished_at, '') || '.' || calls"
            "  || '.' || retries || '.' || COALESCE(patch_sha, ''), ',') FROM attempts WHERE run_id = ?) AS attempts,"
            " (SELECT COUNT(*) || '/' || MAX(rowid) FROM evaluations WHERE run_id = ?) AS evaluations,"
            " (SELECT COUNT(*) || '/' || MAX(id) FROM llm_calls WHERE run_id = ?) AS calls,"
            " (SELECT GROUP_CONCAT(COALESCE(status, '') || '.' || COALESCE(tier, '') || '.' || COALESCE(decision, '')"
            "  || '.' || COALESCE(decided_at, ''), ',') FROM phases WHERE run_id = ?) AS phases,"
            " (SELECT COUNT(*) || '/' || MAX(updated_at) FROM instances WHERE run_id = ?) AS instances",
            (run_id,) * 7,
        )
        return hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:32]

    async def save_metrics(self, run_id: str, fingerprint: str, metrics: dict[str, Any]) -> None:
        """Keep a run's metrics with the fingerprint they were computed at; the run row's
        updated_at is left alone (it is part of the fingerprint)."""
        await self._write(
            "UPDATE runs SET metrics_json = ? WHERE run_id = ?",
            (json.dumps({"fingerprint": fingerprint, "metrics": metrics}, default=str), run_id),
        )

    async def delete_run(self, run_id: str) -> dict[str, int]:
        """Remove a run's rows, in one unit; returns the rows removed per table. Its model calls
        stay, without the run's ids: they still count against their account's daily quota."""
        key = (run_id,)

        def unit(db: sqlite3.Connection) -> dict[str, int]:
            removed = {table: db.execute(f"DELETE FROM {table} WHERE run_id = ?", key).rowcount
                       for table in ("events", "evaluations", "attempts", "instances", "phases", "commands", "runs")}  # fmt: skip
            removed["llm_calls (kept for quotas)"] = db.execute(
                "UPDATE llm_calls SET run_id = NULL, instance_id = NULL, attempt = NULL WHERE run_id = ?", key
            ).rowcount
            return removed

        return await self.write(unit, heavy=True)  # every row of a run
