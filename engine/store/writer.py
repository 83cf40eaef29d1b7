"""The durable store: runs/ramp.sqlite, in WAL mode.

WAL lets ``ramp watch`` and ``ramp ctl`` read (and write commands) while the engine writes. Records
are written as they happen, each as one unit of the connection's group commit (a caller resumes once
its unit is committed), with ``synchronous=NORMAL``: a SIGKILL at any moment leaves every committed
row intact (only an OS crash could lose the last ones). Records that must agree are one unit: a
run with its instances and phases, an attempt's finish with its instance's state and events, a model
call with its attempt's counters and its event. Attempts and evaluations are keyed by (run,
instance, attempt[, grade]), so a restarted run overwrites what was in flight instead of
duplicating it. Events are append-only and read back by rowid.

The schema version is SQLite's ``user_version``; :data:`MIGRATIONS` brings any older file forward.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..core.events import Event
from ..core.secrets import redact_event
from .connection import row_dict
from .queries import COLUMNS, event_row, events_after, parsed, validation_query
from .runrows import RunRows
from .schema import COMMANDS


class Store(RunRows):
    """The run's records, written as they happen (see the module docstring for what is atomic)."""

    # -- events --------------------------------------------------------------------------------

    def _event_row(self, event: Event) -> tuple[tuple[Any, ...], Event]:
        """The row to insert, and the event as it is stored: redacted value by value (the same
        object when nothing in it was a secret)."""
        data, stored = redact_event(event, self._redact)
        row = event_row(event, data)
        return row, stored

    _EVENT_SQL = f"INSERT INTO events ({', '.join(COLUMNS)}, data) VALUES ({'?,' * len(COLUMNS)}?)"

    async def append(self, event: Event) -> Event:
        """Write an event; returns it as stored (redacted), with ``seq`` set on both. An event that
        has its ``seq`` is in the store already (written with the records it belongs to), and is
        returned as it is."""
        if event.seq is not None:
            return event
        return (await self.apply((), [event]))[0]

    async def apply(self, statements: Iterable[tuple[str, tuple[Any, ...]]], events: Iterable[Event] = ()) -> list[Event]:
        """Statements and events in one unit (all or nothing); returns the events as stored
        (redacted), with ``seq`` set on each and its original. Events are serialised and redacted
        here, once, before the unit is queued."""
        statements = list(statements)
        rows = [(event, *self._event_row(event)) for event in events]

        def unit(db: sqlite3.Connection) -> list[Event]:
            for sql, params in statements:
                db.execute(sql, params)
            for event, row, stored in rows:
                event.seq = stored.seq = db.execute(self._EVENT_SQL, row).lastrowid
            return [stored for _, _, stored in rows]

        return await self.write(unit)

    async def events(
        self, run_id: str, after: int = 0, limit: int = 10_000, kinds: Iterable[str] | None = None
    ) -> list[Event]:
        return parsed(await self._all(*events_after(run_id, after, limit, kinds)))

    # -- runs ----------------------------------------------------------------------------------

    async def create_run(
        self,
        run_id: str,
        *,
        config: dict[str, Any],
        meta: dict[str, Any],
        instances: Iterable[tuple[str, str, int, int]] = (),
        phases: Iterable[tuple[int, str | None]] = (),
    ) -> None:
        """The run row, its instances and its phases, in one transaction.

        Written separately, a kill between them left a run row with no instances and no phases,
        which a resume then took for a run with nothing to do and no gates to pass.
        """
        now = time.time()
        run_row = (
            run_id, now, now, "running", meta.get("agent"), meta.get("model"), meta.get("evaluator"),
            meta.get("dataset"), meta.get("dataset_sha"), self._json(config), meta.get("pid"), meta.get("host"), now,
        )  # fmt: skip
        plan = self._plan(run_id, list(instances), list(phases))

        def unit(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO runs (run_id, created_at, updated_at, status, agent, model, evaluator, dataset,"
                " dataset_sha, config_json, pid, host, heartbeat) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                run_row,
            )
            plan(db)

        await self.write(unit, heavy=True)  # thousands of instance rows

    async def resume_run(
        self,
        run_id: str,
        *,
        instances: Iterable[tuple[str, str, int, int]],
        phases: Iterable[tuple[int, str | None]],
        **fields: Any,
    ) -> None:
        """Mark a run resumed (``fields`` update its row) and make sure every instance and phase of
        its plan has a row, in one transaction. Existing instances keep their state."""
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = (*fields.values(), run_id)
        plan = self._plan(run_id, list(instances), list(phases))

        def unit(db: sqlite3.Connection) -> None:
            db.execute(f"UPDATE runs SET {cols} WHERE run_id = ?", values)
            plan(db)

        await self.write(unit, heavy=True)

    @staticmethod
    def _plan(
        run_id: str, instances: list[tuple[str, str, int, int]], phases: list[tuple[int, str | None]]
    ) -> Callable[[sqlite3.Connection], None]:
        """The unit writing a plan's instance and phase rows (existing instances keep their state)."""
        now = time.time()

        def unit(db: sqlite3.Connection) -> None:
            if instances:
                db.executemany(
                    "INSERT INTO instances (run_id, instance_id, repo, phase, position, state, updated_at)"
                    " VALUES (?,?,?,?,?,'queued',?) ON CONFLICT (run_id, instance_id) DO UPDATE SET"
                    " phase = excluded.phase, position = excluded.position",
                    [(run_id, iid, repo, phase, pos, now) for iid, repo, phase, pos in instances],
                )
            for index, (size, name) in enumerate(phases):
                db.execute(
                    "INSERT INTO phases (run_id, phase, size, name) VALUES (?,?,?,?)"
                    " ON CONFLICT (run_id, phase) DO UPDATE SET size = excluded.size, name = excluded.name",
                    (run_id, index, size, name),
                )

        return unit

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM runs WHERE run_id = ?", (run_id,))

    async def list_runs(self) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM runs ORDER BY created_at")

    async def update_run(self, run_id: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        await self._write(f"UPDATE runs SET {cols} WHERE run_id = ?", (*fields.values(), run_id))

    # -- phases --------------------------------------------------------------------------------

    async def set_phases(self, run_id: str, phases: list[tuple[int, str | None]]) -> None:
        await self.write(self._plan(run_id, [], phases))  # a few phase rows

    async def update_phase(self, run_id: str, phase: int, **fields: Any) -> None:
        if "verdict" in fields:
            fields["verdict_json"] = self._json(fields.pop("verdict"))
        cols = ", ".join(f"{k} = ?" for k in fields)
        await self._write(f"UPDATE phases SET {cols} WHERE run_id = ? AND phase = ?", (*fields.values(), run_id, phase))

    async def phases(self, run_id: str) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM phases WHERE run_id = ? ORDER BY phase", (run_id,))

    # -- instances and attempts ----------------------------------------------------------------

    async def add_instances(self, run_id: str, rows: list[tuple[str, str, int, int]]) -> None:
        """(instance_id, repo, phase, position); existing instances keep their state."""
        await self.write(self._plan(run_id, rows, []), heavy=True)

    async def instances(self, run_id: str) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM instances WHERE run_id = ? ORDER BY position", (run_id,))

    async def set_instance(self, run_id: str, instance_id: str, **fields: Any) -> None:
        await self._write(*self.instance_update(run_id, instance_id, fields))

    @staticmethod
    def instance_update(run_id: str, instance_id: str, fields: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The statement updating an instance's row, for :meth:`apply`."""
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        return (
            f"UPDATE instances SET {cols} WHERE run_id = ? AND instance_id = ?",
            (*fields.values(), run_id, instance_id),
        )

    async def start_attempt(self, run_id: str, instance_id: str, attempt: int) -> None:
        await self.apply(self.attempt_start(run_id, instance_id, attempt))

    @staticmethod
    def attempt_start(run_id: str, instance_id: str, attempt: int) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements that begin (or restart, after a crash) an attempt: any half-written
        record is replaced. A retry, or a restart after a crash, begins the record again but keeps
        counting its retries and the model calls it already paid for: the attempt's counters are
        the sum of its llm_calls rows, whichever process made them."""
        key = (run_id, instance_id, attempt)
        return [
            ("DELETE FROM evaluations WHERE run_id = ? AND instance_id = ? AND attempt = ?", key),
            ("INSERT OR REPLACE INTO attempts (run_id, instance_id, attempt, status, started_at, retries,"
             " input_tokens, output_tokens, cost_usd, calls)"
             " SELECT ?, ?, ?, 'running', ?,"
             " COALESCE((SELECT retries FROM attempts WHERE run_id = ? AND instance_id = ? AND attempt = ?), 0),"
             " COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost_usd), 0),"
             " COUNT(*) FROM llm_calls WHERE run_id = ? AND instance_id = ? AND attempt = ?",
             (*key, time.time(), *key, *key)),
        ]  # fmt: skip

    def attempt_update(self, run_id: str, instance_id: str, attempt: int, fields: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        if "detail" in fields and fields["detail"] is not None:
            fields["detail"] = self._redact(str(fields["detail"]))
        cols = ", ".join(f"{k} = ?" for k in fields)
        return (
            f"UPDATE attempts SET {cols} WHERE run_id = ? AND instance_id = ? AND attempt = ?",
            (*fields.values(), run_id, instance_id, attempt),
        )

    async def update_attempt(self, run_id: str, instance_id: str, attempt: int, **fields: Any) -> None:
        await self._write(*self.attempt_update(run_id, instance_id, attempt, fields))

    async def attempts(self, run_id: str, instance_id: str | None = None) -> list[dict[str, Any]]:
        if instance_id is None:
            return await self._all(
                "SELECT * FROM attempts WHERE run_id = ? ORDER BY instance_id, attempt", (run_id,)
            )
        return await self._all(
            "SELECT * FROM attempts WHERE run_id = ? AND instance_id = ? ORDER BY attempt", (run_id, instance_id)
        )

    async def add_evaluation(self, run_id: str, instance_id: str, attempt: int, grade: int, **fields: Any) -> None:
        await self._write(*self.evaluation_insert(run_id, instance_id, attempt, grade, fields))

    def evaluation_insert(
        self, run_id: str, instance_id: str, attempt: int, grade: int, fields: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...]]:
        """The statement recording one grade of an attempt, for :meth:`apply`."""
        for key in ("tests", "f2p", "p2p", "checks"):
            if key in fields:
                fields[f"{key}_json"] = self._json(fields.pop(key))
        if fields.get("detail"):
            fields["detail"] = self._redact(str(fields["detail"]))
        fields.setdefault("created_at", time.time())
        cols = ["run_id", "instance_id", "attempt", "grade", *fields]
        return (
            f"INSERT OR REPLACE INTO evaluations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            (run_id, instance_id, attempt, grade, *fields.values()),
        )

    async def evaluations(self, run_id: str, instance_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM evaluations WHERE run_id = ?"
        params: list[Any] = [run_id]
        if instance_id is not None:
            sql += " AND instance_id = ?"
            params.append(instance_id)
        return await self._all(sql + " ORDER BY instance_id, attempt, grade", params)

    # -- model calls ---------------------------------------------------------------------------

    async def add_llm_call(self, *, event: Event | None = None, **fields: Any) -> Event | None:
        """One model call's row, and its tokens, cost and count added to its attempt's counters,
        in one unit: a kill can never leave one without the other. ``event`` (its LLMCall) is
        written in the same unit; returns it as stored."""
        fields.setdefault("ts", time.time())
        fields.setdefault("day", time.strftime("%Y-%m-%d", time.gmtime(fields["ts"])))
        cols = list(fields)
        statements = [(f"INSERT INTO llm_calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       tuple(fields.values()))]  # fmt: skip
        if fields.get("run_id") and fields.get("instance_id") and fields.get("attempt"):
            statements.append((
                "UPDATE attempts SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,"
                " cost_usd = cost_usd + ?, calls = calls + 1 WHERE run_id = ? AND instance_id = ? AND attempt = ?",
                (fields.get("input_tokens") or 0, fields.get("output_tokens") or 0, fields.get("cost_usd") or 0.0,
                 fields["run_id"], fields["instance_id"], fields["attempt"]),
            ))  # fmt: skip
        stored = await self.apply(statements, [event] if event is not None else [])
        return stored[0] if stored else None

    async def calls_today(self, provider: str, day: str | None = None) -> int:
        day = day or time.strftime("%Y-%m-%d", time.gmtime())
        row = await self._one(  # cache hits never reached the provider
            "SELECT COUNT(*) AS n FROM llm_calls WHERE provider = ? AND day = ? AND cache_hit = 0", (provider, day)
        )
        return int(row["n"]) if row else 0

    async def llm_calls(self, run_id: str) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY id", (run_id,))

    async def run_spend(self, run_id: str) -> float:
        row = await self._one("SELECT COALESCE(SUM(cost_usd), 0) AS usd FROM llm_calls WHERE run_id = ?", (run_id,))
        return float(row["usd"]) if row else 0.0

    # -- commands ------------------------------------------------------------------------------

    async def add_command(self, run_id: str, command: str, arg: str = "") -> int:
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        return await self._write(
            "INSERT INTO commands (run_id, ts, command, arg) VALUES (?,?,?,?)", (run_id, time.time(), command, arg)
        )

    async def pending_commands(self, run_id: str) -> list[dict[str, Any]]:
        return await self._all(
            "SELECT * FROM commands WHERE run_id = ? AND status = 'pending' ORDER BY id", (run_id,)
        )

    async def finish_command(self, command_id: int, status: str, result: str = "") -> None:
        await self._write(
            "UPDATE commands SET status = ?, handled_at = ?, result = ? WHERE id = ?",
            (status, time.time(), result, command_id),
        )

    async def expire_commands(self, run_id: str, commands: Iterable[str]) -> list[dict[str, Any]]:
        """Mark these pending commands ``expired`` (not replayed); returns them."""
        kinds = list(commands)
        where = f"run_id = ? AND status = 'pending' AND command IN ({','.join('?' * len(kinds))})"
        now = time.time()

        def unit(db: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = db.execute(f"SELECT * FROM commands WHERE {where} ORDER BY id", [run_id, *kinds])
            rows = [row_dict(cursor, row) for row in cursor.fetchall()]
            db.execute(
                f"UPDATE commands SET status = 'expired', handled_at = ?,"
                f" result = 'queued while no process ran the run; not replayed' WHERE {where}",
                [now, run_id, *kinds],
            )
            return rows

        return await self.write(unit)

    async def commands(self, run_id: str) -> list[dict[str, Any]]:
        return await self._all("SELECT * FROM commands WHERE run_id = ? ORDER BY id", (run_id,))

    # -- validation registry -------------------------------------------------------------------

    async def record_validation(self, instance_id: str, evaluator: str, **fields: Any) -> None:
        """One instance's validation under ``evaluator``, replacing any earlier one."""
        for key in ("broken", "flaky"):
            if key in fields:
                fields[f"{key}_json"] = self._json(fields.pop(key))
        if fields.get("reason"):
            fields["reason"] = self._redact(str(fields["reason"]))
        fields.setdefault("validated_at", time.time())
        cols = ["instance_id", "evaluator", *fields]
        await self._write(
            f"INSERT OR REPLACE INTO validation ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            (instance_id, evaluator, *fields.values()),
        )

    async def validations(self, evaluator: str | None = None) -> list[dict[str, Any]]:
        return await self._all(*validation_query(evaluator))
