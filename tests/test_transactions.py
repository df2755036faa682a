"""The transaction model: what each call sends, commits and undoes, on both backends.

Statements are counted as they leave the client, transaction control
included: on SQLite by sqlite3's trace callback; on PostgreSQL by SQLAlchemy's
cursor events (every statement, sent as a cached prepared statement: one round
trip each) plus asyncpg's query logger, which sees the BEGIN, COMMIT and
ROLLBACK that asyncpg's transactions send on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import await_only

from asyncdata.database import create_engine, session_factory, transaction
from asyncdata.errors import ConflictError, TransientError, ValidationError
from asyncdata.models import Specialist
from asyncdata.repositories import BookingRepository, SpecialistRepository

Sessions = async_sessionmaker[AsyncSession]


def specialist_data(n: int, **overrides: Any) -> dict[str, Any]:
    return {"name": f"Specialist {n}", "email": f"s{n}@example.com", **overrides}


async def stored_names(sessions: Sessions) -> list[str]:
    async with sessions() as fresh:
        return list(await fresh.scalars(select(Specialist.name).order_by(Specialist.name)))


class DriverLog:
    """Every statement the driver sends, in order, first word upper-cased."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.on = False
        self.last = ""
        self.sqlite = False

    def __call__(self, statement: str) -> None:
        # SQLite traces what its FTS5 tables run inside a statement as "-- …", and traces a
        # statement again when it re-prepares it (the first write through a virtual table's
        # trigger on a connection): neither is a statement the library sent.
        if not self.on or statement.startswith("--"):
            return
        if self.sqlite and statement == self.last:
            return
        self.last = statement
        self.sent.append(" ".join(statement.rstrip(" ;").split()[:2]).upper())

    @property
    def kinds(self) -> list[str]:
        """The statements reduced to their verb (``BEGIN IMMEDIATE`` kept whole), sorted:
        asyncpg reports its own statements a moment late, so the order is not kept."""
        return sorted(s if s.startswith("BEGIN") else s.split()[0] for s in self.sent)


def watch_driver(engine: AsyncEngine) -> DriverLog:
    """Attach a DriverLog to every connection ``engine`` opens from now on."""
    log = DriverLog()

    @event.listens_for(engine.sync_engine, "connect")
    def attach(dbapi_connection: Any, _record: Any) -> None:
        driver = dbapi_connection.driver_connection
        if engine.dialect.name == "sqlite":
            log.sqlite = True
            await_only(driver.set_trace_callback(log))
        else:
            driver.add_query_logger(lambda record: log(record.query))

    if engine.dialect.name != "sqlite":

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            log(sql)

    return log


@asynccontextmanager
async def recording(log: DriverLog) -> AsyncIterator[DriverLog]:
    await asyncio.sleep(0.05)  # let reports of earlier statements arrive first
    log.sent.clear()
    log.on = True
    try:
        yield log
        await asyncio.sleep(0.05)
    finally:
        log.on = False


@pytest.fixture
async def watched(engine: AsyncEngine) -> AsyncIterator[tuple[Sessions, DriverLog]]:
    """A session factory on a fresh engine whose driver statements are logged."""
    fresh = create_engine(engine.url)
    log = watch_driver(fresh)
    try:
        yield session_factory(fresh), log
    finally:
        await fresh.dispose()


# -- round trips -----------------------------------------------------------------------------


async def test_a_read_outside_a_block_sends_one_statement_and_holds_nothing(
    watched: tuple[Sessions, DriverLog], sessions: Sessions
) -> None:
    factory, log = watched
    async with sessions() as setup:
        created = await SpecialistRepository(setup).create(specialist_data(1))
    async with factory() as db:
        repo = SpecialistRepository(db)
        await repo.get_by_id(created.id)  # warms the connection (and asyncpg's statement cache)
        db.expunge_all()
        async with recording(log):
            found = await repo.get_by_id(created.id)
            listed = await repo.get_all()
        assert found is not None and [s.id for s in listed] == [created.id]
        assert log.kinds == ["SELECT", "SELECT"], log.sent
        assert not db.in_transaction()
        assert db.bind.sync_engine.pool.checkedout() == 0  # type: ignore[union-attr]


async def test_a_write_outside_a_block_is_one_transaction(
    watched: tuple[Sessions, DriverLog], backend: str
) -> None:
    factory, log = watched
    async with factory() as db:
        repo = SpecialistRepository(db)
        await repo.create(specialist_data(1))
        async with recording(log):
            await repo.create(specialist_data(2))
        begin = "BEGIN IMMEDIATE" if backend == "sqlite" else "BEGIN"
        assert log.kinds == sorted([begin, "INSERT", "COMMIT"]), log.sent


async def test_inside_a_block_writes_take_a_savepoint_and_postgresql_reads_too(
    watched: tuple[Sessions, DriverLog], backend: str
) -> None:
    factory, log = watched
    async with factory() as db:
        repo = SpecialistRepository(db)
        first = await repo.create(specialist_data(1))
        db.expunge_all()
        async with recording(log), transaction(db):
            await repo.create(specialist_data(2))
            await repo.get_by_id(first.id)
        block = ["BEGIN IMMEDIATE" if backend == "sqlite" else "BEGIN", "COMMIT"]
        write = ["SAVEPOINT", "INSERT", "RELEASE"]
        read = ["SELECT"] if backend == "sqlite" else ["SAVEPOINT", "SELECT", "RELEASE"]
        assert log.kinds == sorted(block + write + read), log.sent


# -- pending changes (the caller's own ORM edits) ---------------------------------------------


async def test_a_write_refuses_while_the_caller_has_uncommitted_changes(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    ada = await repo.create(specialist_data(1, name="Ada"))
    ada.bio = "edited, not committed"
    db.add(Specialist(name="Added", email="added@example.com"))
    with pytest.raises(ValidationError, match=r"not committed.*new Specialist.*bio") as caught:
        await repo.create(specialist_data(2, name="Bob"))
    assert caught.value.fields == ("session",)
    assert await stored_names(sessions) == ["Ada"]
    # Nothing was dropped or committed: the changes are still pending, and commit on request.
    assert db.is_modified(ada) and len(db.new) == 1
    await db.commit()
    assert await stored_names(sessions) == ["Ada", "Added"]
    assert (await repo.create(specialist_data(2, name="Bob"))).name == "Bob"


async def test_a_read_leaves_pending_changes_pending_and_unflushed(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    ada = await repo.create(specialist_data(1, name="Ada"))
    ada.name = "Ada (edited)"
    assert [s.id for s in await repo.get_all()] == [ada.id]
    assert await repo.count() == 1
    assert db.is_modified(ada)
    assert await stored_names(sessions) == ["Ada"]
    await db.commit()
    assert await stored_names(sessions) == ["Ada (edited)"]


# -- failures keep what the caller loaded ----------------------------------------------------


async def test_a_failed_write_expires_nothing_and_later_edits_commit(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    ada = await repo.create(specialist_data(1, name="Ada"))
    with pytest.raises(ConflictError):
        await repo.create(specialist_data(2, email="S1@example.com"))
    with pytest.raises(ConflictError):
        await repo.create(specialist_data(3, email="s1@example.com"))
    assert inspect(ada).expired_attributes == set()
    assert ada.name == "Ada" and ada in db
    ada.bio = "edited after the failure"
    await db.commit()
    async with sessions() as fresh:
        assert (await fresh.get(Specialist, ada.id)).bio == "edited after the failure"  # type: ignore[union-attr]


async def test_a_failed_update_leaves_the_loaded_object_as_it_was(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    ada = await repo.create(specialist_data(1, name="Ada"))
    await repo.create(specialist_data(2, name="Bob"))
    with pytest.raises(ConflictError):
        await repo.update(ada.id, {"name": "Ada Renamed", "email": "s2@example.com"})
    assert (ada.name, ada.email) == ("Ada", "s1@example.com")
    assert not db.is_modified(ada)


async def test_a_block_that_raises_keeps_earlier_objects_as_they_were(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    ada = await repo.create(specialist_data(1, name="Ada"))
    with pytest.raises(RuntimeError):
        async with transaction(db):
            await repo.update(ada.id, {"name": "Renamed in the block"})
            made = await repo.create(specialist_data(2))
            raise RuntimeError("abandon")
    assert ada.name == "Ada" and ada in db and not db.is_modified(ada)
    assert made not in db  # its row was never stored
    assert await stored_names(sessions) == ["Ada"]
    ada.bio = "later edit"
    await db.commit()
    async with sessions() as fresh:
        assert (await fresh.get(Specialist, ada.id)).bio == "later edit"  # type: ignore[union-attr]


# -- reads that fail on the server -----------------------------------------------------------


NO_FAILING_READ = (
    "SQLite has no read that fails on the server (WAL readers never wait), "
    "and a failed statement there never aborts the transaction"
)


@pytest.fixture
async def impatient(engine: AsyncEngine) -> AsyncIterator[Sessions]:
    """Sessions whose lock and busy waits give up after 200 ms."""
    fresh = create_engine(engine.url, lock_timeout_ms=200, busy_timeout_ms=200)
    try:
        yield session_factory(fresh)
    finally:
        await fresh.dispose()


async def lock_out_postgresql(engine: AsyncEngine, table: str = "specialists") -> Any:
    """Another connection holding ``table`` so that even reads of it wait (and time out)."""
    connection = await engine.connect()
    await connection.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    return connection


async def test_a_failed_read_in_a_block_leaves_it_able_to_commit(
    impatient: Sessions, sessions: Sessions, engine: AsyncEngine, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip(NO_FAILING_READ)
    async with impatient() as db:
        repo = SpecialistRepository(db)
        async with transaction(db):
            await repo.create(specialist_data(1, name="Before"))
            holder = await lock_out_postgresql(engine, "bookings")
            try:
                with pytest.raises(TransientError):
                    await BookingRepository(db).get_all()
            finally:
                await holder.rollback()
                await holder.close()
            await repo.create(specialist_data(2, name="After"))
    assert await stored_names(sessions) == ["After", "Before"]


async def test_a_failed_read_outside_expires_nothing(
    impatient: Sessions, engine: AsyncEngine, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip(NO_FAILING_READ)
    async with impatient() as db:
        repo = SpecialistRepository(db)
        ada = await repo.create(specialist_data(1, name="Ada"))
        holder = await lock_out_postgresql(engine)
        try:
            with pytest.raises(TransientError):
                await repo.get_all()
        finally:
            await holder.rollback()
            await holder.close()
        assert ada.name == "Ada" and inspect(ada).expired_attributes == set()
        assert [s.name for s in await repo.get_all()] == ["Ada"]


# -- a lost connection ----------------------------------------------------------------------


async def kill_backend(engine: AsyncEngine, db: AsyncSession) -> None:
    pid = (await db.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with engine.connect() as other:
        await other.execute(select(func.pg_terminate_backend(pid)))
    await asyncio.sleep(0.1)


async def test_a_block_whose_connection_died_raises_at_exit(
    sessions: Sessions, engine: AsyncEngine, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("an embedded database has no connection to lose")
    async with sessions() as db:
        repo = SpecialistRepository(db)
        with pytest.raises(TransientError):
            async with transaction(db):
                await repo.create(specialist_data(1))
                await kill_backend(engine, db)
                with pytest.raises(TransientError):
                    await repo.create(specialist_data(2))
                # The caller swallows the error and leaves the block cleanly: it must still raise.
    assert await stored_names(sessions) == []


async def test_leaving_a_session_whose_connection_died_does_not_raise(
    sessions: Sessions, engine: AsyncEngine, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("an embedded database has no connection to lose")
    async with sessions() as db:
        await db.execute(text("SELECT 1"))  # the caller's own transaction, left open
        await kill_backend(engine, db)
    assert engine.sync_engine.pool.checkedout() == 0
    async with sessions() as again:
        assert (await again.execute(text("SELECT 1"))).scalar_one() == 1
