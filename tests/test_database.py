"""asyncdata.database: the process engine, sessions, ``transaction(db)`` and connection setup."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata._config import async_url
from asyncdata.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    db_session,
    dispose_engine,
    get_db,
    get_engine,
    session_factory,
    transaction,
)
from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Base, Booking, DayOff, Schedule, Specialist, UserSession
from asyncdata.repositories import (
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from tests.helpers import make_specialist, next_weekday

Sessions = async_sessionmaker[AsyncSession]


def specialist_data(n: int = 1, **overrides: Any) -> dict[str, Any]:
    return {"name": f"Specialist {n}", "email": f"s{n}@example.com", **overrides}


async def count(sessions: Sessions, model: type[Base]) -> int:
    """Rows of ``model`` as a fresh session sees them (committed data only)."""
    async with sessions() as fresh:
        return await fresh.scalar(text(f"SELECT count(*) FROM {model.__tablename__}"))


# -- the process-wide engine ---------------------------------------------------------------


@pytest.fixture
async def default_engine(
    monkeypatch: pytest.MonkeyPatch, db_url: str, engine: AsyncEngine
) -> AsyncIterator[AsyncEngine]:
    """``get_engine()`` pointed at the test database (schema created by ``engine``)."""
    monkeypatch.setenv("DB_URL", db_url)
    monkeypatch.delenv("SQLALCHEMY_ECHO", raising=False)
    await dispose_engine()
    try:
        yield get_engine()
    finally:
        await dispose_engine()


async def test_get_engine_is_one_per_process_and_reads_db_url(
    default_engine: AsyncEngine, db_url: str
) -> None:
    assert get_engine() is default_engine
    assert default_engine.url == async_url(db_url)
    async with default_engine.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_dispose_engine_makes_the_next_get_engine_read_db_url_again(
    default_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await dispose_engine()
    monkeypatch.setenv("DB_URL", f"sqlite:///{tmp_path}/other.db")
    replacement = get_engine()
    assert replacement is not default_engine
    assert replacement.url.drivername == "sqlite+aiosqlite"
    assert replacement.url.database == f"{tmp_path}/other.db"
    assert get_engine() is replacement


async def test_get_db_returns_a_session_that_keeps_objects_after_commit(
    default_engine: AsyncEngine,
) -> None:
    db = get_db()
    try:
        assert isinstance(db, AsyncSession)
        assert db.bind is default_engine
        assert db.sync_session.expire_on_commit is False
        async with get_db() as other:
            assert other is not db and other.bind is default_engine  # new session, same engine
    finally:
        await db.close()

    async with get_db() as db:
        specialist = await SpecialistRepository(db).create(specialist_data())
        await db.commit()
        # Readable after the commit without a lazy load (which asyncio could not do).
        assert specialist.email == "s1@example.com"
        assert specialist in db
    assert specialist not in db  # closed on exit
    assert default_engine.sync_engine.pool.checkedout() == 0


async def test_db_session_yields_a_session_and_closes_it(default_engine: AsyncEngine) -> None:
    dependency = db_session()
    db = await anext(dependency)
    assert isinstance(db, AsyncSession)
    assert db.bind is default_engine
    await SpecialistRepository(db).create(specialist_data())
    found = await SpecialistRepository(db).get_all()
    assert [s.email for s in found] == ["s1@example.com"]
    # Between calls the session holds no connection (no transaction left open on the server).
    assert default_engine.sync_engine.pool.checkedout() == 0
    assert not db.in_transaction()
    with pytest.raises(StopAsyncIteration):
        await anext(dependency)
    assert found[0] not in db
    assert default_engine.sync_engine.pool.checkedout() == 0


# -- transaction(db) -------------------------------------------------------------------------


async def test_writes_inside_transaction_commit_together_on_exit(
    db: AsyncSession, sessions: Sessions
) -> None:
    async with transaction(db):
        specialist = await SpecialistRepository(db).create(specialist_data())
        await ScheduleRepository(db).create(
            {
                "specialist_id": specialist.id,
                "day_of_week": 0,
                "start_time": time(9),
                "end_time": time(12),
            }
        )
        await DayOffRepository(db).create({"specialist_id": specialist.id, "date": next_weekday(2)})
        assert await SpecialistRepository(db).count() == 1  # the block sees its own writes
        for model in (Specialist, Schedule, DayOff):
            assert await count(sessions, model) == 0, model.__name__
    for model in (Specialist, Schedule, DayOff):
        assert await count(sessions, model) == 1, model.__name__


async def test_nothing_persists_when_the_block_raises(db: AsyncSession, sessions: Sessions) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with transaction(db):
            first = await SpecialistRepository(db).create(specialist_data(1))
            await SpecialistRepository(db).update(first.id, {"name": "Renamed"})
            await SpecialistRepository(db).create(specialist_data(2))
            raise RuntimeError("changed my mind")
    assert await count(sessions, Specialist) == 0
    # Objects the block returned stay readable, but are no longer in the session:
    # their rows were never stored.
    assert first.email == "s1@example.com"
    assert first not in db
    again = await SpecialistRepository(db).create(specialist_data(1))  # and the session works
    assert again.email == "s1@example.com"
    assert await count(sessions, Specialist) == 1


async def test_a_failed_call_inside_leaves_the_block_usable(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    async with transaction(db):
        await repo.create(specialist_data(1))
        with pytest.raises(ConflictError) as caught:
            await repo.create(specialist_data(2, email="S1@example.com"))
        assert caught.value.constraint == "uq_specialists_email"
        with pytest.raises(NotFoundError):
            await repo.update(12345, {"name": "Nobody"})
        await repo.create(specialist_data(3))
    async with sessions() as fresh:
        stored = await SpecialistRepository(fresh).get_all()
    assert [s.email for s in stored] == ["s1@example.com", "s3@example.com"]


@pytest.mark.parametrize("outer_raises", [False, True])
async def test_nested_transaction_joins_the_outer_one(
    db: AsyncSession, sessions: Sessions, outer_raises: bool
) -> None:
    repo = SpecialistRepository(db)

    async def body() -> None:
        async with transaction(db):
            await repo.create(specialist_data(1))
            async with transaction(db) as inner:
                assert inner is db
                await repo.create(specialist_data(2))
            assert await count(sessions, Specialist) == 0  # leaving the inner block commits nothing
            if outer_raises:
                raise RuntimeError("outer fails")

    if outer_raises:
        with pytest.raises(RuntimeError):
            await body()
    else:
        await body()
    assert await count(sessions, Specialist) == (0 if outer_raises else 2)


FailingCall = Callable[[AsyncSession, Specialist], Awaitable[Any]]
FAILING_CALLS: dict[str, tuple[FailingCall, type[Exception]]] = {
    "duplicate email": (
        lambda db, s: SpecialistRepository(db).create(specialist_data(2, email=s.email)),
        ConflictError,
    ),
    "bad email": (
        lambda db, s: SpecialistRepository(db).create(specialist_data(2, email="nope")),
        ValidationError,
    ),
    "unknown id": (lambda db, s: SpecialistRepository(db).update(999, {"bio": "x"}), NotFoundError),
    "missing parent": (
        lambda db, s: DayOffRepository(db).create({"specialist_id": 999, "date": next_weekday(1)}),
        NotFoundError,
    ),
    "unknown filter": (
        lambda db, s: SpecialistRepository(db).get_all(filters={"nope": 1}),
        ValidationError,
    ),
}


@pytest.mark.parametrize("case", FAILING_CALLS)
async def test_after_an_error_the_session_stays_usable(
    db: AsyncSession, sessions: Sessions, case: str
) -> None:
    call, expected = FAILING_CALLS[case]
    repo = SpecialistRepository(db)
    first = await repo.create(specialist_data(1, bio="kept"))
    with pytest.raises(expected):
        await call(db, first)
    assert (first.email, first.bio) == ("s1@example.com", "kept")
    assert first.created_at.tzinfo is not None
    await repo.update(first.id, {"bio": "still usable"})
    second = await repo.create(specialist_data(3))
    assert await count(sessions, Specialist) == 2
    assert await count(sessions, DayOff) == 0
    async with sessions() as fresh:
        reloaded = await SpecialistRepository(fresh).get_by_id(first.id)
    assert reloaded is not None and reloaded.bio == "still usable"
    assert second.id != first.id


# -- SQLite connection setup (SQLite only: no backend parameter) ----------------------------


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/setup.db")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


def sqlite_path(engine: AsyncEngine) -> str:
    return str(engine.url.database)


async def test_sqlite_pragmas_hold_on_every_connection(sqlite_engine: AsyncEngine) -> None:
    async with (
        sqlite_engine.connect() as first,
        sqlite_engine.connect() as second,
        sqlite_engine.connect() as third,
    ):
        for conn in (first, second, third):
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA busy_timeout")) == SQLITE_BUSY_TIMEOUT_MS


def write_lock_is_free(path: str) -> bool:
    """Whether another process-level connection could start writing right now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


async def test_sqlite_transaction_takes_the_write_lock_up_front(
    sqlite_engine: AsyncEngine,
) -> None:
    path = sqlite_path(sqlite_engine)
    async with session_factory(sqlite_engine)() as db:
        await SpecialistRepository(db).get_all()  # a plain read does not block writers
        assert write_lock_is_free(path)
        async with transaction(db):
            assert not write_lock_is_free(path)
            await SpecialistRepository(db).create(specialist_data())
            assert not write_lock_is_free(path)
        assert write_lock_is_free(path)


async def test_sqlite_repository_write_holds_the_lock_while_it_checks(
    sqlite_engine: AsyncEngine,
) -> None:
    """The booking rules' reads already run under the write lock: no writer can slip in."""
    path = sqlite_path(sqlite_engine)
    async with session_factory(sqlite_engine)() as db:
        specialist = await make_specialist(db)
        seen: list[tuple[str, bool]] = []

        def probe(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append((statement.split()[0].upper(), write_lock_is_free(path)))

        event.listen(sqlite_engine.sync_engine, "before_cursor_execute", probe)
        try:
            await BookingRepository(db).create(
                {
                    "specialist_id": specialist.id,
                    "client_name": "Client",
                    "client_email": "client@example.com",
                    "booking_date": next_weekday(0),
                    "booking_time": time(10),
                }
            )
        finally:
            event.remove(sqlite_engine.sync_engine, "before_cursor_execute", probe)
    checks = [free for verb, free in seen if verb == "SELECT"]
    assert checks, seen
    assert not any(checks), seen
    assert write_lock_is_free(path)


# -- timestamps and foreign keys (both backends) ---------------------------------------------


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


async def test_timestamps_read_back_aware_utc(db: AsyncSession, sessions: Sessions) -> None:
    before = datetime.now(UTC)
    created = await SpecialistRepository(db).create(specialist_data())
    for value in (created.created_at, created.updated_at):
        assert_utc(value)
        assert before - timedelta(seconds=5) <= value <= datetime.now(UTC)
    async with sessions() as fresh:
        reloaded = await SpecialistRepository(fresh).get_by_id(created.id)
    assert reloaded is not None
    assert_utc(reloaded.created_at)
    assert_utc(reloaded.updated_at)
    assert reloaded.created_at == created.created_at


async def test_server_default_timestamps_read_back_aware_utc(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    """Rows written by other tools (the database fills created_at) read back the same way."""
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO specialists (name, email) VALUES ('Raw', 'raw@example.com')")
        )
    async with sessions() as fresh:
        raw = await SpecialistRepository(fresh).get_by_email("raw@example.com")
    assert raw is not None
    assert_utc(raw.created_at)
    assert abs(raw.created_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_aware_datetimes_in_other_zones_keep_their_instant(
    db: AsyncSession, sessions: Sessions
) -> None:
    expires = datetime(2040, 7, 1, 12, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    created = await UserSessionRepository(db).create({"session_id": "s1", "expires_at": expires})
    async with sessions() as fresh:
        reloaded = await UserSessionRepository(fresh).get_by_id(created.id)
    assert reloaded is not None and reloaded.expires_at is not None
    assert_utc(reloaded.expires_at)
    assert reloaded.expires_at == expires
    assert reloaded.expires_at.hour == 10


NAIVE = datetime(2040, 1, 1, 12, 0)


async def test_naive_datetime_is_refused_on_create(db: AsyncSession, sessions: Sessions) -> None:
    with pytest.raises(ValidationError) as caught:
        await UserSessionRepository(db).create({"session_id": "s1", "expires_at": NAIVE})
    assert list(caught.value.fields) == ["expires_at"]
    assert await count(sessions, UserSession) == 0


async def test_naive_datetime_is_refused_on_update(db: AsyncSession, sessions: Sessions) -> None:
    aware = datetime(2040, 1, 1, 12, 0, tzinfo=UTC)
    created = await UserSessionRepository(db).create({"session_id": "s1", "expires_at": aware})
    with pytest.raises(ValidationError) as caught:
        await UserSessionRepository(db).update(created.id, {"expires_at": NAIVE})
    assert list(caught.value.fields) == ["expires_at"]
    async with sessions() as fresh:
        stored = await UserSessionRepository(fresh).get_by_id(created.id)
    assert stored is not None and stored.expires_at == aware


MISSING_PARENT: dict[str, tuple[Callable[[AsyncSession], Awaitable[Any]], type[Base]]] = {
    "schedule": (
        lambda db: ScheduleRepository(db).create(
            {"specialist_id": 999, "day_of_week": 1, "start_time": time(9), "end_time": time(10)}
        ),
        Schedule,
    ),
    "day off": (
        lambda db: DayOffRepository(db).create({"specialist_id": 999, "date": next_weekday(1)}),
        DayOff,
    ),
    "booking": (
        lambda db: BookingRepository(db).create(
            {
                "specialist_id": 999,
                "client_name": "Client",
                "client_email": "client@example.com",
                "booking_date": next_weekday(1),
                "booking_time": time(10),
            },
            enforce_availability=False,
        ),
        Booking,
    ),
}


@pytest.mark.parametrize("case", MISSING_PARENT)
async def test_missing_specialist_is_not_found_and_nothing_is_written(
    db: AsyncSession, sessions: Sessions, case: str
) -> None:
    call, model = MISSING_PARENT[case]
    await make_specialist(db)  # other specialists exist; 999 does not
    rows_before = await count(sessions, model)
    with pytest.raises(NotFoundError) as caught:
        await call(db)
    assert "specialist_id" in caught.value.fields
    assert "999" in str(caught.value)
    assert await count(sessions, model) == rows_before


async def test_database_itself_enforces_foreign_keys(engine: AsyncEngine) -> None:
    """Even SQL that bypasses the repositories cannot point at a missing specialist."""
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO days_off (specialist_id, date) VALUES (999, '2040-01-02')")
            )
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM days_off")) == 0
