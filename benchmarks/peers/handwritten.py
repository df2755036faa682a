"""The same work written by hand with SQLAlchemy's ORM, as a careful engineer would.

Same engine (``asyncdata.database.create_engine``) and a plain
``async_sessionmaker(expire_on_commit=False)``. No input validation, no error
translation: the code a library has to match to earn its place. Where rows
need ``starts_at``/``ends_at``, it looks up the specialists' timezones and
computes them; overlaps are left to the database constraint. A single booking
(the throughput test) checks the same rules as asyncdata, written by hand. ``create_many``
asks RETURNING for the new rows but not for their input order
(``sort_by_parameter_order=True`` makes SQLAlchemy send one INSERT per row on
SQLite, which no careful engineer would accept).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from asyncdata.models import Booking, BookingStatus, DayOff, Schedule, Specialist
from benchmarks.peers import Peer
from benchmarks.workload import SLOT_MINUTES, free_starts, utc_span

__all__ = ["HandwrittenPeer", "timezones", "with_span"]

ACTIVE = Specialist.is_active.is_(True)
TEXT_FIELDS = (
    Specialist.name,
    Specialist.email,
    Specialist.specialization,
    Specialist.bio,
    Specialist.languages,
)


async def timezones(db: AsyncSession, specialist_ids: set[int]) -> dict[int, ZoneInfo]:
    """Each specialist's zone, in one query."""
    rows = await db.execute(
        select(Specialist.id, Specialist.timezone).where(Specialist.id.in_(specialist_ids))
    )
    return {sid: ZoneInfo(name) for sid, name in rows}


def with_span(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """``row`` plus the UTC ``starts_at``/``ends_at`` of its local date and time."""
    starts_at, ends_at = utc_span(
        row["booking_date"], row["booking_time"], row["duration_minutes"], tz
    )
    # No buffers in this peer: the blocked span is the booking itself.
    span = {"blocked_from": starts_at, "blocked_until": ends_at}
    return {**row, "starts_at": starts_at, "ends_at": ends_at, **span}


class HandwrittenPeer(Peer):
    key = "handwritten"
    label = "hand-written"

    async def get_by_id(self, id: int) -> Any:
        async with self.sessions() as db:
            return await db.get(Specialist, id)

    async def create(self, data: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            specialist = Specialist(**data)
            db.add(specialist)
            await db.commit()
            return specialist

    async def update(self, id: int, bio: str) -> Any:
        async with self.sessions() as db:
            specialist = await db.get(Specialist, id)
            assert specialist is not None
            specialist.bio = bio
            await db.commit()
            return specialist

    async def search(self, needle: str) -> list[Any]:
        pattern = f"%{needle}%"
        stmt = (
            select(Specialist)
            .where(or_(*(column.ilike(pattern) for column in TEXT_FIELDS)), ACTIVE)
            .order_by(Specialist.name, Specialist.id)
            .limit(50)
        )
        async with self.sessions() as db:
            return list(await db.scalars(stmt))

    async def get_all(self) -> list[Any]:
        stmt = (
            select(Specialist)
            .where(ACTIVE)
            .order_by(Specialist.name, Specialist.id)
            .limit(50)
            .options(selectinload(Specialist.schedules), selectinload(Specialist.days_off))
        )
        async with self.sessions() as db:
            return list(await db.scalars(stmt))

    async def create_many(self, rows: list[dict[str, Any]]) -> Any:
        async with self.sessions() as db:
            zones = await timezones(db, {row["specialist_id"] for row in rows})
            values = [with_span(row, zones[row["specialist_id"]]) for row in rows]
            created = list(await db.scalars(insert(Booking).returning(Booking), values))
            await db.commit()
            return created

    async def slots(self, specialist_id: int, on_date: date) -> list[Any]:
        async with self.sessions() as db:
            specialist = await db.get(Specialist, specialist_id)
            if specialist is None or not specialist.is_active:
                return []
            windows = [
                (start, end)
                for start, end in await db.execute(
                    select(Schedule.start_time, Schedule.end_time)
                    .where(
                        Schedule.specialist_id == specialist_id,
                        Schedule.day_of_week == on_date.weekday(),
                        Schedule.is_active.is_(True),
                    )
                    .order_by(Schedule.start_time)
                )
            ]
            day_off = await db.scalar(
                select(DayOff.id).where(
                    DayOff.specialist_id == specialist_id,
                    DayOff.date == on_date,
                    DayOff.is_active.is_(True),
                )
            )
            if day_off is not None or not windows:
                return []
            tz = ZoneInfo(specialist.timezone)
            opens = utc_span(on_date, windows[0][0], 0, tz)[0]
            closes = utc_span(on_date, max(end for _, end in windows), 0, tz)[0]
            busy = [
                (starts_at, ends_at)
                for starts_at, ends_at in await db.execute(
                    select(Booking.starts_at, Booking.ends_at).where(
                        Booking.specialist_id == specialist_id,
                        Booking.status != BookingStatus.CANCELLED,
                        Booking.starts_at < closes,
                        Booking.ends_at > opens,
                    )
                )
            ]
        return free_starts(on_date, tz, windows, busy, SLOT_MINUTES, datetime.now(UTC))

    async def book(self, row: dict[str, Any]) -> Any:
        """The booking rules as a careful engineer would write them: one query for the
        specialist, its windows that weekday and its day off; checks in Python; insert."""
        on_date, sid = row["booking_date"], row["specialist_id"]
        day_off = (
            select(DayOff.id)
            .where(DayOff.specialist_id == sid, DayOff.date == on_date, DayOff.is_active)
            .exists()
        )
        stmt = (
            select(
                Specialist.timezone,
                Specialist.is_active,
                Schedule.start_time,
                Schedule.end_time,
                day_off,
            )
            .outerjoin(
                Schedule,
                (Schedule.specialist_id == Specialist.id)
                & (Schedule.day_of_week == on_date.weekday())
                & Schedule.is_active,
            )
            .where(Specialist.id == sid)
        )
        async with self.sessions() as db:
            found = (await db.execute(stmt)).all()
            if not found or not found[0].is_active or found[0][4]:
                raise ValueError("specialist unavailable that day")
            tz = ZoneInfo(found[0].timezone)
            booking = Booking(**with_span(row, tz))
            local_end = booking.ends_at.astimezone(tz).time()
            inside = any(
                r.start_time is not None
                and r.start_time <= row["booking_time"]
                and local_end <= r.end_time
                for r in found
            )
            if not inside or booking.starts_at <= datetime.now(UTC):
                raise ValueError("outside the schedule or in the past")
            db.add(booking)
            await db.commit()
            return booking

    async def availability(self, specialist_ids: list[int], first: date, days: int) -> Any:
        """Four queries (specialists, their windows, days off, bookings of the range), then
        the hand-written slot search per day. No buffers or date overrides: this peer's
        schema use has none."""
        last = first + timedelta(days=days - 1)
        lo = datetime.combine(first, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        hi = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
        async with self.sessions() as db:
            zones = {
                sid: ZoneInfo(name)
                for sid, name in await db.execute(
                    select(Specialist.id, Specialist.timezone).where(
                        Specialist.id.in_(specialist_ids), ACTIVE
                    )
                )
            }
            windows: dict[tuple[int, int], list[Any]] = {}
            for sid, dow, start, end in await db.execute(
                select(
                    Schedule.specialist_id,
                    Schedule.day_of_week,
                    Schedule.start_time,
                    Schedule.end_time,
                )
                .where(Schedule.specialist_id.in_(specialist_ids), Schedule.is_active)
                .order_by(Schedule.start_time)
            ):
                windows.setdefault((sid, dow), []).append((start, end))
            off = {
                (sid, day)
                for sid, day in await db.execute(
                    select(DayOff.specialist_id, DayOff.date).where(
                        DayOff.specialist_id.in_(specialist_ids),
                        DayOff.date.between(first, last),
                        DayOff.is_active,
                    )
                )
            }
            busy: dict[int, list[Any]] = {}
            for sid, starts_at, ends_at in await db.execute(
                select(Booking.specialist_id, Booking.starts_at, Booking.ends_at).where(
                    Booking.specialist_id.in_(specialist_ids),
                    Booking.status != BookingStatus.CANCELLED,
                    Booking.starts_at < hi,
                    Booking.ends_at > lo,
                )
            ):
                busy.setdefault(sid, []).append((starts_at, ends_at))
        now = datetime.now(UTC)
        found: dict[int, dict[date, list[datetime]]] = {}
        for sid in specialist_ids:
            tz = zones.get(sid)
            by_day = found[sid] = {}
            for n in range(days):
                day = first + timedelta(days=n)
                spans = windows.get((sid, day.weekday()), [])
                if tz is None or (sid, day) in off or not spans:
                    by_day[day] = []
                    continue
                by_day[day] = free_starts(day, tz, spans, busy.get(sid, []), SLOT_MINUTES, now)
        return found

    async def availability_by_day(self, specialist_ids: list[int], first: date, days: int) -> Any:
        return {
            sid: {
                day: await self.slots(sid, day)
                for day in (first + timedelta(days=n) for n in range(days))
            }
            for sid in specialist_ids
        }
