"""Engine, sessions and transactions: the one place asyncdata touches connections.

One engine per process, built on first use from ``DB_URL``. SQLite connections
are set up the way a booking system needs them: foreign keys enforced, WAL so
readers never block the writer, a busy timeout so writers queue instead of
failing at once, and real transactions (the driver's deferred BEGIN is
replaced by ours, which makes savepoints work and lets write transactions
start with ``BEGIN IMMEDIATE``, serialising check-then-write on SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from asyncdata.config import async_url, load_settings
from asyncdata.schema import init_db
from asyncdata.transactions import WRITE_OPTION, transaction

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_engine",
    "db_session",
    "dispose_engine",
    "get_db",
    "get_engine",
    "init_db",
    "session_factory",
    "transaction",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the lock before giving up."""

_engine: AsyncEngine | None = None
_sessions: async_sessionmaker[AsyncSession] | None = None


def _sqlite_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _sqlite_icontains(needle: str, *values: str | None) -> bool:
    return any(isinstance(value, str) and needle in value.lower() for value in values)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] not in ("memory", "wal"):
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
    dbapi_connection.create_function("asyncdata_lower", 1, _sqlite_lower, deterministic=True)
    dbapi_connection.create_function(
        "asyncdata_icontains", -1, _sqlite_icontains, deterministic=True
    )


def _on_sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """A new engine for ``url`` with asyncdata's connection setup.

    Use it instead of ``create_async_engine`` when you manage engines
    yourself: repositories rely on the SQLite hooks it installs.
    """
    engine = create_async_engine(async_url(url), echo=echo, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def get_engine() -> AsyncEngine:
    """The process-wide engine, created from ``DB_URL`` on first use."""
    global _engine
    if _engine is None:
        settings = load_settings()
        _engine = create_engine(settings.url, echo=settings.echo)
    return _engine


def session_factory(engine: AsyncEngine | None = None) -> async_sessionmaker[AsyncSession]:
    """An ``async_sessionmaker`` with ``expire_on_commit=False``, for ``engine`` or the default."""
    global _sessions
    if engine is not None:
        return async_sessionmaker(engine, expire_on_commit=False)
    if _sessions is None or _sessions.kw["bind"] is not get_engine():
        _sessions = async_sessionmaker(get_engine(), expire_on_commit=False)
    return _sessions


def get_db() -> AsyncSession:
    """A new session on the default engine.

    Use as ``db = get_db()`` (then ``await db.close()``) or as
    ``async with get_db() as db:``, which closes it on exit.
    """
    return session_factory()()


async def db_session() -> AsyncIterator[AsyncSession]:
    """Yield a session and close it afterwards; fits FastAPI's ``Depends(db_session)``."""
    async with get_db() as db:
        yield db


async def dispose_engine() -> None:
    """Close the pool; the next ``get_engine()`` reads ``DB_URL`` again."""
    global _engine, _sessions
    engine, _engine, _sessions = _engine, None, None
    if engine is not None:
        await engine.dispose()
