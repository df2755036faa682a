"""Fixtures: every database test runs on SQLite and, with ``TEST_PG_URL`` set, on PostgreSQL.

Isolation: each SQLite test gets its own database file; PostgreSQL tests share
one database created for the run (dropped after it, so concurrent runs never
meet), its schema built once and emptied (TRUNCATE … RESTART IDENTITY) after
each test. Both isolate tests that commit from several sessions, which the
race tests need and a rolled-back outer transaction could not give.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import create_engine, session_factory
from asyncdata.models import Base, Specialist
from asyncdata.repositories import ScheduleRepository, SpecialistRepository

PG_URL = os.environ.get("TEST_PG_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


async def _admin(statement: str) -> None:
    """Run one statement on the server's ``postgres`` database, outside a transaction."""
    engine = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _create_schema(url: URL) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of this run's own on the TEST_PG_URL server, with the models' schema.

    Concurrent runs never see each other's rows. Fails loudly if the server is unusable.
    """
    name = f"asyncdata_test_{uuid.uuid4().hex[:12]}"
    url = make_url(PG_URL).set(database=name)
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        asyncio.run(_create_schema(url))
    except Exception as exc:
        pytest.fail(f"TEST_PG_URL is set but PostgreSQL is unusable: {exc}", pytrace=False)
    yield url.render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    """The database of the backend under test: a new SQLite file, or this run's PostgreSQL one."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def engine(backend: str, db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database holding the models' schema, emptied after the test."""
    engine = create_engine(db_url)
    if backend == "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        if backend == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory, for tests that need several sessions at once."""
    return session_factory(engine)


@pytest.fixture
async def db(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


class StatementCounter:
    """Counts the data statements (SELECT/INSERT/UPDATE/DELETE) an engine sends."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_statements(engine: AsyncEngine) -> Any:
    """``with count_statements() as counter:`` — statements sent inside the block."""

    @contextmanager
    def counting() -> Iterator[StatementCounter]:
        counter = StatementCounter()
        event.listen(engine.sync_engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", counter)

    return counting


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date with the given weekday (0 = Monday), at least a week in the future."""
    start = date.today() + timedelta(days=7 * weeks_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


_emails = itertools.count(1)


async def make_specialist(db: AsyncSession, **overrides: Any) -> Specialist:
    """A specialist working 09:00-17:00 every day of the week, in its own timezone."""
    data: dict[str, Any] = {
        "name": "Dr. Ada Lovelace",
        "email": f"ada{next(_emails)}@example.com",
        "specialization": "Cardiology",
        "languages": "English, Spanish",
        "timezone": "Europe/Berlin",
    }
    data.update(overrides)
    specialist = await SpecialistRepository(db).create(data)
    await ScheduleRepository(db).create_many(
        {
            "specialist_id": specialist.id,
            "day_of_week": day,
            "start_time": time(9),
            "end_time": time(17),
        }
        for day in range(7)
    )
    return specialist
