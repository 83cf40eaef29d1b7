"""The LLM response cache's file (engine.models.cache decides what goes in it): one table of
replies keyed by a request hash, in its own SQLite file next to the store, shared by processes."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, model_id TEXT NOT NULL, text TEXT NOT NULL, usage_json TEXT NOT NULL,
    cost_usd REAL, latency_s REAL NOT NULL, ttft_s REAL, finish_reason TEXT, created_at REAL NOT NULL
)
"""
COLUMNS = ("model_id", "text", "usage_json", "cost_usd", "latency_s", "ttft_s", "finish_reason")


class ResponseFile:
    """Blocking reads and writes (call them from a worker thread); opened on first use."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(SCHEMA)
            self._db = db
        return self._db

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn().execute(
                f"SELECT {', '.join(COLUMNS)} FROM responses WHERE key = ?", (key,)
            ).fetchone()
        return dict(zip(COLUMNS, row, strict=True)) if row else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        values = {**{c: record.get(c) for c in COLUMNS}, "key": key, "created_at": time.time()}
        with self._lock:
            self._conn().execute(
                f"INSERT OR REPLACE INTO responses ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
