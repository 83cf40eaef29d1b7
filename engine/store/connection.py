"""The store's connection: opening runs/ramp.sqlite in WAL mode, migrating it forward, one lock
that serialises writes, transactions, and the row helpers the writer's records use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite
import anyio

from ..core.secrets import redacted_json
from .schema import MIGRATIONS, SCHEMA_VERSION


def _row_dict(cursor: aiosqlite.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class Connection:
    """One connection per process. Writes are serialised by a lock; every write commits."""

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None):
        self.path = Path(path)
        self._redact = redact or (lambda text: text)
        self._db: aiosqlite.Connection | None = None
        self._lock = anyio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        self._db.row_factory = _row_dict  # type: ignore[assignment]  # rows are dicts, by design
        try:
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=NORMAL")
            await self._db.execute("PRAGMA busy_timeout=30000")
            await self._migrate()
        except BaseException:
            await self.close()  # a refused or broken file must not leave its worker thread behind
            raise
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _migrate(self) -> None:
        async with self.transaction():
            row = await self._one("PRAGMA user_version")
            version = int(row["user_version"]) if row else 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this Ramp ({SCHEMA_VERSION}); upgrade Ramp"
                )
            for index in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        await self.db.execute(statement)
                await self.db.execute(f"PRAGMA user_version = {index + 1}")
            if version < SCHEMA_VERSION:
                await self.db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Group writes atomically. Re-entrant use from one task is not supported."""
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.db.execute("ROLLBACK")
                raise
            else:
                with anyio.CancelScope(shield=True):
                    await self.db.execute("COMMIT")

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        async with self.db.execute(sql, tuple(params)) as cursor:
            row: dict[str, Any] | None = await cursor.fetchone()  # type: ignore[assignment]
            return row

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        async with self.db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())  # type: ignore[arg-type]

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        lastrowid = 0
        async with self._lock:
            with anyio.CancelScope(shield=True):
                cursor = await self.db.execute(sql, tuple(params))
                lastrowid = cursor.lastrowid or 0
        return lastrowid

    def _json(self, value: Any) -> str:
        return redacted_json(value, self._redact)
