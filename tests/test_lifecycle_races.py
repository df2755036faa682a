"""The booking lifecycle under races: many tasks, each with its own session, on both backends.

Holds racing for a slot, an expired hold racing new bookings, retries with one
idempotency key, and concurrent identical status moves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata.errors import AsyncDataError, ConflictError, ValidationError
from asyncdata.models import Booking, BookingStatus, Specialist
from asyncdata.repositories import BookingRepository
from tests.helpers import Sessions, make_specialist, next_weekday

TASKS = 50
WARM_CONNECTIONS = 15  # SQLAlchemy's default pool: 5 kept + 10 overflow
ON_DATE = next_weekday(2)
_clients = count(1)


def booking(specialist_id: int, at: time, *, client: str | None = None) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Racing Client",
        "client_email": client or f"client{next(_clients)}@example.com",
        "booking_date": ON_DATE,
        "booking_time": at,
        "duration_minutes": 60,
    }


async def in_own_session(
    sessions: Sessions, call: Callable[[BookingRepository], Awaitable[Any]]
) -> Any:
    """``call`` over a session of its own; a ``TransientError`` is retried, as its
    ``retryable`` invites, up to ten times."""
    for attempt in range(10):
        try:
            async with sessions() as session:
                return await call(BookingRepository(session))
        except AsyncDataError as exc:
            if not exc.retryable or attempt == 9:
                raise
    raise AssertionError("unreachable")


async def race(sessions: Sessions, *calls: Awaitable[Any]) -> list[Any]:
    """Every call at once (the pool filled first), each one's result or exception."""

    async def connect() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.02)

    await asyncio.gather(*(connect() for _ in range(WARM_CONNECTIONS)))
    return await asyncio.gather(*calls, return_exceptions=True)


def unexpected(results: list[Any], *allowed: type[BaseException]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


async def stored(sessions: Sessions, specialist_id: int) -> list[Booking]:
    async with sessions() as fresh:
        return await BookingRepository(fresh).get_by_specialist(specialist_id)


async def kinds(sessions: Sessions, booking_id: int) -> list[str]:
    async with sessions() as fresh:
        return [c.kind for c in await BookingRepository(fresh).get_history(booking_id)]


@pytest.fixture
async def ada(db: AsyncSession) -> Specialist:
    return await make_specialist(db, email="ada.lifecycle.races@example.com")


async def test_holds_racing_for_one_slot_one_wins(
    sessions: Sessions, ada: Specialist, backend: str
) -> None:
    rows = [booking(ada.id, time(10, i)) for i in range(TASKS)]  # all overlap 10:49-11:00
    results = await race(
        sessions, *(in_own_session(sessions, lambda r, row=row: r.hold(row)) for row in rows)
    )
    winners = [r for r in results if isinstance(r, Booking)]
    assert unexpected(results, ConflictError) == []
    assert len(winners) == 1 and winners[0].status == BookingStatus.HELD
    assert [b.id for b in await stored(sessions, ada.id)] == [winners[0].id]


async def test_an_expired_hold_loses_to_new_bookings_and_cannot_come_back(
    sessions: Sessions, db: AsyncSession, ada: Specialist, backend: str
) -> None:
    held = await BookingRepository(db).hold(booking(ada.id, time(10)))
    async with sessions() as other, other.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await other.execute(
            update(Booking).where(Booking.id == held.id).values(hold_expires_at=past)
        )
    bookers = [
        in_own_session(sessions, lambda r, i=i: r.create(booking(ada.id, time(10, i))))
        for i in range(0, 40, 2)
    ]
    revivers = [
        in_own_session(sessions, lambda r, m=m: getattr(r, m)(held.id))
        for m in ("confirm", "cancel") * 5
    ]
    sweepers = [in_own_session(sessions, lambda r: r.release_expired_holds()) for _ in range(3)]
    results = await race(sessions, *bookers, *revivers, *sweepers)
    booked, revived, swept = results[:20], results[20:30], results[30:]

    assert unexpected(booked, ConflictError) == []
    winners = [r for r in booked if isinstance(r, Booking)]
    assert len(winners) == 1
    confirms, cancels = revived[0::2], revived[1::2]
    assert all(isinstance(r, ValidationError) for r in confirms), confirms
    # A cancel is refused while the expired hold is still "held", and is a no-op once it
    # was released: either way it stays cancelled, with no history of its own.
    assert unexpected(cancels, ValidationError) == []
    assert {r.status for r in cancels if isinstance(r, Booking)} <= {BookingStatus.CANCELLED}
    assert unexpected(swept) == [] and sum(swept) <= 1
    rows = {b.id: b for b in await stored(sessions, ada.id)}
    assert rows[held.id].status == BookingStatus.CANCELLED
    assert [b.id for b in rows.values() if b.status != BookingStatus.CANCELLED] == [winners[0].id]
    assert await kinds(sessions, held.id) == ["held", "expired"]


@pytest.mark.parametrize("call", ["create", "hold"])
async def test_fifty_retries_with_one_key_make_one_booking_for_all(
    sessions: Sessions, ada: Specialist, backend: str, call: str
) -> None:
    data = booking(ada.id, time(11), client="retrying@example.com")
    results = await race(
        sessions,
        *(
            in_own_session(sessions, lambda r: getattr(r, call)(data, idempotency_key="pay-42"))
            for _ in range(TASKS)
        ),
    )
    assert unexpected(results) == []
    assert len({r.id for r in results}) == 1
    assert [b.id for b in await stored(sessions, ada.id)] == [results[0].id]
    assert len(await kinds(sessions, results[0].id)) == 1


async def test_one_key_with_two_requests_racing(
    sessions: Sessions, db: AsyncSession, ada: Specialist, backend: str
) -> None:
    """Different specialists, so no specialist lock orders them: the key's unique index does."""
    bob = await make_specialist(db, email="bob.lifecycle.races@example.com")
    first = booking(ada.id, time(12), client="a@example.com")
    second = booking(bob.id, time(12), client="a@example.com")
    calls = [
        in_own_session(sessions, lambda r, d=d: r.create(d, idempotency_key="same"))
        for d in [first, second] * (TASKS // 2)
    ]
    results = await race(sessions, *calls)
    assert unexpected(results, ConflictError) == []
    made = {r.id for r in results if isinstance(r, Booking)}
    assert len(made) == 1
    winner = next(r for r in results if isinstance(r, Booking))
    same = [i for i, r in enumerate(results) if isinstance(r, Booking)]
    assert {i % 2 for i in same} == {0 if winner.specialist_id == ada.id else 1}
    assert len(same) == TASKS // 2
    everyone = [*await stored(sessions, ada.id), *await stored(sessions, bob.id)]
    assert [b.id for b in everyone] == [winner.id]


async def test_twenty_concurrent_confirms_all_succeed(
    sessions: Sessions, db: AsyncSession, ada: Specialist, backend: str
) -> None:
    made = await BookingRepository(db).create(booking(ada.id, time(13)))
    results = await race(
        sessions, *(in_own_session(sessions, lambda r: r.confirm(made.id)) for _ in range(20))
    )
    assert unexpected(results) == []
    assert {r.status for r in results} == {BookingStatus.CONFIRMED}
    assert await kinds(sessions, made.id) == ["created", "confirmed"]
