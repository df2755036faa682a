"""The raw drivers behind one small interface: the floor every other peer is measured against.

SQL is written once, in asyncpg's ``$1`` style; the SQLite driver rewrites the
placeholders to SQLite's numbered ``?1``. Values are passed as each driver
wants them: asyncpg takes Python objects, SQLite takes the text forms
SQLAlchemy stores (so rows written raw read back through the ORM unchanged).
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]

__all__ = ["AiosqliteDriver", "AsyncpgDriver", "RawDriver"]

_PLACEHOLDER = re.compile(r"\$(\d+)")


class RawDriver(ABC):
    """One connection of the backend's driver, used without SQLAlchemy."""

    name: str

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> Sequence[Any]:
        """All rows of a query (or of a statement with RETURNING)."""

    async def fetchrow(self, sql: str, *args: Any) -> Any | None:
        """The first row, or None."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many parameter rows, in one committed transaction."""

    @abstractmethod
    def adapt(self, row: Sequence[Any]) -> Sequence[Any]:
        """Parameters as this driver takes them."""

    @abstractmethod
    async def close(self) -> None: ...


class AsyncpgDriver(RawDriver):
    """asyncpg: one connection for sequential calls, a pool for the concurrent ones."""

    name = "asyncpg"

    def __init__(self, connection: asyncpg.Connection, dsn: str) -> None:
        self.connection = connection
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, dsn: str) -> AsyncpgDriver:
        return cls(await asyncpg.connect(dsn), dsn)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Any]:
        return await self.connection.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> Any | None:
        return await self.connection.fetchrow(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.connection.transaction():
            await self.connection.executemany(sql, rows)

    def adapt(self, row: Sequence[Any]) -> Sequence[Any]:
        return row

    async def pool(self, size: int) -> asyncpg.Pool:
        """A pool of at most ``size`` connections, created on first use (by one task only)."""
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self.dsn, min_size=0, max_size=size)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self.connection.close()


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy stores in SQLite for ``value``: fixed-width text for dates and times."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


class AiosqliteDriver(RawDriver):
    """aiosqlite in autocommit mode; many-row writes get an explicit transaction."""

    name = "aiosqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, path: str) -> AiosqliteDriver:
        connection = await aiosqlite.connect(path, isolation_level=None)
        await connection.execute("PRAGMA busy_timeout = 30000")
        await connection.execute("PRAGMA foreign_keys = ON")
        return cls(connection)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Any]:
        return list(await self.connection.execute_fetchall(_PLACEHOLDER.sub(r"?\1", sql), args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.connection.execute("BEGIN IMMEDIATE")
        try:
            await self.connection.executemany(_PLACEHOLDER.sub(r"?\1", sql), rows)
        except BaseException:
            await self.connection.execute("ROLLBACK")
            raise
        await self.connection.execute("COMMIT")

    def adapt(self, row: Sequence[Any]) -> Sequence[Any]:
        return [_sqlite_value(value) for value in row]

    async def close(self) -> None:
        await self.connection.close()
