"""The store's connection: opening runs/ramp.sqlite in WAL mode, migrating it forward, group
commit of writes, and the row helpers the writer's records use.

Writes are *units*: a function of a sqlite3 connection, run on the store's one writer connection.
Units that arrive while a commit is in progress wait, and the next commit takes them all: one
``BEGIN IMMEDIATE`` .. ``COMMIT`` for every unit queued by then (a unit that fails is rolled back
alone, and its caller gets the error: the batch runs again, each unit in its own savepoint). A
caller resumes only once its unit is committed, so durability is exactly what it was with a commit
per statement; 16 attempts in flight share their commits instead of taking turns.

A commit of small units runs on the event loop's own thread. With ``synchronous=NORMAL`` in WAL
mode it does not wait for the disk (it appends pages to the WAL): about as long as a hop to a worker
thread and back, which cost more CPU than the commit itself, two threads taking the GIL from each
other at every statement. Whatever may wait runs in the worker thread instead:

- a commit that finds another process holding the write lock (``ramp ctl`` writing a command):
  the loop's attempt gives up at once (the connection's busy timeout is 0) and the worker thread
  waits for the lock, as long as ``BUSY_TIMEOUT_S``;
- checkpoints, which sync the WAL and the database file to disk: SQLite's automatic ones would run
  inside a commit, so they are off, and the writer checkpoints in the worker thread every
  ``CHECKPOINT_EVERY`` commits (and when it closes);
- units marked ``heavy`` (a migration, a run's plan, removing a run).

Reads go through aiosqlite and see every committed write.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import aiosqlite
import anyio

from ..core.secrets import redacted_json
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")
#: How long a commit waits for another process's write lock before it fails (in the worker thread).
BUSY_TIMEOUT_S = 30.0
_WAIT_FOR_LOCKS = f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}"
#: Commits between two checkpoints of the WAL into the database file (a few hundred KB of WAL).
CHECKPOINT_EVERY = 100
Unit = Callable[[sqlite3.Connection], T]


def row_dict(cursor: aiosqlite.Cursor | sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class _Pending(Generic[T]):
    __slots__ = ("unit", "heavy", "result", "error", "done")

    def __init__(self, unit: Unit[T], heavy: bool = False):
        self.unit = unit
        self.heavy = heavy
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False


def _pragmas(db: sqlite3.Connection) -> bool:
    # 512-byte pages (SQLite's smallest), set before the file has any (an existing store keeps its
    # size): a commit writes every page it touched whole, and an attempt's records touch scattered
    # ones (its instance's row, its attempt's, the ends of the event table and its index). Measured
    # with benchmarks/orchestration.py, WAL per attempt: about 125 KB at 4 KB pages, 29-30 KB at
    # 1 KB, 19 KB at 512 bytes. Reading costs a little more: benchmarks/tui_table.py's catch-up
    # 1.65 s against 1.47-1.57 s at 1 KB, benchmarks/leaderboard.py's first pass 4.2 s against 3.9 s.
    # Returns whether the file keeps a write-ahead log (some network file systems cannot).
    db.execute("PRAGMA page_size=512")
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_WAIT_FOR_LOCKS)
    return str(mode).lower() == "wal"


class Connection:
    """One writer connection (group commit) and one aiosqlite reader per process."""

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None):
        self.path = Path(path)
        self._redact = redact or (lambda text: text)
        self._db: aiosqlite.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._pending: list[_Pending[Any]] = []
        self._flushing = False
        self._flushed: anyio.Event | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        #: Commits this connection made (fewer than the units it wrote, by the group commit).
        self.commits = 0
        #: Commits since the last checkpoint.
        self._uncheckpointed = 0
        #: Whether the file keeps a write-ahead log (known once open).
        self.wal = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._limiter = anyio.CapacityLimiter(1)
        try:
            self._writer = await anyio.to_thread.run_sync(self._connect_writer, limiter=self._limiter)
            await self.write(self._migrate, heavy=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            self._db.row_factory = row_dict  # type: ignore[assignment]  # rows are dicts, by design
            await self._db.execute(_WAIT_FOR_LOCKS)
        except BaseException:
            await self.close()  # a refused or broken file must not leave its worker thread behind
            raise
        return self

    def _connect_writer(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            self.wal = _pragmas(db)
            # The loop's commits never wait for a lock, nor checkpoint inside a commit (see above).
            db.execute("PRAGMA busy_timeout=0")
            db.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            db.close()
            raise
        return db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(writer.close, limiter=self._limiter)

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this Ramp ({SCHEMA_VERSION}); upgrade Ramp"
            )
        if 0 < version < SCHEMA_VERSION:
            # v8 copies the events and model calls: about 0.7 s per 100,000 events. One transaction.
            log.warning("%s: upgrading the store from schema v%d to v%d", self.path, version, SCHEMA_VERSION)
        for index in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[index].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {index + 1}")
        if version < SCHEMA_VERSION:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    # -- writes: group commit ------------------------------------------------------------------

    async def write(self, unit: Unit[T], *, heavy: bool = False) -> T:
        """Run ``unit`` on the writer connection and return its result once it is committed.

        Atomic on its own; committed together with whatever other units were queued at the time.
        Not cancellable once queued: a unit the caller gave up on would still commit. ``heavy``:
        the unit may take long (many rows), so its commit runs in the worker thread.
        """
        if self._writer is None or self._limiter is None:
            raise RuntimeError("store is not open")
        pending = _Pending(unit, heavy)
        self._pending.append(pending)
        with anyio.CancelScope(shield=True):
            while not pending.done:
                if self._flushing:
                    if self._flushed is None:
                        self._flushed = anyio.Event()
                    await self._flushed.wait()
                    continue
                self._flushing = True
                await anyio.sleep(0)  # let tasks that are ready queue their units: one commit for all
                batch, self._pending = self._pending, []
                try:
                    if any(p.heavy for p in batch) or not self._commit(batch, wait=False):
                        await anyio.to_thread.run_sync(self._commit, batch, limiter=self._limiter)
                    if self._uncheckpointed >= CHECKPOINT_EVERY:
                        await anyio.to_thread.run_sync(self._checkpoint, limiter=self._limiter)
                finally:
                    self._flushing = False
                    flushed, self._flushed = self._flushed, None
                    if flushed is not None:
                        flushed.set()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Pending[Any]], wait: bool = True) -> bool:
        """One transaction for the batch. Units are functions of the connection alone, so they can
        run twice: if one fails, the batch is undone (to its savepoint: the write lock stays ours)
        and run again with a savepoint per unit, and only the failing unit is rolled back
        (savepoints for every unit, every time, were a quarter of an attempt's statements).

        ``wait`` (in the worker thread): wait for another process's write lock. Without it (on the
        event loop), return False at once, with nothing done, if the lock is taken."""
        db = self._writer
        assert db is not None
        try:
            if wait:
                db.execute(_WAIT_FOR_LOCKS)
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not wait and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # any busy subcode
                    return False
                raise
            finally:
                if wait:
                    db.execute("PRAGMA busy_timeout=0")
            db.execute("SAVEPOINT batch")  # COMMIT commits it too
            try:
                for pending in batch:
                    pending.result = pending.unit(db)
            except Exception:  # a unit failed: undo the batch, and run it again a savepoint per unit
                db.execute("ROLLBACK TO batch")
                for pending in batch:
                    db.execute("SAVEPOINT unit")
                    try:
                        pending.result = pending.unit(db)
                    except Exception as exc:  # the unit's own failure: undo it alone, tell its caller
                        db.execute("ROLLBACK TO unit")
                        pending.error = exc
                    db.execute("RELEASE unit")
            db.execute("COMMIT")
            self.commits += 1
            self._uncheckpointed += 1
        except BaseException as exc:  # BEGIN or COMMIT failed (locked past busy_timeout, disk full)
            if db.in_transaction:
                db.execute("ROLLBACK")
            for pending in batch:
                pending.error, pending.result = exc, None
        for pending in batch:
            pending.done = True
        return True

    def _checkpoint(self) -> None:
        """In the worker thread: copy the WAL's pages into the database file, as far as no reader
        still needs them (PASSIVE: it waits for no one), so that the WAL starts over."""
        assert self._writer is not None
        self._uncheckpointed = 0
        try:
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a busy or full disk: the next one tries again
            log.warning("%s: checkpoint failed: %s", self.path, exc)

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        async with self.db.execute(sql, tuple(params)) as cursor:
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
            return row

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        async with self.db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One statement as a unit; returns its lastrowid."""
        values = tuple(params)
        return await self.write(lambda db: db.execute(sql, values).lastrowid or 0)

    def _json(self, value: Any) -> str:
        return redacted_json(value, self._redact)
