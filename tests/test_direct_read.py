"""``get_by_id``'s direct path on PostgreSQL (``asyncdata/repositories/_direct.py``): the
connections it uses come back healthy, a dead or cancelled one is discarded, and inside a
transaction the session's own path is taken. SQLite always takes the session's path."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import create_engine, transaction
from asyncdata.repositories import SpecialistRepository
from tests.helpers import PG_URL

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set"),
    pytest.mark.parametrize("asyncdata_backend", ["postgresql"]),
]
Sessions = async_sessionmaker[AsyncSession]


async def pooled_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)


async def admin(url: str, statement: str, **params: object) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def test_a_killed_idle_connection_costs_no_failed_call(
    sessions: Sessions, engine: AsyncEngine, db_url: str
) -> None:
    async with sessions() as db:
        made = await SpecialistRepository(db).create({"name": "A", "email": "a@example.com"})
    pid = await pooled_pid(engine)
    await admin(db_url, "SELECT pg_terminate_backend(:pid)", pid=pid)
    await asyncio.sleep(0.2)  # the client reads the server's goodbye
    async with sessions() as db:
        found = await SpecialistRepository(db).get_by_id(made.id)
    assert found is not None and found.email == "a@example.com"
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_cancelled_read_discards_its_connection(
    sessions: Sessions, engine: AsyncEngine, db_url: str
) -> None:
    async with sessions() as db:
        made = await SpecialistRepository(db).create({"name": "B", "email": "b@example.com"})
    locker = create_engine(db_url)
    try:
        async with locker.connect() as conn:  # the read waits behind this lock
            await conn.execute(text("LOCK TABLE specialists IN ACCESS EXCLUSIVE MODE"))
            async with sessions() as db:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await SpecialistRepository(db).get_by_id(made.id)
            await conn.rollback()
    finally:
        await locker.dispose()
    assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with sessions() as db:
        found = await SpecialistRepository(db).get_by_id(made.id)
    assert found is not None and found.name == "B"


async def test_an_object_read_directly_behaves_as_one_loaded_by_a_query(
    sessions: Sessions,
) -> None:
    async with sessions() as db:
        repo = SpecialistRepository(db)
        made = await repo.create({"name": "C", "email": "c@example.com", "timezone": "UTC"})
        db.expunge_all()
        found = await repo.get_by_id(made.id)
        assert found is not None and found in db
        assert await repo.get_by_id(made.id) is found  # the identity map answers
        assert found.created_at.tzinfo is not None
        assert not db.dirty
        found.bio = "edited"
        async with transaction(db):
            same = await repo.get_by_id(made.id)  # the session's path, in the block
            assert same is found
        await db.commit()
    async with sessions() as db:
        again = await SpecialistRepository(db).get_by_id(made.id)
        assert again is not None and again.bio == "edited"
