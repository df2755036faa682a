"""A fresh, dedicated database per run: a temporary SQLite file, or ``asyncdata_bench`` on
the PostgreSQL server (created and dropped through the ``postgres`` database, so the
``test`` database the test suite uses is never touched).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import create_engine
from asyncdata.models import Base
from benchmarks.drivers import AiosqliteDriver, AsyncpgDriver, RawDriver

__all__ = ["BENCH_DATABASE", "Target", "open_target"]

BENCH_DATABASE = "asyncdata_bench"


@dataclass
class Target:
    """The database under test, reachable through SQLAlchemy and through the raw driver."""

    backend: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    raw: RawDriver
    server_version: str


@asynccontextmanager
async def open_target(
    backend: str, pg_url: str | None = None, *, database: str = BENCH_DATABASE
) -> AsyncIterator[Target]:
    """Create the database and its schema (``Base.metadata.create_all``), yield it, drop it.

    On PostgreSQL, ``database`` is created on ``pg_url``'s server (any existing one of
    that name is dropped first: it can only be a leftover of an interrupted run).
    """
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="asyncdata-bench-") as folder:
            path = Path(folder) / "bench.db"
            async with _connected(backend, f"sqlite+aiosqlite:///{path}", str(path)) as target:
                yield target
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}: use sqlite or postgresql")
    if not pg_url:
        raise ValueError("PostgreSQL needs a URL: set TEST_PG_URL or pass --url")
    server = make_url(pg_url).set(drivername="postgresql+asyncpg")
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    try:
        async with admin.connect() as conn:
            await conn.execute(drop)
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = server.set(database=database)
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            async with _connected(backend, url, dsn) as target:
                yield target
        finally:
            async with admin.connect() as conn:
                await conn.execute(drop)
    finally:
        await admin.dispose()


@asynccontextmanager
async def _connected(backend: str, url: object, raw_address: str) -> AsyncIterator[Target]:
    engine = create_engine(url)  # type: ignore[arg-type]
    raw: RawDriver | None = None
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            query = "select sqlite_version()" if backend == "sqlite" else "show server_version"
            version = str((await conn.execute(text(query))).scalar_one())
        if backend == "sqlite":
            raw = await AiosqliteDriver.connect(raw_address)
        else:
            raw = await AsyncpgDriver.connect(raw_address)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        yield Target(backend, engine, sessions, raw, version)
    finally:
        if raw is not None:
            await raw.close()
        await engine.dispose()
