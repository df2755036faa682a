"""The statements behind the booking lifecycle that are not one repository call: history
rows, the release of expired holds, the lookup of a keyed request.

``BookingLifecycle`` (``asyncdata.repositories._lifecycle``) and ``BookingRepository``
run them inside their own writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata._lifecycle import Kind
from asyncdata._sql import equal_or_in
from asyncdata.errors import ConflictError
from asyncdata.models import Booking, BookingChange, BookingStatus

__all__ = ["BOOKINGS", "CHANGES", "History", "entry", "expire_holds", "keyed", "record"]

History = dict[str, Any]
"""One ``booking_changes`` row to insert: booking_id, kind, old, new, actor, reason."""


def entry(
    booking_id: int,
    kind: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    *,
    actor: str | None = None,
    reason: str | None = None,
    at: datetime,
) -> History:
    return {
        "booking_id": booking_id,
        "changed_at": at,
        "kind": kind,
        "old": None if old is None else dict(old),
        "new": None if new is None else dict(new),
        "actor": actor,
        "reason": reason,
    }


BOOKINGS = cast(Table, Booking.__table__)
CHANGES = cast(Table, BookingChange.__table__)


async def record(session: AsyncSession, entries: Iterable[History]) -> None:
    """Insert history rows: one statement (an executemany for several), none for none.
    Core, not the ORM: these rows are never loaded into the session."""
    rows = list(entries)
    if rows:
        await session.execute(insert(CHANGES), rows)


async def expire_holds(
    session: AsyncSession, now: datetime, specialist_ids: Collection[int] | None = None
) -> int:
    """Cancel the holds expired at ``now`` (of ``specialist_ids`` only, if given), each with
    an ``expired`` history entry; returns how many.

    Run by every write that needs a slot, after it locked the specialists (PostgreSQL) or
    in its ``BEGIN IMMEDIATE`` transaction (SQLite), before its insert or update: the
    overlap guard, which cannot read the clock, then no longer sees them. One UPDATE, plus
    one INSERT when any hold expired.
    """
    table = BOOKINGS
    stmt = (
        update(table)
        .where(table.c.status == BookingStatus.HELD.value, table.c.hold_expires_at <= now)
        .values(status=BookingStatus.CANCELLED.value, updated_at=now)
        .returning(table.c.id)
    )
    if specialist_ids is not None:
        stmt = stmt.where(equal_or_in(table.c.specialist_id, specialist_ids))
    expired = list((await session.execute(stmt)).scalars())
    old, new = {"status": BookingStatus.HELD.value}, {"status": BookingStatus.CANCELLED.value}
    await record(session, (entry(i, Kind.EXPIRED, old, new, at=now) for i in expired))
    return len(expired)


async def keyed(session: AsyncSession, key: str, fingerprint: str) -> Booking | None:
    """The booking created under idempotency ``key`` if its request had this ``fingerprint``;
    None if there is none; ConflictError if the key was used for a different request."""
    stmt = select(Booking).where(Booking.idempotency_key == key)
    found = (await session.scalars(stmt.execution_options(populate_existing=True))).first()
    if found is not None and found.request_fingerprint != fingerprint:
        raise ConflictError(
            f"idempotency_key={key!r} was already used for a different request "
            f"(booking id={found.id})",
            fields=["idempotency_key"],
            constraint="ix_bookings_idempotency_key",
        )
    return found
