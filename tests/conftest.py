"""Fixtures: every database test runs on SQLite and, with ``TEST_PG_URL`` set, on PostgreSQL.

They are built on asyncdata's own pytest plugin (``asyncdata.testing``), the one
users get: each test has a database of its own, migrated by ``init_db`` (a fresh
copy of a migrated SQLite file; on PostgreSQL one database for the run, emptied
after each test with ``TRUNCATE … RESTART IDENTITY``). Tests that commit from
several sessions (the races) are isolated as well as the rest. Shared helpers
live in ``tests/helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import session_factory
from tests.helpers import BACKENDS, StatementCounter


@pytest.fixture(params=BACKENDS)
def asyncdata_backend(request: pytest.FixtureRequest) -> str:
    """Every database test on each backend (the plugin's default is one of them)."""
    return str(request.param)


@pytest.fixture
def backend(asyncdata_backend: str) -> str:
    return asyncdata_backend


@pytest.fixture
def db_url(asyncdata_url: str) -> str:
    """The database of the test: a migrated SQLite file, or this run's PostgreSQL one."""
    return asyncdata_url


@pytest.fixture
def engine(asyncdata_engine: AsyncEngine) -> AsyncEngine:
    """An engine on the test's database, schema at head, emptied after the test."""
    return asyncdata_engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory, for tests that need several sessions at once."""
    return session_factory(engine)


@pytest.fixture
def db(asyncdata_db: AsyncSession) -> AsyncSession:
    return asyncdata_db


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
