"""Bookings: placement by the booking rules, status moves and free slots.

Reads for the rules (the calendar, the bookings near a range) live in
``asyncdata.repositories._availability_reads``; a booking's blocked span (its
buffers) is written here with its times.

The rules themselves live in ``asyncdata._availability`` as plain functions;
this module loads the rows they need (a fixed number of statements, whatever
the number of bookings) and writes the result. Overlaps are left to the
database alone, the one check no race can slip past: an exclusion constraint
on PostgreSQL, triggers on SQLite; the violation arrives as a ConflictError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from asyncdata._arguments import check_date_range, check_ids
from asyncdata._availability import blocked, check_bookable, check_minutes, check_move
from asyncdata._timezones import zone
from asyncdata._validation import (
    FieldRule,
    check_date,
    check_id,
    check_value,
    email,
    in_range,
    normalised_email,
)
from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import Booking, BookingStatus, utcnow
from asyncdata.repositories._availability_reads import (
    Calendar,
    free_days,
    load_busy,
    load_calendar,
    utc_reach,
)
from asyncdata.repositories._erasure import erase_client
from asyncdata.repositories._history import expire_holds
from asyncdata.repositories._lifecycle import BookingLifecycle
from asyncdata.repositories.searchable import Searchable

__all__ = ["BookingRepository"]

_PLACEMENT = ("specialist_id", "booking_date", "booking_time", "duration_minutes")


class BookingRepository(Searchable[Booking], BookingLifecycle):
    """Bookings by the booking rules; holds, idempotent requests, references, status moves
    and history come from ``BookingLifecycle`` (README, "Booking lifecycle")."""

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
        self,
        data: Mapping[str, Any],
        *,
        enforce_availability: bool = True,
        idempotency_key: str | None = None,
    ) -> Booking:
        """Book by the booking rules (README, "Booking rules").

        ``enforce_availability=False`` (administrator imports) skips the
        schedule, day-off and future checks, never the overlap check. With an
        ``idempotency_key``, a retry of the same request returns the first booking
        and a different request under the key is a ConflictError.
        """
        return await self._create_booking(data, enforce=enforce_availability, key=idempotency_key)

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
        now = utcnow()
        await expire_holds(self.session, now, calendar.specialists.keys())
        return {**values, **self._place(merged, calendar, enforce=enforce, now=now)}

    async def prepare_many(
        self, rows: list[dict[str, Any]], *, enforce: bool
    ) -> list[dict[str, Any]]:
        for row in rows:
            row.setdefault("duration_minutes", 60)
        calendar = await self._calendar(rows, enforce=enforce)
        now = utcnow()
        await expire_holds(self.session, now, calendar.specialists.keys())
        for row in rows:
            row.update(self._place(row, calendar, enforce=enforce, now=now))
        return rows

    async def _calendar(
        self, rows: Sequence[Mapping[str, Any]], *, enforce: bool, lock: bool = True
    ) -> Calendar:
        """The specialists of ``rows`` with their rules and, if ``enforce``, their windows,
        date overrides and days off on the rows' dates: one statement, locking the
        specialists' rows on PostgreSQL for writes (see ``load_calendar``)."""
        return await load_calendar(
            self.session,
            {row["specialist_id"] for row in rows},
            dates={row["booking_date"] for row in rows},
            schedule=enforce,
            lock=lock,
        )

    @staticmethod
    def _timezone(calendar: Calendar, specialist_id: int) -> ZoneInfo:
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
        self, row: Mapping[str, Any], calendar: Calendar, *, enforce: bool, now: datetime
    ) -> dict[str, datetime]:
        """The booking's UTC interval and the span it blocks (its specialist's buffers now)
        if the rules accept it. Overlaps are not checked here: the database constraint is
        the one authority, and it cannot be raced."""
        sid, on_date = row["specialist_id"], row["booking_date"]
        tz = self._timezone(calendar, sid)
        rules = calendar.rules(sid)
        interval = check_bookable(
            on_date=on_date,
            at=row["booking_time"],
            duration_minutes=row["duration_minutes"],
            tz=tz,
            windows=calendar.windows(sid, on_date),
            day_off=(sid, on_date) in calendar.days_off,
            busy=(),
            now=now,
            enforce_availability=enforce,
            rules=rules,
        )
        keeps = blocked(interval, rules)
        return {
            "starts_at": interval[0],
            "ends_at": interval[1],
            "blocked_from": keeps[0],
            "blocked_until": keeps[1],
        }

    async def erase_client(self, email: str, *, admin_id: int = 0) -> int:
        """Forget a client: name, email, phone and notes of their bookings and sessions
        replaced by placeholders in one transaction, times and statuses kept, one admin log
        entry (by ``admin_id``; 0 when not given) naming only row ids. Returns how many
        bookings and sessions were erased; 0, writing nothing, once the address is gone.
        See ``asyncdata.repositories._erasure`` and the README, "Security and privacy"."""
        return await erase_client(self.session, email, admin_id=admin_id)

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

        Two statements whatever the number of bookings: the specialist with its rules,
        windows, date override and day off, then the blocked spans of the bookings near
        that date (the one-day case of ``get_availability``). An id no row can have is a
        NotFoundError like a missing specialist; ``on_date`` must be a bookable date,
        ``duration_minutes`` 1 to 1440 and ``step_minutes`` (default: the duration) at
        least 1, else ValidationError.
        """
        day = check_date(on_date, "on_date", instants=True)
        check_minutes(duration_minutes, "duration_minutes", high=1440)
        check_minutes(step_minutes, "step_minutes", optional=True)
        if (checked := check_id(specialist_id, "specialist_id")) is None:
            raise NotFoundError(
                f"specialist_id={specialist_id!r} not found", fields=["specialist_id"]
            )
        return (await self._availability({checked}, day, day, duration_minutes, step_minutes))[
            checked
        ][day]

    async def get_availability(
        self,
        specialist_ids: Iterable[int],
        date_from: date,
        date_to: date,
        *,
        duration_minutes: int = 60,
        step_minutes: int | None = None,
    ) -> dict[int, dict[date, list[datetime]]]:
        """``get_available_slots`` of every specialist and day at once.

        ``{specialist_id: {local date: [start, ...]}}`` with every date from ``date_from``
        to ``date_to`` (both included, at most 92 days), each specialist's days on its own
        wall clock, equal to what ``get_available_slots`` answers for that day. Two
        statements whatever the number of days, specialists and bookings. A missing
        specialist is a NotFoundError; no ids give ``{}``.
        """
        ids = check_ids(specialist_ids, "specialist_ids")
        first = check_date(date_from, "date_from", instants=True)
        last = check_date(date_to, "date_to", instants=True)
        check_date_range(first, last, names=("date_from", "date_to"))
        check_minutes(duration_minutes, "duration_minutes", high=1440)
        check_minutes(step_minutes, "step_minutes", optional=True)
        if not ids:
            return {}
        return await self._availability(ids, first, last, duration_minutes, step_minutes)

    async def _availability(
        self,
        ids: set[int | None],
        first: date,
        last: date,
        duration_minutes: int,
        step_minutes: int | None,
    ) -> dict[int, dict[date, list[datetime]]]:
        """Two statements: the calendar of the range, then the bookings it can meet."""
        missing = sorted(repr(i) for i in ids if i is None)
        wanted = {i for i in ids if i is not None}
        calendar = (
            await self._read(lambda: load_calendar(self.session, wanted, between=(first, last)))
            if wanted
            else None
        )
        found = calendar.specialists if calendar is not None else {}
        missing += [repr(i) for i in sorted(wanted - set(found))]
        if missing or calendar is None:
            raise NotFoundError(
                f"specialist_id={', '.join(missing)} not found", fields=["specialist_id"]
            )
        lo, hi = utc_reach(first, last)
        active = {sid for sid, info in found.items() if info.is_active}
        busy = await self._read(lambda: load_busy(self.session, active, lo, hi)) if active else {}
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        now = utcnow()
        return {
            sid: free_days(
                calendar,
                busy,
                sid,
                days,
                duration_minutes=duration_minutes,
                step_minutes=step_minutes,
                now=now,
            )
            for sid in sorted(found)
        }
