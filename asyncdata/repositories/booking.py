"""Bookings: placement by the booking rules, status moves and free slots.

The rules themselves live in ``asyncdata._availability`` as plain functions;
this module loads the rows they need (a fixed number of statements, whatever
the number of bookings) and writes the result. Overlaps are left to the
database alone, the one check no race can slip past: an exclusion constraint
on PostgreSQL, triggers on SQLite; the violation arrives as a ConflictError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._availability import (
    Interval,
    Window,
    check_bookable,
    check_minutes,
    check_move,
    free_slots,
    window_bounds,
)
from asyncdata._timezones import zone
from asyncdata._validation import (
    FieldRule,
    check_date,
    check_id,
    check_text,
    check_value,
    email,
    in_range,
    normalised_email,
)
from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Booking, BookingStatus, DayOff, Schedule, Specialist, utcnow
from asyncdata.models.folded import fold
from asyncdata.repositories.base import Repository
from asyncdata.repositories.searchable import Searchable

__all__ = ["BookingRepository"]

_PLACEMENT = ("specialist_id", "booking_date", "booking_time", "duration_minutes")


MAX_BOOKING_MINUTES = 1440
"""The longest booking (``duration_minutes`` is validated 1 to 1440; ``ends_at`` is that
many real minutes after ``starts_at``): reads of the bookings overlapping a window look no
further back than this before it."""


class _SpecialistInfo(NamedTuple):
    timezone: str
    is_active: bool


@dataclass
class _Calendar:
    """What the rules need to know about the specialists involved in a write."""

    specialists: dict[int, _SpecialistInfo] = field(default_factory=dict)
    windows: dict[tuple[int, int], list[Window]] = field(default_factory=dict)
    days_off: set[tuple[int, date]] = field(default_factory=set)


def _equal_or_in(column: Any, values: set[Any]) -> ColumnElement[bool]:
    """``column = v`` for one value (cheaper to execute than an expanding IN), else IN."""
    if len(values) == 1:
        return cast(ColumnElement[bool], column == next(iter(values)))
    return cast(ColumnElement[bool], column.in_(values))


class BookingRepository(Searchable[Booking], Repository[Booking]):
    model = Booking
    default_order = ("starts_at",)
    rules: ClassVar[dict[str, FieldRule]] = {
        "client_email": email,
        "duration_minutes": in_range(1, 1440),
    }

    def active_clause(self) -> None:
        """Bookings have no inactive state: a cancelled booking is still history."""
        return None

    async def create(
        self, data: Mapping[str, Any], *, enforce_availability: bool = True
    ) -> Booking:
        """Book by the booking rules (README, "Booking rules").

        ``enforce_availability=False`` (administrator imports) skips the
        schedule, day-off and future checks, never the overlap check.
        """
        return await self._create(data, enforce=enforce_availability)

    async def create_many(
        self, rows: Iterable[Mapping[str, Any]], *, enforce_availability: bool = True
    ) -> list[Booking]:
        """All bookings or none; overlaps among them or with stored ones are a ConflictError."""
        return await self._create_many(rows, enforce=enforce_availability)

    async def update(
        self, id: int, data: Mapping[str, Any], *, enforce_availability: bool = True
    ) -> Booking:
        """Partial update; moving the booking re-checks the rules, a status change must be
        an allowed move."""
        if check_id(id) is None:
            raise self._not_found(id)
        return await self._update(id, data, enforce=enforce_availability)

    async def delete(self, id: int) -> Booking:
        """Soft delete of a booking is cancelling it."""
        return await self.cancel(id)

    async def prepare(
        self, values: dict[str, Any], current: Any | None, *, enforce: bool
    ) -> dict[str, Any]:
        values = await super().prepare(values, current, enforce=enforce)
        if current is not None:
            if "status" in values and values["status"] != current.status:
                check_move(current.status, values["status"], booking_id=current.id)
            if not any(k in values and values[k] != getattr(current, k) for k in _PLACEMENT):
                return values
            if current.status not in (BookingStatus.PENDING, BookingStatus.CONFIRMED):
                raise ValidationError(
                    f"booking id={current.id} is {current.status}: it can no longer be moved",
                    fields=["status"],
                )
        merged = {k: getattr(current, k) for k in _PLACEMENT} if current is not None else {}
        merged.update(values)
        merged.setdefault("duration_minutes", 60)
        calendar = await self._calendar([merged], enforce=enforce)
        starts_at, ends_at = self._place(merged, calendar, enforce=enforce, now=utcnow())
        return {**values, "starts_at": starts_at, "ends_at": ends_at}

    async def prepare_many(
        self, rows: list[dict[str, Any]], *, enforce: bool
    ) -> list[dict[str, Any]]:
        for row in rows:
            row.setdefault("duration_minutes", 60)
        calendar = await self._calendar(rows, enforce=enforce)
        now = utcnow()
        for row in rows:
            row["starts_at"], row["ends_at"] = self._place(row, calendar, enforce=enforce, now=now)
        return rows

    async def _calendar(
        self, rows: Sequence[Mapping[str, Any]], *, enforce: bool, lock: bool = True
    ) -> _Calendar:
        """The specialists of ``rows`` with, if ``enforce``, their active windows on the rows'
        weekdays and their active days off on the rows' dates.

        One statement when all rows share a date (every single-booking call), two otherwise.
        With ``lock`` (every write) the specialists' rows are locked on PostgreSQL
        (``FOR NO KEY UPDATE``, which foreign-key checks do not wait for): bookings of one
        specialist are then written one at a time, so two racing inserts meet at this lock
        rather than deadlocking inside the overlap guard, and the loser gets a
        ``ConflictError`` at once instead of a ``TransientError`` a second later.
        """
        ids = {row["specialist_id"] for row in rows}
        dates = {row["booking_date"] for row in rows}
        single_date = next(iter(dates)) if len(dates) == 1 else None
        stmt = select(Specialist.id, Specialist.timezone, Specialist.is_active).where(
            _equal_or_in(Specialist.id, ids)
        )
        if enforce:
            window = and_(
                Schedule.specialist_id == Specialist.id,
                Schedule.is_active.is_(True),
                _equal_or_in(Schedule.day_of_week, {d.weekday() for d in dates}),
            )
            stmt = (
                stmt.add_columns(Schedule.day_of_week, Schedule.start_time, Schedule.end_time)
                .outerjoin(Schedule, window)
                .order_by(Schedule.start_time)
            )
            if single_date is not None:
                day_off = exists().where(
                    DayOff.specialist_id == Specialist.id,
                    DayOff.date == single_date,
                    DayOff.is_active.is_(True),
                )
                stmt = stmt.add_columns(day_off.label("day_off"))
        if lock:
            stmt = stmt.with_for_update(of=Specialist, key_share=True)
        calendar = _Calendar()
        for row in await self.session.execute(stmt):
            calendar.specialists[row.id] = _SpecialistInfo(row.timezone, row.is_active)
            if enforce and row.start_time is not None:
                calendar.windows.setdefault((row.id, row.day_of_week), []).append(
                    Window(row.start_time, row.end_time)
                )
            if single_date is not None and enforce and row.day_off:
                calendar.days_off.add((row.id, single_date))
        if enforce and single_date is None:
            days_off = await self.session.execute(
                select(DayOff.specialist_id, DayOff.date).where(
                    DayOff.specialist_id.in_(ids),
                    DayOff.date.in_(dates),
                    DayOff.is_active.is_(True),
                )
            )
            calendar.days_off = {(sid, day) for sid, day in days_off}
        return calendar

    @staticmethod
    def _timezone(calendar: _Calendar, specialist_id: int) -> ZoneInfo:
        """The zone of a specialist that may take bookings; raises for a missing or inactive one."""
        specialist = calendar.specialists.get(specialist_id)
        if specialist is None:
            raise NotFoundError(
                f"specialist_id={specialist_id!r} not found", fields=["specialist_id"]
            )
        if not specialist.is_active:
            raise ValidationError(
                f"specialist_id={specialist_id!r} is inactive and takes no bookings",
                fields=["specialist_id"],
            )
        return zone(specialist.timezone)

    def _place(
        self, row: Mapping[str, Any], calendar: _Calendar, *, enforce: bool, now: datetime
    ) -> Interval:
        """The booking's UTC interval if the rules accept it. Overlaps are not checked here:
        the database constraint is the one authority, and it cannot be raced."""
        sid, on_date = row["specialist_id"], row["booking_date"]
        return check_bookable(
            on_date=on_date,
            at=row["booking_time"],
            duration_minutes=row["duration_minutes"],
            tz=self._timezone(calendar, sid),
            windows=calendar.windows.get((sid, on_date.weekday()), []),
            day_off=(sid, on_date) in calendar.days_off,
            busy=(),
            now=now,
            enforce_availability=enforce,
        )

    async def _occupied(
        self, specialist_id: int, starts_at: datetime, ends_at: datetime
    ) -> list[Interval]:
        """The non-cancelled bookings of the specialist that overlap ``[starts_at, ends_at)``."""
        stmt = select(Booking.starts_at, Booking.ends_at).where(
            Booking.specialist_id == specialist_id,
            Booking.status != BookingStatus.CANCELLED,
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
            # a booking lasts at most a day: the bound keeps the index range to the window
            Booking.starts_at > starts_at - timedelta(minutes=MAX_BOOKING_MINUTES),
        )
        return [(s, e) for s, e in await self.session.execute(stmt)]

    # -- status moves -----------------------------------------------------------

    async def _move(self, id: int, target: BookingStatus, note: str | None = None) -> Booking:
        """Compare-and-set: the update only applies if the status is still the one checked."""
        if check_id(id) is None:
            raise self._not_found(id)
        async with self.writing({"id": id, "status": target}):
            seen = await self.session.scalar(select(Booking.status).where(Booking.id == id))
            if seen is None:
                raise self._not_found(id)
            check_move(seen, target, booking_id=id)
            changes: dict[str, Any] = {"status": target, "updated_at": utcnow()}
            if note:
                changes["notes"] = func.coalesce(Booking.notes + "\n", "") + note
                # notes is the last field of search_text: append to it the same way.
                joint = case((Booking.notes.is_(None), ""), else_="\n")
                changes["search_text"] = Booking.search_text + joint + fold(note)
            table = self._table
            stmt = (
                update(table)
                .where(table.c.id == id, table.c.status == seen)
                .values(changes)
                .returning(*table.c)
            )
            row = (await self.session.execute(stmt)).one_or_none()
            if row is None:
                raise ConflictError(
                    f"booking id={id} changed concurrently (it was {seen}); {target} not applied",
                    fields=["status"],
                )
        return self._adopt(row._asdict())

    async def confirm(self, id: int) -> Booking:
        """pending → confirmed."""
        return await self._move(id, BookingStatus.CONFIRMED)

    async def cancel(self, id: int, reason: str | None = None) -> Booking:
        """pending or confirmed → cancelled; the slot is free at once. ``reason`` is
        appended to ``notes`` as ``Cancelled: <reason>``."""
        check_text(reason, "reason", optional=True)
        return await self._move(id, BookingStatus.CANCELLED, reason and f"Cancelled: {reason}")

    async def complete(self, id: int) -> Booking:
        """confirmed → completed."""
        return await self._move(id, BookingStatus.COMPLETED)

    async def mark_no_show(self, id: int) -> Booking:
        """confirmed → no_show."""
        return await self._move(id, BookingStatus.NO_SHOW)

    async def reschedule(
        self,
        id: int,
        booking_date: date,
        booking_time: time,
        duration_minutes: int | None = None,
    ) -> Booking:
        """Move a pending or confirmed booking, by the same rules as ``create``."""
        data: dict[str, Any] = {"booking_date": booking_date, "booking_time": booking_time}
        if duration_minutes is not None:
            data["duration_minutes"] = duration_minutes
        return await self.update(id, data)

    # -- queries ----------------------------------------------------------------

    async def get_by_specialist(
        self,
        specialist_id: int,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        statuses: Iterable[BookingStatus | str] | None = None,
    ) -> list[Booking]:
        """The specialist's bookings, chronological, optionally by local date range and
        status (an iterable of statuses; empty finds nothing)."""
        first = check_date(date_from, "date_from", optional=True)
        last = check_date(date_to, "date_to", optional=True)
        wanted = None if statuses is None else self._statuses(statuses)
        if (sid := check_id(specialist_id, "specialist_id")) is None or wanted == []:
            return []
        conditions = [Booking.specialist_id == sid]
        if first is not None:
            conditions.append(Booking.booking_date >= first)
        if last is not None:
            conditions.append(Booking.booking_date <= last)
        if wanted is not None:
            conditions.append(Booking.status.in_(wanted))
        return await self.list_where(*conditions)

    async def get_by_date(self, on_date: date) -> list[Booking]:
        """Every booking on a local date, chronological."""
        return await self.list_where(Booking.booking_date == check_date(on_date, "on_date"))

    async def get_by_client_email(self, address: str) -> list[Booking]:
        """A client's bookings, whatever the letter case of the address (emails are stored
        trimmed and case-folded)."""
        wanted = normalised_email(address, "address")
        return await self.list_where(Booking.client_email == wanted)

    async def get_by_status(self, status: BookingStatus | str) -> list[Booking]:
        """Bookings in one status, chronological."""
        return await self.list_where(Booking.status == self._status(status))

    def _status(self, status: BookingStatus | str) -> BookingStatus:
        return cast(BookingStatus, check_value(Booking, "status", status))

    def _statuses(self, statuses: Any) -> list[BookingStatus]:
        if isinstance(statuses, str | bytes | Mapping) or not isinstance(statuses, Iterable):
            raise ValidationError(
                f"statuses: must be a list of statuses, got {type(statuses).__name__}",
                fields=["statuses"],
            )
        return list(dict.fromkeys(self._status(status) for status in statuses))

    async def get_available_slots(
        self,
        specialist_id: int,
        on_date: date,
        *,
        duration_minutes: int = 60,
        step_minutes: int | None = None,
    ) -> list[datetime]:
        """Start times (aware, in the specialist's zone) that ``create`` would accept now.

        Two statements whatever the number of bookings: the specialist with its
        windows and day off, and the bookings overlapping those windows. An id no
        row can have is a NotFoundError like a missing specialist; ``on_date``
        must be a bookable date, ``duration_minutes`` 1 to 1440 and
        ``step_minutes`` (default: the duration) at least 1, else ValidationError.
        """
        day = check_date(on_date, "on_date", instants=True)
        check_minutes(duration_minutes, "duration_minutes", high=1440)
        check_minutes(step_minutes, "step_minutes", optional=True)
        if (checked := check_id(specialist_id, "specialist_id")) is None:
            raise NotFoundError(
                f"specialist_id={specialist_id!r} not found", fields=["specialist_id"]
            )
        specialist_id, on_date = checked, day
        calendar = await self._read(
            lambda: self._calendar(
                [{"specialist_id": specialist_id, "booking_date": on_date}],
                enforce=True,
                lock=False,
            )
        )
        specialist = calendar.specialists.get(specialist_id)
        if specialist is None:
            raise NotFoundError(
                f"specialist_id={specialist_id!r} not found", fields=["specialist_id"]
            )
        windows = calendar.windows.get((specialist_id, on_date.weekday()), [])
        if not specialist.is_active or not windows:
            return []
        tz = zone(specialist.timezone)
        bounds = [window_bounds(on_date, window, tz) for window in windows]
        day_start = min(start for start, _ in bounds)
        day_end = max(end for _, end in bounds)
        busy = await self._read(lambda: self._occupied(specialist_id, day_start, day_end))
        return free_slots(
            on_date=on_date,
            tz=tz,
            windows=windows,
            day_off=(specialist_id, on_date) in calendar.days_off,
            busy=busy,
            duration_minutes=duration_minutes,
            step_minutes=step_minutes,
            now=utcnow(),
        )
