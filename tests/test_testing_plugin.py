"""The ``asyncdata.testing`` pytest plugin, as a user's own test suite sees it.

``pytester`` runs ``SAMPLE`` (the README's example) in a fresh pytest process
that knows asyncdata only through its installed ``pytest11`` entry point; the
factories' defaults are checked here directly, through the same plugin.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from asyncdata.database import create_engine
from asyncdata.errors import ValidationError
from asyncdata.models import Specialist
from asyncdata.repositories import BookingRepository, ScheduleRepository, SpecialistRepository
from asyncdata.testing import MakeBooking, MakeSchedule, MakeSpecialist

pytest_plugins = ["pytester"]

PG_URL = os.environ.get("TEST_PG_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
README = Path(__file__).resolve().parent.parent / "README.md"

SAMPLE = """\
from datetime import time

import pytest

from asyncdata import BookingRepository, ConflictError, SpecialistRepository


async def test_a_slot_is_booked_once(asyncdata_db, make_specialist, make_booking):
    ada = await make_specialist(name="Ada Lovelace", timezone="Europe/London")
    booking = await make_booking(ada, client_name="Grace Hopper")  # the next free slot

    assert booking.status == "pending"
    assert booking.booking_date.weekday() < 5  # Monday to Friday,
    assert time(9) <= booking.booking_time < time(17)  # 09:00-17:00 by default

    bookings = BookingRepository(asyncdata_db)
    with pytest.raises(ConflictError):
        await make_booking(
            ada, booking_date=booking.booking_date, booking_time=booking.booking_time
        )
    free = await bookings.get_available_slots(ada.id, booking.booking_date)
    assert booking.booking_time not in [slot.time() for slot in free]


async def test_weekend_hours(make_specialist, make_schedule, make_booking):
    bob = await make_specialist(schedule=False)
    await make_schedule(bob, day_of_week=5, start_time=time(10), end_time=time(14))

    booking = await make_booking(bob, duration_minutes=30, status="confirmed")

    assert booking.booking_date.weekday() == 5
    assert time(10) <= booking.booking_time <= time(13, 30)


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_starts_empty(asyncdata_db, make_specialist, run):
    specialists = SpecialistRepository(asyncdata_db)
    assert await specialists.count() == 0
    await make_specialist()  # committed, and gone before the next test
    assert await specialists.count() == 1
"""

SAMPLE_TESTS = 4

INI = """\
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
filterwarnings = error
"""


def run_sample(
    pytester: pytest.Pytester, *, mode: str = "auto", extra: str = ""
) -> pytest.RunResult:
    pytester.makefile(".ini", pytest=INI.format(mode=mode))
    marker = "import pytest\n\npytestmark = pytest.mark.asyncio\n\n" if mode == "strict" else ""
    pytester.makepyfile(test_my_app=marker + SAMPLE + extra)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")


def test_sample_passes_on_sqlite(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_PG_URL", raising=False)
    extra = """

async def test_on_sqlite(asyncdata_url, asyncdata_backend):
    assert asyncdata_backend == "sqlite"
    assert asyncdata_url.startswith("sqlite+aiosqlite:///")
"""
    result = run_sample(pytester, extra=extra)
    result.assert_outcomes(passed=SAMPLE_TESTS + 1)


def test_sample_passes_in_strict_mode(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_PG_URL", raising=False)
    run_sample(pytester, mode="strict").assert_outcomes(passed=SAMPLE_TESTS)


@pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set")
async def test_sample_passes_on_postgresql(pytester: pytest.Pytester, tmp_path: Path) -> None:
    seen = tmp_path / "url.txt"
    extra = f"""

async def test_on_postgresql(asyncdata_url, asyncdata_backend):
    assert asyncdata_backend == "postgresql"
    with open({str(seen)!r}, "w") as out:
        out.write(asyncdata_url)
"""
    result = run_sample(pytester, extra=extra)
    result.assert_outcomes(passed=SAMPLE_TESTS + 1)

    name = make_url(seen.read_text()).database
    assert name and name != make_url(PG_URL).database
    engine = create_engine(PG_URL)
    try:
        async with engine.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            )
    finally:
        await engine.dispose()
    assert left == 0, f"the run's database {name} was not dropped"


def test_plugin_without_pytest_asyncio(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where pytest-asyncio cannot be imported, the plugin still loads: sync tests run,
    and a test asking for a database fixture fails saying what to install."""
    blocked = pytester.mkdir("blocked") / "pytest_asyncio"
    blocked.mkdir()
    (blocked / "__init__.py").write_text("raise ImportError('pytest-asyncio is not here')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocked.parent))
    pytester.makepyfile(
        test_app="def test_plain():\n    pass\n\ndef test_db(asyncdata_db):\n    pass\n"
    )
    result = pytester.run(
        sys.executable, "-m", "pytest", "-p", "no:asyncio", "-p", "no:cacheprovider", "test_app.py"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture needs pytest-asyncio: pip install pytest-asyncio*"])


def test_readme_example_is_the_sample() -> None:
    """The README's example is the file run above, so it cannot drift."""
    readme = README.read_text(encoding="utf-8") if README.is_file() else ""
    section = readme.partition("## Testing your app with asyncdata")[2]
    if not section:
        pytest.skip("README has no 'Testing your app with asyncdata' section")
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the section has no python example"
    assert block.group(1) == SAMPLE


# -- the fixtures and factories, directly --------------------------------------------------


@pytest.fixture(params=BACKENDS)
def asyncdata_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_every_test_starts_from_an_empty_database(
    asyncdata_db: AsyncSession, make_specialist: MakeSpecialist
) -> None:
    assert await SpecialistRepository(asyncdata_db).count() == 0
    assert (await make_specialist()).id == 1  # ids restart too


async def test_commits_from_other_sessions_are_seen_and_cleaned_up(
    asyncdata_engine: AsyncEngine, asyncdata_url: str, asyncdata_db: AsyncSession
) -> None:
    async with AsyncSession(asyncdata_engine, expire_on_commit=False) as other:
        await SpecialistRepository(other).create({"name": "Other", "email": "o@example.com"})
    found = await SpecialistRepository(asyncdata_db).get_by_email("o@example.com")
    assert found is not None and found.id == 1
    second = create_engine(asyncdata_url)
    try:
        async with AsyncSession(second) as session:
            assert await SpecialistRepository(session).count() == 1
    finally:
        await second.dispose()


async def test_schema_comes_from_the_migrations(asyncdata_engine: AsyncEngine) -> None:
    async with asyncdata_engine.connect() as conn:
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    assert version


async def test_make_specialist_defaults(
    asyncdata_db: AsyncSession, make_specialist: MakeSpecialist
) -> None:
    first, second = await make_specialist(), await make_specialist()
    assert isinstance(first, Specialist)
    assert first.name.startswith("Specialist ") and first.name != second.name
    assert first.email != second.email and first.email.endswith("@example.com")
    assert (first.specialization, first.languages, first.timezone) == (
        "General practice",
        "English",
        "UTC",
    )
    assert first.is_active
    windows = await ScheduleRepository(asyncdata_db).get_by_specialist(first.id)
    assert [(w.day_of_week, w.start_time, w.end_time) for w in windows] == [
        (day, time(9), time(17)) for day in range(5)
    ]


async def test_make_specialist_fields_and_no_schedule(
    asyncdata_db: AsyncSession, make_specialist: MakeSpecialist
) -> None:
    bare = await make_specialist(
        schedule=False, name="Élodie", email="ELODIE@example.com", timezone="Asia/Tokyo"
    )
    assert (bare.name, bare.email, bare.timezone) == ("Élodie", "elodie@example.com", "Asia/Tokyo")
    assert await ScheduleRepository(asyncdata_db).get_by_specialist(bare.id) == []
    with pytest.raises(ValidationError):
        await make_specialist(email="not an address")


async def test_make_schedule_defaults(
    make_specialist: MakeSpecialist, make_schedule: MakeSchedule
) -> None:
    bare = await make_specialist(schedule=False)
    monday = await make_schedule(bare)
    assert (monday.specialist_id, monday.day_of_week) == (bare.id, 0)
    assert (monday.start_time, monday.end_time) == (time(9), time(17))
    assert (await make_schedule(bare.id)).day_of_week == 1  # an id works as well

    weekdays = await make_specialist()
    assert (await make_schedule(weekdays)).day_of_week == 5  # the first day without a window
    evening = await make_schedule(weekdays, day_of_week=0, start_time=time(18), end_time=time(20))
    assert (evening.day_of_week, evening.start_time, evening.end_time) == (0, time(18), time(20))


async def first_free_slot(db: AsyncSession, specialist_id: int, duration: int = 60) -> datetime:
    """The earliest slot at least five minutes ahead, found independently of the plugin."""
    earliest = datetime.now(UTC) + timedelta(minutes=5)
    repo = BookingRepository(db)
    for offset in range(-1, 30):
        day = earliest.date() + timedelta(days=offset)
        for slot in await repo.get_available_slots(specialist_id, day, duration_minutes=duration):
            if slot >= earliest:
                return slot
    raise AssertionError("no free slot")


async def test_make_booking_takes_the_next_free_slot(
    asyncdata_db: AsyncSession, make_specialist: MakeSpecialist, make_booking: MakeBooking
) -> None:
    ada = await make_specialist(timezone="America/New_York")
    expected = await first_free_slot(asyncdata_db, ada.id)
    booking = await make_booking(ada)
    assert (booking.booking_date, booking.booking_time) == (expected.date(), expected.time())
    assert booking.starts_at == expected
    assert booking.duration_minutes == 60 and booking.status == "pending"
    assert booking.client_name.startswith("Client ") and booking.client_email.endswith(
        "@example.com"
    )

    following = await first_free_slot(asyncdata_db, ada.id)
    second = await make_booking(ada.id, client_email="Grace@Example.com")
    assert second.starts_at == following > booking.starts_at
    assert second.client_email == "grace@example.com"


async def test_make_booking_with_a_date_or_a_time(
    asyncdata_db: AsyncSession, make_specialist: MakeSpecialist, make_booking: MakeBooking
) -> None:
    ada = await make_specialist()
    next_week = date.today() + timedelta(days=7)
    wednesday = next_week + timedelta(days=(2 - next_week.weekday()) % 7)

    on_wednesday = await make_booking(ada, booking_date=wednesday, duration_minutes=90)
    assert (on_wednesday.booking_date, on_wednesday.booking_time) == (wednesday, time(9))
    again = await make_booking(ada, booking_date=wednesday.isoformat(), duration_minutes=90)
    assert again.booking_time == time(10, 30)

    at_four = await make_booking(ada, booking_time=time(16))
    assert at_four.booking_time == time(16) and at_four.booking_date.weekday() < 5
    later = await make_booking(ada, booking_time="16:00")
    assert later.booking_time == time(16) and later.booking_date > at_four.booking_date

    saturday = wednesday + timedelta(days=3)
    with pytest.raises(ValidationError, match=saturday.isoformat()) as raised:
        await make_booking(ada, booking_date=saturday)
    assert set(raised.value.fields) == {"booking_date", "booking_time"}


async def test_make_booking_status_and_administrator_imports(
    make_specialist: MakeSpecialist, make_booking: MakeBooking
) -> None:
    ada = await make_specialist()
    assert (await make_booking(ada, status="confirmed")).status == "confirmed"

    last_month = date.today() - timedelta(days=30)
    past = await make_booking(
        ada,
        booking_date=last_month,
        booking_time=time(20),
        status="completed",
        enforce_availability=False,
    )
    assert (past.booking_date, past.status) == (last_month, "completed")
    with pytest.raises(ValidationError):
        await make_booking(ada, booking_date=last_month, booking_time=time(10))


async def test_make_booking_without_a_schedule_says_why(
    make_specialist: MakeSpecialist, make_booking: MakeBooking
) -> None:
    bare = await make_specialist(schedule=False)
    with pytest.raises(ValidationError, match="no free 60-minute slot"):
        await make_booking(bare)


async def test_factories_take_the_availability_fields(
    make_specialist: MakeSpecialist, make_booking: MakeBooking
) -> None:
    """Buffers, notice and horizon pass through ``make_specialist``; ``make_booking``'s next
    free slot then keeps them."""
    ada = await make_specialist(
        buffer_before_minutes=15, buffer_after_minutes=30, min_notice_minutes=2 * 24 * 60
    )
    assert (ada.buffer_before_minutes, ada.buffer_after_minutes) == (15, 30)
    assert ada.max_advance_days is None
    assert (await make_booking(ada)).starts_at >= datetime.now(UTC) + timedelta(days=2)
    next_week = date.today() + timedelta(days=7)
    monday = next_week + timedelta(days=-next_week.weekday() % 7)
    first = await make_booking(ada, booking_date=monday)
    second = await make_booking(ada, booking_date=monday)
    assert (first.booking_time, second.booking_time) == (time(9), time(11))  # 10:00 is taken
    assert second.blocked_from - first.blocked_until == timedelta(minutes=15)
    with pytest.raises(ValidationError):
        await make_specialist(buffer_after_minutes=241)
