"""Date overrides: a date's own hours, or a closed date, instead of the weekly plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, time
from itertools import pairwise
from typing import Any

from sqlalchemy import delete, select

from asyncdata._arguments import check_date, check_id, shown
from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import DateOverride, Specialist
from asyncdata.repositories.base import Repository

__all__ = ["DateOverrideRepository"]

MAX_WINDOWS = 48
"""Most windows ``set_day`` takes for one date."""


class DateOverrideRepository(Repository[DateOverride]):
    """A specialist's date overrides. ``set_day`` and ``clear_day`` are the
    calls to use: they write a date as one unit. The generic calls work on single rows
    (a date whose rows mix a closed row with windows has those windows)."""

    model = DateOverride
    default_order = ("override_date", "start_time")

    async def set_day(
        self, specialist_id: int, on_date: date, windows: Sequence[tuple[time, time]]
    ) -> list[DateOverride]:
        """Replace the rows of ``on_date`` with ``windows`` (``[(start, end), ...]``, local
        wall clock, each start before its end, none overlapping another), atomically;
        ``[]`` closes the date. Returns the stored rows, earliest first (one closed row for
        ``[]``). Bookings already made are left as they are. A missing specialist is a
        NotFoundError; bad windows a ValidationError naming ``windows``."""
        sid, day = self._key(specialist_id, on_date)
        spans = _windows(windows)
        rows: list[dict[str, Any]] = [
            {"specialist_id": sid, "override_date": day, "start_time": s, "end_time": e}
            for s, e in spans
        ] or [{"specialist_id": sid, "override_date": day, "start_time": None, "end_time": None}]
        async with self.writing({"specialist_id": sid, "override_date": day}) as handle:
            await self._require_specialist(sid)
            await self.session.execute(self._of_day(sid, day))
            created = await self._insert_batch(rows)
            handle.created(created)
        return created

    async def clear_day(self, specialist_id: int, on_date: date) -> int:
        """Return ``on_date`` to the weekly plan; the number of rows removed (0 if it had
        none). A missing specialist is a NotFoundError."""
        sid, day = self._key(specialist_id, on_date)
        async with self.writing({"specialist_id": sid, "override_date": day}):
            await self._require_specialist(sid)
            removed = await self.session.scalars(self._of_day(sid, day).returning(self._pk))
            ids = list(removed)
        self._forget(ids)
        return len(ids)

    async def get_by_specialist(
        self, specialist_id: int, date_from: date | None = None, date_to: date | None = None
    ) -> list[DateOverride]:
        """The specialist's overrides by date, both ends included, earliest first (a closed
        date is one row with both times None); [] for an id no row can have."""
        first = check_date(date_from, "date_from", optional=True)
        last = check_date(date_to, "date_to", optional=True)
        if (sid := check_id(specialist_id, "specialist_id")) is None:
            return []
        conditions = [DateOverride.specialist_id == sid]
        if first is not None:
            conditions.append(DateOverride.override_date >= first)
        if last is not None:
            conditions.append(DateOverride.override_date <= last)
        return await self.list_where(*conditions)

    async def delete(self, id: int) -> DateOverride:
        """An override has no inactive state: remove the row; returns what it held."""
        if check_id(id) is None:
            raise self._not_found(id)
        async with self.writing({"id": id}):
            stmt = delete(self._table).where(self._pk == id).returning(*self._table.c)
            row = (await self.session.execute(stmt)).one_or_none()
            if row is None:
                raise self._not_found(id)
        self._forget([id])
        return DateOverride(**row._asdict())

    def _key(self, specialist_id: Any, on_date: Any) -> tuple[int, date]:
        day = check_date(on_date, "on_date")
        if (sid := check_id(specialist_id, "specialist_id")) is None:
            raise NotFoundError(
                f"specialist_id={specialist_id!r} not found", fields=["specialist_id"]
            )
        return sid, day

    def _of_day(self, sid: int, day: date) -> Any:
        return delete(DateOverride).where(
            DateOverride.specialist_id == sid, DateOverride.override_date == day
        )

    async def _require_specialist(self, sid: int) -> None:
        # Locks the specialist on PostgreSQL, so two set_day calls for it run one at a time
        # and a booking being placed sees either the old day or the new one.
        stmt = select(Specialist.id).where(Specialist.id == sid).with_for_update(key_share=True)
        if (await self.session.scalar(stmt)) is None:
            raise NotFoundError(f"specialist_id={sid!r} not found", fields=["specialist_id"])

    def _forget(self, ids: Sequence[int]) -> None:
        session = self.session.sync_session
        for id in ids:
            gone = session.identity_map.get(session.identity_key(DateOverride, id))
            if gone is not None:
                session.expunge(gone)


def _windows(value: Any) -> list[tuple[time, time]]:
    """``set_day``'s windows checked: sorted (start, end) pairs of naive times, none
    empty or overlapping; else a ValidationError naming ``windows``."""

    def bad(reason: str) -> ValidationError:
        return ValidationError(f"windows: {reason}", fields=["windows"])

    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise bad(f"must be a list of (start_time, end_time) pairs, got {type(value).__name__}")
    if len(value) > MAX_WINDOWS:
        raise bad(f"at most {MAX_WINDOWS} windows a day, got {len(value)}")
    spans: list[tuple[time, time]] = []
    for pair in value:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise bad(f"{shown(pair)} is not a (start_time, end_time) pair")
        start, end = pair
        for t in (start, end):
            if not isinstance(t, time) or t.tzinfo is not None:
                raise bad(f"{shown(t)} is not a time without timezone")
        if not start < end:
            raise bad(f"{shown(start)}-{shown(end)}: start must be before end")
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, later_end) in pairwise(spans):
        if start < end:
            raise bad(f"{shown(start)}-{shown(later_end)} overlaps a window ending {shown(end)}")
    return spans
