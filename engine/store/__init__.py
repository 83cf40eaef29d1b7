"""The durable store: runs/ramp.sqlite. :class:`Store` writes (aiosqlite, the engine's one writer);
:class:`StoreReader` reads (synchronous sqlite3, for threads and one-shot CLI reads). No SQL lives
outside this package."""

from .reader import InstanceRows, StoreReader
from .schema import COMMANDS, MIGRATIONS, SCHEMA_VERSION, wal_available
from .writer import Store

__all__ = ["COMMANDS", "MIGRATIONS", "SCHEMA_VERSION", "InstanceRows", "Store", "StoreReader", "wal_available"]
