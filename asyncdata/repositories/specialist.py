"""Specialists, their weekly schedules and their days off."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Any, ClassVar, cast

from sqlalchemy import select

from asyncdata._sql import contains_text, in_values
from asyncdata._validation import (
    NO_MATCH,
    FieldRule,
    check_date,
    check_flag,
    check_id,
    check_operand,
    check_text,
    email,
    in_range,
    normalised_email,
    timezone_name,
)
from asyncdata.errors import ConflictError, ValidationError
from asyncdata.models import DayOff, Schedule, Specialist
from asyncdata.models.folded import fold, text_key
from asyncdata.repositories.base import Repository
from asyncdata.repositories.searchable import Searchable

__all__ = ["DayOffRepository", "ScheduleRepository", "SpecialistRepository"]


class SpecialistRepository(Searchable[Specialist], Repository[Specialist]):
    """Specialists, by name. Emails are stored trimmed and case-folded; every lookup by
    text below ignores case by Unicode case folding, alike on every backend."""

    model = Specialist
    default_order = ("name",)
    rules: ClassVar[dict[str, FieldRule]] = {
        "email": email,
        "timezone": timezone_name,
        "buffer_before_minutes": in_range(0, 240),
        "buffer_after_minutes": in_range(0, 240),
        "min_notice_minutes": in_range(0, 366 * 24 * 60),
        "max_advance_days": in_range(0, 3660),
    }
    """Buffers up to 240 minutes each (the SQLite guard's lookup bound relies on it), notice
    up to a year, horizon up to ten years."""

    async def get_by_email(
        self, address: str, *, include_inactive: bool = False
    ) -> Specialist | None:
        """The specialist with this email, whatever its letter case, or None."""
        wanted = normalised_email(address, "address")
        return await self.first_where(Specialist.email == wanted, include_inactive=include_inactive)

    async def get_by_specialization(
        self, text: str, *, include_inactive: bool = False
    ) -> list[Specialist]:
        """Specialists whose specialization equals ``text``, ignoring case and surrounding
        space; a blank ``text`` finds nothing."""
        wanted = text_key(check_text(text, "text"))
        check_flag(include_inactive, "include_inactive")
        if not wanted:
            return []
        return await self.list_where(
            Specialist.specialization_key == wanted, include_inactive=include_inactive
        )

    async def get_by_language(
        self, language: str, *, include_inactive: bool = False
    ) -> list[Specialist]:
        """Specialists listing ``language`` among their comma-separated languages, ignoring
        case and spaces ("english" finds "English, Spanish"); blank finds nothing."""
        wanted = "".join(fold(cast(str, check_text(language, "language"))).split())
        check_flag(include_inactive, "include_inactive")
        if not wanted:
            return []
        return await self.list_where(
            contains_text(Specialist.languages_key, f",{wanted},"),
            include_inactive=include_inactive,
        )


class ScheduleRepository(Repository[Schedule]):
    model = Schedule
    default_order = ("specialist_id", "day_of_week", "start_time")
    rules: ClassVar[dict[str, FieldRule]] = {"day_of_week": in_range(0, 6)}

    async def prepare(
        self, values: dict[str, Any], current: Any | None, *, enforce: bool
    ) -> dict[str, Any]:
        """Start before end, and no overlap with another active window of that day."""
        fields = ("specialist_id", "day_of_week", "start_time", "end_time", "is_active")
        merged = _merged(values, current, fields)
        _check_order(merged)
        if merged.get("is_active", True):
            await self._lock_specialist(merged["specialist_id"])
            clash = await self.first_where(
                Schedule.specialist_id == merged["specialist_id"],
                Schedule.day_of_week == merged["day_of_week"],
                Schedule.start_time < merged["end_time"],
                Schedule.end_time > merged["start_time"],
                Schedule.id != (current.id if current is not None else -1),
            )
            if clash is not None:
                raise _stored_clash(merged, clash)
        return values

    async def prepare_many(
        self, rows: list[dict[str, Any]], *, enforce: bool
    ) -> list[dict[str, Any]]:
        """``prepare`` for a batch in two statements whatever its size: lock the batch's
        specialists (in id order, so two batches cannot deadlock), read their active
        windows, then check every row against those and the batch's own, in Python."""
        for row in rows:
            _check_order(row)
        active = sorted(
            (row for row in rows if row.get("is_active", True)),
            key=lambda row: (row["specialist_id"], row["day_of_week"], row["start_time"]),
        )
        if not active:
            return rows
        ids = sorted({row["specialist_id"] for row in active})
        await self.session.execute(
            select(Specialist.id)
            .where(in_values(Specialist.id, ids))
            .order_by(Specialist.id)
            .with_for_update()
        )
        stored: dict[tuple[int, int], list[Any]] = {}
        windows = await self.session.execute(
            select(Schedule.id, *(Schedule.__table__.c[k] for k in _WINDOW))
            .where(in_values(Schedule.specialist_id, ids), Schedule.is_active.is_(True))
            .order_by(Schedule.id)
        )
        for window in windows:
            stored.setdefault((window.specialist_id, window.day_of_week), []).append(window)
        for row in active:
            for window in stored.get((row["specialist_id"], row["day_of_week"]), ()):
                if window.start_time < row["end_time"] and window.end_time > row["start_time"]:
                    raise _stored_clash(row, window)
        for before, after in pairwise(active):
            same_day = all(before[k] == after[k] for k in ("specialist_id", "day_of_week"))
            if same_day and after["start_time"] < before["end_time"]:
                raise ConflictError(
                    f"window {after['start_time']}-{after['end_time']} on day "
                    f"{after['day_of_week']} overlaps window {before['start_time']}-"
                    f"{before['end_time']} of the same batch",
                    constraint="schedule_overlap",
                    fields=["start_time", "end_time"],
                )
        return rows

    async def _lock_specialist(self, specialist_id: int) -> None:
        # Serialises window checks per specialist on PostgreSQL (SQLite writes are serial already).
        stmt = select(Specialist.id).where(Specialist.id == specialist_id).with_for_update()
        await self.session.execute(stmt)

    async def get_by_specialist(
        self, specialist_id: int, *, include_inactive: bool = False
    ) -> list[Schedule]:
        """The specialist's weekly windows, Monday first ([] for an id no row can have)."""
        check_flag(include_inactive, "include_inactive")
        if (sid := check_id(specialist_id, "specialist_id")) is None:
            return []
        return await self.list_where(
            Schedule.specialist_id == sid, include_inactive=include_inactive
        )

    async def get_by_day(
        self, specialist_id: int, day_of_week: int, *, include_inactive: bool = False
    ) -> list[Schedule]:
        """The specialist's windows on one weekday (0 = Monday), earliest first."""
        check_flag(include_inactive, "include_inactive")
        day = check_operand(Schedule, "day_of_week", day_of_week)
        if (sid := check_id(specialist_id, "specialist_id")) is None or day is NO_MATCH:
            return []
        return await self.list_where(
            Schedule.specialist_id == sid,
            Schedule.day_of_week == day,
            include_inactive=include_inactive,
        )


class DayOffRepository(Searchable[DayOff], Repository[DayOff]):
    model = DayOff
    default_order = ("date", "specialist_id")

    async def get_by_specialist(
        self,
        specialist_id: int,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        include_inactive: bool = False,
    ) -> list[DayOff]:
        """The specialist's days off, optionally between two dates inclusive."""
        first = check_date(date_from, "date_from", optional=True)
        last = check_date(date_to, "date_to", optional=True)
        check_flag(include_inactive, "include_inactive")
        if (sid := check_id(specialist_id, "specialist_id")) is None:
            return []
        conditions = [DayOff.specialist_id == sid]
        if first is not None:
            conditions.append(DayOff.date >= first)
        if last is not None:
            conditions.append(DayOff.date <= last)
        return await self.list_where(*conditions, include_inactive=include_inactive)

    async def get_by_date(self, on_date: date, *, include_inactive: bool = False) -> list[DayOff]:
        """Every specialist's day off on ``on_date``."""
        day = check_date(on_date, "on_date")
        return await self.list_where(DayOff.date == day, include_inactive=include_inactive)

    async def is_day_off(self, specialist_id: int, on_date: date) -> bool:
        """Whether the specialist has an active day off on ``on_date``."""
        day = check_date(on_date, "on_date")
        if (sid := check_id(specialist_id, "specialist_id")) is None:
            return False
        found = await self.first_where(DayOff.specialist_id == sid, DayOff.date == day)
        return found is not None


_WINDOW = ("specialist_id", "day_of_week", "start_time", "end_time")


def _check_order(window: dict[str, Any]) -> None:
    if window["start_time"] >= window["end_time"]:
        raise ValidationError(
            f"start_time={window['start_time']} must be before end_time={window['end_time']}",
            fields=["start_time", "end_time"],
        )


def _stored_clash(window: dict[str, Any], clash: Any) -> ConflictError:
    return ConflictError(
        f"window {window['start_time']}-{window['end_time']} on day "
        f"{window['day_of_week']} overlaps active window "
        f"{clash.start_time}-{clash.end_time} (schedule id={clash.id})",
        constraint="schedule_overlap",
        fields=["start_time", "end_time"],
    )


def _merged(values: dict[str, Any], current: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The row as it will be after the write: new values over the stored ones."""
    merged = {name: getattr(current, name) for name in names} if current is not None else {}
    merged.update(values)
    return merged
