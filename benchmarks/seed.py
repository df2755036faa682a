"""Fill the fresh database with the data set the operations read, by plain bulk inserts.

Seeding goes around asyncdata on purpose: the library under test should not
also build its own test bed. Three groups of rows:

- ``sizes.specialists`` specialists (Mon-Fri 09:00-12:00 and 13:00-17:00, one
  day off each): searched, listed, read, updated, and the owners of the rows
  ``create_many`` writes;
- the slot specialist (07:00-21:00 every day) with ``sizes.slot_bookings``
  10-minute bookings spread over ``sizes.slot_days`` days;
- the booking specialist (06:00-22:00 every day) whom the concurrent tasks book.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from asyncdata.models import Booking, DayOff, Schedule, Specialist
from benchmarks.database import Target
from benchmarks.workload import TIMEZONE, Dataset, Sizes, specialist_data, utc_span

__all__ = ["seed"]

_WORKDAY = ((time(9), time(12)), (time(13), time(17)))


def _first_day() -> date:
    """The Monday at least a week ahead: every seeded booking lies in the future."""
    start = date.today() + timedelta(days=7)
    return start + timedelta(days=-start.weekday() % 7)


def _windows(specialist_id: int, days: range, spans: tuple[tuple[time, time], ...]) -> list[Any]:
    return [
        {"specialist_id": specialist_id, "day_of_week": day, "start_time": s, "end_time": e}
        for day in days
        for s, e in spans
    ]


async def seed(target: Target, sizes: Sizes) -> Dataset:
    """Insert the data set and return the ids and dates the operations need."""
    data = Dataset(first_day=_first_day())
    tz = ZoneInfo(TIMEZONE)
    async with target.sessions() as db:
        ids = await db.scalars(
            insert(Specialist).returning(Specialist.id, sort_by_parameter_order=True),
            [specialist_data(i) for i in range(sizes.specialists)]
            + [specialist_data(0, prefix="slots"), specialist_data(0, prefix="book")],
        )
        *data.specialist_ids, data.slot_specialist_id, data.booking_specialist_id = list(ids)
        schedules = [
            row for sid in data.specialist_ids for row in _windows(sid, range(5), _WORKDAY)
        ]
        schedules += _windows(data.slot_specialist_id, range(7), ((time(7), time(21)),))
        schedules += _windows(data.booking_specialist_id, range(7), ((time(6), time(22)),))
        await db.execute(insert(Schedule), schedules)
        await db.execute(
            insert(DayOff),
            [
                {"specialist_id": sid, "date": data.first_day + timedelta(days=i % 30)}
                for i, sid in enumerate(data.specialist_ids)
            ],
        )
        bookings = []
        for i in range(sizes.slot_bookings):
            day = data.first_day + timedelta(days=i % sizes.slot_days)
            minute = 7 * 60 + 12 * (i // sizes.slot_days)
            at = time(minute // 60, minute % 60)
            starts_at, ends_at = utc_span(day, at, 10, tz)
            bookings.append(
                {
                    "specialist_id": data.slot_specialist_id,
                    "client_name": f"Regular {i}",
                    "client_email": f"regular{i}@client.example",
                    "booking_date": day,
                    "booking_time": at,
                    "duration_minutes": 10,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "blocked_from": starts_at,
                    "blocked_until": ends_at,
                }
            )
        if bookings:
            await db.execute(insert(Booking), bookings)
        data.slot_day = data.first_day + timedelta(days=sizes.slot_days // 2)
        data.baseline_booking_id = int(
            await db.scalar(select(func.coalesce(func.max(Booking.id), 0))) or 0
        )
        await db.commit()
    if target.backend == "postgresql":
        async with target.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    return data
