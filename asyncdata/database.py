"""Engine, sessions and transactions: the one place asyncdata touches connections.

One engine per process, built on first use from ``DB_URL`` and the ``DB_*``
pool and timeout settings. SQLite connections are set up the way a booking
system needs them: foreign keys enforced, WAL so readers never block the
writer, a busy timeout (``DB_BUSY_TIMEOUT_MS``) so writers queue instead of
failing at once, and real transactions (the driver's deferred BEGIN is
replaced by ours, which makes savepoints work and lets write transactions
start with ``BEGIN IMMEDIATE``, serialising check-then-write on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import Pool, StaticPool

from asyncdata import _replicas
from asyncdata._config import (
    EngineSettings,
    async_url,
    load_settings,
    parse_read_urls,
    pgbouncer_flag,
)
from asyncdata._schema import migrate
from asyncdata._transactions import (
    AUTOCOMMIT_OPTION,
    PGBOUNCER_OPTION,
    WRITE_OPTION,
    AsyncDataSession,
    transaction,
)

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

SQLITE_BUSY_TIMEOUT_MS = 5_000
"""How long a SQLite writer waits for the lock before giving up, unless
``DB_BUSY_TIMEOUT_MS`` or ``create_engine(busy_timeout_ms=...)`` says otherwise."""

IsolationLevel = Literal[
    "AUTOCOMMIT", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE", "READ UNCOMMITTED"
]

_engine: AsyncEngine | None = None
_sessions: async_sessionmaker[AsyncSession] | None = None


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0] not in ("memory", "wal"):
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(AUTOCOMMIT_OPTION, False):
        return  # a read outside a transaction: sqlite3 runs each statement on its own
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION) else "BEGIN")


def _rollback_quietly(raw: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        raw.rollback()


def _on_sqlite_invalidate(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
    """Roll back a SQLite connection dropped mid-statement, ahead of its close.

    A call cancelled while its statement runs gets its connection invalidated.
    sqlite3 then closes it lazily (a "zombie" until the cancelled cursor is
    garbage-collected), holding the write lock all that while, so the next
    writer would wait out the whole busy timeout. A ROLLBACK queued on the
    driver's worker thread, ahead of the close, releases the lock at once.
    """
    driver = getattr(dbapi_connection, "driver_connection", None)  # an aiosqlite.Connection
    queue = getattr(driver, "_tx", None)
    raw = getattr(driver, "_connection", None)
    if queue is not None and isinstance(raw, sqlite3.Connection):
        queue.put_nowait((None, partial(_rollback_quietly, raw)))


def _set_lock_timeout(milliseconds: int, connection: Connection) -> None:
    """Behind PgBouncer: the lock timeout for this transaction only (``SET LOCAL``)."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # no transaction to scope it to; such a statement takes no row locks anyway
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(milliseconds)}")


def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Discard a pooled connection the server has already closed, without a round trip.

    asyncpg notices at once when the server ends a connection (a restart, a
    killed backend, an idle timeout); handing such a connection out would
    cost the caller one failed call. Raising DisconnectionError makes the
    pool drop it and check out (or open) another.
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this pooled connection")


_opening: set[asyncio.Future[Any]] = set()


async def _connect_shielded(*args: Any, **kwargs: Any) -> Any:
    """``asyncpg.connect`` that runs to its end even if the caller is cancelled meanwhile.

    Cancelling asyncpg half-way through opening a connection (during the TLS
    negotiation) leaves a future whose error nobody reads, logged as "Future
    exception was never retrieved", and a half-open socket. The caller still
    gets its cancellation at once; the connection, once open, is closed in the
    background and any error of it is consumed.
    """
    import asyncpg  # type: ignore[import-untyped]  # the driver ships no type hints

    opening = asyncio.ensure_future(asyncpg.connect(*args, **kwargs))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        _opening.add(opening)
        opening.add_done_callback(_close_orphan)
        raise


def _close_orphan(opening: asyncio.Future[Any]) -> None:
    _opening.discard(opening)
    if opening.cancelled() or opening.exception() is not None:
        return  # reading the exception is what keeps asyncio from logging it
    closing = asyncio.ensure_future(opening.result().close(timeout=2))
    _opening.add(closing)
    closing.add_done_callback(_forget)


def _forget(done: asyncio.Future[Any]) -> None:
    _opening.discard(done)
    if not done.cancelled():
        done.exception()


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout_s: float | None = None,
    pool_recycle_s: float | None = None,
    connect_timeout_s: float | None = None,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int | None = None,
    busy_timeout_ms: int | None = None,
    isolation_level: IsolationLevel | None = None,
    poolclass: type[Pool] | None = None,
    read_urls: Sequence[str | URL] = (),
    pgbouncer: bool = False,
) -> AsyncEngine:
    """A new engine for ``url`` with asyncdata's connection setup.

    ``read_urls`` (``DB_READ_URLS``) are PostgreSQL replicas of ``url``: reads
    outside ``transaction(db)`` of sessions that have not written go to them
    (see the README's "Scaling out"); each gets an engine with the same
    settings, disposed with the returned one. ``pgbouncer`` (``DB_PGBOUNCER``)
    sets connections up for PgBouncer in transaction pooling mode, in front
    of the primary and the replicas alike.

    Use it instead of ``create_async_engine`` when you manage engines
    yourself: repositories rely on the SQLite hooks it installs. Each tuning
    keyword is the ``DB_*`` variable of the same meaning (see
    ``asyncdata._config.EngineSettings``); one left at None takes the library
    default, not the environment (``get_engine()`` is what reads the
    environment). A bad value raises ``ConfigurationError`` naming the variable.
    Settings that do not apply to the backend (pool sizes for an in-memory
    SQLite database, timeouts of the other backend) are ignored.
    """
    settings = EngineSettings(
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout_s=pool_timeout_s,
        pool_recycle_s=pool_recycle_s,
        connect_timeout_s=connect_timeout_s,
        statement_timeout_ms=statement_timeout_ms,
        lock_timeout_ms=lock_timeout_ms,
        busy_timeout_ms=busy_timeout_ms,
    )
    primary = async_url(url)
    return _build(
        primary,
        settings,
        echo=echo,
        isolation_level=isolation_level,
        poolclass=poolclass,
        replicas=parse_read_urls(primary, read_urls, from_env=False),
        pgbouncer=pgbouncer_flag(primary, pgbouncer),
    )


def _build(
    url: URL,
    given: EngineSettings,
    *,
    echo: bool,
    isolation_level: IsolationLevel | None = None,
    poolclass: type[Pool] | None = None,
    replicas: tuple[URL, ...] = (),
    pgbouncer: bool = False,
) -> AsyncEngine:
    engine = _build_one(
        url,
        given,
        echo=echo,
        isolation_level=isolation_level,
        poolclass=poolclass,
        pgbouncer=pgbouncer,
    )
    _replicas.attach(
        engine,
        [
            _build_one(
                replica,
                given,
                echo=echo,
                isolation_level=isolation_level,
                poolclass=poolclass,
                pgbouncer=pgbouncer,
            )
            for replica in replicas
        ],
    )
    return engine


def _statement_name() -> str:
    """A prepared statement name no other connection or process uses (PgBouncer: one
    server connection serves many clients, so counters per connection would clash)."""
    return f"__asyncdata_{uuid.uuid4().hex}__"


def _build_one(
    url: URL,
    given: EngineSettings,
    *,
    echo: bool,
    isolation_level: IsolationLevel | None,
    poolclass: type[Pool] | None,
    pgbouncer: bool,
) -> AsyncEngine:
    settings = given.with_defaults()
    options: dict[str, Any] = {"echo": echo}
    if isolation_level is not None:
        options["isolation_level"] = isolation_level
    if poolclass is not None:
        options["poolclass"] = poolclass
    dialect: Any = url.get_dialect()
    pool_class: type[Pool] = poolclass or dialect.get_pool_class(url)
    if pool_class is not StaticPool:
        options["pool_recycle"] = settings.pool_recycle_s or -1
    if hasattr(pool_class, "overflow"):  # a queue pool: bounded size, bounded wait
        options["pool_size"] = settings.pool_size
        options["max_overflow"] = settings.max_overflow
        options["pool_timeout"] = settings.pool_timeout_s
    if url.get_backend_name() == "sqlite":
        # sqlite3's own busy handler; the connect hook no longer overrides it.
        options["connect_args"] = {"timeout": (settings.busy_timeout_ms or 0) / 1000}
    else:
        server_settings: dict[str, str] = {}
        connect_args: dict[str, Any] = {
            "timeout": settings.connect_timeout_s,
            "server_settings": server_settings,
            "async_creator_fn": _connect_shielded,
        }
        if pgbouncer:
            # PgBouncer refuses startup parameters it does not know (statement_timeout ...)
            # and hands each transaction whichever server connection is free: no
            # statement cache (asyncpg's and SQLAlchemy's), unique statement names, and
            # the timeouts applied without startup parameters (README, "Scaling out").
            connect_args["statement_cache_size"] = 0
            connect_args["prepared_statement_cache_size"] = 0
            connect_args["prepared_statement_name_func"] = _statement_name
            if settings.statement_timeout_ms is not None:
                connect_args["command_timeout"] = settings.statement_timeout_ms / 1000
            options["execution_options"] = {PGBOUNCER_OPTION: True}
        else:
            if settings.statement_timeout_ms is not None:
                server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
            if settings.lock_timeout_ms is not None:
                server_settings["lock_timeout"] = str(settings.lock_timeout_ms)
        options["connect_args"] = connect_args
    engine = create_async_engine(url, **options)
    if pgbouncer and settings.lock_timeout_ms is not None:
        event.listen(
            engine.sync_engine, "begin", partial(_set_lock_timeout, settings.lock_timeout_ms)
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        event.listen(engine.sync_engine.pool, "invalidate", _on_sqlite_invalidate)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _on_checkout)
    return engine


async def init_db(engine: AsyncEngine | None = None) -> str:
    """Bring the schema to the newest revision; return ``"alembic"`` or ``"create_all"``.

    Alembic upgrades ``engine``'s database (default: ``get_engine()``) to the head of
    the migration scripts shipped in the package. Only when Alembic or its scripts
    cannot be used (e.g. ``ALEMBIC_CONFIG`` names a missing file), a warning says why
    and the tables are created from the models instead: on a database holding no
    tables (then stamped at the head revision, so a later upgrade works) or one
    already stamped at it; any other database raises ``ConfigurationError``. An
    upgrade that fails raises ``ConfigurationError`` naming the revisions and the
    cause, and leaves the database as it was. Safe to call repeatedly and from many
    processes at once: one migrates, the others wait and return the same path. An
    unreachable database raises ``TransientError``, an unusable one (bad path,
    unknown host, wrong credentials) ``ConfigurationError``; both say where, never
    with the password.
    """
    return await migrate(engine if engine is not None else get_engine())


def get_engine() -> AsyncEngine:
    """The process-wide engine, created on first use from ``DB_URL`` and the ``DB_*`` settings."""
    global _engine
    if _engine is None:
        settings = load_settings()
        _engine = _build(
            settings.url,
            settings.engine,
            echo=settings.echo,
            replicas=settings.read_urls,
            pgbouncer=settings.pgbouncer,
        )
    return _engine


def session_factory(engine: AsyncEngine | None = None) -> async_sessionmaker[AsyncSession]:
    """An ``async_sessionmaker`` with ``expire_on_commit=False``, for ``engine`` or the default."""
    global _sessions
    if engine is not None:
        return async_sessionmaker(engine, expire_on_commit=False, class_=AsyncDataSession)
    if _sessions is None or _sessions.kw["bind"] is not get_engine():
        _sessions = async_sessionmaker(
            get_engine(), expire_on_commit=False, class_=AsyncDataSession
        )
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
    """Close the pool (and the read replicas' pools); the next ``get_engine()`` reads
    ``DB_URL`` and ``DB_READ_URLS`` again."""
    global _engine, _sessions
    engine, _engine, _sessions = _engine, None, None
    if engine is not None:
        await engine.dispose()
