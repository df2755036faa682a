"""Pytest fixtures for applications built on asyncdata.

Installed with asyncdata and loaded by pytest on its own (a ``pytest11``
entry point), so a project's test suite can use these fixtures without
importing anything::

    async def test_booking(asyncdata_db, make_specialist, make_booking):
        ada = await make_specialist(name="Ada")
        booking = await make_booking(ada)
        assert booking.status == "pending"

The fixtures are async and need pytest-asyncio (in ``asyncio_mode = "auto"``
as in strict mode, where the test itself carries ``@pytest.mark.asyncio``).
Without pytest-asyncio installed the plugin still loads, and a test that asks
for one of its fixtures fails with a message saying what to install.

What a test may rely on:

- ``asyncdata_db`` is an ``AsyncSession`` (``expire_on_commit=False``) on a
  database of its own, with asyncdata's schema built by ``init_db`` (the
  migrations). Repository calls commit as in production; everything the test
  wrote is gone before the next test starts.
- The database is a new SQLite file per test, or, when the ``TEST_PG_URL``
  environment variable names a PostgreSQL server, a database created on that
  server for the test run (dropped at its end) whose tables are emptied
  (``TRUNCATE … RESTART IDENTITY CASCADE``) after every test. ``TEST_PG_URL``
  is only used to reach the server: its own database is never written to.
- ``asyncdata_backend`` chooses between the two. Override it in a
  ``conftest.py`` to run every test on both::

      @pytest.fixture(params=["sqlite", "postgresql"])
      def asyncdata_backend(request):
          return request.param

  (``"postgresql"`` without ``TEST_PG_URL`` skips the test.)
- ``asyncdata_url`` is that database's URL (password included), for code
  under test that builds its own engine, e.g. an app reading ``DB_URL``:
  ``monkeypatch.setenv("DB_URL", asyncdata_url)`` and ``await
  dispose_engine()`` before and after. Its sessions must be closed by the end
  of the test, or emptying the PostgreSQL tables waits for them (at most ten
  seconds, then the test errors).
- ``asyncdata_engine`` is an ``AsyncEngine`` on that database, made with
  ``asyncdata.database.create_engine``, for tests that need several sessions
  at once (races, for instance).
- ``make_specialist``, ``make_schedule`` and ``make_booking`` create rows
  through the repositories on ``asyncdata_db``, so they obey every rule the
  application does and commit like it (inside ``transaction(asyncdata_db)``
  they join that transaction). Every field may be given; the ones not given
  get the defaults documented on each factory's protocol below. Emails and
  names are unique within a test run.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from asyncdata.database import create_engine, init_db, session_factory
from asyncdata.errors import ValidationError
from asyncdata.models import Booking, Schedule, Specialist
from asyncdata.repositories import BookingRepository, ScheduleRepository, SpecialistRepository

__all__ = [
    "BOOKING_SEARCH_DAYS",
    "DEFAULT_WEEKDAYS",
    "DEFAULT_WINDOW",
    "MakeBooking",
    "MakeSchedule",
    "MakeSpecialist",
    "asyncdata_backend",
    "asyncdata_db",
    "asyncdata_engine",
    "asyncdata_url",
    "make_booking",
    "make_schedule",
    "make_specialist",
]

DEFAULT_WEEKDAYS = (0, 1, 2, 3, 4)
"""The weekdays (0 = Monday) a specialist from ``make_specialist`` works."""

DEFAULT_WINDOW = (time(9), time(17))
"""The local working hours of every default schedule window."""

BOOKING_SEARCH_DAYS = 56
"""How many days ahead ``make_booking`` looks for a free slot before giving up."""

_LEAD = timedelta(minutes=5)
"""A default booking starts at least this far ahead, so it is still in the future
when it is written, however slow the test machine."""

_TRUNCATE_LOCK_TIMEOUT = "10s"
_SERIAL = itertools.count(1)
_RUN = uuid.uuid4().hex[:8]

F = TypeVar("F", bound=Callable[..., Any])


# -- factory types ---------------------------------------------------------------


class MakeSpecialist(Protocol):
    """``await make_specialist(**fields)`` → a new, committed ``Specialist``.

    Defaults: ``name`` "Specialist <n>", a unique ``email``
    (``specialist-<n>-<run>@example.com``), ``specialization`` "General practice",
    ``languages`` "English", ``timezone`` "UTC". Unless ``schedule=False``, the
    specialist works Monday to Friday, 09:00-17:00 local time.
    """

    async def __call__(self, *, schedule: bool = True, **fields: Any) -> Specialist: ...


class MakeSchedule(Protocol):
    """``await make_schedule(specialist, **fields)`` → a new, committed ``Schedule``.

    ``specialist`` is a ``Specialist`` or its id. Defaults: ``day_of_week`` the
    first weekday (Monday first) on which the specialist has no active window,
    ``start_time`` 09:00, ``end_time`` 17:00.
    """

    async def __call__(self, specialist: Specialist | int, /, **fields: Any) -> Schedule: ...


class MakeBooking(Protocol):
    """``await make_booking(specialist, **fields)`` → a new, committed ``Booking``.

    ``specialist`` is a ``Specialist`` or its id. Defaults: ``client_name``
    "Client <n>", a unique ``client_email``, ``duration_minutes`` 60, and the
    next free slot of that length (``BookingRepository.get_available_slots``,
    starting at least five minutes from now, within ``BOOKING_SEARCH_DAYS``):
    on ``booking_date`` if only the date is given, at ``booking_time`` on the
    first day it is free if only the time is. ``status`` may be given (e.g.
    ``"confirmed"``). ``enforce_availability=False`` is passed on to
    ``BookingRepository.create`` (for bookings in the past, say, which then
    need an explicit date and time). No free slot in reach is a
    ``ValidationError`` naming ``booking_date`` and ``booking_time``.
    """

    async def __call__(
        self,
        specialist: Specialist | int,
        /,
        *,
        enforce_availability: bool = True,
        **fields: Any,
    ) -> Booking: ...


# -- helpers -----------------------------------------------------------------------


def _async_fixture(func: F) -> F:
    """``pytest_asyncio.fixture`` when pytest-asyncio is installed.

    Without it, a stand-in fixture of the same name and arguments fails the
    test that asks for it with a clear message, instead of this plugin
    breaking every pytest run in an environment that merely has asyncdata.
    """
    try:
        import pytest_asyncio
    except ImportError:

        def missing(*_args: Any, **_kwargs: Any) -> Any:
            pytest.fail(
                f"the {func.__name__} fixture needs pytest-asyncio: "
                "pip install pytest-asyncio (or asyncdata[test])",
                pytrace=False,
            )

        # Same name and arguments, but a plain function: pytest must not see an async one.
        missing.__name__ = missing.__qualname__ = func.__name__
        missing.__doc__ = func.__doc__
        missing.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        return cast(F, pytest.fixture(missing))
    return cast(F, pytest_asyncio.fixture(func))


def _run_in_thread(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion on a private event loop in another thread.

    Session-wide setup and teardown happen outside any test's event loop, and
    must not replace the loop pytest-asyncio manages in this thread.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:  # handed back to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=target, name="asyncdata-testing")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


async def _migrate(url: str | URL) -> None:
    engine = create_engine(url)
    try:
        await init_db(engine)
    finally:
        await engine.dispose()


async def _on_server(server: URL, statement: str) -> None:
    """One statement, outside a transaction, on the database ``TEST_PG_URL`` names."""
    admin = server if server.database else server.set(database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _empty_postgres(engine: AsyncEngine) -> None:
    """Empty every table of the schema but Alembic's, and restart the id sequences.

    The admin log refuses TRUNCATE (it is append-only in the database): its
    triggers are disabled for this one transaction, which the run's own database
    allows (its role owns the tables), and enabled again before it commits.
    """
    async with engine.begin() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        found = list(names)
        tables = ", ".join(f'"{name}"' for name in found)
        if tables:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{_TRUNCATE_LOCK_TIMEOUT}'"))
            guarded = "admin_logs" in found
            if guarded:
                await conn.execute(text("ALTER TABLE admin_logs DISABLE TRIGGER USER"))
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            if guarded:
                await conn.execute(text("ALTER TABLE admin_logs ENABLE TRIGGER USER"))


def _specialist_id(specialist: Specialist | int) -> int:
    return specialist if isinstance(specialist, int) else specialist.id


# -- database fixtures ---------------------------------------------------------------


@pytest.fixture
def asyncdata_backend() -> str:
    """``"postgresql"`` when ``TEST_PG_URL`` is set, else ``"sqlite"``; override to choose."""
    return "postgresql" if os.environ.get("TEST_PG_URL", "").strip() else "sqlite"


@pytest.fixture(scope="session")
def _asyncdata_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, built once per run and copied for each test."""
    path = tmp_path_factory.mktemp("asyncdata") / "template.db"
    _run_in_thread(lambda: _migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def _asyncdata_postgres() -> Iterator[str]:
    """A migrated database of this run's own on the ``TEST_PG_URL`` server."""
    raw = os.environ.get("TEST_PG_URL", "").strip()
    if not raw:
        pytest.skip("TEST_PG_URL is not set: no PostgreSQL server to test on")
    server = make_url(raw)
    name = f"asyncdata_pytest_{uuid.uuid4().hex[:12]}"
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        _run_in_thread(lambda: _on_server(server, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"TEST_PG_URL is set but PostgreSQL is unusable: {exc}", pytrace=False)
    try:
        _run_in_thread(lambda: _migrate(url))
        yield url
    finally:
        _run_in_thread(lambda: _on_server(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def _asyncdata_database(
    asyncdata_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    if asyncdata_backend == "sqlite":
        template = cast(Path, request.getfixturevalue("_asyncdata_sqlite_template"))
        path = tmp_path / "asyncdata.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    if asyncdata_backend == "postgresql":
        return cast(str, request.getfixturevalue("_asyncdata_postgres"))
    raise pytest.UsageError(
        f"asyncdata_backend is {asyncdata_backend!r}: expected 'sqlite' or 'postgresql'"
    )


@_async_fixture
async def asyncdata_engine(_asyncdata_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine on this test's database, schema ready; the data is gone after the test."""
    engine = create_engine(_asyncdata_database)
    try:
        yield engine
    finally:
        try:
            if engine.dialect.name == "postgresql":
                await _empty_postgres(engine)
        finally:
            await engine.dispose()


@_async_fixture
async def asyncdata_url(asyncdata_engine: AsyncEngine) -> str:
    """The URL of this test's database (password included), schema ready."""
    return asyncdata_engine.url.render_as_string(hide_password=False)


@_async_fixture
async def asyncdata_db(asyncdata_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on this test's database, closed after the test."""
    async with session_factory(asyncdata_engine)() as session:
        yield session


# -- factories -------------------------------------------------------------------------


@pytest.fixture
def make_specialist(asyncdata_db: AsyncSession) -> MakeSpecialist:
    """``await make_specialist(**fields)``: see ``MakeSpecialist``."""

    async def make(*, schedule: bool = True, **fields: Any) -> Specialist:
        n = next(_SERIAL)
        data: dict[str, Any] = {
            "name": f"Specialist {n}",
            "email": f"specialist-{n}-{_RUN}@example.com",
            "specialization": "General practice",
            "languages": "English",
            "timezone": "UTC",
            **fields,
        }
        specialist = await SpecialistRepository(asyncdata_db).create(data)
        if schedule:
            start, end = DEFAULT_WINDOW
            await ScheduleRepository(asyncdata_db).create_many(
                {
                    "specialist_id": specialist.id,
                    "day_of_week": day,
                    "start_time": start,
                    "end_time": end,
                }
                for day in DEFAULT_WEEKDAYS
            )
        return specialist

    return make


@pytest.fixture
def make_schedule(asyncdata_db: AsyncSession) -> MakeSchedule:
    """``await make_schedule(specialist, **fields)``: see ``MakeSchedule``."""

    async def make(specialist: Specialist | int, /, **fields: Any) -> Schedule:
        repo = ScheduleRepository(asyncdata_db)
        specialist_id = _specialist_id(specialist)
        data: dict[str, Any] = {"specialist_id": specialist_id, **fields}
        if "day_of_week" not in data:
            taken = {s.day_of_week for s in await repo.get_by_specialist(specialist_id)}
            data["day_of_week"] = next((d for d in range(7) if d not in taken), 0)
        data.setdefault("start_time", DEFAULT_WINDOW[0])
        data.setdefault("end_time", DEFAULT_WINDOW[1])
        return await repo.create(data)

    return make


async def _next_slot(
    repo: BookingRepository,
    specialist_id: int,
    *,
    duration: int,
    on_date: date | None,
    at: time | None,
) -> tuple[date, time]:
    earliest = datetime.now(UTC) + _LEAD
    if on_date is not None:
        days = [on_date]
    else:
        first = earliest.date() - timedelta(days=1)  # zones behind UTC may still be on it
        days = [first + timedelta(days=i) for i in range(BOOKING_SEARCH_DAYS + 1)]
    for day in days:
        slots = await repo.get_available_slots(
            specialist_id, day, duration_minutes=duration, step_minutes=1 if at else None
        )
        for slot in slots:
            if slot >= earliest and (at is None or slot.time() == at):
                return day, slot.time()
    where = f"on {on_date.isoformat()}" if on_date else f"in the next {BOOKING_SEARCH_DAYS} days"
    when = f" at {at.isoformat()}" if at else ""
    raise ValidationError(
        f"make_booking: specialist id={specialist_id} has no free {duration}-minute slot"
        f"{when} {where}; give booking_date and booking_time, or a schedule",
        fields=["booking_date", "booking_time"],
    )


@pytest.fixture
def make_booking(asyncdata_db: AsyncSession) -> MakeBooking:
    """``await make_booking(specialist, **fields)``: see ``MakeBooking``."""

    async def make(
        specialist: Specialist | int,
        /,
        *,
        enforce_availability: bool = True,
        **fields: Any,
    ) -> Booking:
        repo = BookingRepository(asyncdata_db)
        specialist_id = _specialist_id(specialist)
        n = next(_SERIAL)
        data: dict[str, Any] = {
            "specialist_id": specialist_id,
            "client_name": f"Client {n}",
            "client_email": f"client-{n}-{_RUN}@example.com",
            "duration_minutes": 60,
            **fields,
        }
        if "booking_date" not in data or "booking_time" not in data:
            on_date, at = data.get("booking_date"), data.get("booking_time")
            data["booking_date"], data["booking_time"] = await _next_slot(
                repo,
                specialist_id,
                duration=int(data["duration_minutes"]),
                on_date=date.fromisoformat(on_date) if isinstance(on_date, str) else on_date,
                at=time.fromisoformat(at) if isinstance(at, str) else at,
            )
        return await repo.create(data, enforce_availability=enforce_availability)

    return make
