"""Availability against real databases: buffers kept by the overlap guard, date overrides,
notice and horizon, and ``get_availability`` (equal to day-by-day slots, two statements)."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.database import transaction
from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Booking, DateOverride, Specialist
from asyncdata.repositories import (
    BookingRepository,
    DateOverrideRepository,
    DayOffRepository,
    SpecialistRepository,
)
from tests.helpers import make_specialist, next_weekday

Sessions = async_sessionmaker[AsyncSession]
OVERLAP = "ex_bookings_no_overlap"
MINUTE = timedelta(minutes=1)

_clients = count(1)


def booking(specialist_id: int, on_date: date, at: time, minutes: int = 60) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Bo Client",
        "client_email": f"bo{next(_clients)}@example.com",
        "booking_date": on_date,
        "booking_time": at,
        "duration_minutes": minutes,
    }


async def buffered(db: AsyncSession, before: int = 30, after: int = 15, **more: Any) -> Specialist:
    """Europe/Berlin, 09:00-17:00 every day, with buffers."""
    return await make_specialist(
        db, buffer_before_minutes=before, buffer_after_minutes=after, **more
    )


async def fresh_booking(sessions: Sessions, booking_id: int) -> Booking:
    async with sessions() as fresh:
        found = await BookingRepository(fresh).get_by_id(booking_id)
    assert found is not None
    return found


# --- buffers -----------------------------------------------------------------------------------


async def test_a_booking_stores_the_span_its_buffers_block(db: AsyncSession) -> None:
    ada = await buffered(db)
    day = next_weekday(0)
    made = await BookingRepository(db).create(booking(ada.id, day, time(10)))
    assert made.blocked_from == made.starts_at - 30 * MINUTE
    assert made.blocked_until == made.ends_at + 15 * MINUTE


@pytest.mark.parametrize("enforce", [True, False])
async def test_a_booking_inside_anothers_buffers_is_a_conflict(
    db: AsyncSession, sessions: Sessions, enforce: bool
) -> None:
    ada = await buffered(db)  # 10:00-11:00 blocks 09:30-11:15
    day = next_weekday(1)
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, day, time(10)))
    for at in (time(9), time(11), time(11, 30)):  # each one's own span or buffers collide
        with pytest.raises(ConflictError) as caught:
            await repo.create(booking(ada.id, day, at), enforce_availability=enforce)
        assert caught.value.constraint == OVERLAP
    # 11:45 blocks 11:15-13:00: it only touches the first one's span.
    assert (await repo.create(booking(ada.id, day, time(11, 45)))).booking_time == time(11, 45)
    async with sessions() as fresh:
        assert len(await BookingRepository(fresh).get_by_specialist(ada.id)) == 2


async def test_the_database_itself_refuses_a_row_in_the_buffers(db: AsyncSession) -> None:
    """Even past the library: an INSERT whose blocked span meets another is refused."""
    ada = await buffered(db)
    day = next_weekday(2)
    made = await BookingRepository(db).create(booking(ada.id, day, time(10)))
    row = {
        k: getattr(made, k)
        for k in ("specialist_id", "client_name", "client_email", "booking_date", "booking_time")
    }
    later = made.ends_at + 10 * MINUTE  # outside the booking, inside its after-buffer
    row |= {"starts_at": later, "ends_at": later + 30 * MINUTE}
    row |= {"blocked_from": later, "blocked_until": later + 30 * MINUTE, "search_text": ""}
    with pytest.raises(IntegrityError, match=OVERLAP):
        async with transaction(db):
            await db.execute(insert(Booking).values(row))


async def test_cancelling_frees_the_buffers_too(db: AsyncSession) -> None:
    ada = await buffered(db)
    day = next_weekday(3)
    repo = BookingRepository(db)
    first = await repo.create(booking(ada.id, day, time(10)))
    await repo.cancel(first.id)
    assert (await repo.create(booking(ada.id, day, time(11)))).booking_time == time(11)


async def test_changing_buffers_leaves_existing_bookings_alone(
    db: AsyncSession, sessions: Sessions
) -> None:
    ada = await buffered(db, before=0, after=0)
    day = next_weekday(4)
    repo = BookingRepository(db)
    ten = await repo.create(booking(ada.id, day, time(10)))
    eleven = await repo.create(booking(ada.id, day, time(11)))  # back to back, no buffers
    await SpecialistRepository(db).update(
        ada.id, {"buffer_before_minutes": 60, "buffer_after_minutes": 60}
    )
    for kept in (ten, eleven):  # still stored, still valid, their spans untouched
        stored = await fresh_booking(sessions, kept.id)
        assert (stored.blocked_from, stored.blocked_until) == (stored.starts_at, stored.ends_at)
    assert (await repo.confirm(ten.id)).status == "confirmed"  # status moves still work
    # A new booking must keep the new buffers clear: 13:00 would block 12:00-15:00, and
    # eleven ends at 12:00, so it fits; 12:30 does not.
    with pytest.raises(ConflictError):
        await repo.create(booking(ada.id, day, time(12, 30)))
    assert (await repo.create(booking(ada.id, day, time(13)))).blocked_from == (eleven.ends_at)
    # Rescheduling recomputes with the buffers now in force.
    moved = await repo.reschedule(ten.id, day, time(16))
    assert moved.blocked_from == moved.starts_at - 60 * MINUTE
    assert moved.blocked_until == moved.ends_at + 60 * MINUTE
    # Smaller buffers afterwards: the stored spans stay what they were.
    await SpecialistRepository(db).update(ada.id, {"buffer_before_minutes": 0})
    assert (await fresh_booking(sessions, moved.id)).blocked_from == moved.blocked_from


async def test_slots_leave_the_buffers_free(db: AsyncSession) -> None:
    ada = await buffered(db, before=30, after=30)
    day = next_weekday(5)
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, day, time(12)))  # blocks 11:30-13:30
    slots = await repo.get_available_slots(ada.id, day, step_minutes=30)
    walls = [s.strftime("%H:%M") for s in slots]
    # Each candidate blocks [s - 30, s + 90): it must end by 11:30 or start at 13:30.
    assert walls == ["09:00", "09:30", "10:00", "14:00", "14:30", "15:00", "15:30", "16:00"]
    await repo.create(booking(ada.id, day, time(10)))  # blocks 09:30-11:30: nothing fits before
    slots = await repo.get_available_slots(ada.id, day, step_minutes=30)
    assert [s.strftime("%H:%M") for s in slots] == walls[3:]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("buffer_before_minutes", 241),
        ("buffer_after_minutes", -1),
        ("min_notice_minutes", -5),
        ("max_advance_days", -1),
        ("buffer_before_minutes", "30"),
    ],
)
async def test_specialist_rule_fields_are_validated(
    db: AsyncSession, field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create(
            {"name": "X", "email": f"x{next(_clients)}@example.com", field: value}
        )
    assert caught.value.fields == (field,)


async def test_blocked_span_is_managed_by_the_library(db: AsyncSession) -> None:
    ada = await buffered(db)
    row = booking(ada.id, next_weekday(0), time(10)) | {"blocked_from": datetime.now(UTC)}
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).create(row)
    assert caught.value.fields == ("blocked_from",)


# --- notice and horizon ------------------------------------------------------------------------


async def test_notice_and_horizon_refuse_with_a_validation_error(db: AsyncSession) -> None:
    ada = await make_specialist(db, min_notice_minutes=30 * 24 * 60, max_advance_days=60)
    repo = BookingRepository(db)
    soon, far, ok = (date.today() + timedelta(days=n) for n in (7, 90, 45))
    with pytest.raises(ValidationError) as caught:
        await repo.create(booking(ada.id, soon, time(10)))
    assert caught.value.fields == ("booking_date", "booking_time")
    with pytest.raises(ValidationError) as caught:
        await repo.create(booking(ada.id, far, time(10)))
    assert caught.value.fields == ("booking_date",)
    assert await repo.get_available_slots(ada.id, soon) == []
    assert await repo.get_available_slots(ada.id, far) == []
    assert len(await repo.get_available_slots(ada.id, ok)) == 8
    assert (await repo.create(booking(ada.id, ok, time(10)))).booking_date == ok
    # Administrator imports skip both.
    await repo.create(booking(ada.id, soon, time(10)), enforce_availability=False)
    await repo.create(booking(ada.id, far, time(10)), enforce_availability=False)


# --- date overrides ----------------------------------------------------------------------------


async def test_set_day_replaces_the_weekly_windows_on_that_date(db: AsyncSession) -> None:
    ada = await make_specialist(db)  # 09:00-17:00 every day
    day, other = next_weekday(1), next_weekday(2)
    overrides, repo = DateOverrideRepository(db), BookingRepository(db)
    rows = await overrides.set_day(ada.id, day, [(time(14), time(16)), (time(7), time(8))])
    assert [(r.start_time, r.end_time) for r in rows] == [(time(7), time(8)), (time(14), time(16))]
    walls = [s.strftime("%H:%M") for s in await repo.get_available_slots(ada.id, day)]
    assert walls == ["07:00", "14:00", "15:00"]
    assert len(await repo.get_available_slots(ada.id, other)) == 8  # other dates: weekly plan
    with pytest.raises(ValidationError) as caught:
        await repo.create(booking(ada.id, day, time(10)))
    assert caught.value.fields == ("booking_time",)
    assert (await repo.create(booking(ada.id, day, time(7)))).booking_time == time(7)
    # Closing the date: one closed row; no slots, no bookings.
    closed = await overrides.set_day(ada.id, day, [])
    assert [(r.start_time, r.end_time, r.closed) for r in closed] == [(None, None, True)]
    assert await repo.get_available_slots(ada.id, day) == []
    with pytest.raises(ValidationError):
        await repo.create(booking(ada.id, day, time(14)))
    assert [r.id for r in await overrides.get_by_specialist(ada.id)] == [closed[0].id]
    # Back to the weekly plan.
    assert await overrides.clear_day(ada.id, day) == 1
    assert await overrides.clear_day(ada.id, day) == 0
    assert len(await repo.get_available_slots(ada.id, day)) == 8
    assert await overrides.get_by_specialist(ada.id) == []


async def test_get_by_specialist_filters_by_dates(db: AsyncSession) -> None:
    ada = await make_specialist(db)
    days = [next_weekday(0) + timedelta(days=n) for n in range(4)]
    overrides = DateOverrideRepository(db)
    for day in days:
        await overrides.set_day(ada.id, day, [(time(8), time(9))])
    found = await overrides.get_by_specialist(ada.id, date_from=days[1], date_to=days[2])
    assert [r.override_date for r in found] == days[1:3]
    assert await overrides.get_by_specialist(ada.id + 1000) == []


@pytest.mark.parametrize(
    "windows",
    [
        "09:00-10:00",
        [(time(10), time(9))],
        [(time(9), time(11)), (time(10), time(12))],
        [(time(9),)],
        [("09:00", "10:00")],
        [(time(9, tzinfo=UTC), time(10, tzinfo=UTC))],
        [(time(h), time(h, 30)) for h in range(24)] * 3,
    ],
)
async def test_set_day_refuses_bad_windows_and_writes_nothing(
    db: AsyncSession, windows: Any
) -> None:
    ada = await make_specialist(db)
    day = next_weekday(3)
    overrides = DateOverrideRepository(db)
    await overrides.set_day(ada.id, day, [(time(8), time(9))])
    with pytest.raises(ValidationError) as caught:
        await overrides.set_day(ada.id, day, windows)
    assert caught.value.fields == ("windows",)
    assert [(r.start_time, r.end_time) for r in await overrides.get_by_specialist(ada.id)] == [
        (time(8), time(9))
    ]


async def test_set_day_for_a_missing_specialist_is_not_found(db: AsyncSession) -> None:
    with pytest.raises(NotFoundError):
        await DateOverrideRepository(db).set_day(999, next_weekday(0), [])
    with pytest.raises(NotFoundError):
        await DateOverrideRepository(db).clear_day(2**40, next_weekday(0))
    async with transaction(db):
        assert (await db.scalars(select(DateOverride))).all() == []


async def test_a_day_off_still_closes_an_overridden_date(db: AsyncSession) -> None:
    ada = await make_specialist(db)
    day = next_weekday(4)
    await DateOverrideRepository(db).set_day(ada.id, day, [(time(9), time(12))])
    await DayOffRepository(db).create({"specialist_id": ada.id, "date": day})
    assert await BookingRepository(db).get_available_slots(ada.id, day) == []


# --- get_availability --------------------------------------------------------------------------


async def world(db: AsyncSession) -> list[int]:
    """Three specialists in three zones with buffers, notice, overrides, a day off and
    bookings spread over the coming months (DST changes included)."""
    berlin = await make_specialist(db, timezone="Europe/Berlin", buffer_after_minutes=15)
    york = await make_specialist(
        db, timezone="America/New_York", buffer_before_minutes=20, min_notice_minutes=3000
    )
    howe = await make_specialist(db, timezone="Australia/Lord_Howe", max_advance_days=40)
    ids = [berlin.id, york.id, howe.id]
    start = date.today() + timedelta(days=1)
    overrides = DateOverrideRepository(db)
    await overrides.set_day(berlin.id, start + timedelta(days=3), [])
    await overrides.set_day(york.id, start + timedelta(days=5), [(time(6), time(8, 30))])
    await DayOffRepository(db).create({"specialist_id": howe.id, "date": start + timedelta(4)})
    repo = BookingRepository(db)
    rows = [
        booking(sid, start + timedelta(days=d), time(9 + (d + n) % 7), 45)
        for n, sid in enumerate(ids)
        for d in range(0, 100, 3)
    ]
    await repo.create_many(rows, enforce_availability=False)
    return ids


async def test_get_availability_costs_two_statements_for_one_day_or_sixty(
    db: AsyncSession, count_statements: Any
) -> None:
    ids = await world(db)
    repo = BookingRepository(db)
    first = date.today() + timedelta(days=1)
    for days in (1, 60):
        with count_statements() as counter:
            found = await repo.get_availability(ids, first, first + timedelta(days=days - 1))
        assert counter.count == 2
        assert sorted(found) == sorted(ids)
        assert all(len(by_day) == days for by_day in found.values())
    with count_statements() as counter:
        await repo.get_available_slots(ids[0], first)
    assert counter.count == 2


async def test_get_availability_refuses_bad_arguments(db: AsyncSession) -> None:
    ids = await world(db)
    repo = BookingRepository(db)
    day = date.today()
    cases: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
        ((ids, day, day + timedelta(days=92)), {}, "date_from"),
        ((ids, day, day - timedelta(days=1)), {}, "date_to"),
        (("12", day, day), {}, "specialist_ids"),
        (([True], day, day), {}, "specialist_ids"),
        ((ids, "2030-01-01", day), {}, "date_from"),
        ((ids, day, day), {"duration_minutes": 0}, "duration_minutes"),
        ((ids, day, day), {"step_minutes": 0}, "step_minutes"),
    ]
    for args, kwargs, name in cases:
        with pytest.raises(ValidationError) as caught:
            await repo.get_availability(*args, **kwargs)
        assert name in caught.value.fields
    with pytest.raises(NotFoundError):
        await repo.get_availability([*ids, 9999], day, day)
    with pytest.raises(NotFoundError):
        await repo.get_availability([2**40], day, day)
    assert await repo.get_availability([], day, day) == {}
    assert len((await repo.get_availability(ids, day, day + timedelta(days=91)))[ids[0]]) == 92


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_get_availability_equals_day_by_day_slots(db: AsyncSession, data: Any) -> None:
    with suppress(_Rollback):
        await _compare_with_day_by_day(db, data)


async def _compare_with_day_by_day(db: AsyncSession, data: Any) -> None:
    async with transaction(db):  # rolled back: each example starts from the same world
        ids = await world(db)
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True))
        first = date.today() + timedelta(days=data.draw(st.integers(-2, 120)))
        last = first + timedelta(days=data.draw(st.integers(0, 20)))
        duration = data.draw(st.sampled_from([15, 30, 45, 60, 90]))
        step = data.draw(st.sampled_from([None, 15, 20]))
        repo = BookingRepository(db)
        found = await repo.get_availability(
            chosen, first, last, duration_minutes=duration, step_minutes=step
        )
        assert sorted(found) == sorted(chosen)
        for sid in chosen:
            day = first
            while day <= last:
                expected = await repo.get_available_slots(
                    sid, day, duration_minutes=duration, step_minutes=step
                )
                assert found[sid][day] == expected, (sid, day)
                day += timedelta(days=1)
        raise _Rollback


class _Rollback(Exception):
    pass
