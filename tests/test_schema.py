"""``init_db`` (Alembic first, create_all as fallback) and the Alembic scripts themselves.

Each test gets a database of its own, empty: a temporary file on SQLite, a
freshly created (and afterwards dropped) database on PostgreSQL, so the shared
schema the other tests use is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from asyncdata._schema import MIGRATIONS, head_revision
from asyncdata.database import create_engine, dispose_engine, init_db, session_factory
from asyncdata.errors import ConfigurationError, ConflictError, TransientError
from asyncdata.repositories import BookingRepository, SpecialistRepository
from tests.helpers import PG_URL, make_specialist, next_weekday
from tests.helpers_pg import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES = {"specialists", "schedules", "days_off", "bookings", "user_sessions", "admin_logs"}
TABLES |= {"date_overrides", "booking_changes"}


@pytest.fixture
async def empty_db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database holding nothing at all, removed after the test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/schema.db"
        return
    name = f"asyncdata_schema_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def schema_engine(empty_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
def default_alembic_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALEMBIC_CONFIG", raising=False)


@pytest.fixture
def missing_alembic_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    missing = tmp_path / "nowhere" / "alembic.ini"
    monkeypatch.setenv("ALEMBIC_CONFIG", str(missing))
    return missing


def script_head() -> str | None:
    return ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini"))).get_current_head()


FTS_STORAGE = ("_search", "_search_data", "_search_idx", "_search_docsize", "_search_config")


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    # SQLite's FTS5 trigram tables (and their shadow tables) are the storage of an index
    return {name for name in names if not name.endswith(FTS_STORAGE)}


async def versions(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list(await conn.scalars(text("SELECT version_num FROM alembic_version")))


def alembic(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``alembic`` command line as an operator would, on ``db_url``."""
    env = {**os.environ, "DB_URL": db_url}
    env.pop("ALEMBIC_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"alembic {' '.join(args)} failed:\n{result.stderr}"
    return result


async def add_specialist(engine: AsyncEngine, email: str = "kept@example.com") -> None:
    async with session_factory(engine)() as db:
        await SpecialistRepository(db).create({"name": "Kept", "email": email})


async def count_specialists(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as db:
        return await SpecialistRepository(db).count()


def test_the_head_is_read_from_the_scripts_shipped_in_the_package() -> None:
    scripts = ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini")))
    assert len(scripts.get_heads()) == 1
    assert head_revision() == script_head()
    # One copy of every script: the checkout's alembic.ini and the package read the same files.
    assert Path(scripts.dir).resolve() == MIGRATIONS.resolve()
    assert (REPO_ROOT / "alembic").resolve() == MIGRATIONS.resolve()


async def test_init_db_on_an_empty_database_runs_alembic(schema_engine: AsyncEngine) -> None:
    assert await init_db(schema_engine) == "alembic"
    assert await tables(schema_engine) == TABLES | {"alembic_version"}
    assert await versions(schema_engine) == [script_head()]
    await add_specialist(schema_engine)

    assert await init_db(schema_engine) == "alembic"
    assert await versions(schema_engine) == [script_head()]
    assert await count_specialists(schema_engine) == 1


async def test_init_db_without_arguments_uses_db_url(
    monkeypatch: pytest.MonkeyPatch, empty_db_url: str
) -> None:
    monkeypatch.setenv("DB_URL", empty_db_url)
    monkeypatch.delenv("SQLALCHEMY_ECHO", raising=False)
    await dispose_engine()
    try:
        assert await init_db() == "alembic"
    finally:
        await dispose_engine()
    engine = create_engine(empty_db_url)
    try:
        assert await tables(engine) == TABLES | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_fallback_creates_and_stamps_an_empty_database(
    schema_engine: AsyncEngine,
    empty_db_url: str,
    missing_alembic_config: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert await init_db(schema_engine) == "create_all"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(missing_alembic_config) in warnings[0].getMessage()  # says why
    assert await tables(schema_engine) == TABLES | {"alembic_version"}
    assert await versions(schema_engine) == [script_head()]

    await add_specialist(schema_engine)
    assert await init_db(schema_engine) == "create_all"  # twice is harmless
    assert await versions(schema_engine) == [script_head()]
    assert await count_specialists(schema_engine) == 1
    await schema_engine.dispose()

    alembic(empty_db_url, "upgrade", "head")
    alembic(empty_db_url, "check")
    assert await versions(schema_engine) == [script_head()]
    assert await count_specialists(schema_engine) == 1


async def test_fallback_refuses_a_database_that_holds_other_tables(
    schema_engine: AsyncEngine, missing_alembic_config: Path
) -> None:
    async with schema_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT)"))
    with pytest.raises(ConfigurationError) as caught:
        await init_db(schema_engine)
    assert "legacy_notes" in str(caught.value)
    assert str(missing_alembic_config) in str(caught.value)  # says why Alembic could not run
    assert await tables(schema_engine) == {"legacy_notes"}  # nothing created next to it


async def test_a_failed_upgrade_on_a_database_with_tables_raises_naming_the_revision(
    schema_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    assert await init_db(schema_engine) == "alembic"
    await add_specialist(schema_engine)
    async with schema_engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0999_from_elsewhere'"))
    before = await tables(schema_engine)
    with caplog.at_level(logging.WARNING), pytest.raises(ConfigurationError) as caught:
        await init_db(schema_engine)
    message = str(caught.value)
    assert "0999_from_elsewhere" in message and str(script_head()) in message
    assert "\n" not in message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no silent fallback
    assert await tables(schema_engine) == before
    assert await versions(schema_engine) == ["0999_from_elsewhere"]
    assert await count_specialists(schema_engine) == 1


async def test_init_db_on_a_closed_port_is_a_transient_error_naming_host_and_port() -> None:
    port = free_port()
    engine = create_engine(f"postgresql://app:sekrit@127.0.0.1:{port}/app")
    try:
        with pytest.raises(TransientError) as caught:
            await init_db(engine)
    finally:
        await engine.dispose()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "sekrit" not in message and "\n" not in message
    assert caught.value.retryable


async def test_init_db_on_a_bad_sqlite_path_is_a_configuration_error_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "missing-dir" / "app.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        with pytest.raises(ConfigurationError) as caught:
            await init_db(engine)
    finally:
        await engine.dispose()
    assert str(path) in str(caught.value)
    assert not caught.value.retryable


# -- many processes at once ---------------------------------------------------------------

WORKERS = 4
TRIALS = 10


def _init_db_worker(barrier: Any, jobs: Any, results: Any) -> None:
    """One of several OS processes: for each URL, wait for the others, then ``init_db``."""
    import asyncio

    async def run(url: str) -> str:
        engine = create_engine(url)
        try:
            return await init_db(engine)
        except Exception as exc:
            return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
        finally:
            await engine.dispose()

    while (url := jobs.get(timeout=120)) is not None:
        barrier.wait(timeout=60)
        results.put(asyncio.run(run(url)))


async def fresh_database(backend: str, tmp_path: Path, trial: int) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/concurrent-{trial}.db"
    name = f"asyncdata_init_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_init_db_from_four_processes_at_once(backend: str, tmp_path: Path) -> None:
    """Four workers released together on a fresh database, ten times: all migrate, none fails."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    jobs = [context.Queue() for _ in range(WORKERS)]
    results = context.Queue()
    workers = [
        context.Process(target=_init_db_worker, args=(barrier, queue, results), daemon=True)
        for queue in jobs
    ]
    for worker in workers:
        worker.start()
    try:
        for trial in range(TRIALS):
            url = await fresh_database(backend, tmp_path, trial)
            try:
                for queue in jobs:
                    queue.put(url)
                outcomes = [
                    await asyncio.to_thread(results.get, timeout=120) for _ in range(WORKERS)
                ]
                assert outcomes == ["alembic"] * WORKERS, f"trial {trial}: {outcomes}"
                engine = create_engine(url)
                try:
                    assert await tables(engine) == TABLES | {"alembic_version"}
                    assert await versions(engine) == [script_head()]
                finally:
                    await engine.dispose()
            finally:
                await drop_database(url)
    finally:
        for queue in jobs:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)


def booking(specialist_id: int, at: time) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Client",
        "client_email": "client@example.com",
        "booking_date": next_weekday(0),
        "booking_time": at,
        "duration_minutes": 60,
    }


@pytest.mark.parametrize("path", ["alembic", "create_all"])
async def test_both_paths_install_the_overlap_guard(
    schema_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    if path == "create_all":
        monkeypatch.setenv("ALEMBIC_CONFIG", str(tmp_path / "missing.ini"))
    assert await init_db(schema_engine) == path
    async with session_factory(schema_engine)() as db:
        repo = BookingRepository(db)
        specialist = await make_specialist(db)
        await repo.create(booking(specialist.id, time(10)), enforce_availability=False)
        # create_many leaves overlaps to the database: only the guard can refuse this row.
        with pytest.raises(ConflictError) as caught:
            await repo.create_many(
                [booking(specialist.id, time(10, 30))], enforce_availability=False
            )
        assert caught.value.constraint == "ex_bookings_no_overlap"
        assert await repo.count() == 1
        await repo.create_many([booking(specialist.id, time(11))], enforce_availability=False)
        assert await repo.count() == 2


async def triggers(engine: AsyncEngine) -> set[tuple[str, str]]:
    """(table, trigger) of every trigger the schema defines, on either backend."""
    query = (
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
        if engine.dialect.name == "sqlite"
        else "SELECT DISTINCT event_object_table, trigger_name FROM information_schema.triggers "
        "WHERE trigger_schema = current_schema()"
    )
    async with engine.connect() as conn:
        return {(table, name) for table, name in await conn.execute(text(query))}


async def test_migrations_and_create_all_install_the_same_triggers(
    backend: str, empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revision that rebuilds a table on SQLite (batch mode) must put its triggers back:
    the overlap guard, the search index upkeep and the append-only admin log all live there.
    Through every revision, and back down and up again, the set matches ``create_all``'s."""
    migrated = create_engine(empty_db_url)
    other_url = (
        f"sqlite+aiosqlite:///{tmp_path}/created.db" if backend == "sqlite" else empty_db_url
    )
    try:
        alembic(empty_db_url, "upgrade", "head")
        alembic(empty_db_url, "downgrade", "0003_folded_text")
        alembic(empty_db_url, "upgrade", "head")
        expected = await triggers(migrated)
        assert "admin_logs" in {table for table, _ in expected}  # and, on SQLite, bookings
        if backend == "postgresql":  # one database: empty it, then let create_all fill it
            alembic(empty_db_url, "downgrade", "base")
            async with migrated.begin() as conn:
                await conn.execute(text("DROP TABLE alembic_version"))
    finally:
        await migrated.dispose()
    monkeypatch.setenv("ALEMBIC_CONFIG", str(tmp_path / "missing.ini"))
    created = create_engine(other_url)
    try:
        assert await init_db(created) == "create_all"
        assert await triggers(created) == expected
    finally:
        await created.dispose()


async def test_alembic_round_trip(schema_engine: AsyncEngine, empty_db_url: str) -> None:
    alembic(empty_db_url, "upgrade", "head")
    assert await tables(schema_engine) == TABLES | {"alembic_version"}
    assert await versions(schema_engine) == [script_head()]
    alembic(empty_db_url, "check")

    await schema_engine.dispose()
    alembic(empty_db_url, "downgrade", "base")
    assert await tables(schema_engine) == {"alembic_version"}
    assert await versions(schema_engine) == []

    await schema_engine.dispose()
    alembic(empty_db_url, "upgrade", "head")
    assert await tables(schema_engine) == TABLES | {"alembic_version"}
    assert await versions(schema_engine) == [script_head()]


async def test_availability_revision_gives_existing_bookings_buffers_of_zero(
    schema_engine: AsyncEngine, empty_db_url: str, backend: str
) -> None:
    """0005_availability fills ``blocked_from``/``blocked_until`` of stored bookings with
    their own times, and its downgrade gives back 0002's guard over those times."""
    alembic(empty_db_url, "upgrade", "0003_folded_text")
    suffix = "+00" if backend == "postgresql" else ".000000"

    def at(hour: int) -> str:
        return f"'2030-01-07 {hour:02d}:00:00{suffix}'"

    def insert_booking(hour: int) -> str:
        return (
            "INSERT INTO bookings (specialist_id, client_name, client_email, booking_date, "
            f"booking_time, duration_minutes, starts_at, ends_at) VALUES (1, 'Kept', "
            f"'kept@example.com', '2030-01-07', '{hour:02d}:00:00', 60, {at(hour)}, "
            f"{at(hour + 1)})"
        )

    async with schema_engine.begin() as conn:
        await conn.execute(text("INSERT INTO specialists (name, email) VALUES ('Old', 'o@x.io')"))
        await conn.execute(text(insert_booking(9)))
        await conn.execute(text(insert_booking(10)))
    await schema_engine.dispose()
    alembic(empty_db_url, "upgrade", "head")
    async with session_factory(schema_engine)() as db:
        kept = await BookingRepository(db).get_all()
        assert [(b.blocked_from, b.blocked_until) for b in kept] == [
            (b.starts_at, b.ends_at) for b in kept
        ]
        specialist = await SpecialistRepository(db).get_by_id(1)
        assert specialist is not None and specialist.buffer_before_minutes == 0
    await schema_engine.dispose()
    alembic(empty_db_url, "downgrade", "0003_folded_text")
    with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
        async with schema_engine.begin() as conn:
            await conn.execute(text(insert_booking(9)))
    async with schema_engine.begin() as conn:
        await conn.execute(text(insert_booking(11)))  # touching: fine
