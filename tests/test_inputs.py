"""Every parameter checked before any SQL runs, one answer on both backends.

Each test pins one case found by trying the library as a new user would:
a raw Python or driver error, or a different outcome on SQLite and on
PostgreSQL for the same input. Every test runs on both backends.
"""

from __future__ import annotations

import inspect
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import AdminLog, Booking, Specialist
from asyncdata.models.folded import search_text
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DayOffRepository,
    Repository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from tests.helpers import make_specialist, next_weekday, snapshot

Sessions = async_sessionmaker[AsyncSession]

OUT_OF_RANGE_IDS = [
    2**31,
    2**31 + 5,
    2**62,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    -(2**31) - 1,
    -(2**63) - 1,
]
NOT_IDS = [True, False, 1.5, 1.0, Decimal("1.5"), Decimal(1), "2", "1", None, b"1", [1]]


def fields_of(caught: pytest.ExceptionInfo[ValidationError]) -> tuple[str, ...]:
    return caught.value.fields


# -- ids ------------------------------------------------------------------------------


@pytest.mark.parametrize("big", OUT_OF_RANGE_IDS)
async def test_an_id_no_row_can_have_is_a_missing_row(db: AsyncSession, big: int) -> None:
    specialist = await make_specialist(db)
    repo = SpecialistRepository(db)
    assert await repo.get_by_id(big) is None
    assert await repo.get_by_id(big, load=["schedules"]) is None
    for call in (repo.update(big, {"phone": "+15"}), repo.delete(big), repo.hard_delete(big)):
        with pytest.raises(NotFoundError):
            await call
    bookings = BookingRepository(db)
    for move in (bookings.confirm, bookings.cancel, bookings.complete, bookings.mark_no_show):
        with pytest.raises(NotFoundError):
            await move(big)
    with pytest.raises(NotFoundError):
        await bookings.reschedule(big, next_weekday(0), time(10))
    with pytest.raises(NotFoundError):
        await bookings.get_available_slots(big, next_weekday(0))
    assert await bookings.get_by_specialist(big) == []
    assert await ScheduleRepository(db).get_by_specialist(big) == []
    assert await ScheduleRepository(db).get_by_day(big, 0) == []
    assert await DayOffRepository(db).get_by_specialist(big) == []
    assert await DayOffRepository(db).is_day_off(big, next_weekday(0)) is False
    assert await repo.get_all(filters={"id": big}) == []
    assert await repo.get_all(filters={"id": [big, specialist.id]}) == [specialist]
    assert await repo.count(filters={"id": big}) == 0
    assert (await repo.get_by_id(specialist.id)) is specialist


async def test_admin_and_resource_ids_are_64_bit(db: AsyncSession) -> None:
    logs = AdminLogRepository(db)
    entry = await logs.log(2**40, "x", resource_type="booking", resource_id=2**62)
    assert [e.id for e in await logs.get_by_admin(2**40)] == [entry.id]
    assert [e.id for e in await logs.get_by_resource("booking", 2**62)] == [entry.id]
    assert await logs.get_by_admin(2**63) == []
    assert await logs.get_by_resource("booking", -(2**63) - 1) == []
    for field, value in (("admin_id", 2**63), ("resource_id", -(2**63) - 1)):
        with pytest.raises(ValidationError) as caught:
            await logs.create({"admin_id": 1, "action": "x", field: value})
        assert field in fields_of(caught)


@pytest.mark.parametrize("bad", NOT_IDS, ids=repr)
async def test_an_id_must_be_an_int(db: AsyncSession, sessions: Sessions, bad: Any) -> None:
    specialist = await make_specialist(db)
    before = await snapshot(sessions)
    repo = SpecialistRepository(db)
    calls = [
        repo.get_by_id(bad),
        repo.update(bad, {"phone": "+15"}),
        repo.delete(bad),
        repo.hard_delete(bad),
        BookingRepository(db).confirm(bad),
        BookingRepository(db).get_by_specialist(bad),
        BookingRepository(db).get_available_slots(bad, next_weekday(0)),
        ScheduleRepository(db).get_by_specialist(bad),
        AdminLogRepository(db).get_by_admin(bad),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as caught:
            await call
        assert set(fields_of(caught)) & {"id", "specialist_id", "admin_id"}
    assert await snapshot(sessions) == before
    assert (await repo.get_by_id(specialist.id)) is specialist


# -- field values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "Nul\x00l"}, "name"),
        ({"name": "lone \ud800 surrogate"}, "name"),
        ({"bio": "\udfff"}, "bio"),
        ({"bio": "a\x00"}, "bio"),
        ({"email": "a\x00@example.com"}, "email"),
        ({"is_active": 1}, "is_active"),
        ({"email": "ß" * 160 + "@example.com"}, "email"),  # 173 chars, 333 when folded
    ],
)
async def test_text_both_backends_cannot_store_is_refused(
    db: AsyncSession, sessions: Sessions, data: dict[str, Any], field: str
) -> None:
    before = await snapshot(sessions)
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create({"name": "A", "email": "a@example.com", **data})
    assert field in fields_of(caught)
    assert await snapshot(sessions) == before


async def test_email_length_counts_the_stored_form(db: AsyncSession) -> None:
    grows = "ß" * 150 + "@example.com"  # 162 characters given, 312 stored
    made = await SpecialistRepository(db).create({"name": "A", "email": grows})
    assert made.email == "ss" * 150 + "@example.com"
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).create({"name": "B", "email": "ß" * 160 + "@x.com"})
    assert "email" in fields_of(caught)


@pytest.mark.parametrize("bad", [2**15, -(2**15) - 1, 2**63, 7, -1, True, 1.0])
async def test_small_integers_out_of_range_are_refused(db: AsyncSession, bad: Any) -> None:
    specialist = await make_specialist(db)
    with pytest.raises(ValidationError) as caught:
        await ScheduleRepository(db).create(
            {
                "specialist_id": specialist.id,
                "day_of_week": bad,
                "start_time": time(18),
                "end_time": time(19),
            }
        )
    assert "day_of_week" in fields_of(caught)


@pytest.mark.parametrize(
    "details",
    [
        {"x": math.nan},
        {"x": [1, {"y": math.inf}]},
        {"x": -math.inf},
        {1: "int key"},
        {"x": {1, 2}},
        {"x": object()},
        {"x": b"bytes"},
        "just text",
    ],
    ids=repr,
)
async def test_json_both_backends_cannot_store_is_refused(
    db: AsyncSession, sessions: Sessions, details: Any
) -> None:
    before = await snapshot(sessions)
    with pytest.raises(ValidationError) as caught:
        await AdminLogRepository(db).log(1, "x", details=details)
    assert "details" in fields_of(caught)
    with pytest.raises(ValidationError):
        await UserSessionRepository(db).create({"session_id": "s", "data": details})
    assert await snapshot(sessions) == before


async def test_json_is_stored_as_given_back(db: AsyncSession, sessions: Sessions) -> None:
    entry = await AdminLogRepository(db).log(1, "x", details={"t": (1, 2), "f": 0.1, "u": "ü\x00"})
    assert entry.details == {"t": [1, 2], "f": 0.1, "u": "ü\x00"}
    async with sessions() as fresh:
        again = await AdminLogRepository(fresh).get_by_id(entry.id)
        assert again is not None and again.details == entry.details


@pytest.mark.parametrize(
    "on", [date(1, 1, 1), date(9999, 12, 31), date(9999, 12, 30), date(1, 1, 1)]
)
async def test_booking_dates_without_representable_instants_are_refused(
    db: AsyncSession, sessions: Sessions, on: date
) -> None:
    specialist = await make_specialist(db, timezone="Pacific/Kiritimati")
    before = await snapshot(sessions)
    booking = {
        "specialist_id": specialist.id,
        "client_name": "C",
        "client_email": "c@example.com",
        "booking_date": on,
        "booking_time": time(23),
        "duration_minutes": 1440,
    }
    repo = BookingRepository(db)
    for call in (
        repo.create(booking),
        repo.create(booking, enforce_availability=False),
        repo.create_many([booking], enforce_availability=False),
        repo.get_available_slots(specialist.id, on),
    ):
        with pytest.raises(ValidationError) as caught:
            await call
        assert set(fields_of(caught)) & {"booking_date", "on_date"}
    assert await snapshot(sessions) == before
    assert await repo.get_by_date(on) == []  # a lookup by any date is fine


async def test_session_expiry_must_stay_representable(db: AsyncSession) -> None:
    repo = UserSessionRepository(db)
    await repo.create({"session_id": "s1"})
    for seconds in (10**12, 0, -5, 1.5, True, None, "60"):
        with pytest.raises(ValidationError) as caught:
            await repo.extend("s1", seconds)  # type: ignore[arg-type]
        assert fields_of(caught) == ("seconds",)
    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(ValidationError):
        await repo.create({"session_id": "s2", "expires_at": far})
    with pytest.raises(ValidationError):
        await AdminLogRepository(db).get_between(far, datetime.now(UTC))
    assert (await repo.extend("s1", 3600)).expires_at is not None


# -- options and shapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"order_by": 5}, "order_by"),
        ({"order_by": [None]}, "order_by"),
        ({"order_by": "-nope"}, "nope"),
        ({"load": None}, "load"),
        ({"load": True}, "load"),
        ({"load": [1]}, "load"),
        ({"load": "nothing"}, "load"),
        ({"filters": True}, "filters"),
        ({"filters": [("name", "x")]}, "filters"),
        ({"filters": {1: "x"}}, "1"),
        ({"limit": -1}, "limit"),
        ({"limit": 1.0}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": math.nan}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "1"}, "offset"),
        ({"include_inactive": "yes"}, "include_inactive"),
        ({"include_inactive": None}, "include_inactive"),
    ],
    ids=repr,
)
async def test_get_all_arguments_of_the_wrong_shape(
    db: AsyncSession, kwargs: dict[str, Any], field: str
) -> None:
    await make_specialist(db)
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).get_all(**kwargs)
    assert field in fields_of(caught)


async def test_get_by_id_load_must_be_names(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    for load in (True, None, 1, [True]):
        with pytest.raises(ValidationError) as caught:
            await SpecialistRepository(db).get_by_id(specialist.id, load=load)  # type: ignore[arg-type]
        assert fields_of(caught) == ("load",)


async def test_json_columns_cannot_be_ordered_or_compared(db: AsyncSession) -> None:
    await AdminLogRepository(db).log(1, "x", details={"a": 1})
    repo = AdminLogRepository(db)
    for kwargs in ({"order_by": "details"}, {"order_by": ["-details"]}):
        with pytest.raises(ValidationError) as caught:
            await repo.get_all(**kwargs)
        assert fields_of(caught) == ("order_by",)
    with pytest.raises(ValidationError) as caught:
        await repo.get_all(filters={"details": {"a": 1}})
    assert fields_of(caught) == ("details",)


async def test_search_limits(db: AsyncSession) -> None:
    await make_specialist(db, name="Alpha")
    repo = SpecialistRepository(db)
    for limit in (-1, math.nan, 1.5, None, True, "2"):
        with pytest.raises(ValidationError) as caught:
            await repo.search("alpha", limit=limit)  # type: ignore[arg-type]
        assert fields_of(caught) == ("limit",)
    assert await repo.search("alpha", limit=0) == []
    assert len(await repo.search("alpha", limit=2**70)) == 1
    assert len(await repo.get_all(limit=2**70, offset=0)) == 1
    assert await repo.get_all(offset=2**70) == []


async def test_slot_arguments(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    repo = BookingRepository(db)
    day = next_weekday(0)
    cases: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
        ((specialist.id, None), {}, "on_date"),
        ((specialist.id, "2030-01-01"), {}, "on_date"),
        ((specialist.id, datetime(2030, 1, 1)), {}, "on_date"),
        ((specialist.id, day), {"duration_minutes": 0}, "duration_minutes"),
        ((specialist.id, day), {"duration_minutes": 1441}, "duration_minutes"),
        ((specialist.id, day), {"duration_minutes": 30.0}, "duration_minutes"),
        ((specialist.id, day), {"duration_minutes": True}, "duration_minutes"),
        ((specialist.id, day), {"step_minutes": -5}, "step_minutes"),
        ((specialist.id, day), {"step_minutes": math.nan}, "step_minutes"),
    ]
    for args, kwargs, field in cases:
        with pytest.raises(ValidationError) as caught:
            await repo.get_available_slots(*args, **kwargs)
        assert fields_of(caught) == (field,)
    slots = await repo.get_available_slots(specialist.id, day, step_minutes=10**12)
    assert [s.time() for s in slots] == [time(9)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"date_from": True}, "date_from"),
        ({"date_to": "2030-01-01"}, "date_to"),
        ({"date_from": datetime(2030, 1, 1)}, "date_from"),
        ({"statuses": "pending"}, "statuses"),
        ({"statuses": 5}, "statuses"),
        ({"statuses": ["pending", "nope"]}, "status"),
        ({"statuses": [None]}, "status"),
    ],
    ids=repr,
)
async def test_booking_query_arguments(
    db: AsyncSession, kwargs: dict[str, Any], field: str
) -> None:
    specialist = await make_specialist(db)
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).get_by_specialist(specialist.id, **kwargs)
    assert field in fields_of(caught)


async def test_text_lookups_refuse_text_no_backend_can_hold(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    for bad in ("\x00", "a\ud800", 5, None):
        for call in (
            SpecialistRepository(db).get_by_email(bad),
            SpecialistRepository(db).get_by_specialization(bad),
            SpecialistRepository(db).get_by_language(bad),
            SpecialistRepository(db).search(bad),
            BookingRepository(db).get_by_client_email(bad),
            UserSessionRepository(db).get_by_session_id(bad),
            UserSessionRepository(db).deactivate(bad),
            AdminLogRepository(db).get_by_action(bad),
        ):
            with pytest.raises(ValidationError):
                await call
    with pytest.raises(ValidationError):
        await SpecialistRepository(db).search("a\x1fb")
    assert (await SpecialistRepository(db).get_by_id(specialist.id)) is specialist


# -- same answer on both backends -----------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "queries"),
    [
        ("İstanbul Kliniği", ["İstanbul", "İSTANBUL", "i̇stanbul", "kliniği", "KLINIĞI"]),
        ("ΟΔΟΣ Αθηνάς", ["οδος", "ΟΔΟΣ", "οδοσ", "οδος αθηνάς"]),
        ("Kelvin \u212a scale", ["k scale", "K SCALE", "\u212a"]),
        ("Hauptstraße 5", ["STRASSE", "straße", "HAUPTSTRASSE 5"]),
        ("100% sure_thing\\x", ["100%", "e_t", "\\x", "% SURE_"]),
    ],
)
async def test_search_folds_case_the_same_way_on_both_backends(
    db: AsyncSession, stored: str, queries: list[str]
) -> None:
    hit = await make_specialist(db, name=stored, bio=stored, specialization=stored[:200])
    await make_specialist(db, name="Unrelated", bio=None, specialization=None)
    for query in queries:
        assert [s.id for s in await SpecialistRepository(db).search(query)] == [hit.id], query
    assert await SpecialistRepository(db).get_by_specialization(stored.upper()) == [hit]


async def test_wildcards_do_not_match_everything(db: AsyncSession) -> None:
    await make_specialist(db, name="Plain")
    for query in ("%", "_", "\\", "/", "%%", "/%"):
        assert await SpecialistRepository(db).search(query) == []


async def test_long_queries_work_on_both_backends(db: AsyncSession) -> None:
    text = "Ab" * 30_000
    hit = await make_specialist(db, bio=text)
    repo = SpecialistRepository(db)
    assert [s.id for s in await repo.search(text.upper())] == [hit.id]
    assert await repo.search("x" * 60_000) == []
    assert await repo.get_by_language("x" * 60_000) == []


async def test_emails_are_case_folded_on_both_backends(db: AsyncSession) -> None:
    made = await SpecialistRepository(db).create({"name": "G", "email": " Groß@Example.COM "})
    assert made.email == "gross@example.com"
    repo = SpecialistRepository(db)
    for lookup in ("GROSS@example.com", "groß@EXAMPLE.com", " gross@example.com"):
        assert await repo.get_by_email(lookup) == made
    with pytest.raises(ConflictError):
        await repo.create({"name": "H", "email": "GROSS@example.com"})


async def test_languages_fold_the_same_way(db: AsyncSession) -> None:
    made = await make_specialist(db, languages="Türkçe, İngilizce, Ελληνικά")
    for language in ("türkçe", "TÜRKÇE", "i̇ngilizce", "ΕΛΛΗΝΙΚΆ"):
        assert await SpecialistRepository(db).get_by_language(language) == [made], language


async def test_forty_thousand_values_in_one_filter(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    repo = SpecialistRepository(db)
    ids = [*range(1_000_000, 1_040_000), specialist.id]
    assert await repo.get_all(filters={"id": ids}) == [specialist]
    assert await repo.count(filters={"id": ids}) == 1
    emails = [f"nobody{n}@example.com" for n in range(40_000)] + [specialist.email]
    assert await repo.get_all(filters={"email": emails}) == [specialist]
    stamps = [specialist.created_at + timedelta(seconds=n + 1) for n in range(40_000)]
    assert await repo.get_all(filters={"created_at": [*stamps, specialist.created_at]}) == [
        specialist
    ]
    assert await repo.get_all(filters={"phone": [None, "+1"]}) == [specialist]
    assert await repo.get_all(filters={"phone": []}) == []


async def test_order_is_the_same_on_both_backends(db: AsyncSession) -> None:
    names = ["b", "B", "a", "Á", "Z", "_", "ä", "ü", "A"]
    for n, name in enumerate(names):
        await SpecialistRepository(db).create(
            {"name": name, "email": f"o{n}@example.com", "phone": None if n % 2 else f"+{n}"}
        )
    repo = SpecialistRepository(db)
    assert [s.name for s in await repo.get_all()] == sorted(names)
    by_phone = [s.phone for s in await repo.get_all(order_by="phone")]
    assert by_phone == sorted(p for p in by_phone if p) + [None] * by_phone.count(None)
    phones = sorted(p for p in by_phone if p)
    by_phone_desc = [s.phone for s in await repo.get_all(order_by="-phone")]
    assert by_phone_desc == [None] * by_phone.count(None) + phones[::-1]


# -- search only where there is text; options are real keywords -----------------------


def test_search_exists_only_where_there_is_text() -> None:
    assert not hasattr(ScheduleRepository, "search")
    assert not hasattr(Repository, "search")
    for repo in (
        SpecialistRepository,
        DayOffRepository,
        BookingRepository,
        UserSessionRepository,
        AdminLogRepository,
    ):
        assert inspect.iscoroutinefunction(repo.search)


async def test_day_off_search_finds_reasons(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    made = await DayOffRepository(db).create(
        {"specialist_id": specialist.id, "date": next_weekday(3), "reason": "Kurban BAYRAMI"}
    )
    assert await DayOffRepository(db).search("bayram") == [made]
    updated = await DayOffRepository(db).update(made.id, {"reason": "İZİN"})
    assert await DayOffRepository(db).search("bayram") == []
    assert await DayOffRepository(db).search("İzİn") == [updated]


async def test_misspelled_options_are_type_errors(db: AsyncSession) -> None:
    with pytest.raises(TypeError):
        await BookingRepository(db).create({}, enforce_availabilty=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await SpecialistRepository(db).create({}, nonsense=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await SpecialistRepository(db).get_all(limt=3)  # type: ignore[call-arg]


async def test_updates_keep_search_in_step(db: AsyncSession, sessions: Sessions) -> None:
    specialist = await make_specialist(db, name="Old Name")
    repo = SpecialistRepository(db)
    await repo.update(specialist.id, {"name": "Yeni İsim", "specialization": "Nöroloji"})
    assert await repo.search("old name") == []
    assert await repo.search("yeni i̇sim") == [specialist]
    assert await repo.get_by_specialization("NÖROLOJI") == [specialist]
    booking = await BookingRepository(db).create(
        {
            "specialist_id": specialist.id,
            "client_name": "Client",
            "client_email": "client@example.com",
            "booking_date": next_weekday(1),
            "booking_time": time(10),
        }
    )
    await BookingRepository(db).update(booking.id, {"notes": "ÇOK GEÇ"})
    assert [b.id for b in await BookingRepository(db).search("çok geç")] == [booking.id]
    async with sessions() as fresh:
        row = await fresh.get(Booking, booking.id)
        assert row is not None
        assert row.search_text == search_text(
            row.client_name, row.client_email, row.client_phone, row.notes
        )
        stored_row = await fresh.get(Specialist, specialist.id)
        assert stored_row is not None and stored_row.specialization_key == "nöroloji"
        log = await AdminLogRepository(fresh).log(1, "X")
        assert (await fresh.get(AdminLog, log.id)) is not None
