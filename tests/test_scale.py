"""Scale (SPEC 14): statements per batch whatever the rows, the bounded overlap guard,
keyset pages. Timings are shown by ``python -m benchmarks --scale``, never asserted here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata.errors import ConflictError
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
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
    # the specialists' calendars (one SELECT each for specialists and stored bookings), then
    # one INSERT, per batch of 1,000
    assert kinds(counter) == ["SELECT", "SELECT", "INSERT"] * 3
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
