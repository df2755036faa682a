"""Many tasks, each with its own session, racing for slots and status moves.

Whatever the interleaving, the database must end up as some serial order of the
calls would leave it, and every loser must get a ConflictError or ValidationError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from itertools import count, pairwise
from time import perf_counter
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata.database import transaction
from asyncdata.errors import AsyncDataError, ConflictError, ValidationError
from asyncdata.models import Booking, BookingStatus, Specialist
from asyncdata.repositories import BookingRepository, ScheduleRepository, SpecialistRepository
from tests.helpers import make_specialist, next_weekday

Sessions = async_sessionmaker[AsyncSession]

TASKS = 50
WARM_CONNECTIONS = 15  # SQLAlchemy's default pool: 5 kept + 10 overflow
ON_DATE = next_weekday(2)  # a Wednesday, over a week ahead; the specialist works 09:00-17:00

_clients = count(1)


def booking(specialist_id: int, at: time, minutes: int = 60) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Racing Client",
        "client_email": f"client{next(_clients)}@example.com",
        "booking_date": ON_DATE,
        "booking_time": at,
        "duration_minutes": minutes,
    }


def minutes_after(at: time, minutes: int) -> time:
    return (datetime.combine(date.min, at) + timedelta(minutes=minutes)).time()


RETRIES = 10


async def in_own_session(
    sessions: Sessions, call: Callable[[BookingRepository], Awaitable[Any]]
) -> Any:
    """Run ``call`` on a repository over a session of its own, closed afterwards.

    A ``TransientError`` (PostgreSQL may resolve two inserts racing on the
    overlap guard as a deadlock) is retried, as its ``retryable`` invites, a
    bounded number of times.
    """
    for attempt in range(RETRIES):
        try:
            async with sessions() as session:
                return await call(BookingRepository(session))
        except AsyncDataError as exc:
            if not exc.retryable or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def race(sessions: Sessions, *calls: Awaitable[Any]) -> tuple[list[Any], float]:
    """Start every call at once: each call's return value or exception, and the seconds taken.

    The pool is filled first: otherwise the first tasks finish while the others
    are still connecting, and the race is no race at all.
    """

    async def connect() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.02)

    await asyncio.gather(*(connect() for _ in range(WARM_CONNECTIONS)))
    started = perf_counter()
    results = await asyncio.gather(*calls, return_exceptions=True)
    return results, perf_counter() - started


def book(sessions: Sessions, data: dict[str, Any]) -> Awaitable[Booking]:
    return in_own_session(sessions, lambda repo: repo.create(data))


def move(sessions: Sessions, method: str, booking_id: int) -> Awaitable[Booking]:
    return in_own_session(sessions, lambda repo: getattr(repo, method)(booking_id))


def unexpected(results: list[Any], *allowed: type[BaseException]) -> list[BaseException]:
    """Exceptions among ``results`` of a type outside ``allowed``."""
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


async def stored(sessions: Sessions, specialist_id: int) -> list[Booking]:
    async with sessions() as fresh:
        return await BookingRepository(fresh).get_by_specialist(specialist_id)


@pytest.fixture
async def ada(db: AsyncSession) -> Specialist:
    return await make_specialist(db, email="ada.races@example.com")


async def test_one_slot_fifty_tasks_one_winner(
    sessions: Sessions, ada: Specialist, backend: str
) -> None:
    # 10:00 + i minutes for an hour: every pair overlaps (all hold 10:49-11:00).
    rows = [booking(ada.id, minutes_after(time(10), i)) for i in range(TASKS)]
    results, elapsed = await race(sessions, *(book(sessions, row) for row in rows))
    winners = [r for r in results if isinstance(r, Booking)]
    print(f"race[{backend}]: {TASKS} tasks, {len(winners)} winner, {elapsed:.2f}s")

    assert unexpected(results, ConflictError) == []
    assert len(winners) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == TASKS - 1
    assert [b.id for b in await stored(sessions, ada.id)] == [winners[0].id]


async def test_distinct_back_to_back_slots_all_succeed(
    sessions: Sessions, ada: Specialist, backend: str
) -> None:
    """Serialising writers must not turn neighbours into false conflicts."""
    rows = [booking(ada.id, minutes_after(time(9), 5 * i), 5) for i in range(TASKS)]
    results, elapsed = await race(sessions, *(book(sessions, row) for row in rows))
    print(f"race[{backend}]: {TASKS} tasks, {TASKS} distinct slots, {elapsed:.2f}s")

    assert unexpected(results) == []
    kept = await stored(sessions, ada.id)
    assert len(kept) == TASKS
    assert kept[0].booking_time == time(9) and kept[-1].booking_time == time(13, 5)
    assert all(a.ends_at == b.starts_at for a, b in pairwise(kept))


async def test_complete_and_cancel_racing_on_a_confirmed_booking_one_wins(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    target = await repo.create(booking(ada.id, time(10)))
    await repo.confirm(target.id)
    methods = ["complete", "cancel"] * (TASKS // 2)
    results, _ = await race(sessions, *(move(sessions, m, target.id) for m in methods))

    assert unexpected(results, ValidationError, ConflictError) == []
    winners = [r for r in results if isinstance(r, Booking)]
    # One move wins; repeating it is a no-op that returns the booking.
    assert winners and {w.status for w in winners} == {winners[0].status}
    winner_status = winners[0].status
    assert winner_status in (BookingStatus.COMPLETED, BookingStatus.CANCELLED)
    assert [b.status for b in await stored(sessions, ada.id)] == [winner_status]
    async with sessions() as fresh:
        changes = await BookingRepository(fresh).get_history(target.id)
    assert [c.kind for c in changes] == ["created", "confirmed", str(winner_status)]


async def test_status_updates_racing_on_a_confirmed_booking_cannot_both_move_it(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    """``update(id, {"status": ...})`` is a move too; repeating the winner's status is a no-op."""
    repo = BookingRepository(db)
    target = await repo.create(booking(ada.id, time(10)))
    await repo.confirm(target.id)
    statuses = ["completed", "cancelled"] * (TASKS // 2)
    results, _ = await race(
        sessions,
        *(
            in_own_session(sessions, lambda r, s=s: r.update(target.id, {"status": s}))
            for s in statuses
        ),
    )

    assert unexpected(results, ValidationError, ConflictError) == []
    final = [b.status for b in await stored(sessions, ada.id)]
    assert {r.status for r in results if isinstance(r, Booking)} == set(final)


async def test_confirm_and_cancel_racing_on_pending_bookings_stay_serial(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    """At most one confirm and one cancel take effect per booking; both only as
    confirm-then-cancel."""
    repo = BookingRepository(db)
    targets = [await repo.create(booking(ada.id, time(9 + 2 * i))) for i in range(4)]
    calls = [(t.id, m) for t in targets for m in ["confirm", "cancel"] * 6]
    results, _ = await race(sessions, *(move(sessions, m, booking_id) for booking_id, m in calls))

    assert unexpected(results, ValidationError, ConflictError) == []
    final = {b.id: b.status for b in await stored(sessions, ada.id)}
    for t in targets:
        won = [
            m
            for (booking_id, m), r in zip(calls, results, strict=True)
            if booking_id == t.id and isinstance(r, Booking)
        ]
        # Repeating a move that already happened returns the booking, so many
        # calls may "win"; the history shows the moves that really happened, in order.
        assert won
        expected = BookingStatus.CANCELLED if "cancel" in won else BookingStatus.CONFIRMED
        assert final[t.id] == expected
        async with sessions() as fresh:
            changes = [c.kind for c in await BookingRepository(fresh).get_history(t.id)]
        assert changes in (
            ["created", "confirmed"],
            ["created", "cancelled"],
            ["created", "confirmed", "cancelled"],
        )
        assert ("confirm" in won) == ("confirmed" in changes)


async def test_a_slot_freed_by_a_racing_cancel_is_taken_at_most_once(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    slots = [time(10), time(12), time(14)]
    held = [await repo.create(booking(ada.id, at)) for at in slots]
    await repo.confirm(held[1].id)
    calls: list[Awaitable[Any]] = []
    for original, at in zip(held, slots, strict=True):
        bookers = [book(sessions, booking(ada.id, at)) for _ in range(20)]
        calls += [*bookers[:10], move(sessions, "cancel", original.id), *bookers[10:]]
    results, _ = await race(sessions, *calls)

    assert unexpected(results, ConflictError) == []
    cancels = [r for r in results if isinstance(r, Booking) and r.status == BookingStatus.CANCELLED]
    assert sorted(b.id for b in cancels) == sorted(b.id for b in held)
    newcomers = [
        r.id for r in results if isinstance(r, Booking) and r.id not in {b.id for b in held}
    ]
    kept = await stored(sessions, ada.id)
    occupying = [b for b in kept if b.status != BookingStatus.CANCELLED]
    assert sorted(b.id for b in occupying) == sorted(newcomers)
    for original, at in zip(held, slots, strict=True):
        in_slot = [b for b in occupying if b.starts_at == original.starts_at]
        assert len(in_slot) <= 1
        if not in_slot:  # every racer came too early: the cancel must have freed the slot anyway
            assert (await repo.create(booking(ada.id, at))).starts_at == original.starts_at


async def test_fifty_tasks_booking_into_each_others_buffers(
    sessions: Sessions, db: AsyncSession, backend: str
) -> None:
    """10-minute bookings every 5 minutes, with 5-minute buffers on each side: each blocks
    20 minutes, so two fit together iff their starts lie 20 minutes apart or more. The
    database guard must let through a set of pairwise compatible bookings that no loser
    could join (every loser met a winner's buffers), whatever the interleaving."""
    bea = await make_specialist(
        db, email="bea.races@example.com", buffer_before_minutes=5, buffer_after_minutes=5
    )
    rows = [booking(bea.id, minutes_after(time(9), 5 * i), 10) for i in range(TASKS)]
    results, elapsed = await race(sessions, *(book(sessions, row) for row in rows))
    winners = sorted((r for r in results if isinstance(r, Booking)), key=lambda b: b.starts_at)
    print(f"race[{backend}]: {TASKS} tasks into buffers, {len(winners)} winners, {elapsed:.2f}s")

    assert unexpected(results, ConflictError) == []
    assert len(winners) + sum(isinstance(r, ConflictError) for r in results) == TASKS

    def minute(at: time) -> int:
        return at.hour * 60 + at.minute

    kept = [minute(b.booking_time) for b in winners]
    assert all(later - earlier >= 20 for earlier, later in pairwise(kept))
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, ConflictError):
            assert any(abs(minute(row["booking_time"]) - k) < 20 for k in kept), row
    assert [b.id for b in await stored(sessions, bea.id)] == [b.id for b in winners]
    assert all(b.blocked_until - b.blocked_from == timedelta(minutes=20) for b in winners)


async def test_imports_over_the_same_specialists_lock_them_in_one_order(
    db: AsyncSession, sessions: Sessions, backend: str
) -> None:
    """Writes lock their specialists in id order, whatever order their windows put them in:
    two imports over the same two specialists wait for each other, never deadlock."""
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): no row locks to order")
    specialists = SpecialistRepository(db)
    first = await specialists.create({"name": "First", "email": "first@example.com"})
    second = await specialists.create({"name": "Second", "email": "second@example.com"})
    monday, tuesday = next_weekday(0), next_weekday(1)
    # `first` opens earlier on Mondays, `second` on Tuesdays.
    await ScheduleRepository(db).create_many(
        {"specialist_id": s.id, "day_of_week": day, "start_time": time(h), "end_time": time(12)}
        for s, day, h in ((first, 0, 8), (second, 0, 9), (first, 1, 10), (second, 1, 7))
    )

    def at(specialist: Specialist, on_date: date, hour: int) -> dict[str, Any]:
        return booking(specialist.id, time(hour)) | {"booking_date": on_date}

    async def holder() -> None:  # a booking of `first` in a block holds its lock a moment
        async with sessions() as own, transaction(own):
            await BookingRepository(own).create(at(first, monday, 11))
            await asyncio.sleep(1.0)

    async def imports(rows: list[dict[str, Any]], delay: float) -> int:
        await asyncio.sleep(delay)
        async with sessions() as own:
            return len(await BookingRepository(own).create_many(rows))

    results = await asyncio.wait_for(
        asyncio.gather(
            holder(),
            imports([at(first, monday, 9), at(second, monday, 10)], 0.2),
            imports([at(first, tuesday, 10), at(second, tuesday, 8)], 0.4),
            return_exceptions=True,
        ),
        30,
    )
    assert results == [None, 2, 2]
