"""The store's schema: tables, indexes and the migrations that bring an older file forward.

The schema version is SQLite's ``user_version``; :data:`MIGRATIONS` index i holds the script that
takes version i to i + 1.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    agent TEXT, model TEXT, evaluator TEXT, dataset TEXT, dataset_sha TEXT,
    config_json TEXT NOT NULL,
    pid INTEGER, host TEXT, heartbeat REAL
);
CREATE TABLE phases (
    run_id TEXT NOT NULL, phase INTEGER NOT NULL, size INTEGER NOT NULL, name TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    tier TEXT, verdict_json TEXT, decision TEXT, decided_by TEXT, decided_at REAL,
    PRIMARY KEY (run_id, phase)
);
CREATE TABLE instances (
    run_id TEXT NOT NULL, instance_id TEXT NOT NULL, repo TEXT NOT NULL,
    phase INTEGER NOT NULL, position INTEGER NOT NULL,
    state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, sub_state TEXT,
    outcome TEXT, error_class TEXT, extra_attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL,
    PRIMARY KEY (run_id, instance_id)
);
CREATE TABLE attempts (
    run_id TEXT NOT NULL, instance_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT, error_class TEXT, detail TEXT, retries INTEGER NOT NULL DEFAULT 0,
    exit_status TEXT, patch_path TEXT, patch_sha TEXT, patch_bytes INTEGER,
    trajectory_path TEXT, log_path TEXT,
    started_at REAL, agent_done_at REAL, finished_at REAL, agent_s REAL, eval_s REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, instance_id, attempt)
);
CREATE TABLE evaluations (
    run_id TEXT NOT NULL, instance_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    grade INTEGER NOT NULL DEFAULT 0, evaluator TEXT,
    resolved INTEGER NOT NULL, applied INTEGER NOT NULL, error_class TEXT, detail TEXT,
    tests_json TEXT, f2p_json TEXT, p2p_json TEXT, log_path TEXT,
    duration_s REAL, setup_s REAL, created_at REAL,
    PRIMARY KEY (run_id, instance_id, attempt, grade)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
    instance_id TEXT, attempt INTEGER, data TEXT NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, seq);
CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT, instance_id TEXT, attempt INTEGER,
    ts REAL NOT NULL, day TEXT NOT NULL, model_id TEXT NOT NULL, provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0, estimated INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL, latency_s REAL, ttft_s REAL, status TEXT NOT NULL, error_class TEXT
);
CREATE INDEX llm_calls_by_day ON llm_calls (provider, day);
CREATE INDEX llm_calls_by_run ON llm_calls (run_id);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, ts REAL NOT NULL, command TEXT NOT NULL, arg TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending', handled_at REAL, result TEXT
);
CREATE INDEX commands_pending ON commands (run_id, status);
"""

#: v2: the instance detail (TUI, reports) reads one instance's events; without this index that is a
#: scan of every event of the store.
SCHEMA_V2 = """
CREATE INDEX events_by_instance ON events (run_id, instance_id, seq);
"""

#: v3: the validation registry (``ramp validate``): per instance and evaluator, whether the gold
#: patch resolves and the empty one does not in this environment, and if not, which tests and why.
SCHEMA_V3 = """
CREATE TABLE validation (
    instance_id TEXT NOT NULL, evaluator TEXT NOT NULL, repo TEXT NOT NULL, version TEXT,
    dataset TEXT, status TEXT NOT NULL, reason TEXT,
    broken_json TEXT, flaky_json TEXT, gold_resolved INTEGER, empty_resolved INTEGER,
    runs INTEGER NOT NULL DEFAULT 0, env_key TEXT, build_s REAL, test_s REAL, validated_at REAL,
    PRIMARY KEY (instance_id, evaluator)
);
"""

#: v4: a run's metrics as last computed, with the fingerprint of the rows they came from, so the
#: leaderboard and reports recompute only runs that changed (engine.results.metrics.cached_metrics).
SCHEMA_V4 = """
ALTER TABLE runs ADD COLUMN metrics_json TEXT;
"""

#: v5: model calls answered by the LLM response cache (engine.models.cache): cost 0, the reply's
#: original cost and latency kept apart.
SCHEMA_V5 = """
ALTER TABLE llm_calls ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE llm_calls ADD COLUMN saved_usd REAL;
ALTER TABLE llm_calls ADD COLUMN original_latency_s REAL;
"""

#: v6: what a task family's grader saw besides the tests (code completion: syntax validity and the
#: degenerate-output rule a candidate broke), as JSON.
SCHEMA_V6 = """
ALTER TABLE evaluations ADD COLUMN checks_json TEXT;
"""

#: v7: the by-instance index keeps agent steps only, the one kind read by instance (the detail's
#: steps, engine.store.reader). Indexing every event put a leaf page of a random place in the index
#: into most commits: 10 of the 44 KB that each attempt wrote to the WAL.
SCHEMA_V7 = """
DROP INDEX events_by_instance;
CREATE INDEX events_steps ON events (run_id, instance_id, seq) WHERE kind = 'agent_step';
"""

#: v8: events and model calls number their rows without AUTOINCREMENT: the next rowid is the
#: largest plus one, and the table keeps no counter in sqlite_sequence, whose page every commit that
#: added an event wrote again (3 KB per attempt). Rows are never deleted but with their whole run
#: (``ramp runs rm``), and a number is reused only if that run held the largest ones: no reader of
#: any other run has seen them. Both tables are copied once, as SQLite requires to change a key.
SCHEMA_V8 = """
CREATE TABLE events_v8 (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL, ts REAL NOT NULL, kind TEXT NOT NULL,
    instance_id TEXT, attempt INTEGER, data TEXT NOT NULL
);
INSERT INTO events_v8 (seq, run_id, ts, kind, instance_id, attempt, data)
    SELECT seq, run_id, ts, kind, instance_id, attempt, data FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v8 RENAME TO events;
CREATE INDEX events_by_run ON events (run_id, seq);
CREATE INDEX events_steps ON events (run_id, instance_id, seq) WHERE kind = 'agent_step';
CREATE TABLE llm_calls_v8 (
    id INTEGER PRIMARY KEY,
    run_id TEXT, instance_id TEXT, attempt INTEGER,
    ts REAL NOT NULL, day TEXT NOT NULL, model_id TEXT NOT NULL, provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0, estimated INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL, latency_s REAL, ttft_s REAL, status TEXT NOT NULL, error_class TEXT,
    cache_hit INTEGER NOT NULL DEFAULT 0, saved_usd REAL, original_latency_s REAL
);
INSERT INTO llm_calls_v8 SELECT id, run_id, instance_id, attempt, ts, day, model_id, provider, input_tokens,
    output_tokens, cached_tokens, estimated, cost_usd, latency_s, ttft_s, status, error_class, cache_hit, saved_usd,
    original_latency_s FROM llm_calls ORDER BY id;
DROP TABLE llm_calls;
ALTER TABLE llm_calls_v8 RENAME TO llm_calls;
CREATE INDEX llm_calls_by_day ON llm_calls (provider, day);
CREATE INDEX llm_calls_by_run ON llm_calls (run_id);
"""

#: v9: model calls are indexed by attempt. Every attempt's start sums the calls its attempt already
#: made (engine.store.writer.attempt_start: a retry, or a restart after a crash, keeps counting
#: them); indexed by run only, that read every call of the run so far, at each start: 0.12 ms a start
#: instead of 0.03 ms over 1,000 one-call attempts, and growing with the run (quadratic over it).
#: The by-run queries use the new index's prefix.
SCHEMA_V9 = """
DROP INDEX llm_calls_by_run;
CREATE INDEX llm_calls_by_attempt ON llm_calls (run_id, instance_id, attempt);
"""

#: Index i holds the script that takes user_version i to i + 1.
MIGRATIONS: list[str] = [
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8, SCHEMA_V9,
]
SCHEMA_VERSION = len(MIGRATIONS)

COMMANDS = ("pause", "resume", "stop", "approve", "reject", "rerun", "rerun-failed")


def wal_available(folder: Path) -> bool:
    """Whether SQLite can keep a write-ahead log in ``folder`` (not on some network filesystems):
    the store needs one so that readers never block the run's writer."""
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            conn = sqlite3.connect(Path(tmp) / "probe.sqlite")
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            finally:
                conn.close()
            return str(mode).lower() == "wal"
    except (OSError, sqlite3.Error):
        return False
