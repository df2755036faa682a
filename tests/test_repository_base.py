"""The calls every repository shares, via SpecialistRepository."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Booking, DayOff, Schedule, Specialist
from asyncdata.repositories import (
    BATCH_SIZE,
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
)
from tests.helpers import make_specialist

Sessions = async_sessionmaker[AsyncSession]


def person(n: int, **overrides: Any) -> dict[str, Any]:
    """Specialist input numbered ``n``; every row has the same keys, so batches stay uniform."""
    row: dict[str, Any] = {
        "name": f"Specialist {n:04d}",
        "email": f"s{n}@example.com",
        "specialization": "Dermatology",
        "languages": "English",
    }
    row.update(overrides)
    return row


async def rows_in(sessions: Sessions, model: type[Any], *where: Any) -> int:
    """Rows of ``model`` as a fresh session sees them (what actually got committed)."""
    async with sessions() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(model).where(*where)))


async def still_usable(db: AsyncSession) -> None:
    """After an error the same session must go on working, reads and writes alike."""
    repo = SpecialistRepository(db)
    made = await repo.create(person(9999, email="after-error@example.com"))
    assert (await repo.get_by_id(made.id)) is not None
    await repo.hard_delete(made.id)


def count_of(counter: Any, verb: str) -> int:
    return sum(1 for s in counter.statements if s.lstrip().upper().startswith(verb))


# -- create ---------------------------------------------------------------------------


async def test_create_returns_the_stored_row_with_id_and_aware_timestamps(
    db: AsyncSession, sessions: Sessions
) -> None:
    made = await SpecialistRepository(db).create(person(1, email="Ada@Example.com"))
    assert isinstance(made, Specialist) and made.id is not None
    assert made.email == "ada@example.com"
    assert made.timezone == "UTC" and made.is_active is True
    for stamp in (made.created_at, made.updated_at):
        assert stamp.utcoffset() == timedelta(0)
    async with sessions() as fresh:
        stored = await SpecialistRepository(fresh).get_by_id(made.id)
    assert stored is not None and stored.name == "Specialist 0001"
    assert stored.created_at.tzinfo is not None
    assert abs(stored.created_at - made.created_at) < timedelta(seconds=1)


async def test_create_refuses_unknown_keys_naming_them(
    db: AsyncSession, sessions: Sessions
) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create(person(1, nickname="Ada", shoe_size=38))
    assert set(caught.value.fields) == {"nickname", "shoe_size"}
    assert "nickname" in str(caught.value)
    assert await rows_in(sessions, Specialist) == 0
    await still_usable(db)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": 5}, "id"),
        ({"created_at": None}, "created_at"),
        ({"name": ""}, "name"),
        ({"email": "nobody"}, "email"),
        ({"timezone": "Europe/Nowhere"}, "timezone"),
        ({"is_active": "true"}, "is_active"),
    ],
)
async def test_create_validates_before_writing(
    db: AsyncSession, sessions: Sessions, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create(person(1, **overrides))
    assert field in caught.value.fields
    assert await rows_in(sessions, Specialist) == 0
    await still_usable(db)


# -- create_many ----------------------------------------------------------------------


async def test_create_many_with_one_bad_row_writes_nothing(
    db: AsyncSession, sessions: Sessions
) -> None:
    rows = [person(n) for n in range(20)]
    rows[13] = person(13, email="broken")
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create_many(rows)
    assert caught.value.fields == ("email",)
    assert await rows_in(sessions, Specialist) == 0
    await still_usable(db)


async def test_create_many_with_a_duplicate_email_in_the_batch_writes_nothing(
    db: AsyncSession, sessions: Sessions
) -> None:
    rows = [person(n) for n in range(20)]
    rows[17] = person(17, email="S3@EXAMPLE.COM")
    with pytest.raises(ConflictError) as caught:
        await SpecialistRepository(db).create_many(rows)
    assert caught.value.constraint == "uq_specialists_email"
    assert await rows_in(sessions, Specialist) == 0
    await still_usable(db)


async def test_create_many_clashing_with_a_stored_row_writes_nothing(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    await repo.create(person(5))
    with pytest.raises(ConflictError):
        await repo.create_many([person(n) for n in range(10)])
    assert await rows_in(sessions, Specialist) == 1
    await still_usable(db)


@pytest.mark.parametrize(("rows", "inserts"), [(250, 1), (BATCH_SIZE, 1), (2500, 3)])
async def test_create_many_uses_one_insert_per_batch(
    db: AsyncSession,
    sessions: Sessions,
    count_statements: Callable[..., Any],
    rows: int,
    inserts: int,
) -> None:
    assert BATCH_SIZE == 1000
    data = [person(rows - n) for n in range(rows)]  # reverse name order: order must be kept
    with count_statements() as counter:
        made = await SpecialistRepository(db).create_many(data)
    assert count_of(counter, "INSERT") == inserts
    assert counter.count == inserts  # no per-row SELECTs either
    assert [m.email for m in made] == [d["email"] for d in data]
    assert all(m.id is not None for m in made)
    assert len({m.id for m in made}) == rows
    assert await rows_in(sessions, Specialist) == rows


async def test_create_many_of_nothing_is_nothing(
    db: AsyncSession, count_statements: Callable[..., Any]
) -> None:
    with count_statements() as counter:
        assert await SpecialistRepository(db).create_many([]) == []
    assert counter.count == 0


# -- get_by_id ------------------------------------------------------------------------


async def test_get_by_id_returns_inactive_rows_and_none_for_unknown(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    made = await repo.create(person(1))
    await repo.delete(made.id)
    found = await repo.get_by_id(made.id)
    assert found is not None and found.is_active is False
    assert await repo.get_by_id(made.id + 1000) is None


async def test_get_by_id_eager_loads_what_load_names(
    sessions: Sessions, count_statements: Callable[..., Any]
) -> None:
    async with sessions() as setup:
        made = await make_specialist(setup)
        await DayOffRepository(setup).create({"specialist_id": made.id, "date": date(2030, 1, 1)})
    async with sessions() as db:
        found = await SpecialistRepository(db).get_by_id(made.id, load=("schedules", "days_off"))
        assert found is not None
        with count_statements() as counter:
            assert [s.day_of_week for s in found.schedules] == list(range(7))
            assert [d.date for d in found.days_off] == [date(2030, 1, 1)]
            with pytest.raises(InvalidRequestError):
                _ = found.bookings
        assert counter.count == 0


# -- update ---------------------------------------------------------------------------


async def test_update_changes_only_the_given_fields_and_moves_updated_at(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    made = await repo.create(person(1, phone="+49 30 1"))
    created_at, updated_at = made.created_at, made.updated_at
    changed = await repo.update(made.id, {"bio": "Skin doctor", "email": "NEW@example.com"})
    assert changed.bio == "Skin doctor" and changed.email == "new@example.com"
    assert changed.phone == "+49 30 1" and changed.name == "Specialist 0001"
    assert changed.created_at == created_at
    assert changed.updated_at > updated_at
    assert changed.updated_at.utcoffset() == timedelta(0)
    async with sessions() as fresh:
        stored = await SpecialistRepository(fresh).get_by_id(made.id)
    assert stored is not None
    assert (stored.bio, stored.email, stored.phone) == (
        "Skin doctor",
        "new@example.com",
        "+49 30 1",
    )


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"email": "nobody"}, {"email"}),
        ({"name": "   "}, {"name"}),
        ({"timezone": "Moon/Base"}, {"timezone"}),
        ({"created_at": None}, {"created_at"}),
        ({"nickname": "A"}, {"nickname"}),
        ({"name": "x" * 201, "is_active": 0}, {"name", "is_active"}),
    ],
)
async def test_update_validates_like_create(
    db: AsyncSession, sessions: Sessions, data: dict[str, Any], fields: set[str]
) -> None:
    repo = SpecialistRepository(db)
    made = await repo.create(person(1))
    with pytest.raises(ValidationError) as caught:
        await repo.update(made.id, data)
    assert set(caught.value.fields) == fields
    async with sessions() as fresh:
        stored = await SpecialistRepository(fresh).get_by_id(made.id)
    assert stored is not None and stored.updated_at == made.updated_at
    await still_usable(db)


async def test_update_of_unknown_id_is_not_found(db: AsyncSession) -> None:
    with pytest.raises(NotFoundError) as caught:
        await SpecialistRepository(db).update(424242, {"bio": "x"})
    assert "424242" in str(caught.value)
    await still_usable(db)


async def test_update_to_a_taken_email_is_a_conflict(db: AsyncSession, sessions: Sessions) -> None:
    repo = SpecialistRepository(db)
    await repo.create(person(1))
    second = await repo.create(person(2))
    with pytest.raises(ConflictError) as caught:
        await repo.update(second.id, {"email": "S1@example.com", "bio": "changed"})
    assert caught.value.constraint == "uq_specialists_email"
    async with sessions() as fresh:
        stored = await SpecialistRepository(fresh).get_by_id(second.id)
    assert stored is not None and stored.email == "s2@example.com" and stored.bio is None
    await still_usable(db)


# -- delete (soft) --------------------------------------------------------------------


async def test_soft_delete_hides_the_row_unless_include_inactive(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    kept = await repo.create(person(1, name="Kept Keeper"))
    gone = await repo.create(person(2, name="Gone Goner", languages="English, French"))
    deleted = await repo.delete(gone.id)
    assert deleted.id == gone.id and deleted.is_active is False

    assert [s.id for s in await repo.get_all()] == [kept.id]
    assert {s.id for s in await repo.get_all(include_inactive=True)} == {kept.id, gone.id}
    assert await repo.count() == 1
    assert await repo.count(include_inactive=True) == 2
    assert await repo.search("goner") == []
    assert [s.id for s in await repo.search("goner", include_inactive=True)] == [gone.id]
    assert await repo.get_by_email("s2@example.com") is None
    found = await repo.get_by_email("s2@example.com", include_inactive=True)
    assert found is not None and found.id == gone.id
    assert [s.id for s in await repo.get_by_specialization("dermatology")] == [kept.id]
    assert await repo.get_by_language("french") == []
    assert [s.id for s in await repo.get_by_language("french", include_inactive=True)] == [gone.id]


async def test_soft_delete_of_unknown_id_is_not_found(db: AsyncSession) -> None:
    with pytest.raises(NotFoundError):
        await SpecialistRepository(db).delete(424242)
    await still_usable(db)


# -- hard_delete ----------------------------------------------------------------------


async def add_children(db: AsyncSession, specialist: Specialist) -> None:
    """One day off and two bookings (one via create, one via create_many) for ``specialist``."""
    await DayOffRepository(db).create({"specialist_id": specialist.id, "date": date(2030, 1, 7)})
    booking = {
        "specialist_id": specialist.id,
        "client_name": "Grace Hopper",
        "client_email": "grace@example.com",
        "booking_date": date(2030, 1, 8),
        "booking_time": time(10),
    }
    bookings = BookingRepository(db)
    await bookings.create(booking, enforce_availability=False)
    await bookings.create_many([{**booking, "booking_time": time(14)}], enforce_availability=False)


async def test_hard_delete_removes_the_row_and_cascades(
    db: AsyncSession, sessions: Sessions
) -> None:
    doomed = await make_specialist(db, email="doomed@example.com")
    other = await make_specialist(db, email="other@example.com")
    for specialist in (doomed, other):
        await add_children(db, specialist)

    assert await SpecialistRepository(db).hard_delete(doomed.id) is None

    async with sessions() as fresh:
        assert await SpecialistRepository(fresh).get_by_id(doomed.id) is None
    for model, each in ((Schedule, 7), (DayOff, 1), (Booking, 2)):
        assert await rows_in(sessions, model, model.specialist_id == doomed.id) == 0
        assert await rows_in(sessions, model, model.specialist_id == other.id) == each
    assert await rows_in(sessions, Specialist) == 1


async def test_hard_delete_of_a_loaded_specialist_cascades_too(
    db: AsyncSession, sessions: Sessions
) -> None:
    doomed = await make_specialist(db)
    await add_children(db, doomed)
    repo = SpecialistRepository(db)
    loaded = await repo.get_by_id(doomed.id, load=("schedules", "days_off", "bookings"))
    assert loaded is not None and len(loaded.bookings) == 2
    await repo.hard_delete(doomed.id)
    for model in (Specialist, Schedule, DayOff, Booking):
        assert await rows_in(sessions, model) == 0
    await still_usable(db)


async def test_hard_delete_of_unknown_id_is_not_found(db: AsyncSession, sessions: Sessions) -> None:
    repo = SpecialistRepository(db)
    await repo.create(person(1))
    with pytest.raises(NotFoundError) as caught:
        await repo.hard_delete(424242)
    assert "424242" in str(caught.value)
    assert await rows_in(sessions, Specialist) == 1
    await still_usable(db)


# -- get_all: filters, order, pagination ----------------------------------------------


async def seed(db: AsyncSession) -> list[Specialist]:
    """Five specialists, deliberately created out of name order."""
    return await SpecialistRepository(db).create_many(
        [
            person(1, name="Eve", specialization="Cardiology", phone="+1"),
            person(2, name="Bob", specialization="Dermatology", phone=None),
            person(3, name="Dan", specialization="Cardiology", phone="+3"),
            person(4, name="Amy", specialization="Neurology", phone=None),
            person(5, name="Cid", specialization="Dermatology", phone="+5"),
        ]
    )


def names(rows: list[Specialist]) -> list[str]:
    return [row.name for row in rows]


async def test_get_all_orders_specialists_by_name_by_default(db: AsyncSession) -> None:
    await seed(db)
    assert names(await SpecialistRepository(db).get_all()) == ["Amy", "Bob", "Cid", "Dan", "Eve"]


async def test_get_all_ties_on_name_are_broken_by_id(db: AsyncSession) -> None:
    made = await SpecialistRepository(db).create_many(
        [person(n, name="Same Name") for n in (3, 1, 2)]
    )
    assert [s.id for s in await SpecialistRepository(db).get_all()] == sorted(m.id for m in made)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"specialization": "Cardiology"}, ["Dan", "Eve"]),
        ({"specialization": ["Cardiology", "Neurology"]}, ["Amy", "Dan", "Eve"]),
        ({"specialization": ("Neurology",)}, ["Amy"]),
        ({"specialization": []}, []),
        ({"phone": None}, ["Amy", "Bob"]),
        ({"specialization": "Dermatology", "phone": None}, ["Bob"]),
        ({"email": "s3@example.com"}, ["Dan"]),
        ({"specialization": "cardiology"}, []),  # filters are exact equality
    ],
)
async def test_get_all_filters(
    db: AsyncSession, filters: dict[str, Any], expected: list[str]
) -> None:
    await seed(db)
    repo = SpecialistRepository(db)
    assert names(await repo.get_all(filters=filters)) == expected
    assert await repo.count(filters=filters) == len(expected)


async def test_get_all_filters_by_id(db: AsyncSession) -> None:
    made = await seed(db)
    picked = [made[0].id, made[3].id]
    assert names(await SpecialistRepository(db).get_all(filters={"id": picked})) == ["Amy", "Eve"]


async def test_filter_on_is_active_with_include_inactive(db: AsyncSession) -> None:
    made = await seed(db)
    repo = SpecialistRepository(db)
    await repo.delete(made[1].id)
    assert names(await repo.get_all(filters={"is_active": False}, include_inactive=True)) == ["Bob"]
    assert await repo.count(filters={"is_active": False}) == 0


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"nickname": "Bob"}, "nickname"),
        ({"specialization": "Cardiology", "shoe_size": 38}, "shoe_size"),
        ({"name": 5}, "name"),
        ({"is_active": "yes"}, "is_active"),
        ({"specialization": ["Cardiology", 7]}, "specialization"),
        ({"created_at": "2030-01-01"}, "created_at"),
    ],
)
async def test_bad_filters_are_validation_errors(
    db: AsyncSession, filters: dict[str, Any], field: str
) -> None:
    await seed(db)
    repo = SpecialistRepository(db)
    for call in (repo.get_all, repo.count):
        with pytest.raises(ValidationError) as caught:
            await call(filters=filters)
        assert field in caught.value.fields
    await still_usable(db)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("name", ["Amy", "Bob", "Cid", "Dan", "Eve"]),
        ("-name", ["Eve", "Dan", "Cid", "Bob", "Amy"]),
        ("email", ["Eve", "Bob", "Dan", "Amy", "Cid"]),
        (["specialization", "-name"], ["Eve", "Dan", "Cid", "Bob", "Amy"]),
        (("-specialization", "name"), ["Amy", "Bob", "Cid", "Dan", "Eve"]),
        ("-id", ["Cid", "Amy", "Dan", "Bob", "Eve"]),
    ],
)
async def test_get_all_order_by(db: AsyncSession, order_by: Any, expected: list[str]) -> None:
    await seed(db)
    assert names(await SpecialistRepository(db).get_all(order_by=order_by)) == expected


@pytest.mark.parametrize("order_by", ["shoe_size", "-shoe_size", ["name", "nope"], "--name"])
async def test_unknown_order_column_is_a_validation_error(db: AsyncSession, order_by: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).get_all(order_by=order_by)
    assert caught.value.fields
    assert set(caught.value.fields) <= {"shoe_size", "nope", "-name"}
    await still_usable(db)


async def test_limit_and_offset_paginate(db: AsyncSession) -> None:
    await seed(db)
    repo = SpecialistRepository(db)
    pages = [names(await repo.get_all(limit=2, offset=start)) for start in (0, 2, 4, 6)]
    assert pages == [["Amy", "Bob"], ["Cid", "Dan"], ["Eve"], []]
    assert names(await repo.get_all(limit=0)) == []
    assert names(await repo.get_all(offset=3)) == ["Dan", "Eve"]
    assert names(await repo.get_all(order_by="-name", limit=1)) == ["Eve"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"limit": -1}, "limit"), ({"offset": -5}, "offset"), ({"limit": "10"}, "limit")],
)
async def test_bad_pagination_is_a_validation_error(
    db: AsyncSession, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).get_all(**kwargs)
    assert caught.value.fields == (field,)
    await still_usable(db)


# -- search ---------------------------------------------------------------------------


async def searched(db: AsyncSession, query: str, **kwargs: Any) -> list[str]:
    return sorted(names(await SpecialistRepository(db).search(query, **kwargs)))


async def test_search_is_a_case_insensitive_substring_over_text_fields(db: AsyncSession) -> None:
    await seed(db)
    await SpecialistRepository(db).create(person(6, name="Zed", bio="Treats MIGRAINES"))
    assert await searched(db, "CARDIO") == ["Dan", "Eve"]
    assert await searched(db, "migraine") == ["Zed"]
    assert await searched(db, "S4@EXAMPLE") == ["Amy"]
    assert await searched(db, "  cid  ") == ["Cid"]
    assert await searched(db, "nothing like this") == []


async def test_search_is_unicode_aware(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    await repo.create_many(
        [
            person(1, name="Élodie Durand"),
            person(2, name="Jürgen Groß", bio="Praxis in der Hauptstraße"),
            person(3, name="Elodie Martin"),
        ]
    )
    assert await searched(db, "ÉLODIE") == ["Élodie Durand"]
    assert await searched(db, "élodie") == ["Élodie Durand"]
    assert await searched(db, "elodie") == ["Elodie Martin"]
    assert await searched(db, "JÜRGEN") == ["Jürgen Groß"]
    assert await searched(db, "straße") == ["Jürgen Groß"]
    assert await searched(db, "HAUPTSTRAßE") == ["Jürgen Groß"]
    # An ASCII query (the databases' own ILIKE) still finds it inside non-ASCII text.
    assert await searched(db, "LODIE D") == ["Élodie Durand"]
    assert await searched(db, "rgen gro") == ["Jürgen Groß"]
    assert await searched(db, "/") == []


SPECIAL = [
    ("100%", "100% remote", "1000 patients"),
    ("%", "100% remote", "1000 patients"),
    ("a_b", "module a_b", "module axb"),
    ("_", "snake_case", "camelCase"),
    ("c:\\temp", "files in c:\\temp", "files in c:/temp"),
    ("\\", "back\\slash", "slash"),
    ("o'brien", "Dr. O'Brien", "Dr. OBrien"),
    ('"the best"', 'called "the best"', "called the best"),
    ("%_\\", "odd %_\\ mix", "odd x mix"),
]


@pytest.mark.parametrize(("query", "hit", "miss"), SPECIAL)
async def test_search_wildcards_and_quotes_match_themselves(
    db: AsyncSession, query: str, hit: str, miss: str
) -> None:
    await SpecialistRepository(db).create_many(
        [person(1, name="Hit", bio=hit), person(2, name="Miss", bio=miss)]
    )
    assert await searched(db, query) == ["Hit"]


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
async def test_blank_search_finds_nothing(db: AsyncSession, blank: str) -> None:
    await seed(db)
    assert await SpecialistRepository(db).search(blank) == []


async def test_search_limit(db: AsyncSession) -> None:
    await SpecialistRepository(db).create_many([person(n) for n in range(60)])
    repo = SpecialistRepository(db)
    assert len(await repo.search("specialist")) == 50
    found = await repo.search("specialist", limit=3)
    assert names(found) == ["Specialist 0000", "Specialist 0001", "Specialist 0002"]


# -- eager loading and N+1 ------------------------------------------------------------


async def seed_fifty(sessions: Sessions) -> None:
    """50 specialists, each with two schedule windows and one day off."""
    async with sessions() as setup:
        made = await SpecialistRepository(setup).create_many([person(n) for n in range(50)])
        await ScheduleRepository(setup).create_many(
            {"specialist_id": s.id, "day_of_week": day, "start_time": time(9), "end_time": time(12)}
            for s in made
            for day in (0, 3)
        )
        await DayOffRepository(setup).create_many(
            {"specialist_id": s.id, "date": date(2030, 1, 1) + timedelta(days=i)}
            for i, s in enumerate(made)
        )


async def test_get_all_with_load_uses_one_select_per_relationship(
    sessions: Sessions, count_statements: Callable[..., Any]
) -> None:
    await seed_fifty(sessions)
    async with sessions() as db:
        with count_statements() as counter:
            found = await SpecialistRepository(db).get_all(load=("schedules", "days_off"))
            assert len(found) == 50
            assert all(len(s.schedules) == 2 and len(s.days_off) == 1 for s in found)
            assert [w.day_of_week for w in found[0].schedules] == [0, 3]
        assert count_of(counter, "SELECT") == 3
        assert counter.count == 3


async def test_get_all_without_load_is_one_select_and_relationships_raise(
    sessions: Sessions, count_statements: Callable[..., Any]
) -> None:
    await seed_fifty(sessions)
    async with sessions() as db:
        with count_statements() as counter:
            found = await SpecialistRepository(db).get_all()
        assert counter.count == 1 and len(found) == 50
        with count_statements() as counter:
            for relationship in ("schedules", "days_off", "bookings"):
                with pytest.raises(InvalidRequestError):
                    getattr(found[0], relationship)
        assert counter.count == 0


async def test_loaded_relationships_still_refuse_the_unloaded_one(
    sessions: Sessions, count_statements: Callable[..., Any]
) -> None:
    await seed_fifty(sessions)
    async with sessions() as db:
        found = await SpecialistRepository(db).get_all(load=("schedules",), limit=1)
        with count_statements() as counter:
            assert len(found[0].schedules) == 2
            with pytest.raises(InvalidRequestError):
                _ = found[0].bookings
        assert counter.count == 0


@pytest.mark.parametrize("load", [("schedules", "holidays"), ("specialist",), ("name",)])
async def test_unknown_load_name_is_a_validation_error(db: AsyncSession, load: Any) -> None:
    repo = SpecialistRepository(db)
    made = await repo.create(person(1))
    calls = (lambda: repo.get_all(load=load), lambda: repo.get_by_id(made.id, load=load))
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            await call()
        assert caught.value.fields == ("load",)
        assert load[-1] in str(caught.value)
    await still_usable(db)


# -- error translation ----------------------------------------------------------------


async def test_duplicate_email_in_other_case_is_a_conflict_naming_the_value(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    await repo.create(person(1, email="ada@example.com"))
    with pytest.raises(ConflictError) as caught:
        await repo.create(person(2, email="ADA@Example.COM"))
    assert caught.value.constraint == "uq_specialists_email"
    assert "ada@example.com" in str(caught.value)
    assert await rows_in(sessions, Specialist) == 1
    await still_usable(db)


async def test_no_raw_database_error_escapes_and_no_partial_write(
    db: AsyncSession, sessions: Sessions
) -> None:
    repo = SpecialistRepository(db)
    await repo.create(person(1))
    for _ in range(3):  # repeated failures do not wedge the session
        with pytest.raises(ConflictError):
            await repo.create(person(2, email="s1@example.com"))
    assert names(await repo.get_all()) == ["Specialist 0001"]
    assert await rows_in(sessions, Specialist) == 1
    await still_usable(db)


async def test_objects_stay_readable_after_a_failed_write(db: AsyncSession) -> None:
    repo = SpecialistRepository(db)
    made = await repo.create(person(1))
    with pytest.raises(ConflictError):
        await repo.create(person(2, email="s1@example.com"))
    assert (made.name, made.email) == ("Specialist 0001", "s1@example.com")
    assert made.created_at.tzinfo is UTC
