"""Fixtures: every database test runs on SQLite and, with ``TEST_PG_URL`` set, on PostgreSQL.

Isolation: each SQLite test gets its own database file; PostgreSQL tests share
one schema built once per run and emptied (TRUNCATE … RESTART IDENTITY) after
each test. Both isolate tests that commit from several sessions, which the
race tests need and a rolled-back outer transaction could not give.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import create_engine, session_factory
from asyncdata.models import Base, Specialist
from asyncdata.repositories import ScheduleRepository, SpecialistRepository

PG_URL = os.environ.get("TEST_PG_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


async def _reset_pg_schema() -> None:
    engine = create_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_schema() -> None:
    """Build the PostgreSQL schema once; fail loudly if the server cannot be reached."""
    try:
        asyncio.run(_reset_pg_schema())
    except Exception as exc:
        pytest.fail(f"TEST_PG_URL is set but PostgreSQL is unusable: {exc}", pytrace=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_schema")
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Any) -> str:
    """A URL for an empty database of the backend under test."""
    return f"sqlite+aiosqlite:///{tmp_path}/test.db" if backend == "sqlite" else PG_URL


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


async def make_specialist(db: AsyncSession, **overrides: Any) -> Specialist:
    """A specialist working 09:00-17:00 every day of the week, in its own timezone."""
    data: dict[str, Any] = {
        "name": "Dr. Ada Lovelace",
        "email": f"ada{id(overrides)}@example.com",
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
