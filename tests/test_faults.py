"""Faults: servers restarting, backends killed, timeouts, deadlocks, busy SQLite files.

Real servers only. The restart test runs on a throwaway PostgreSQL cluster of
its own (``tests.helpers_pg``); the others use the run's database. A fault
must reach the caller as ``TransientError`` (``retryable``), never as a raw
SQLAlchemy, driver or builtin exception, and must leave nothing half-stored.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata._translate import translate_error, translate_fault
from asyncdata.database import create_engine, session_factory, transaction
from asyncdata.errors import AsyncDataError, TransientError
from asyncdata.models import Base, Specialist
from asyncdata.repositories import SpecialistRepository
from tests.helpers import PG_URL
from tests.helpers_pg import Cluster, free_port, throwaway_cluster

only_postgresql = pytest.mark.parametrize("asyncdata_backend", ["postgresql"])
needs_pg = pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set")
_tags = itertools.count(1)


def person(tag: str) -> dict[str, str]:
    return {"name": f"Specialist {tag}", "email": f"{tag}-{next(_tags)}@example.com"}


def where(exc: BaseException) -> str:
    """``Type: message`` and the innermost frame it came from, for failure reports."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = f" at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}{last}"


async def emails(engine: AsyncEngine, prefix: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.scalars(
            select(Specialist.email).where(Specialist.email.startswith(prefix))
        )
        return list(rows)


async def terminate(url: str, pids: list[int]) -> None:
    """Kill these server backends from another connection and wait until they are gone."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):
                left = await conn.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": pids},
                )
                if not left:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"backends {pids} still alive after 5 s")
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # let the client's event loop read the server's goodbye


# -- a backend killed mid-transaction, an idle pooled one ----------------------------------


@needs_pg
@only_postgresql
async def test_a_backend_killed_mid_transaction_stores_nothing(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, db_url: str
) -> None:
    async with sessions() as db:
        repo = SpecialistRepository(db)
        with pytest.raises(TransientError) as caught:
            async with transaction(db):
                await repo.create(person("killed-a"))
                pid = int(await db.scalar(text("SELECT pg_backend_pid()")))
                await terminate(db_url, [pid])
                await repo.create(person("killed-a"))
        assert caught.value.retryable
        await repo.create(person("after-a"))  # the same session goes on
    assert await emails(engine, "killed-a") == []
    assert len(await emails(engine, "after-a")) == 1


@needs_pg
@only_postgresql
async def test_a_block_that_swallows_the_lost_connection_still_raises_at_exit(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, db_url: str
) -> None:
    async with sessions() as db:
        repo = SpecialistRepository(db)
        with pytest.raises(TransientError):
            async with transaction(db):
                await repo.create(person("killed-b"))
                pid = int(await db.scalar(text("SELECT pg_backend_pid()")))
                await terminate(db_url, [pid])
                with pytest.raises(TransientError):
                    await repo.create(person("killed-b"))
    assert await emails(engine, "killed-b") == []


async def pooled_pids(engine: AsyncEngine, count: int) -> list[int]:
    """Open ``count`` connections at once and put them back in the pool; their server pids."""
    conns = [await engine.connect() for _ in range(count)]
    try:
        return [int(await conn.scalar(text("SELECT pg_backend_pid()"))) for conn in conns]
    finally:
        for conn in conns:
            await conn.close()


@needs_pg
@only_postgresql
@pytest.mark.parametrize("call", ["read", "write", "block"])
async def test_a_killed_idle_pooled_connection_costs_no_failed_call(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], db_url: str, call: str
) -> None:
    pids = await pooled_pids(engine, 3)
    await terminate(db_url, pids)
    async with sessions() as db:
        repo = SpecialistRepository(db)
        if call == "read":
            assert await repo.get_all() == []
        elif call == "write":
            await repo.create(person("idle-kill"))
        else:
            async with transaction(db):
                await repo.create(person("idle-kill"))
                await repo.create(person("idle-kill"))
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


# -- a server restarted under load -----------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as running:
        yield running


@pytest.fixture
async def cluster_engine(cluster: Cluster) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        cluster.url, connect_timeout_s=2, pool_size=4, max_overflow=4, pool_timeout_s=5
    )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class Outcome:
    started: float
    kind: str
    error: BaseException | None


async def test_a_server_restarted_under_load(cluster: Cluster, cluster_engine: AsyncEngine) -> None:
    sessions = session_factory(cluster_engine)
    outcomes: list[Outcome] = []
    stop = asyncio.Event()

    async def worker(n: int) -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            kind = ("read", "write", "block")[i % 3]
            started = time.monotonic()
            try:
                async with sessions() as db:
                    repo = SpecialistRepository(db)
                    if kind == "read":
                        await repo.get_all(limit=5)
                    elif kind == "write":
                        await repo.create(person(f"load{n}"))
                    else:
                        async with transaction(db):
                            await repo.create(person(f"pair{n}x{i}"))
                            await repo.create(person(f"pair{n}x{i}"))
            except Exception as exc:
                outcomes.append(Outcome(started, kind, exc))
                await asyncio.sleep(0.05)
            else:
                outcomes.append(Outcome(started, kind, None))
            await asyncio.sleep(0.01)

    async with asyncio.timeout(120):
        workers = [asyncio.create_task(worker(n)) for n in range(8)]
        await asyncio.sleep(1.0)
        down_at = time.monotonic()
        await asyncio.to_thread(cluster.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.start)  # returns once the server accepts connections
        up_at = time.monotonic()
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*workers)

    raw = [where(o.error) for o in outcomes if o.error and not isinstance(o.error, TransientError)]
    assert raw == [], "raw exceptions escaped during the restart"
    failed_while_down = [o for o in outcomes if o.error and down_at <= o.started <= up_at]
    assert failed_while_down, "the restart was not noticed: the test proves nothing"
    after = [o for o in outcomes if o.started > up_at + 0.1]
    assert [where(o.error) for o in after if o.error] == []
    assert len(after) >= 16
    assert cluster_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    by_block: dict[str, int] = {}
    for email in await emails(cluster_engine, "pair"):
        block = email.split("-")[0]
        by_block[block] = by_block.get(block, 0) + 1
    assert set(by_block.values()) <= {2}, "a transaction block was stored in part"


# -- timeouts, deadlocks, serialization failures, a busy SQLite file ------------------------


@pytest.fixture
async def two(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as db:
        repo = SpecialistRepository(db)
        return [(await repo.create(person("row"))).id for _ in range(2)]


@needs_pg
@only_postgresql
@pytest.mark.parametrize("setting", ["lock_timeout_ms", "statement_timeout_ms"])
async def test_a_lock_or_statement_timeout_is_transient(
    engine: AsyncEngine, db_url: str, two: list[int], setting: str
) -> None:
    impatient = create_engine(db_url, **{setting: 200})  # type: ignore[arg-type]
    try:
        async with engine.connect() as holder:
            await holder.execute(
                text("SELECT id FROM specialists WHERE id = :id FOR UPDATE"), {"id": two[0]}
            )
            started = time.monotonic()
            async with session_factory(impatient)() as db:
                with pytest.raises(TransientError) as caught:
                    await SpecialistRepository(db).update(two[0], {"bio": "waited"})
            assert time.monotonic() - started < 3
            await holder.rollback()
        assert "timeout" in str(caught.value) or "cancel" in str(caught.value)
    finally:
        await impatient.dispose()


@needs_pg
@only_postgresql
async def test_a_deadlock_is_transient(engine: AsyncEngine, two: list[int]) -> None:
    update = text("UPDATE specialists SET bio = 'x' WHERE id = :id")
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(update, {"id": two[0]})
        await second.execute(update, {"id": two[1]})
        blocked = asyncio.create_task(first.execute(update, {"id": two[1]}))
        await asyncio.sleep(0.2)
        results = await asyncio.gather(
            second.execute(update, {"id": two[0]}), blocked, return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, DBAPIError)]
        assert len(errors) == 1, results
        translated = translate_error(errors[0])
        assert isinstance(translated, TransientError) and "deadlock" in str(translated)
        await first.rollback()
        await second.rollback()


@needs_pg
@only_postgresql
async def test_a_serialization_failure_is_transient(engine: AsyncEngine, two: list[int]) -> None:
    update = text("UPDATE specialists SET bio = :bio WHERE id = :id")
    async with engine.connect() as first, engine.connect() as second:
        strict = await first.execution_options(isolation_level="REPEATABLE READ")
        await strict.execute(text("SELECT bio FROM specialists WHERE id = :id"), {"id": two[0]})
        await second.execute(update, {"id": two[0], "bio": "theirs"})
        await second.commit()
        with pytest.raises(DBAPIError) as caught:
            await strict.execute(update, {"id": two[0], "bio": "mine"})
        await strict.rollback()
    assert isinstance(translate_error(caught.value), TransientError)


@pytest.mark.parametrize("asyncdata_backend", ["sqlite"])
async def test_a_busy_sqlite_file_is_transient_after_the_busy_timeout(
    db_url: str, engine: AsyncEngine
) -> None:
    impatient = create_engine(db_url, busy_timeout_ms=150)
    holder = sqlite3.connect(str(make_url(db_url).database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        async with session_factory(impatient)() as db:
            with pytest.raises(TransientError) as caught:
                await SpecialistRepository(db).create(person("busy"))
        waited = time.monotonic() - started
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        await impatient.dispose()
    assert 0.1 <= waited < 2, waited
    assert "DB_BUSY_TIMEOUT_MS" in str(caught.value)


# -- raw faults from connecting ---------------------------------------------------------------


async def test_a_closed_port_is_transient_and_names_host_and_port() -> None:
    port = free_port()
    url = make_url(f"postgresql+asyncpg://app:sekrit@127.0.0.1:{port}/app")
    engine = create_engine(url)
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    error = translate_fault(caught.value, url=url)
    assert isinstance(error, TransientError) and error.retryable
    assert f"127.0.0.1:{port}" in str(error) and "sekrit" not in str(error)
    if not isinstance(caught.value, AsyncDataError):
        assert translate_fault(ValueError("not a fault")) is None


def test_only_transient_errors_are_retryable() -> None:
    assert TransientError("x").retryable
    assert not AsyncDataError("x").retryable
    assert translate_fault(TransientError("already ours")) is None


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), TransientError),
        (ConnectionResetError(104, "Connection reset by peer"), TransientError),
        (TimeoutError(), TransientError),
        (ConnectionError("unexpected connection_lost() call"), TransientError),
        (sqlite3.OperationalError("database is locked"), TransientError),
        (sqlite3.OperationalError("unable to open database file"), AsyncDataError),
    ],
)
def test_builtin_and_driver_faults_are_recognised(fault: BaseException, kind: type) -> None:
    url = make_url("postgresql+asyncpg://app:sekrit@db.example:6543/app")
    error = translate_fault(fault, url=url)
    assert isinstance(error, kind)
    assert "sekrit" not in str(error)


def test_a_sqlite_path_is_named(tmp_path: Path) -> None:
    url = make_url(f"sqlite+aiosqlite:///{tmp_path}/nowhere/app.db")
    error = translate_fault(sqlite3.OperationalError("unable to open database file"), url=url)
    assert error is not None and not error.retryable
    assert f"{tmp_path}/nowhere/app.db" in str(error)
