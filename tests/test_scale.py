"""Scale: statements per batch whatever the rows, the bounded overlap guard,
keyset pages. Timings are shown by ``python -m benchmarks --scale``, never asserted here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata.errors import ConflictError, ValidationError
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from tests.helpers import make_specialist, next_weekday

ROWS = 2_500  # three batches of BATCH_SIZE


def kinds(counter: Any) -> list[str]:
    return [s.lstrip().split(" ", 1)[0].upper() for s in counter.statements]


def booking_row(specialist_id: int, n: int) -> dict[str, Any]:
    """A realistic booking: optional fields set on some rows, None or absent on others."""
    day = next_weekday(0) + timedelta(days=n // 8)
    row: dict[str, Any] = {
        "specialist_id": specialist_id,
        "client_name": f"Client {n}",
        "client_email": f"c{n}@example.com",
        "booking_date": day,
        "booking_time": time(9 + n % 8),
        "duration_minutes": 60,
    }
    if n % 2:
        row["client_phone"] = f"+49 {n}"
    if n % 3 == 0:
        row["notes"] = None
    elif n % 3 == 1:
        row["notes"] = f"note {n}"
    if n % 5 == 0:
        row["status"] = "confirmed"
    return row


async def test_booking_create_many_sends_one_insert_per_batch_whatever_the_nones(
    db: AsyncSession, count_statements: Callable[..., Any]
) -> None:
    specialist = await make_specialist(db)
    rows = [booking_row(specialist.id, n) for n in range(ROWS)]
    with count_statements() as counter:
        made = await BookingRepository(db).create_many(rows)
    # per batch of 1,000: the specialists' calendars (one SELECT), the release of expired
    # holds, one INSERT of the bookings and one of their history entries
    assert kinds(counter) == ["SELECT", "UPDATE", "INSERT", "INSERT"] * 3
    assert [b.client_email for b in made] == [r["client_email"] for r in rows]
    assert [b.client_phone for b in made] == [r.get("client_phone") for r in rows]
    assert [b.notes for b in made] == [r.get("notes") for r in rows]
    assert [b.status for b in made] == [r.get("status", "pending") for r in rows]


async def test_session_and_log_create_many_send_one_insert_per_batch(
    db: AsyncSession, count_statements: Callable[..., Any]
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    sessions = [
        {"session_id": f"s{n}"}
        | ({"client_name": f"Name {n}"} if n % 2 else {})
        | ({"expires_at": later} if n % 3 else {"expires_at": None})
        | ({"data": {"n": n}} if n % 7 == 0 else {})
        for n in range(ROWS)
    ]
    logs = [
        {"admin_id": n % 3, "action": "edit"}
        | ({"resource_type": "booking", "resource_id": n} if n % 2 else {})
        | ({"details": {"n": n}} if n % 5 == 0 else {"details": None})
        for n in range(ROWS)
    ]
    with count_statements() as counter:
        made = await UserSessionRepository(db).create_many(sessions)
        logged = await AdminLogRepository(db).create_many(logs)
    assert kinds(counter) == ["INSERT"] * 6
    assert [s.expires_at is None for s in made] == [n % 3 == 0 for n in range(ROWS)]
    assert [s.is_active for s in made] == [True] * ROWS
    assert [entry.resource_id for entry in logged] == [n if n % 2 else None for n in range(ROWS)]


async def test_schedule_create_many_costs_the_same_statements_for_any_row_count(
    db: AsyncSession, count_statements: Callable[..., Any]
) -> None:
    people = await SpecialistRepository(db).create_many(
        {"name": f"P{n}", "email": f"p{n}@example.com", "timezone": "UTC"} for n in range(300)
    )
    rows = [
        {
            "specialist_id": p.id,
            "day_of_week": day,
            "start_time": time(9),
            "end_time": time(17),
        }
        | ({"is_active": False} if (p.id + day) % 4 == 0 else {})
        for p in people
        for day in range(7)
    ]
    with count_statements() as counter:
        made = await ScheduleRepository(db).create_many(rows)
    assert len(made) == 2_100
    # per batch: lock the batch's specialists, read their windows, insert
    assert kinds(counter) == ["SELECT", "SELECT", "INSERT"] * 3


async def test_schedule_create_many_still_refuses_a_clash_with_a_stored_window(
    db: AsyncSession,
) -> None:
    specialist = await make_specialist(db)  # 09:00-17:00 every day
    repo = ScheduleRepository(db)
    with pytest.raises(ConflictError, match="overlaps active window 09:00:00-17:00:00"):
        await repo.create_many(
            [
                {
                    "specialist_id": specialist.id,
                    "day_of_week": 0,
                    "start_time": time(18),
                    "end_time": time(19),
                },
                {
                    "specialist_id": specialist.id,
                    "day_of_week": 1,
                    "start_time": time(16),
                    "end_time": time(18),
                },
            ]
        )
    assert len(await repo.get_by_specialist(specialist.id)) == 7


# --- get_page: keyset pagination ------------------------------------------------------


async def all_pages(repo: Any, **options: Any) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = await repo.get_page(after=cursor, **options)
        pages.append([row.id for row in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def flat(pages: list[list[int]]) -> list[int]:
    return [row for page in pages for row in page]


async def people(db: AsyncSession, count: int) -> list[Any]:
    """Specialists with repeated and missing specializations (NULLs and ties to order)."""
    kinds_ = ("Cardiology", None, "Derma", "cardiology", "Ärzte")
    return await SpecialistRepository(db).create_many(
        {
            "name": f"Person {n % 7}",
            "email": f"page{n}@example.com",
            "specialization": kinds_[n % 5],
            "timezone": "UTC",
        }
        for n in range(count)
    )


@pytest.mark.parametrize(
    "order_by",
    [None, "specialization", "-specialization", ("-name", "specialization"), "-id", "timezone"],
)
async def test_pages_are_get_all_cut_into_pieces(db: AsyncSession, order_by: Any) -> None:
    await people(db, 23)
    repo = SpecialistRepository(db)
    pages = await all_pages(repo, order_by=order_by, limit=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert flat(pages) == [s.id for s in await repo.get_all(order_by=order_by)]


async def test_a_page_is_one_statement_and_the_last_has_no_cursor(
    db: AsyncSession, count_statements: Callable[..., Any]
) -> None:
    await people(db, 10)
    repo = SpecialistRepository(db)
    first = await repo.get_page(limit=5)
    with count_statements() as counter:
        second = await repo.get_page(limit=5, after=first.next_cursor)
    assert counter.count == 1
    assert second.next_cursor is None
    assert len(second.items) == 5
    assert (await repo.get_page(limit=10)).next_cursor is None


async def test_bookings_and_the_log_page_in_their_default_orders(db: AsyncSession) -> None:
    specialist = await make_specialist(db)
    bookings = BookingRepository(db)
    await bookings.create_many(booking_row(specialist.id, n) for n in range(30))
    assert flat(await all_pages(bookings, limit=7)) == [b.id for b in await bookings.get_all()]
    log = AdminLogRepository(db)
    await log.create_many({"admin_id": 1, "action": f"a{n}"} for n in range(12))
    assert flat(await all_pages(log, limit=5)) == [e.id for e in await log.get_all()]
    statuses = await all_pages(bookings, filters={"status": "confirmed"}, limit=2)
    assert flat(statuses) == [b.id for b in await bookings.get_all(filters={"status": "confirmed"})]


async def test_paging_while_rows_are_added_neither_repeats_nor_skips(db: AsyncSession) -> None:
    first = await people(db, 20)
    repo = SpecialistRepository(db)
    seen: list[int] = []
    page = await repo.get_page(limit=6)
    n = 100
    while True:
        seen += [row.id for row in page.items]
        await people_after(db, n)
        n += 3
        if page.next_cursor is None:
            break
        page = await repo.get_page(limit=6, after=page.next_cursor)
    assert len(seen) == len(set(seen))
    assert {p.id for p in first} <= set(seen)


async def people_after(db: AsyncSession, n: int) -> None:
    await SpecialistRepository(db).create_many(
        {"name": f"Person {k % 9}", "email": f"late{k}@example.com", "timezone": "UTC"}
        for k in range(n, n + 3)
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c[:-2],
        lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:],
        lambda c: c + "AA",
        lambda c: "x" + c,
        lambda c: "",
        lambda c: "!!!",
        lambda c: 42,
        lambda c: c.encode(),
    ],
)
async def test_a_tampered_cursor_is_a_validation_error(db: AsyncSession, change: Any) -> None:
    await people(db, 4)
    repo = SpecialistRepository(db)
    cursor = (await repo.get_page(limit=2)).next_cursor
    assert cursor is not None
    with pytest.raises(ValidationError) as caught:
        await repo.get_page(limit=2, after=change(cursor))
    assert caught.value.fields == ("after",)


async def test_a_cursor_belongs_to_its_model_and_order(db: AsyncSession) -> None:
    await people(db, 4)
    repo = SpecialistRepository(db)
    cursor = (await repo.get_page(limit=2)).next_cursor
    with pytest.raises(ValidationError, match="another model or order_by"):
        await repo.get_page(limit=2, after=cursor, order_by="-name")
    with pytest.raises(ValidationError, match="another model or order_by"):
        await DayOffRepository(db).get_page(after=cursor)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": None}, "limit"),
        ({"limit": True}, "limit"),
        ({"order_by": "nope"}, "nope"),
        ({"filters": []}, "filters"),
        ({"load": "nope"}, "load"),
        ({"include_inactive": "yes"}, "include_inactive"),
    ],
)
async def test_get_page_arguments_are_checked(
    db: AsyncSession, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await SpecialistRepository(db).get_page(**options)
    assert field in caught.value.fields


# --- the bounded overlap guard ---------------------------------------------------------


async def test_the_bounded_guard_still_sees_a_day_long_booking(db: AsyncSession) -> None:
    specialist = await make_specialist(db, timezone="UTC")
    repo = BookingRepository(db)
    day = next_weekday(2)
    base = {"specialist_id": specialist.id, "client_name": "C", "client_email": "c@example.com"}
    await repo.create(
        base | {"booking_date": day, "booking_time": time(0), "duration_minutes": 1440},
        enforce_availability=False,
    )
    late = base | {"booking_date": day, "booking_time": time(23, 59), "duration_minutes": 1}
    with pytest.raises(ConflictError):
        await repo.create(late, enforce_availability=False)
    with pytest.raises(ConflictError):  # in a batch too, where only the database checks
        await repo.create_many([late], enforce_availability=False)
    next_day = base | {"booking_date": day + timedelta(days=1), "booking_time": time(0)}
    assert (await repo.create(next_day, enforce_availability=False)).id


async def plan_of(engine: Any, run: Callable[[], Any], last: str) -> str:
    """The plan of the last statement starting with ``last`` that ``run`` sends."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(last):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return " / ".join(str(row[-1]) for row in found)
        # tiny tables would rather be scanned: show the index can serve the query
        await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        found = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return " / ".join(str(row[0]) for row in found)


async def test_search_uses_the_trigram_index(db: AsyncSession, engine: Any, backend: str) -> None:
    specialist = await make_specialist(db)
    repo = BookingRepository(db)
    await repo.create_many(booking_row(specialist.id, n) for n in range(20))
    plan = await plan_of(engine, lambda: repo.search("client 1"), "SELECT")
    if backend == "sqlite":
        assert "VIRTUAL TABLE INDEX" in plan, plan
    else:
        assert "ix_bookings_search_text_trgm" in plan, plan
    short = await plan_of(engine, lambda: repo.search("t 1"[:2]), "SELECT")
    assert "VIRTUAL TABLE" not in short  # under three characters: no trigram, a scan


async def test_cleanup_and_pages_use_their_indexes(db: AsyncSession, engine: Any) -> None:
    await UserSessionRepository(db).create_many({"session_id": f"s{n}"} for n in range(5))
    cleanup = await plan_of(engine, UserSessionRepository(db).cleanup_expired, "UPDATE")
    assert "ix_user_sessions_expires_at_active" in cleanup, cleanup
    specialist = await make_specialist(db)
    bookings = BookingRepository(db)
    await bookings.create_many(booking_row(specialist.id, n) for n in range(5))
    first = await bookings.get_page(limit=2)
    page = await plan_of(
        engine, lambda: bookings.get_page(limit=2, after=first.next_cursor), "SELECT"
    )
    assert "ix_bookings_starts_at_id" in page, page


async def test_search_answers_as_a_scan_through_writes(db: AsyncSession) -> None:
    """The SQLite trigram table follows inserts, updates, status notes and deletes (cascades
    too): every needle finds exactly the rows whose text holds it, as on PostgreSQL."""
    specialist = await make_specialist(db)
    other = await make_specialist(db)
    repo = BookingRepository(db)
    made = await repo.create_many(booking_row(specialist.id, n) for n in range(12))
    await repo.create_many(booking_row(other.id, n) for n in range(100, 104))
    await repo.update(made[0].id, {"client_name": "Zoë 100% _x_ \\ Straße"})
    await repo.cancel(made[1].id, reason="Zoë moved away")
    await repo.hard_delete(made[2].id)
    await SpecialistRepository(db).hard_delete(other.id)
    stored = await repo.get_all(include_inactive=True)
    for needle in [
        "zoë",
        "ZOË",
        "100% _x_",
        "% _",
        "\\ s",
        "strasse",
        "client 1",
        "client 10",
        "moved",
        "c4@",
        "+49 ",
        "nobody",
        "ie",
        "t 3",
        "x",
    ]:
        expected = [b.id for b in stored if needle.casefold() in b.search_text]
        found = [b.id for b in await repo.search(needle, limit=1000)]
        assert found == expected, needle
    assert [b.id for b in await repo.search("client 2")] == []  # deleted row gone
    assert [b.id for b in await repo.search("client 100")] == []  # cascaded away
