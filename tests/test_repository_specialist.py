"""Specialist, Schedule and DayOff repositories: their own calls and rules."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import DayOff, Schedule, Specialist
from asyncdata.repositories import DayOffRepository, ScheduleRepository, SpecialistRepository

Sessions = async_sessionmaker[AsyncSession]
MONDAY, TUESDAY, SUNDAY = 0, 1, 6
NEW_YEAR = date(2030, 1, 1)


async def rows_in(sessions: Sessions, model: type[Any]) -> int:
    async with sessions() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(model)))


async def specialist(db: AsyncSession, n: int = 1, **overrides: Any) -> Specialist:
    data: dict[str, Any] = {"name": f"Specialist {n}", "email": f"s{n}@example.com"}
    data.update(overrides)
    return await SpecialistRepository(db).create(data)


def window(specialist_id: int, day: int, start: int, end: int, **extra: Any) -> dict[str, Any]:
    """A schedule row from whole hours."""
    return {
        "specialist_id": specialist_id,
        "day_of_week": day,
        "start_time": time(start),
        "end_time": time(end),
        **extra,
    }


def spans(schedules: list[Schedule]) -> list[tuple[int, int, int]]:
    return [(s.day_of_week, s.start_time.hour, s.end_time.hour) for s in schedules]


# -- Specialist -----------------------------------------------------------------------


async def test_get_by_email_ignores_case_and_surrounding_space(db: AsyncSession) -> None:
    made = await specialist(db, email="Ada.Lovelace@Example.com")
    repo = SpecialistRepository(db)
    for asked in (
        "ada.lovelace@example.com",
        "ADA.LOVELACE@EXAMPLE.COM",
        " Ada.Lovelace@example.com ",
    ):
        found = await repo.get_by_email(asked)
        assert found is not None and found.id == made.id
    assert await repo.get_by_email("ada@example.com") is None
    assert await repo.get_by_email("ada.lovelace@example") is None


async def test_get_by_specialization_is_case_insensitive_equality(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    await repo.create_many(
        [
            {"name": "Bea", "email": "b@example.com", "specialization": "Cardiology"},
            {"name": "Al", "email": "a@example.com", "specialization": "cardiology"},
            {"name": "Cy", "email": "c@example.com", "specialization": "Pediatric Cardiology"},
            {"name": "Di", "email": "d@example.com", "specialization": "Médecine Générale"},
            {"name": "Ed", "email": "e@example.com", "specialization": None},
        ]
    )

    async def named(text: str) -> list[str]:
        return [s.name for s in await repo.get_by_specialization(text)]

    assert await named("CARDIOLOGY") == ["Al", "Bea"]
    assert await named("cardio") == []
    assert await named("pediatric cardiology") == ["Cy"]
    assert await named("MÉDECINE GÉNÉRALE") == ["Di"]
    assert await named("Cardiolog%") == []


LANGUAGES = {
    "Ana": "English, Spanish",
    "Ben": "spanish",
    "Caz": "Brazilian Portuguese, English",
    "Dov": "English,German",
    "Eli": "Portuguese",
    "Fay": None,
}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("spanish", ["Ana", "Ben"]),
        ("SPANISH", ["Ana", "Ben"]),
        ("span", []),
        ("English", ["Ana", "Caz", "Dov"]),
        ("german", ["Dov"]),
        ("Brazilian Portuguese", ["Caz"]),
        ("brazilian portuguese", ["Caz"]),
        ("portuguese", ["Eli"]),
        ("brazilian", []),
        ("English, Spanish", ["Ana"]),  # not a single language, but the exact list matches
        ("%", []),
        ("", []),
    ],
)
async def test_get_by_language_matches_whole_listed_languages(
    db: AsyncSession, language: str, expected: list[str]
) -> None:
    await SpecialistRepository(db).create_many(
        {"name": name, "email": f"{name}@example.com", "languages": listed}
        for name, listed in LANGUAGES.items()
    )
    found = await SpecialistRepository(db).get_by_language(language)
    assert [s.name for s in found] == expected


async def test_timezone_defaults_to_utc_and_must_exist(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    made = await specialist(db)
    assert made.timezone == "UTC"
    berlin = await specialist(db, 2, timezone="Europe/Berlin")
    assert berlin.timezone == "Europe/Berlin"
    with pytest.raises(ValidationError) as caught:
        await specialist(db, 3, timezone="Europe/Atlantis")
    assert caught.value.fields == ("timezone",)
    assert "Europe/Atlantis" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        await repo.update(made.id, {"timezone": "Mars/Olympus_Mons"})
    assert caught.value.fields == ("timezone",)
    assert await rows_in(sessions, Specialist) == 2
    stored = await repo.get_by_id(made.id)
    assert stored is not None and stored.timezone == "UTC"


# -- Schedule: field rules ------------------------------------------------------------


@pytest.mark.parametrize("day", [-1, 7, 100])
async def test_day_of_week_outside_0_to_6_is_refused(
    db: AsyncSession, sessions: Sessions, day: int
) -> None:
    owner = await specialist(db)
    with pytest.raises(ValidationError) as caught:
        await ScheduleRepository(db).create(window(owner.id, day, 9, 12))
    assert caught.value.fields == ("day_of_week",)
    assert await rows_in(sessions, Schedule) == 0


@pytest.mark.parametrize(("start", "end"), [(12, 9), (9, 9)])
async def test_start_must_be_before_end(
    db: AsyncSession, sessions: Sessions, start: int, end: int
) -> None:
    owner = await specialist(db)
    with pytest.raises(ValidationError) as caught:
        await ScheduleRepository(db).create(window(owner.id, MONDAY, start, end))
    assert set(caught.value.fields) == {"start_time", "end_time"}
    assert await rows_in(sessions, Schedule) == 0


async def test_partial_update_cannot_put_start_after_end(
    db: AsyncSession, sessions: Sessions
) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    made = await repo.create(window(owner.id, MONDAY, 9, 12))
    for change in ({"end_time": time(8)}, {"start_time": time(12)}, {"start_time": time(13)}):
        with pytest.raises(ValidationError) as caught:
            await repo.update(made.id, change)
        assert set(caught.value.fields) == {"start_time", "end_time"}
    assert spans([await repo.update(made.id, {"end_time": time(10)})]) == [(MONDAY, 9, 10)]
    async with sessions() as fresh:
        stored = await ScheduleRepository(fresh).get_by_id(made.id)
    assert stored is not None and spans([stored]) == [(MONDAY, 9, 10)]


# -- Schedule: uniqueness and overlap -------------------------------------------------


async def test_same_specialist_day_and_start_is_a_conflict(
    db: AsyncSession, sessions: Sessions
) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    await repo.create(window(owner.id, MONDAY, 9, 12, is_active=False))
    with pytest.raises(ConflictError) as caught:
        await repo.create(window(owner.id, MONDAY, 9, 10, is_active=False))
    assert caught.value.constraint == "uq_schedules_specialist_id_day_of_week_start_time"
    assert await rows_in(sessions, Schedule) == 1
    other = await specialist(db, 2)
    await repo.create(window(other.id, MONDAY, 9, 12))  # another specialist may
    await repo.create(window(owner.id, TUESDAY, 9, 12))  # and another day


@pytest.mark.parametrize(("start", "end"), [(10, 11), (8, 10), (11, 13), (8, 13), (9, 12)], ids=str)
async def test_overlapping_active_windows_are_a_conflict(
    db: AsyncSession, sessions: Sessions, start: int, end: int
) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    await repo.create(window(owner.id, MONDAY, 9, 12))
    with pytest.raises(ConflictError) as caught:
        await repo.create(window(owner.id, MONDAY, start, end))
    assert "09:00" in str(caught.value)
    assert await rows_in(sessions, Schedule) == 1
    assert len(await repo.get_all()) == 1  # session still usable


async def test_touching_windows_and_other_days_do_not_overlap(db: AsyncSession) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    await repo.create(window(owner.id, MONDAY, 9, 12))
    await repo.create(window(owner.id, MONDAY, 12, 15))
    await repo.create(window(owner.id, MONDAY, 7, 9))
    await repo.create(window(owner.id, TUESDAY, 10, 11))
    assert spans(await repo.get_by_day(owner.id, MONDAY)) == [
        (MONDAY, 7, 9),
        (MONDAY, 9, 12),
        (MONDAY, 12, 15),
    ]


async def test_inactive_windows_may_overlap_but_not_be_reactivated_into_a_clash(
    db: AsyncSession, sessions: Sessions
) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    await repo.create(window(owner.id, MONDAY, 9, 12))
    idle = await repo.create(window(owner.id, MONDAY, 10, 14, is_active=False))
    assert idle.is_active is False
    with pytest.raises(ConflictError):
        await repo.update(idle.id, {"is_active": True})
    stored = await repo.get_by_id(idle.id)
    assert stored is not None and stored.is_active is False


async def test_moving_a_window_onto_another_is_a_conflict(db: AsyncSession) -> None:
    owner = await specialist(db)
    repo = ScheduleRepository(db)
    await repo.create(window(owner.id, MONDAY, 9, 12))
    later = await repo.create(window(owner.id, MONDAY, 13, 15))
    with pytest.raises(ConflictError):
        await repo.update(later.id, {"start_time": time(11)})
    # widening a window over its own old span is fine
    assert spans([await repo.update(later.id, {"end_time": time(18)})]) == [(MONDAY, 13, 18)]


async def test_create_many_overlapping_within_the_batch_writes_nothing(
    db: AsyncSession, sessions: Sessions
) -> None:
    owner = await specialist(db)
    rows = [window(owner.id, TUESDAY, 9, 12), window(owner.id, TUESDAY, 11, 13)]
    with pytest.raises(ConflictError):
        await ScheduleRepository(db).create_many(rows)
    assert await rows_in(sessions, Schedule) == 0
    rows[1]["is_active"] = False  # an inactive one may overlap
    rows.append(window(owner.id, TUESDAY, 12, 13))  # and touching is fine
    assert len(await ScheduleRepository(db).create_many(rows)) == 3


# -- Schedule: lookups ----------------------------------------------------------------


async def test_get_by_specialist_is_chronological_day_then_start(db: AsyncSession) -> None:
    owner = await specialist(db)
    other = await specialist(db, 2)
    repo = ScheduleRepository(db)
    await repo.create_many(
        [
            window(owner.id, SUNDAY, 9, 10),
            window(owner.id, TUESDAY, 14, 16),
            window(other.id, MONDAY, 8, 9),
            window(owner.id, MONDAY, 13, 17),
            window(owner.id, TUESDAY, 8, 12),
            window(owner.id, MONDAY, 8, 12),
            window(owner.id, 3, 9, 10, is_active=False),
        ]
    )
    assert spans(await repo.get_by_specialist(owner.id)) == [
        (MONDAY, 8, 12),
        (MONDAY, 13, 17),
        (TUESDAY, 8, 12),
        (TUESDAY, 14, 16),
        (SUNDAY, 9, 10),
    ]
    assert len(await repo.get_by_specialist(owner.id, include_inactive=True)) == 6
    assert spans(await repo.get_by_day(owner.id, TUESDAY)) == [(TUESDAY, 8, 12), (TUESDAY, 14, 16)]
    assert await repo.get_by_day(owner.id, 3) == []
    assert spans(await repo.get_by_day(owner.id, 3, include_inactive=True)) == [(3, 9, 10)]
    assert await repo.get_by_specialist(424242) == []


# -- DayOff ---------------------------------------------------------------------------


async def test_one_day_off_per_specialist_and_date(db: AsyncSession, sessions: Sessions) -> None:
    owner = await specialist(db)
    other = await specialist(db, 2)
    repo = DayOffRepository(db)
    await repo.create({"specialist_id": owner.id, "date": NEW_YEAR, "reason": "Holiday"})
    with pytest.raises(ConflictError) as caught:
        await repo.create({"specialist_id": owner.id, "date": NEW_YEAR, "reason": "Again"})
    assert caught.value.constraint == "uq_days_off_specialist_id_date"
    assert "specialist_id" in str(caught.value) and "2030" in str(caught.value)
    await repo.create({"specialist_id": other.id, "date": NEW_YEAR})
    assert await rows_in(sessions, DayOff) == 2


async def seed_days_off(db: AsyncSession) -> tuple[int, int]:
    owner = await specialist(db)
    other = await specialist(db, 2)
    repo = DayOffRepository(db)
    await repo.create_many(
        [
            {"specialist_id": owner.id, "date": NEW_YEAR + timedelta(days=9)},
            {"specialist_id": owner.id, "date": NEW_YEAR},
            {"specialist_id": owner.id, "date": NEW_YEAR + timedelta(days=5)},
            {"specialist_id": other.id, "date": NEW_YEAR + timedelta(days=5)},
            {"specialist_id": owner.id, "date": NEW_YEAR + timedelta(days=3), "is_active": False},
        ]
    )
    return owner.id, other.id


def days(found: list[DayOff]) -> list[int]:
    return [(d.date - NEW_YEAR).days for d in found]


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        (None, None, [0, 5, 9]),
        (5, None, [5, 9]),
        (None, 5, [0, 5]),
        (5, 5, [5]),
        (1, 8, [5]),
        (0, 9, [0, 5, 9]),
        (6, 8, []),
    ],
)
async def test_day_off_get_by_specialist_with_inclusive_bounds(
    db: AsyncSession, date_from: int | None, date_to: int | None, expected: list[int]
) -> None:
    owner, _ = await seed_days_off(db)

    def on(offset: int | None) -> date | None:
        return None if offset is None else NEW_YEAR + timedelta(days=offset)

    found = await DayOffRepository(db).get_by_specialist(
        owner, date_from=on(date_from), date_to=on(date_to)
    )
    assert days(found) == expected
    assert all(d.specialist_id == owner for d in found)


async def test_day_off_get_by_date_and_is_day_off(db: AsyncSession) -> None:
    owner, other = await seed_days_off(db)
    repo = DayOffRepository(db)
    fifth = NEW_YEAR + timedelta(days=5)
    assert sorted(d.specialist_id for d in await repo.get_by_date(fifth)) == [owner, other]
    assert [d.specialist_id for d in await repo.get_by_date(NEW_YEAR)] == [owner]
    assert await repo.get_by_date(NEW_YEAR + timedelta(days=3)) == []
    assert len(await repo.get_by_date(NEW_YEAR + timedelta(days=3), include_inactive=True)) == 1

    assert await repo.is_day_off(owner, NEW_YEAR) is True
    assert await repo.is_day_off(other, NEW_YEAR) is False
    assert await repo.is_day_off(owner, NEW_YEAR + timedelta(days=1)) is False
    assert await repo.is_day_off(owner, NEW_YEAR + timedelta(days=3)) is False  # inactive


async def test_soft_deleted_day_off_is_no_longer_a_day_off(db: AsyncSession) -> None:
    owner = await specialist(db)
    repo = DayOffRepository(db)
    made = await repo.create({"specialist_id": owner.id, "date": NEW_YEAR})
    await repo.delete(made.id)
    assert await repo.is_day_off(owner.id, NEW_YEAR) is False
    assert await repo.get_by_specialist(owner.id) == []


# -- foreign keys ---------------------------------------------------------------------

MISSING = 424242

ORPHANS = [
    pytest.param(ScheduleRepository, window(MISSING, MONDAY, 9, 12), id="schedule"),
    pytest.param(DayOffRepository, {"specialist_id": MISSING, "date": NEW_YEAR}, id="day-off"),
]


@pytest.mark.parametrize(("repo_class", "row"), ORPHANS)
async def test_missing_specialist_is_not_found_and_nothing_is_written(
    db: AsyncSession, sessions: Sessions, repo_class: Any, row: dict[str, Any]
) -> None:
    repo = repo_class(db)
    with pytest.raises(NotFoundError) as caught:
        await repo.create(row)
    assert caught.value.fields == ("specialist_id",)
    assert str(MISSING) in str(caught.value)
    assert await rows_in(sessions, repo.model) == 0
    await specialist(db)  # the session is still usable


@pytest.mark.parametrize(("repo_class", "row"), ORPHANS)
async def test_missing_specialist_in_create_many_writes_nothing(
    db: AsyncSession, sessions: Sessions, repo_class: Any, row: dict[str, Any]
) -> None:
    owner = await specialist(db)
    good = {**row, "specialist_id": owner.id}
    with pytest.raises(NotFoundError) as caught:
        await repo_class(db).create_many([good, row])
    assert caught.value.fields == ("specialist_id",)
    assert "specialist_id" in str(caught.value)
    assert await rows_in(sessions, repo_class.model) == 0


@pytest.mark.parametrize(("repo_class", "row"), ORPHANS)
async def test_moving_a_row_to_a_missing_specialist_is_not_found(
    db: AsyncSession, sessions: Sessions, repo_class: Any, row: dict[str, Any]
) -> None:
    owner = await specialist(db)
    repo = repo_class(db)
    made = await repo.create({**row, "specialist_id": owner.id})
    with pytest.raises(NotFoundError) as caught:
        await repo.update(made.id, {"specialist_id": MISSING})
    assert caught.value.fields == ("specialist_id",)
    async with sessions() as fresh:
        stored = await repo_class(fresh).get_by_id(made.id)
    assert stored is not None and stored.specialist_id == owner.id
