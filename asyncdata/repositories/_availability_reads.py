"""The reads behind availability: one statement for the calendar, one for the bookings.

``BookingRepository`` uses these for every write (the specialists' rules, windows,
date overrides and days off the placement needs) and for ``get_available_slots``
and ``get_availability``, so one day and ninety-two days, one specialist and fifty,
cost the same two statements. The rules themselves stay in
``asyncdata._availability``; nothing here decides what is bookable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Date, Integer, SmallInteger, Time, and_, literal_column, null, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata._availability import NO_RULES, Interval, Rules, Window, day_windows, free_slots
from asyncdata._sql import equal_or_in
from asyncdata._timezones import zone
from asyncdata.models import (
    Booking,
    BookingStatus,
    DateOverride,
    DayOff,
    Schedule,
    Specialist,
    utcnow,
)
from asyncdata.models.booking import LONGEST_BLOCK_MINUTES

__all__ = [
    "Calendar",
    "SpecialistInfo",
    "free_days",
    "load_busy",
    "load_calendar",
    "utc_reach",
]

_WEEKLY, _OVERRIDE, _DAY_OFF = 0, 1, 2


class SpecialistInfo(NamedTuple):
    timezone: str
    is_active: bool
    rules: Rules


@dataclass
class Calendar:
    """What the rules need to know about some specialists over some dates."""

    specialists: dict[int, SpecialistInfo] = field(default_factory=dict)
    weekly: dict[int, dict[int, list[Window]]] = field(default_factory=dict)
    overrides: dict[int, dict[date, list[Window]]] = field(default_factory=dict)
    days_off: set[tuple[int, date]] = field(default_factory=set)

    def windows(self, specialist_id: int, on_date: date) -> Sequence[Window]:
        """The windows in force on ``on_date``: the date override's, else the weekly ones."""
        return day_windows(
            on_date, self.weekly.get(specialist_id, {}), self.overrides.get(specialist_id, {})
        )

    def rules(self, specialist_id: int) -> Rules:
        info = self.specialists.get(specialist_id)
        return NO_RULES if info is None else info.rules


async def load_calendar(
    session: AsyncSession,
    ids: Iterable[int],
    *,
    dates: Iterable[date] | None = None,
    between: tuple[date, date] | None = None,
    schedule: bool = True,
    lock: bool = False,
) -> Calendar:
    """The specialists ``ids`` with their rules and, if ``schedule``, their active weekly
    windows, date overrides and active days off on ``dates`` (or every date ``between``
    two dates, both included). One statement.

    With ``lock`` (every write) the specialists' rows are locked on PostgreSQL
    (``FOR NO KEY UPDATE``, which foreign-key checks do not wait for): bookings of one
    specialist are then written one at a time, so two racing inserts meet at this lock
    rather than deadlocking inside the overlap guard, and the loser gets a
    ``ConflictError`` at once instead of a ``TransientError`` a second later.
    """
    ids = set(ids)
    stmt = select(
        Specialist.id,
        Specialist.timezone,
        Specialist.is_active,
        Specialist.buffer_before_minutes,
        Specialist.buffer_after_minutes,
        Specialist.min_notice_minutes,
        Specialist.max_advance_days,
    ).where(equal_or_in(Specialist.id, ids))
    if schedule:
        on_dates = _date_filter(dates, between)
        parts = select(
            Schedule.specialist_id.label("sid"),
            literal_column(str(_WEEKLY), Integer).label("kind"),
            Schedule.day_of_week.label("dow"),
            sql_cast(null(), Date).label("on_date"),
            Schedule.start_time.label("start_time"),
            Schedule.end_time.label("end_time"),
        ).where(equal_or_in(Schedule.specialist_id, ids), Schedule.is_active.is_(True))
        if dates is not None:
            parts = parts.where(
                equal_or_in(Schedule.day_of_week, {d.weekday() for d in set(dates)})
            )
        overrides = select(
            DateOverride.specialist_id,
            literal_column(str(_OVERRIDE), Integer),
            sql_cast(null(), SmallInteger),
            DateOverride.override_date,
            DateOverride.start_time,
            DateOverride.end_time,
        ).where(equal_or_in(DateOverride.specialist_id, ids), on_dates(DateOverride.override_date))
        days_off = select(
            DayOff.specialist_id,
            literal_column(str(_DAY_OFF), Integer),
            sql_cast(null(), SmallInteger),
            DayOff.date,
            sql_cast(null(), Time),
            sql_cast(null(), Time),
        ).where(
            equal_or_in(DayOff.specialist_id, ids),
            on_dates(DayOff.date),
            DayOff.is_active.is_(True),
        )
        plan = parts.union_all(overrides, days_off).subquery("plan")
        stmt = (
            stmt.add_columns(plan.c.kind, plan.c.dow, plan.c.on_date, plan.c.start_time)
            .add_columns(plan.c.end_time)
            .outerjoin(plan, plan.c.sid == Specialist.id)
            .order_by(Specialist.id, plan.c.start_time)
        )
    if lock:
        # Rows are locked in the order the statement returns them: by id, the same order
        # for every writer, so two writes over the same specialists never deadlock here.
        stmt = stmt.with_for_update(of=Specialist, key_share=True)
        if not schedule:
            stmt = stmt.order_by(Specialist.id)
    calendar = Calendar()
    for row in await session.execute(stmt):
        if row.id not in calendar.specialists:
            rules = Rules(
                row.buffer_before_minutes,
                row.buffer_after_minutes,
                row.min_notice_minutes,
                row.max_advance_days,
            )
            calendar.specialists[row.id] = SpecialistInfo(row.timezone, row.is_active, rules)
        if not schedule or row.kind is None:
            continue
        if row.kind == _WEEKLY:
            by_day = calendar.weekly.setdefault(row.id, {})
            by_day.setdefault(row.dow, []).append(Window(row.start_time, row.end_time))
        elif row.kind == _OVERRIDE:
            windows = calendar.overrides.setdefault(row.id, {}).setdefault(row.on_date, [])
            if row.start_time is not None:
                windows.append(Window(row.start_time, row.end_time))
        else:
            calendar.days_off.add((row.id, row.on_date))
    return calendar


def _date_filter(dates: Iterable[date] | None, between: tuple[date, date] | None) -> Any:
    if between is not None:
        first, last = between
        return lambda column: and_(column >= first, column <= last)
    wanted = set(dates or ())
    return lambda column: equal_or_in(column, wanted)


async def load_busy(
    session: AsyncSession, ids: Iterable[int], starts_at: datetime, ends_at: datetime
) -> dict[int, list[Interval]]:
    """The blocked intervals of the specialists' bookings that meet ``[starts_at, ends_at)``
    and block them: not cancelled, and not a hold that has expired. By specialist; one
    statement."""
    stmt = select(Booking.specialist_id, Booking.blocked_from, Booking.blocked_until).where(
        equal_or_in(Booking.specialist_id, ids),
        Booking.status != BookingStatus.CANCELLED,
        or_(Booking.status != BookingStatus.HELD, Booking.hold_expires_at > utcnow()),
        Booking.blocked_from < ends_at,
        Booking.blocked_until > starts_at,
        # A blocked interval spans at most LONGEST_BLOCK_MINUTES: the bound keeps the index
        # range on (specialist_id, blocked_from) to the window, not the whole history.
        Booking.blocked_from > starts_at - timedelta(minutes=LONGEST_BLOCK_MINUTES),
    )
    busy: dict[int, list[Interval]] = {}
    for sid, start, end in await session.execute(stmt):
        busy.setdefault(sid, []).append((start, end))
    return busy


def utc_reach(first: date, last: date) -> Interval:
    """UTC instants that hold every blocked interval a slot on a local date from ``first``
    to ``last`` could meet, in any zone (offsets -12h..+14h) with buffers up to 240 min."""
    return (
        datetime.combine(first, time(0), tzinfo=UTC) - timedelta(days=1),
        datetime.combine(last, time(0), tzinfo=UTC) + timedelta(days=2),
    )


def free_days(
    calendar: Calendar,
    busy: dict[int, list[Interval]],
    specialist_id: int,
    days: Sequence[date],
    *,
    duration_minutes: int,
    step_minutes: int | None,
    now: datetime,
) -> dict[date, list[datetime]]:
    """``free_slots`` of each day for one specialist of ``calendar`` (inactive: none)."""
    info = calendar.specialists[specialist_id]
    if not info.is_active:
        return {day: [] for day in days}
    tz = zone(info.timezone)
    taken = sorted(busy.get(specialist_id, []))
    starts = [start for start, _ in taken]

    def near(day: date) -> list[Interval]:
        # Blocked spans last at most two days, so those meeting the day's reach start at
        # most two days before it: a bisection keeps each day's share small.
        lo, hi = utc_reach(day, day)
        return taken[bisect_left(starts, lo - timedelta(days=2)) : bisect_left(starts, hi)]

    return {
        day: free_slots(
            on_date=day,
            tz=tz,
            windows=calendar.windows(specialist_id, day),
            day_off=(specialist_id, day) in calendar.days_off,
            busy=near(day),
            duration_minutes=duration_minutes,
            step_minutes=step_minutes,
            now=now,
            rules=info.rules,
        )
        for day in days
    }
