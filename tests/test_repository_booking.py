"""BookingRepository against real databases: placement rules, status moves, queries, slots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import count, pairwise, product
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Booking, BookingStatus, Specialist
from asyncdata.repositories import (
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
)
from tests.helpers import next_weekday

Sessions = async_sessionmaker[AsyncSession]

OVERLAP = "ex_bookings_no_overlap"
PENDING, CONFIRMED, CANCELLED, COMPLETED, NO_SHOW = (
    BookingStatus.PENDING,
    BookingStatus.CONFIRMED,
    BookingStatus.CANCELLED,
    BookingStatus.COMPLETED,
    BookingStatus.NO_SHOW,
)
# Winter: Berlin is UTC+1, New York UTC-5. Summer: Berlin UTC+2, New York UTC-4.
MON, TUE, WED, SUN = date(2027, 1, 11), date(2027, 1, 12), date(2027, 1, 13), date(2027, 1, 17)
SUMMER_MON = date(2027, 7, 12)
ALL_WEEK = range(7)
NINE_TO_FIVE = ((time(9), time(17)),)

_emails = count(1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hm(hour: int, minute: int = 0) -> time:
    return time(hour, minute)


async def add_specialist(
    db: AsyncSession,
    *,
    tz: str = "Europe/Berlin",
    windows: Sequence[tuple[time, time]] = NINE_TO_FIVE,
    days: Iterable[int] = ALL_WEEK,
) -> Specialist:
    """A specialist in ``tz`` with the same ``windows`` on each of ``days``."""
    specialist = await SpecialistRepository(db).create(
        {"name": "Dr. Ada", "email": f"ada{next(_emails)}@example.com", "timezone": tz}
    )
    await ScheduleRepository(db).create_many(
        {"specialist_id": specialist.id, "day_of_week": day, "start_time": s, "end_time": e}
        for day in days
        for s, e in windows
    )
    return specialist


def booking(
    specialist_id: int, on_date: date, at: time, minutes: int = 60, **extra: Any
) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Bob Client",
        "client_email": "bob@example.com",
        "booking_date": on_date,
        "booking_time": at,
        "duration_minutes": minutes,
        **extra,
    }


async def stored(sessions: Sessions, booking_id: int) -> Booking:
    """The booking as a fresh session reads it from the database."""
    async with sessions() as fresh:
        found = await BookingRepository(fresh).get_by_id(booking_id)
    assert found is not None
    return found


async def stored_count(sessions: Sessions) -> int:
    async with sessions() as fresh:
        return await BookingRepository(fresh).count()


PATH_TO = {
    PENDING: (),
    CONFIRMED: ("confirm",),
    CANCELLED: ("cancel",),
    COMPLETED: ("confirm", "complete"),
    NO_SHOW: ("confirm", "mark_no_show"),
}


async def bring_to(repo: BookingRepository, booking_id: int, status: BookingStatus) -> None:
    """Take a pending booking to ``status`` by allowed moves."""
    for method in PATH_TO[status]:
        await getattr(repo, method)(booking_id)


@pytest.fixture
async def ada(db: AsyncSession) -> Specialist:
    """Europe/Berlin, 09:00-17:00 every day."""
    return await add_specialist(db)


# --- derived instants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "on_date", "starts_at"),
    [
        ("Europe/Berlin", MON, utc(2027, 1, 11, 9)),
        ("Europe/Berlin", SUMMER_MON, utc(2027, 7, 12, 8)),
        ("America/New_York", MON, utc(2027, 1, 11, 15)),
        ("America/New_York", SUMMER_MON, utc(2027, 7, 12, 14)),
    ],
)
async def test_create_derives_utc_instants_from_the_specialists_local_time(
    db: AsyncSession, sessions: Sessions, tz: str, on_date: date, starts_at: datetime
) -> None:
    specialist = await add_specialist(db, tz=tz)
    created = await BookingRepository(db).create(booking(specialist.id, on_date, hm(10), 45))
    for row in (created, await stored(sessions, created.id)):
        assert row.starts_at == starts_at
        assert row.starts_at.utcoffset() == timedelta(0)
        assert row.ends_at == starts_at + timedelta(minutes=45)
        assert (row.booking_date, row.booking_time, row.status) == (on_date, hm(10), PENDING)


async def test_duration_defaults_to_an_hour(db: AsyncSession, ada: Specialist) -> None:
    data = booking(ada.id, MON, hm(10))
    del data["duration_minutes"]
    created = await BookingRepository(db).create(data)
    assert created.duration_minutes == 60
    assert created.ends_at - created.starts_at == timedelta(hours=1)


async def test_client_email_is_stored_lower_cased(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    data = booking(ada.id, MON, hm(10), client_email="  Ann.Smith@Example.COM ")
    created = await BookingRepository(db).create(data)
    assert (await stored(sessions, created.id)).client_email == "ann.smith@example.com"


@pytest.mark.parametrize(
    ("change", "starts_at", "minutes"),
    [
        ({"booking_date": SUMMER_MON}, utc(2027, 7, 12, 8), 60),
        ({"booking_time": hm(14, 15)}, utc(2027, 1, 11, 13, 15), 60),
        ({"duration_minutes": 90}, utc(2027, 1, 11, 9), 90),
        ({"booking_date": SUMMER_MON, "booking_time": hm(9)}, utc(2027, 7, 12, 7), 60),
    ],
)
async def test_update_of_date_time_or_duration_derives_the_instants_again(
    db: AsyncSession,
    sessions: Sessions,
    ada: Specialist,
    change: dict[str, Any],
    starts_at: datetime,
    minutes: int,
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await repo.update(created.id, change)
    row = await stored(sessions, created.id)
    assert (row.starts_at, row.ends_at) == (starts_at, starts_at + timedelta(minutes=minutes))


async def test_reschedule_moves_the_booking_and_derives_the_instants_again(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await repo.confirm(created.id)
    moved = await repo.reschedule(created.id, SUMMER_MON, hm(15), 30)
    row = await stored(sessions, created.id)
    for found in (moved, row):
        assert (found.booking_date, found.booking_time, found.duration_minutes) == (
            SUMMER_MON,
            hm(15),
            30,
        )
        assert (found.starts_at, found.ends_at) == (utc(2027, 7, 12, 13), utc(2027, 7, 12, 13, 30))
        assert found.status == CONFIRMED


# --- placement rules -------------------------------------------------------


@pytest.fixture
async def clinic(db: AsyncSession) -> Specialist:
    """Berlin; Monday to Saturday 09:00-12:00 and 12:00-15:00, no Sunday hours.

    TUE is an active day off, WED an inactive (withdrawn) one.
    """
    specialist = await add_specialist(
        db, windows=((hm(9), hm(12)), (hm(12), hm(15))), days=range(6)
    )
    days_off = DayOffRepository(db)
    await days_off.create({"specialist_id": specialist.id, "date": TUE, "reason": "Holiday"})
    withdrawn = await days_off.create({"specialist_id": specialist.id, "date": WED})
    await days_off.delete(withdrawn.id)
    return specialist


PAST_MONDAY = next_weekday(0, weeks_ahead=-2)


@pytest.mark.parametrize(
    ("on_date", "at", "minutes", "fields"),
    [
        pytest.param(MON, hm(8, 30), 60, ("booking_time",), id="before-opening"),
        pytest.param(MON, hm(14, 30), 60, ("booking_time",), id="crossing-closing"),
        pytest.param(MON, hm(15), 30, ("booking_time",), id="after-closing"),
        pytest.param(SUN, hm(10), 60, ("booking_time",), id="weekday-without-windows"),
        pytest.param(MON, hm(11, 30), 60, ("booking_time",), id="straddles-two-windows"),
        pytest.param(MON, hm(9), 361, ("booking_time",), id="spans-both-windows"),
        pytest.param(TUE, hm(10), 60, ("booking_date",), id="active-day-off"),
        pytest.param(PAST_MONDAY, hm(10), 60, ("booking_date", "booking_time"), id="past"),
    ],
)
async def test_create_refuses_what_the_schedule_does_not_allow(
    db: AsyncSession,
    sessions: Sessions,
    clinic: Specialist,
    on_date: date,
    at: time,
    minutes: int,
    fields: tuple[str, ...],
) -> None:
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).create(booking(clinic.id, on_date, at, minutes))
    assert caught.value.fields == fields
    assert await stored_count(sessions) == 0


async def test_straddling_two_adjacent_windows_names_them(
    db: AsyncSession, clinic: Specialist
) -> None:
    with pytest.raises(ValidationError, match="one schedule window") as caught:
        await BookingRepository(db).create(booking(clinic.id, MON, hm(11, 30)))
    assert "09:00-12:00" in str(caught.value) and "12:00-15:00" in str(caught.value)


@pytest.mark.parametrize(
    ("on_date", "at", "minutes"),
    [
        pytest.param(MON, hm(9), 180, id="fills-the-first-window"),
        pytest.param(MON, hm(11), 60, id="ends-at-the-window-boundary"),
        pytest.param(MON, hm(12), 180, id="fills-the-second-window"),
        pytest.param(WED, hm(10), 60, id="withdrawn-day-off"),
        pytest.param(next_weekday(5), hm(14), 60, id="next-saturday"),
    ],
)
async def test_create_accepts_what_lies_inside_one_window(
    db: AsyncSession, clinic: Specialist, on_date: date, at: time, minutes: int
) -> None:
    created = await BookingRepository(db).create(booking(clinic.id, on_date, at, minutes))
    assert created.id is not None and created.status == PENDING


async def test_inactive_specialist_takes_no_bookings(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    await SpecialistRepository(db).delete(ada.id)
    repo = BookingRepository(db)
    for enforce in (True, False):
        with pytest.raises(ValidationError) as caught:
            await repo.create(booking(ada.id, MON, hm(10)), enforce_availability=enforce)
        assert caught.value.fields == ("specialist_id",)
    assert await stored_count(sessions) == 0


async def test_missing_specialist_is_not_found(db: AsyncSession, sessions: Sessions) -> None:
    with pytest.raises(NotFoundError) as caught:
        await BookingRepository(db).create(booking(999, MON, hm(10)))
    assert caught.value.fields == ("specialist_id",)
    assert await stored_count(sessions) == 0


@pytest.mark.parametrize(
    ("at", "minutes"),
    [
        pytest.param(hm(10), 60, id="identical"),
        pytest.param(hm(9, 30), 60, id="overlaps-the-start"),
        pytest.param(hm(10, 59), 30, id="overlaps-the-end"),
        pytest.param(hm(9), 180, id="contains"),
        pytest.param(hm(10, 15), 15, id="inside"),
    ],
)
async def test_overlap_with_a_pending_booking_is_a_conflict(
    db: AsyncSession, sessions: Sessions, ada: Specialist, at: time, minutes: int
) -> None:
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, MON, hm(10)))
    with pytest.raises(ConflictError) as caught:
        await repo.create(booking(ada.id, MON, at, minutes, client_email="eve@example.com"))
    assert caught.value.constraint == OVERLAP
    assert "booking_time" in caught.value.fields
    # Dates and times read as ISO 8601, never as Python reprs.
    assert f"booking_date={MON.isoformat()}" in str(caught.value)
    assert f"booking_time={at.isoformat()}" in str(caught.value)
    assert "datetime." not in str(caught.value)
    assert await stored_count(sessions) == 1


@pytest.mark.parametrize("status", [CONFIRMED, COMPLETED, NO_SHOW])
async def test_every_non_cancelled_booking_holds_its_slot(
    db: AsyncSession, sessions: Sessions, ada: Specialist, status: BookingStatus
) -> None:
    repo = BookingRepository(db)
    held = await repo.create(booking(ada.id, MON, hm(10)))
    await bring_to(repo, held.id, status)
    with pytest.raises(ConflictError) as caught:
        await repo.create(booking(ada.id, MON, hm(10, 30)))
    assert caught.value.constraint == OVERLAP
    assert await stored_count(sessions) == 1


async def test_back_to_back_bookings_are_fine(db: AsyncSession, ada: Specialist) -> None:
    repo = BookingRepository(db)
    middle = await repo.create(booking(ada.id, MON, hm(10)))
    before = await repo.create(booking(ada.id, MON, hm(9)))
    after = await repo.create(booking(ada.id, MON, hm(11), 30))
    assert before.ends_at == middle.starts_at and middle.ends_at == after.starts_at


async def test_other_specialists_do_not_conflict(db: AsyncSession, ada: Specialist) -> None:
    other = await add_specialist(db)
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, MON, hm(10)))
    assert (await repo.create(booking(other.id, MON, hm(10)))).specialist_id == other.id


async def test_a_cancelled_booking_frees_its_slot_at_once(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    first = await repo.create(booking(ada.id, MON, hm(10)))
    await repo.cancel(first.id)
    second = await repo.create(booking(ada.id, MON, hm(10), client_email="eve@example.com"))
    assert second.starts_at == first.starts_at
    assert await stored_count(sessions) == 2


@pytest.mark.parametrize(
    ("on_date", "at"),
    [
        pytest.param(SUN, hm(10), id="no-windows"),
        pytest.param(MON, hm(20), id="outside-hours"),
        pytest.param(TUE, hm(10), id="day-off"),
        pytest.param(PAST_MONDAY, hm(10), id="past"),
    ],
)
async def test_enforce_availability_false_skips_schedule_day_off_and_past(
    db: AsyncSession, sessions: Sessions, clinic: Specialist, on_date: date, at: time
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(clinic.id, on_date, at), enforce_availability=False)
    assert (await stored(sessions, created.id)).booking_date == on_date
    local = datetime.combine(on_date, at, tzinfo=ZoneInfo("Europe/Berlin"))
    assert created.starts_at == local.astimezone(UTC)
    with pytest.raises(ConflictError) as caught:
        await repo.create(booking(clinic.id, on_date, at, 30), enforce_availability=False)
    assert caught.value.constraint == OVERLAP
    assert await stored_count(sessions) == 1


# --- DST ----------------------------------------------------------------------------

NIGHT = ((hm(0), hm(6)),)


@pytest.mark.parametrize(
    ("tz", "on_date"),
    [("Europe/Berlin", date(2027, 3, 28)), ("America/New_York", date(2027, 3, 14))],
)
@pytest.mark.parametrize("enforce", [True, False])
async def test_a_time_skipped_by_spring_forward_is_refused(
    db: AsyncSession, sessions: Sessions, tz: str, on_date: date, enforce: bool
) -> None:
    specialist = await add_specialist(db, tz=tz, windows=NIGHT)
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).create(
            booking(specialist.id, on_date, hm(2, 30), 30), enforce_availability=enforce
        )
    assert caught.value.fields == ("booking_time",)
    assert "02:30" in str(caught.value)
    assert await stored_count(sessions) == 0


@pytest.mark.parametrize(
    ("tz", "on_date", "at", "starts_at"),
    [
        ("Europe/Berlin", date(2027, 10, 31), hm(2, 30), utc(2027, 10, 31, 0, 30)),
        ("America/New_York", date(2027, 11, 7), hm(1, 30), utc(2027, 11, 7, 5, 30)),
    ],
)
async def test_an_ambiguous_fall_back_time_means_its_first_occurrence(
    db: AsyncSession,
    sessions: Sessions,
    tz: str,
    on_date: date,
    at: time,
    starts_at: datetime,
) -> None:
    specialist = await add_specialist(db, tz=tz, windows=NIGHT)
    created = await BookingRepository(db).create(booking(specialist.id, on_date, at))
    row = await stored(sessions, created.id)
    assert (row.starts_at, row.ends_at) == (starts_at, starts_at + timedelta(hours=1))


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 1441}, "duration_minutes"),
        ({"duration_minutes": "60"}, "duration_minutes"),
        ({"duration_minutes": 60.0}, "duration_minutes"),
        ({"status": "maybe"}, "status"),
        ({"client_email": "not-an-email"}, "client_email"),
        ({"client_email": "ann@@example.com"}, "client_email"),
        ({"client_name": "  "}, "client_name"),
        ({"booking_time": "10:00"}, "booking_time"),
        ({"booking_date": "2027-01-11"}, "booking_date"),
        ({"colour": "red"}, "colour"),
        ({"starts_at": utc(2027, 1, 11, 9)}, "starts_at"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    db: AsyncSession, sessions: Sessions, ada: Specialist, change: dict[str, Any], field: str
) -> None:
    repo = BookingRepository(db)
    with pytest.raises(ValidationError) as caught:
        await repo.create({**booking(ada.id, MON, hm(10)), **change})
    assert caught.value.fields == (field,)
    assert await stored_count(sessions) == 0

    kept = await repo.create(booking(ada.id, MON, hm(12)))
    with pytest.raises(ValidationError) as caught:
        await repo.update(kept.id, change)
    assert caught.value.fields == (field,)
    row = await stored(sessions, kept.id)
    assert (row.booking_time, row.duration_minutes, row.client_email, row.status) == (
        hm(12),
        60,
        "bob@example.com",
        PENDING,
    )


@pytest.mark.parametrize("missing", ["specialist_id", "client_name", "booking_date"])
async def test_required_fields_are_named(
    db: AsyncSession, sessions: Sessions, ada: Specialist, missing: str
) -> None:
    data = booking(ada.id, MON, hm(10))
    del data[missing]
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).create(data)
    assert caught.value.fields == (missing,)
    assert await stored_count(sessions) == 0


# --- status moves -----------------------------------------------------------------

MOVES = {"confirm": CONFIRMED, "cancel": CANCELLED, "complete": COMPLETED, "mark_no_show": NO_SHOW}
ALLOWED = {
    (PENDING, CONFIRMED),
    (PENDING, CANCELLED),
    (CONFIRMED, COMPLETED),
    (CONFIRMED, CANCELLED),
    (CONFIRMED, NO_SHOW),
}


async def test_a_booking_goes_pending_confirmed_completed(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    confirmed = await repo.confirm(created.id)
    assert confirmed.status == CONFIRMED and confirmed.updated_at >= created.updated_at
    completed = await repo.complete(created.id)
    assert completed.status == COMPLETED and completed.updated_at >= confirmed.updated_at
    assert (await stored(sessions, created.id)).status == COMPLETED


UNHELD = [s for s in BookingStatus if s != BookingStatus.HELD]  # holds: tests/test_lifecycle.py


@pytest.mark.parametrize(("start", "method"), list(product(UNHELD, MOVES)), ids=lambda v: str(v))
async def test_status_move_methods_follow_the_allowed_moves(
    db: AsyncSession, sessions: Sessions, ada: Specialist, start: BookingStatus, method: str
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await bring_to(repo, created.id, start)
    target = MOVES[method]
    if (start, target) in ALLOWED or start == target:  # a move to the status it has: a no-op
        assert (await getattr(repo, method)(created.id)).status == target
        assert (await stored(sessions, created.id)).status == target
    else:
        with pytest.raises(ValidationError) as caught:
            await getattr(repo, method)(created.id)
        assert caught.value.fields == ("status",)
        assert (await stored(sessions, created.id)).status == start


@pytest.mark.parametrize(
    ("start", "target"),
    [(s, t) for s, t in product(UNHELD, BookingStatus) if s != t],
    ids=lambda v: str(v),
)
async def test_update_of_status_follows_the_same_rules(
    db: AsyncSession,
    sessions: Sessions,
    ada: Specialist,
    start: BookingStatus,
    target: BookingStatus,
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await bring_to(repo, created.id, start)
    if (start, target) in ALLOWED:
        assert (await repo.update(created.id, {"status": target.value})).status == target
        assert (await stored(sessions, created.id)).status == target
    else:
        with pytest.raises(ValidationError) as caught:
            await repo.update(created.id, {"status": target.value})
        assert caught.value.fields == ("status",)
        assert (await stored(sessions, created.id)).status == start


@pytest.mark.parametrize("call", [*MOVES, "delete", "update", "reschedule"])
async def test_unknown_booking_id_is_not_found(db: AsyncSession, call: str) -> None:
    repo = BookingRepository(db)
    arguments: dict[str, tuple[Any, ...]] = {
        "update": ({"notes": "x"},),
        "reschedule": (MON, hm(10)),
    }
    with pytest.raises(NotFoundError) as caught:
        await getattr(repo, call)(424242, *arguments.get(call, ()))
    assert caught.value.fields == ("id",)


@pytest.mark.parametrize("notes", [None, "VIP"])
async def test_cancel_reason_goes_to_history_not_notes(
    db: AsyncSession, sessions: Sessions, ada: Specialist, notes: str | None
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10), notes=notes))
    cancelled = await repo.cancel(created.id, reason="ill", actor="desk")
    assert cancelled.notes == notes
    row = await stored(sessions, created.id)
    assert (row.status, row.notes) == (CANCELLED, notes)
    last = (await repo.get_history(created.id))[-1]
    assert (last.kind, last.reason, last.actor) == ("cancelled", "ill", "desk")


async def test_cancel_without_reason_leaves_notes_alone(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10), notes="VIP"))
    await repo.cancel(created.id)
    assert (await stored(sessions, created.id)).notes == "VIP"


async def test_delete_cancels_and_cancelled_bookings_stay_listed(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    kept = await repo.create(booking(ada.id, MON, hm(9)))
    deleted = await repo.create(booking(ada.id, MON, hm(10)))
    assert (await repo.delete(deleted.id)).status == CANCELLED
    async with sessions() as fresh:
        fresh_repo = BookingRepository(fresh)
        assert [b.id for b in await fresh_repo.get_all()] == [kept.id, deleted.id]
        assert await fresh_repo.count() == 2
    assert (await stored(sessions, deleted.id)).status == CANCELLED


@pytest.mark.parametrize("final", [CANCELLED, COMPLETED, NO_SHOW])
async def test_a_final_booking_cannot_be_moved(
    db: AsyncSession, sessions: Sessions, ada: Specialist, final: BookingStatus
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await bring_to(repo, created.id, final)
    with pytest.raises(ValidationError) as caught:
        await repo.reschedule(created.id, MON, hm(14))
    assert caught.value.fields == ("status",)
    with pytest.raises(ValidationError):
        await repo.update(created.id, {"duration_minutes": 30})
    row = await stored(sessions, created.id)
    assert (row.booking_time, row.duration_minutes, row.status) == (hm(10), 60, final)


async def test_moves_through_a_stale_session_see_the_stored_status(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    """A booking cancelled elsewhere stays cancelled, whatever ``db`` still holds in memory."""
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    assert (await repo.get_by_id(created.id)) is created  # loaded, pending, in db's identity map
    async with sessions() as other:
        await BookingRepository(other).cancel(created.id)
    with pytest.raises(ValidationError) as caught:
        await repo.update(created.id, {"status": "confirmed"})
    assert caught.value.fields == ("status",)
    with pytest.raises(ValidationError):
        await repo.reschedule(created.id, MON, hm(14))
    row = await stored(sessions, created.id)
    assert (row.status, row.booking_time) == (CANCELLED, hm(10))


# --- reschedule --------------------------------------------------------------------------------


async def test_reschedule_into_an_overlap_is_a_conflict_and_keeps_the_original(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, MON, hm(10)))
    later = await repo.create(booking(ada.id, MON, hm(13)))
    with pytest.raises(ConflictError) as caught:
        await repo.reschedule(later.id, MON, hm(10, 30))
    assert caught.value.constraint == OVERLAP
    row = await stored(sessions, later.id)
    assert (row.booking_time, row.starts_at) == (hm(13), utc(2027, 1, 11, 12))


async def test_reschedule_may_overlap_its_own_old_slot(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(ada.id, MON, hm(10)))
    await repo.reschedule(created.id, MON, hm(10, 30))
    await repo.reschedule(created.id, MON, hm(10), 120)
    row = await stored(sessions, created.id)
    assert (row.starts_at, row.ends_at) == (utc(2027, 1, 11, 9), utc(2027, 1, 11, 11))


async def test_reschedule_into_a_cancelled_bookings_slot_is_fine(
    db: AsyncSession, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    gone = await repo.create(booking(ada.id, MON, hm(10)))
    await repo.cancel(gone.id)
    moving = await repo.create(booking(ada.id, MON, hm(14)))
    assert (await repo.reschedule(moving.id, MON, hm(10))).starts_at == gone.starts_at


@pytest.mark.parametrize(
    ("on_date", "at", "fields"),
    [
        pytest.param(MON, hm(16, 30), ("booking_time",), id="outside-hours"),
        pytest.param(TUE, hm(10), ("booking_date",), id="day-off"),
        pytest.param(PAST_MONDAY, hm(10), ("booking_date", "booking_time"), id="past"),
    ],
)
async def test_reschedule_follows_the_placement_rules(
    db: AsyncSession,
    sessions: Sessions,
    clinic: Specialist,
    on_date: date,
    at: time,
    fields: tuple[str, ...],
) -> None:
    repo = BookingRepository(db)
    created = await repo.create(booking(clinic.id, MON, hm(10)))
    with pytest.raises(ValidationError) as caught:
        await repo.reschedule(created.id, on_date, at)
    assert caught.value.fields == fields
    row = await stored(sessions, created.id)
    assert (row.booking_date, row.booking_time) == (MON, hm(10))


# --- queries -----------------------------------------------------------------------------------


async def test_queries_filter_and_list_chronologically(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    ny = await add_specialist(db, tz="America/New_York")
    repo = BookingRepository(db)
    # Created out of order. ny's 09:00 is 14:00 UTC, after ada's 14:30 (13:30 UTC).
    late = await repo.create(booking(ada.id, date(2027, 1, 18), hm(10), client_email="Ann@x.org"))
    afternoon = await repo.create(booking(ada.id, MON, hm(14, 30), client_email="ann@x.org"))
    ny_morning = await repo.create(booking(ny.id, MON, hm(9), client_email="ANN@X.ORG"))
    morning = await repo.create(booking(ada.id, MON, hm(9)))
    middle = await repo.create(booking(ada.id, WED, hm(10)))
    await repo.confirm(morning.id)
    await repo.cancel(middle.id)
    await bring_to(repo, late.id, COMPLETED)

    def ids(rows: list[Booking]) -> list[int]:
        return [row.id for row in rows]

    async with sessions() as fresh:
        q = BookingRepository(fresh)
        everything = [morning.id, afternoon.id, middle.id, late.id]
        assert ids(await q.get_by_specialist(ada.id)) == everything
        assert ids(await q.get_by_specialist(ada.id, date_from=WED)) == [middle.id, late.id]
        assert ids(await q.get_by_specialist(ada.id, date_to=WED)) == everything[:3]
        assert ids(await q.get_by_specialist(ada.id, date_from=TUE, date_to=WED)) == [middle.id]
        assert ids(await q.get_by_specialist(ada.id, statuses=["pending", CONFIRMED])) == [
            morning.id,
            afternoon.id,
        ]
        assert ids(await q.get_by_specialist(ada.id, statuses=[], date_to=WED)) == []
        assert ids(await q.get_by_specialist(ny.id)) == [ny_morning.id]
        assert ids(await q.get_by_date(MON)) == [morning.id, afternoon.id, ny_morning.id]
        assert ids(await q.get_by_date(TUE)) == []
        assert ids(await q.get_by_client_email(" aNN@X.org")) == [
            afternoon.id,
            ny_morning.id,
            late.id,
        ]
        assert ids(await q.get_by_client_email("nobody@x.org")) == []
        assert ids(await q.get_by_status(CANCELLED)) == [middle.id]
        assert ids(await q.get_by_status("pending")) == [afternoon.id, ny_morning.id]
        with pytest.raises(ValidationError) as caught:
            await q.get_by_status("maybe")
        assert caught.value.fields == ("status",)


# --- free slots ---------------------------------------------------------------------


def walls(slots: Sequence[datetime]) -> list[str]:
    return [slot.strftime("%H:%M%z") for slot in slots]


def hours(*values: float) -> list[str]:
    """Berlin winter wall times ``HH:MM+0100`` for fractional hours."""
    return [f"{int(v):02d}:{round(v % 1 * 60):02d}+0100" for v in values]


@pytest.mark.parametrize(
    ("minutes", "step", "expected"),
    [
        pytest.param(60, None, hours(9, 10, 11, 12, 13, 14, 15, 16), id="hourly"),
        pytest.param(90, None, hours(9, 10.5, 12, 13.5, 15), id="step-defaults-to-duration"),
        pytest.param(60, 30, hours(*(9 + i / 2 for i in range(15))), id="step-30"),
        pytest.param(30, 120, hours(9, 11, 13, 15), id="step-longer-than-duration"),
        pytest.param(480, None, hours(9), id="whole-day"),
        pytest.param(481, None, [], id="longer-than-the-window"),
    ],
)
async def test_slots_step_from_the_window_start(
    db: AsyncSession, ada: Specialist, minutes: int, step: int | None, expected: list[str]
) -> None:
    slots = await BookingRepository(db).get_available_slots(
        ada.id, MON, duration_minutes=minutes, step_minutes=step
    )
    assert walls(slots) == expected
    assert all(str(slot.tzinfo) == "Europe/Berlin" for slot in slots)


async def test_slots_are_aware_in_the_specialists_zone(db: AsyncSession) -> None:
    ny = await add_specialist(db, tz="America/New_York")
    slots = await BookingRepository(db).get_available_slots(ny.id, MON)
    assert walls(slots)[:2] == ["09:00-0500", "10:00-0500"]
    assert {str(slot.tzinfo) for slot in slots} == {"America/New_York"}
    assert slots[0] == utc(2027, 1, 11, 14)


@pytest.mark.parametrize(
    ("status", "step", "expected"),
    [
        (PENDING, None, hours(9, 12, 13, 14, 15, 16)),
        (PENDING, 30, hours(9, 9.5, 11.5, 12, 12.5, 13, 13.5, 14, 14.5, 15, 15.5, 16)),
        (NO_SHOW, None, hours(9, 12, 13, 14, 15, 16)),
        (CANCELLED, None, hours(9, 10, 11, 12, 13, 14, 15, 16)),
    ],
)
async def test_a_booking_removes_the_slots_it_overlaps_unless_cancelled(
    db: AsyncSession,
    ada: Specialist,
    status: BookingStatus,
    step: int | None,
    expected: list[str],
) -> None:
    repo = BookingRepository(db)
    taken = await repo.create(booking(ada.id, MON, hm(10, 30)))
    await bring_to(repo, taken.id, status)
    await repo.create(booking(ada.id, TUE, hm(9)))  # another day: no effect
    assert walls(await repo.get_available_slots(ada.id, MON, step_minutes=step)) == expected


async def test_no_slots_on_a_day_off_or_for_an_inactive_specialist(
    db: AsyncSession, clinic: Specialist, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    assert await repo.get_available_slots(clinic.id, TUE) == []
    assert await repo.get_available_slots(clinic.id, SUN) == []
    assert walls(await repo.get_available_slots(clinic.id, WED, duration_minutes=180)) == hours(
        9, 12
    )
    # Stepping never offers a slot straddling the two adjacent windows (11:30-12:30).
    halves = await repo.get_available_slots(clinic.id, WED, step_minutes=30)
    assert walls(halves) == hours(9, 9.5, 10, 10.5, 11, 12, 12.5, 13, 13.5, 14)
    await SpecialistRepository(db).delete(ada.id)
    assert await repo.get_available_slots(ada.id, MON) == []


async def test_no_slots_in_the_past(db: AsyncSession, ada: Specialist) -> None:
    assert await BookingRepository(db).get_available_slots(ada.id, PAST_MONDAY) == []


async def test_slots_of_a_missing_specialist_are_not_found(db: AsyncSession) -> None:
    with pytest.raises(NotFoundError) as caught:
        await BookingRepository(db).get_available_slots(999, MON)
    assert caught.value.fields == ("specialist_id",)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"duration_minutes": 0}, "duration_minutes"), ({"step_minutes": 0}, "step_minutes")],
)
async def test_slot_search_refuses_non_positive_minutes(
    db: AsyncSession, ada: Specialist, kwargs: dict[str, int], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).get_available_slots(ada.id, MON, **kwargs)
    assert caught.value.fields == (field,)


async def book_every_slot(
    repo: BookingRepository, specialist_id: int, slots: list[datetime]
) -> list[Booking]:
    return [
        await repo.create(booking(specialist_id, slot.date(), slot.time().replace(tzinfo=None)))
        for slot in slots
    ]


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York"])
async def test_create_accepts_every_offered_slot(db: AsyncSession, tz: str) -> None:
    specialist = await add_specialist(db, tz=tz, windows=((hm(9), hm(12)), (hm(13), hm(15))))
    repo = BookingRepository(db)
    slots = await repo.get_available_slots(specialist.id, MON)
    assert len(slots) == 5
    created = await book_every_slot(repo, specialist.id, slots)
    assert [b.starts_at for b in created] == slots
    assert await repo.get_available_slots(specialist.id, MON) == []


async def test_slots_across_spring_forward_last_their_true_length(db: AsyncSession) -> None:
    night = await add_specialist(db, windows=NIGHT, days=[6])
    repo = BookingRepository(db)
    slots = await repo.get_available_slots(night.id, date(2027, 3, 28))
    # 00:00-06:00 on the wall clock is five real hours: 02:00-03:00 does not exist.
    assert walls(slots) == ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200", "05:00+0200"]
    # Same-zone subtraction is wall-clock arithmetic in Python: compare the UTC instants.
    instants = [slot.astimezone(UTC) for slot in slots]
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(instants))
    created = await book_every_slot(repo, night.id, slots)
    assert all(b.ends_at - b.starts_at == timedelta(hours=1) for b in created)
    assert created[-1].ends_at == utc(2027, 3, 28, 4)


async def test_slot_search_statements_do_not_grow_with_bookings(
    db: AsyncSession, sessions: Sessions, count_statements: Any
) -> None:
    """Two statements (specialist with windows and day off; bookings) for 10 or 1,000 bookings."""
    busy = await add_specialist(db, windows=((hm(0), hm(23, 59)),), days=[0])
    repo = BookingRepository(db)

    async def one_minute_bookings(first: int, last: int) -> None:
        start = datetime.combine(MON, hm(0))
        await repo.create_many(
            (
                booking(busy.id, MON, (start + timedelta(minutes=m)).time(), 1)
                for m in range(first, last)
            ),
            enforce_availability=False,
        )

    async def search() -> tuple[list[str], int]:
        async with sessions() as fresh:
            with count_statements() as counter:
                slots = await BookingRepository(fresh).get_available_slots(busy.id, MON)
        return walls(slots), counter.count

    await one_minute_bookings(0, 10)  # 00:00-00:10
    assert await search() == (hours(*range(1, 23)), 2)
    await one_minute_bookings(10, 1000)  # up to 16:40
    assert await stored_count(sessions) == 1000
    assert await search() == (hours(*range(17, 23)), 2)


# --- create_many -------------------------------------------------------------------------------


async def test_create_many_derives_instants_per_specialist(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    ny = await add_specialist(db, tz="America/New_York")
    created = await BookingRepository(db).create_many(
        [
            booking(ny.id, MON, hm(10), 30),
            booking(ada.id, MON, hm(10), 30),
            booking(ada.id, SUMMER_MON, hm(10), 90),
        ]
    )
    expected = [
        (utc(2027, 1, 11, 15), utc(2027, 1, 11, 15, 30)),
        (utc(2027, 1, 11, 9), utc(2027, 1, 11, 9, 30)),
        (utc(2027, 7, 12, 8), utc(2027, 7, 12, 9, 30)),
    ]
    assert [(b.starts_at, b.ends_at) for b in created] == expected
    assert [(b.starts_at, b.ends_at) for b in [await stored(sessions, b.id) for b in created]] == (
        expected
    )


@pytest.mark.parametrize("enforce", [True, False])
async def test_create_many_is_all_or_nothing_on_overlap_within_the_batch(
    db: AsyncSession, sessions: Sessions, ada: Specialist, enforce: bool
) -> None:
    rows = [
        booking(ada.id, MON, hm(9)),
        booking(ada.id, MON, hm(13)),
        booking(ada.id, MON, hm(9, 30)),
    ]
    with pytest.raises(ConflictError) as caught:
        await BookingRepository(db).create_many(rows, enforce_availability=enforce)
    assert caught.value.constraint == OVERLAP
    assert await stored_count(sessions) == 0


async def test_create_many_conflicts_with_stored_bookings(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    await repo.create(booking(ada.id, MON, hm(10)))
    with pytest.raises(ConflictError) as caught:
        await repo.create_many([booking(ada.id, MON, hm(12)), booking(ada.id, MON, hm(10, 30))])
    assert caught.value.constraint == OVERLAP
    assert await stored_count(sessions) == 1


async def test_create_many_is_all_or_nothing_on_rule_violations(
    db: AsyncSession, sessions: Sessions, clinic: Specialist
) -> None:
    rows = [booking(clinic.id, MON, hm(9)), booking(clinic.id, TUE, hm(9))]
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).create_many(rows)
    assert caught.value.fields == ("booking_date",)
    assert await stored_count(sessions) == 0


async def test_booking_checks_cost_one_select_whatever_the_calendar(
    db: AsyncSession, count_statements: Any, backend: str
) -> None:
    """create: one SELECT (specialists with their rules, windows, date overrides and days
    off), the UPDATE that releases expired holds, the INSERT and its history INSERT (one WITH
    statement on PostgreSQL); create_many: the same SELECT and UPDATE, and one INSERT per
    batch plus one for its history."""
    specialist = await add_specialist(db, windows=((hm(8), hm(12)), (hm(13), hm(18))))
    repo = BookingRepository(db)
    monday = next_weekday(0)
    with count_statements() as counter:
        await repo.create(booking(specialist.id, monday, hm(9)))
    inserts = ["WITH"] if backend == "postgresql" else ["INSERT", "INSERT"]  # with history
    assert [s.split()[0].upper() for s in counter.statements] == ["SELECT", "UPDATE", *inserts]
    rows = [booking(specialist.id, monday + timedelta(days=d), hm(14)) for d in range(5)]
    with count_statements() as counter:
        assert len(await repo.create_many(rows)) == 5
    assert [s.split()[0].upper() for s in counter.statements] == [
        "SELECT",
        "UPDATE",
        "INSERT",
        "INSERT",
    ]
