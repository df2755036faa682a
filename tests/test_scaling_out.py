"""Beyond one server: read replicas (``DB_READ_URLS``) and PgBouncer (``DB_PGBOUNCER``).

The real thing, started here on loopback and removed afterwards: a throwaway
primary cluster, a streaming replica of it made by ``pg_basebackup -R``, and a
PgBouncer in ``pool_mode = transaction`` with a small pool in front of the
primary (``tests.helpers_pg``). They start once for the module. These are
PostgreSQL tests by nature (a SQLite file has no replicas); they run when
``TEST_PG_URL`` is set, like every PostgreSQL test, and fail loudly if
``pg_basebackup`` or ``pgbouncer`` is missing. The shared server is never used.

Where a statement ran is asked of the connection that ran it:
``pg_is_in_recovery()`` is true on the replica only. The routing rule itself
(``asyncdata._routing``) is tested first, without a database.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata import _replicas
from asyncdata._config import load_settings, parse_read_urls, pgbouncer_flag
from asyncdata._faults import unreachable
from asyncdata._routing import ReplicaSet
from asyncdata.database import create_engine, dispose_engine, get_engine, init_db, transaction
from asyncdata.errors import AsyncDataError, ConfigurationError, ConflictError, TransientError
from asyncdata.models import Specialist
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from asyncdata.testing import _empty_postgres as empty_postgres
from tests.helpers import PG_URL, make_specialist, next_weekday, pg_admin, seed
from tests.helpers_pg import (
    Cluster,
    Replica,
    Server,
    free_port,
    pgbouncer,
    streaming_replica,
    throwaway_cluster,
    wait_for_replay,
)

needs_pg = pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set")
APP = "app"
TASKS = 50
BOUNCER_POOL = 3  # PgBouncer's server connections: far fewer than the 50 clients


# -- the rule, without a database ------------------------------------------------------


def test_reads_take_the_replicas_in_turn() -> None:
    replicas = ReplicaSet(("a", "b"))
    assert [replicas.choose(0.0, written=False) for _ in range(4)] == ["a", "b", "a", "b"]


def test_a_session_that_wrote_reads_from_the_primary() -> None:
    assert ReplicaSet(("a",)).choose(0.0, written=True) is None


def test_a_replica_left_out_is_skipped_until_its_retry_time() -> None:
    replicas = ReplicaSet(("a", "b"), retry_after_s=5.0)
    replicas.leave_out("a", 100.0)
    assert replicas.is_out("a", 104.9)
    assert [replicas.choose(101.0, written=False) for _ in range(3)] == ["b", "b", "b"]
    assert replicas.choose(105.0, written=False) == "a"


def test_with_every_replica_left_out_reads_go_to_the_primary() -> None:
    replicas = ReplicaSet(("a", "b"))
    replicas.leave_out("a", 0.0)
    replicas.leave_out("b", 0.0)
    assert replicas.choose(1.0, written=False) is None


def test_no_replicas_means_the_primary() -> None:
    assert ReplicaSet[str](()).choose(0.0, written=False) is None


@pytest.mark.parametrize(
    ("fault", "down"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection"), True),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.QueryCanceledError("canceling statement due to lock timeout"), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_failures_mean_a_replica_is_down(fault: BaseException, down: bool) -> None:
    assert unreachable(fault) is down
    wrapped = DBAPIError("SELECT 1", {}, fault)
    assert unreachable(wrapped) is down


# -- settings ---------------------------------------------------------------------------

PRIMARY = make_url("postgresql+asyncpg://app@db1/app")


def test_read_urls_from_the_environment_are_split_and_upgraded() -> None:
    urls = parse_read_urls(
        PRIMARY, " postgresql://app@db2/app , postgres://app@db3:6432/app,", from_env=True
    )
    assert [u.render_as_string() for u in urls] == [
        "postgresql+asyncpg://app@db2/app",
        "postgresql+asyncpg://app@db3:6432/app",
    ]
    assert parse_read_urls(PRIMARY, "", from_env=True) == ()


@pytest.mark.parametrize(
    ("primary", "given", "expected"),
    [
        (PRIMARY, "sqlite:///replica.db", "entry 1 is not a PostgreSQL URL"),
        (PRIMARY, "mysql://u:s3cret@db2/app", "entry 1: unsupported database URL scheme"),
        (make_url("sqlite+aiosqlite:///app.db"), "postgresql://db2/app", "needs a PostgreSQL"),
    ],
)
def test_bad_read_urls_name_the_variable(primary: Any, given: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match="DB_READ_URLS") as caught:
        parse_read_urls(primary, given, from_env=True)
    assert expected in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("given", ["postgresql://db2/app", 5, [""], [None], {"a": 1}])
def test_read_urls_as_a_keyword_must_be_a_list_of_urls(given: Any) -> None:
    with pytest.raises(ConfigurationError, match="DB_READ_URLS"):
        create_engine(PRIMARY, read_urls=given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("", False), ("0", False), ("no", False)],
)
def test_pgbouncer_flag_values(given: str, expected: bool) -> None:
    assert pgbouncer_flag(PRIMARY, given) is expected


@pytest.mark.parametrize(
    ("primary", "given"),
    [(PRIMARY, "maybe"), (PRIMARY, 1), (make_url("sqlite+aiosqlite:///app.db"), "1")],
)
def test_bad_pgbouncer_flags_name_the_variable(primary: Any, given: Any) -> None:
    with pytest.raises(ConfigurationError, match="DB_PGBOUNCER"):
        pgbouncer_flag(primary, given)


async def test_the_environment_sets_up_replicas_and_pgbouncer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_URL", "postgresql://app@db1/app")
    monkeypatch.setenv("DB_READ_URLS", "postgresql://app@db2/app,postgresql://app@db3/app")
    monkeypatch.setenv("DB_PGBOUNCER", "1")
    settings = load_settings()
    assert [u.host for u in settings.read_urls] == ["db2", "db3"]
    assert settings.pgbouncer is True
    await dispose_engine()
    try:
        engine = get_engine()  # builds engines only: nothing connects
        assert [r.url.host for r in _replicas.replicas_of(engine)] == ["db2", "db3"]
        assert engine.get_execution_options()["asyncdata_pgbouncer"] is True
    finally:
        await dispose_engine()


# -- the servers ------------------------------------------------------------------------


@dataclass
class Topology:
    primary: Cluster
    replica: Replica
    bouncer: Server

    def primary_url(self) -> str:
        return str(make_url(self.primary.url).set(database=APP).render_as_string(False))

    def catch_up(self) -> None:
        wait_for_replay(self.primary.port, self.replica.port)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    if not PG_URL:
        pytest.skip("TEST_PG_URL is not set")
    with throwaway_cluster() as primary:
        asyncio.run(pg_admin(primary.url, f"CREATE DATABASE {APP}"))
        asyncio.run(_migrate(str(make_url(primary.url).set(database=APP).render_as_string(False))))
        with (
            streaming_replica(primary) as replica,
            pgbouncer(primary.port, pool_size=BOUNCER_POOL) as bouncer,
        ):
            replica.database = APP
            bouncer.database = APP
            yield Topology(primary, replica, bouncer)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await init_db(engine)
    finally:
        await engine.dispose()


async def _empty(url: str) -> None:
    """Every table emptied the way the plugin does it (the admin log's guard lifted for it)."""
    engine = create_engine(url)
    try:
        await empty_postgres(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def routed(topology: Topology) -> AsyncIterator[AsyncEngine]:
    """An engine on the primary with the replica attached; the database emptied first."""
    await _empty(topology.primary_url())
    engine = create_engine(topology.primary_url(), read_urls=[topology.replica.url()])
    try:
        yield engine
    finally:
        await engine.dispose()


class Recovery:
    """For each data statement an engine runs: was its connection a replica's?

    Asks ``pg_is_in_recovery()`` on the very connection, right after the statement.
    """

    def __init__(self) -> None:
        self.seen: list[bool] = []
        self._asking = False

    def __call__(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self._asking or statement.lstrip().split(" ", 1)[0].upper() not in {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        }:
            return
        self._asking = True
        try:
            self.seen.append(bool(conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar()))
        finally:
            self._asking = False

    def take(self) -> list[bool]:
        seen, self.seen = self.seen, []
        return seen


@pytest.fixture
def recovery(routed: AsyncEngine) -> Iterator[Recovery]:
    spy = Recovery()
    engines = [routed, *_replicas.replicas_of(routed)]
    for engine in engines:
        event.listen(engine.sync_engine, "after_cursor_execute", spy)
    try:
        yield spy
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "after_cursor_execute", spy)


def sessions_of(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from asyncdata.database import session_factory

    return session_factory(engine)


async def written_and_replayed(topology: Topology, engine: AsyncEngine) -> int:
    """A specialist with a schedule, written on the primary and replayed on the replica."""
    async with sessions_of(engine)() as db:
        specialist = await make_specialist(db)
    await asyncio.to_thread(topology.catch_up)
    return specialist.id


# -- replicas ---------------------------------------------------------------------------


@needs_pg
async def test_reads_outside_a_transaction_run_on_the_replica(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    recovery.take()
    async with sessions_of(routed)() as db:
        found = await SpecialistRepository(db).get_by_id(specialist_id)
        assert found is not None
        assert await SpecialistRepository(db).count() == 1
        assert len(await ScheduleRepository(db).get_by_specialist(specialist_id)) == 7
        slots = await BookingRepository(db).get_available_slots(specialist_id, next_weekday(2))
        assert len(slots) == 8
    seen = recovery.take()
    assert seen and all(seen), seen


@needs_pg
async def test_writes_and_the_reads_after_them_run_on_the_primary(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    on_date = next_weekday(2)
    recovery.take()
    async with sessions_of(routed)() as db:
        repo = BookingRepository(db)
        assert len(await repo.get_available_slots(specialist_id, on_date)) == 8
        assert recovery.take() == [True, True]
        booked = await repo.create(
            {
                "specialist_id": specialist_id,
                "client_name": "Client",
                "client_email": "client@example.com",
                "booking_date": on_date,
                "booking_time": time(9),
                "duration_minutes": 60,
            }
        )
        assert recovery.take() and not any(recovery.seen)
        # Read-your-writes: this session now reads from the primary, which has the booking.
        assert len(await repo.get_available_slots(specialist_id, on_date)) == 7
        assert await repo.get_by_id(booked.id) is not None
        seen = recovery.take()
        assert seen and not any(seen), seen
    async with sessions_of(routed)() as fresh:  # a new session reads from the replica again
        await BookingRepository(fresh).get_by_date(on_date)
        assert recovery.take() == [True]


@needs_pg
async def test_reads_inside_a_transaction_and_status_moves_run_on_the_primary(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    recovery.take()
    async with sessions_of(routed)() as db, transaction(db):
        await SpecialistRepository(db).get_by_id(specialist_id)
        await DayOffRepository(db).is_day_off(specialist_id, next_weekday(2))
    seen = recovery.take()
    assert seen and not any(seen), seen


@needs_pg
async def test_a_session_that_flushed_its_own_changes_reads_from_the_primary(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    recovery.take()
    async with sessions_of(routed)() as db:
        specialist = await SpecialistRepository(db).get_by_id(specialist_id)
        assert specialist is not None and recovery.take() == [True]
        specialist.bio = "edited by hand"
        await db.commit()
        recovery.take()
        again = await SpecialistRepository(db).first_where(Specialist.bio == "edited by hand")
        assert again is not None and recovery.take() == [False]


@needs_pg
async def test_a_session_that_committed_its_own_core_write_reads_from_the_primary(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    """No flush sees ``db.execute(update(...))``; its commit still sends the session's
    later reads to the primary."""
    specialist_id = await written_and_replayed(topology, routed)
    async with sessions_of(routed)() as db:
        stmt = update(Specialist).where(Specialist.id == specialist_id).values(bio="by Core")
        await db.execute(stmt)
        await db.commit()
        recovery.take()
        again = await SpecialistRepository(db).first_where(Specialist.bio == "by Core")
        assert again is not None and recovery.take() == [False]


@needs_pg
async def test_disposing_the_primary_engine_disposes_its_replicas(
    topology: Topology, routed: AsyncEngine
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    async with sessions_of(routed)() as db:
        await SpecialistRepository(db).get_by_id(specialist_id)
    (replica,) = _replicas.replicas_of(routed)
    assert replica.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    await routed.dispose()
    assert replica.sync_engine.pool.checkedin() == 0  # type: ignore[attr-defined]


@needs_pg
async def test_a_replica_that_is_down_is_skipped_with_a_warning(
    topology: Topology, routed: AsyncEngine
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/{APP}"
    engine = create_engine(
        topology.primary_url(), read_urls=[nowhere, topology.replica.url()], connect_timeout_s=2
    )
    spy = Recovery()
    for each in (engine, *_replicas.replicas_of(engine)):
        event.listen(each.sync_engine, "after_cursor_execute", spy)
    try:
        async with sessions_of(engine)() as db:
            with pytest.warns(RuntimeWarning, match=r"read replica .* is unreachable"):
                assert await SpecialistRepository(db).get_by_id(specialist_id) is not None
            assert spy.take() == [True]  # the other replica served it
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # left out now: no second warning
                for _ in range(3):
                    assert await SpecialistRepository(db).get_by_id(specialist_id) is not None
            assert spy.take() == [True, True, True]
    finally:
        await engine.dispose()


@needs_pg
async def test_a_warning_turned_into_an_error_does_not_fail_the_read(
    topology: Topology, routed: AsyncEngine
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/{APP}"
    engine = create_engine(topology.primary_url(), read_urls=[nowhere])
    try:
        async with sessions_of(engine)() as db:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert await SpecialistRepository(db).get_by_id(specialist_id) is not None
    finally:
        await engine.dispose()


@needs_pg
async def test_with_the_replica_stopped_reads_fall_back_to_the_primary(
    topology: Topology, routed: AsyncEngine, recovery: Recovery
) -> None:
    specialist_id = await written_and_replayed(topology, routed)
    recovery.take()
    async with sessions_of(routed)() as db:
        await SpecialistRepository(db).get_by_id(specialist_id)  # a pooled replica connection
    assert recovery.take() == [True]
    await asyncio.to_thread(topology.replica.stop)
    try:
        async with sessions_of(routed)() as db:
            with pytest.warns(RuntimeWarning, match=r"read replica .* is unreachable"):
                found = await SpecialistRepository(db).get_by_id(specialist_id)
            assert found is not None and found.id == specialist_id
            assert await ScheduleRepository(db).count() == 7
        assert recovery.take() == [False, False]
    finally:
        await asyncio.to_thread(topology.replica.start)
    await asyncio.to_thread(topology.catch_up)


# -- PgBouncer in transaction pooling mode ----------------------------------------------


@pytest.fixture
async def bounced(topology: Topology) -> AsyncIterator[AsyncEngine]:
    """An engine through PgBouncer (3 server connections) with room for 50 clients."""
    await _empty(topology.primary_url())
    engine = create_engine(
        topology.bouncer.url(), pgbouncer=True, pool_size=20, max_overflow=40, pool_timeout_s=60
    )
    try:
        yield engine
    finally:
        await engine.dispose()


async def retried(engine: AsyncEngine, call: Any) -> Any:
    """``call(session)`` in a session of its own; a TransientError retried a few times."""
    for attempt in range(10):
        try:
            async with sessions_of(engine)() as db:
                return await call(db)
        except AsyncDataError as exc:
            if not exc.retryable or attempt == 9:
                raise
    raise AssertionError("unreachable")


@needs_pg
async def test_every_repository_through_pgbouncer_with_many_tasks(bounced: AsyncEngine) -> None:
    async with sessions_of(bounced)() as db:
        ids = await seed(db)
    specialist_id = ids["specialists"][0]
    day = next_weekday(3, weeks_ahead=2)

    async def task(n: int, db: AsyncSession) -> None:
        assert await SpecialistRepository(db).get_by_id(specialist_id) is not None
        assert len(await SpecialistRepository(db).search("Klinik")) == 1
        assert len(await ScheduleRepository(db).get_by_specialist(specialist_id)) == 7
        assert not await DayOffRepository(db).is_day_off(specialist_id, day)
        slots = await BookingRepository(db).get_available_slots(specialist_id, day)
        assert slots
        assert len(await BookingRepository(db).get_by_status("confirmed")) == 1
        assert await UserSessionRepository(db).get_by_session_id("sess-0") is not None
        await UserSessionRepository(db).create(
            {
                "session_id": f"task-{n}",
                "client_name": "Visitor",
                "expires_at": datetime.now(UTC) + timedelta(days=1),
            }
        )
        await UserSessionRepository(db).extend(f"task-{n}", 60)
        await AdminLogRepository(db).log(n, "task.run", details={"n": n})
        assert len(await AdminLogRepository(db).get_by_admin(n)) >= 1
        async with transaction(db):
            await SpecialistRepository(db).update(ids["specialists"][1], {"bio": f"by {n}"})
            await DayOffRepository(db).get_by_date(day)

    await asyncio.gather(*(retried(bounced, lambda db, n=n: task(n, db)) for n in range(TASKS)))
    async with sessions_of(bounced)() as db:
        assert await UserSessionRepository(db).count() == 3 + TASKS - 1  # sess-2 has expired
        assert len(await AdminLogRepository(db).get_by_action("task.run")) == TASKS


@needs_pg
async def test_booking_races_through_pgbouncer_have_one_winner_per_slot(
    bounced: AsyncEngine,
) -> None:
    async with sessions_of(bounced)() as db:
        specialist = await make_specialist(db)
    on_date = next_weekday(2)
    starts = [time(9 + n) for n in range(5)]

    async def attempt(n: int) -> Any:
        async def book(db: AsyncSession) -> Any:
            return await BookingRepository(db).create(
                {
                    "specialist_id": specialist.id,
                    "client_name": "Racer",
                    "client_email": f"racer{n}@example.com",
                    "booking_date": on_date,
                    "booking_time": starts[n % len(starts)],
                    "duration_minutes": 60,
                }
            )

        try:
            return await retried(bounced, book)
        except ConflictError as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt(n) for n in range(TASKS)))
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert sorted(w.booking_time for w in winners) == starts
    assert all(isinstance(o, ConflictError) for o in outcomes if o not in winners)
    async with sessions_of(bounced)() as db:
        assert len(await BookingRepository(db).get_by_date(on_date)) == len(starts)


@needs_pg
async def test_init_db_through_pgbouncer(topology: Topology) -> None:
    name = "fresh_through_bouncer"
    await pg_admin(topology.primary.url, f"DROP DATABASE IF EXISTS {name}")
    await pg_admin(topology.primary.url, f"CREATE DATABASE {name}")
    engine = create_engine(topology.bouncer.url(name), pgbouncer=True)
    try:
        assert await asyncio.gather(*(init_db(engine) for _ in range(3))) == ["alembic"] * 3
        async with sessions_of(engine)() as db:
            assert await SpecialistRepository(db).count() == 0
    finally:
        await engine.dispose()
        await pg_admin(topology.primary.url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@needs_pg
async def test_timeouts_through_pgbouncer_need_no_startup_parameters(
    topology: Topology, bounced: AsyncEngine
) -> None:
    async with sessions_of(bounced)() as db:
        specialist = await make_specialist(db)
    engine = create_engine(
        topology.bouncer.url(), pgbouncer=True, statement_timeout_ms=5_000, lock_timeout_ms=100
    )
    holder = create_engine(topology.primary_url())
    try:
        async with holder.begin() as conn:  # hold the specialist's row lock meanwhile
            await conn.execute(
                text("SELECT id FROM specialists WHERE id = :id FOR UPDATE"), {"id": specialist.id}
            )
            async with sessions_of(engine)() as db:
                assert await SpecialistRepository(db).get_by_id(specialist.id) is not None
                with pytest.raises(TransientError, match="lock timeout"):
                    await SpecialistRepository(db).update(specialist.id, {"bio": "waits"})
    finally:
        await engine.dispose()
        await holder.dispose()


@needs_pg
async def test_the_statement_timeout_through_pgbouncer_cancels_from_the_client(
    topology: Topology, bounced: AsyncEngine
) -> None:
    async with sessions_of(bounced)() as db:
        specialist = await make_specialist(db)
    engine = create_engine(topology.bouncer.url(), pgbouncer=True, statement_timeout_ms=300)
    holder = create_engine(topology.primary_url())
    try:
        async with sessions_of(engine)() as db:
            async with holder.begin() as conn:  # the update waits for this row lock
                await conn.execute(
                    text("SELECT id FROM specialists WHERE id = :id FOR UPDATE"),
                    {"id": specialist.id},
                )
                with pytest.raises(TransientError, match="did not answer in time"):
                    await SpecialistRepository(db).update(specialist.id, {"bio": "waits"})
            # the lock is gone; the same session and pool go on
            updated = await SpecialistRepository(db).update(specialist.id, {"bio": "done"})
            assert updated.bio == "done"
    finally:
        await engine.dispose()
        await holder.dispose()
