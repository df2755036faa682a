"""The booking lifecycle: holds, idempotent creates, no-op moves, references, history.

Races between sessions are in ``tests/test_lifecycle_races.py``; the plain rules are
tested here without a database first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata import transaction
from asyncdata._lifecycle import (
    change_kind,
    check_hold_move,
    check_idempotency_key,
    check_reference,
    created_values,
    diff,
    fingerprint,
    hold_expiry,
    is_expired,
)
from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import Booking, BookingChange, BookingStatus, Specialist
from asyncdata.repositories import BookingRepository
from tests.helpers import Sessions, make_specialist, next_weekday

HELD, PENDING, CONFIRMED, CANCELLED = (
    BookingStatus.HELD,
    BookingStatus.PENDING,
    BookingStatus.CONFIRMED,
    BookingStatus.CANCELLED,
)
ON_DATE = next_weekday(1)
NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)


def booking(specialist_id: int, at: time = time(10), **extra: Any) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Grace Hopper",
        "client_email": "Grace@Example.com",
        "booking_date": ON_DATE,
        "booking_time": at,
        "duration_minutes": 30,
        **extra,
    }


@pytest.fixture
async def ada(db: AsyncSession) -> Specialist:
    return await make_specialist(db, email="ada.lifecycle@example.com")


async def expire(sessions: Sessions, booking_id: int) -> None:
    """Make a hold's time run out (as if its minutes had passed)."""
    async with sessions() as other, other.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await other.execute(
            update(Booking).where(Booking.id == booking_id).values(hold_expires_at=past)
        )


async def stored(sessions: Sessions, booking_id: int) -> Booking | None:
    async with sessions() as fresh:
        return await fresh.get(Booking, booking_id)


async def history(sessions: Sessions, booking_id: int) -> list[BookingChange]:
    async with sessions() as fresh:
        return await BookingRepository(fresh).get_history(booking_id)


def kinds(changes: list[BookingChange]) -> list[str]:
    return [c.kind for c in changes]


# --- the plain rules ---------------------------------------------------------------------


def test_expiry_is_inclusive_and_only_for_holds() -> None:
    expires = hold_expiry(NOW, 10)
    assert expires == NOW + timedelta(minutes=10)
    assert not is_expired(HELD, expires, NOW)
    assert is_expired(HELD, expires, expires)
    assert not is_expired(PENDING, expires, expires + timedelta(days=1))
    check_hold_move(HELD, expires, NOW)
    with pytest.raises(ValidationError, match="expired") as caught:
        check_hold_move(HELD, expires, expires, booking_id=7)
    assert caught.value.fields == ("status",)


@pytest.mark.parametrize(
    "bad", [None, 5, b"abcdefghijklmnopq", "short", "has space in it!!", "é" * 20]
)
def test_reference_shape_is_checked(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        check_reference(bad)
    assert caught.value.fields == ("reference",)


@pytest.mark.parametrize("bad", [5, "", "   ", "x" * 256, "a\x00b"])
def test_idempotency_key_shape_is_checked(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        check_idempotency_key(bad)
    assert caught.value.fields == ("idempotency_key",)


def test_history_values_are_json_ready() -> None:
    values = {"specialist_id": 1, "booking_date": ON_DATE, "booking_time": time(10, 30)}
    values |= {"client_name": "Grace", "status": HELD, "hold_expires_at": NOW}
    assert created_values({"specialist_id": 1}) == {"specialist_id": 1, "status": "pending"}
    assert created_values(values) == {
        "specialist_id": 1,
        "booking_date": ON_DATE.isoformat(),
        "booking_time": "10:30:00",
        "status": "held",
        "hold_expires_at": NOW.isoformat(),
    }
    old, new = diff({"status": PENDING, "notes": None}, {"status": CONFIRMED, "notes": None})
    assert (old, new, change_kind(new)) == (
        {"status": "pending"},
        {"status": "confirmed"},
        "confirmed",
    )
    assert change_kind({"booking_time": "11:00:00", "status": "x"}) == "rescheduled"
    assert change_kind({"notes": "x"}) == "updated"


def test_fingerprint_tells_requests_apart() -> None:
    data = {"specialist_id": 1, "booking_date": ON_DATE}
    assert fingerprint("create", data) == fingerprint("create", dict(reversed(data.items())))
    assert fingerprint("create", data) != fingerprint("hold", data)
    assert fingerprint("create", data) != fingerprint("create", {**data, "specialist_id": 2})
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint("create", data))


# --- references --------------------------------------------------------------------------


async def test_every_booking_gets_a_unique_unguessable_reference(
    db: AsyncSession, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    one = await repo.create(booking(ada.id))
    many = await repo.create_many(booking(ada.id, time(11 + n)) for n in range(3))
    held = await repo.hold(booking(ada.id, time(16)))
    references = [b.reference for b in (one, *many, held)]
    assert len(set(references)) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", r) for r in references)  # 144 random bits
    assert await repo.get_by_reference(held.reference) == held
    assert await repo.get_by_reference("A" * 24) is None
    with pytest.raises(ValidationError) as caught:
        await repo.get_by_reference(one.id)  # type: ignore[arg-type]
    assert caught.value.fields == ("reference",)


async def test_reference_is_not_caller_settable(db: AsyncSession, ada: Specialist) -> None:
    repo = BookingRepository(db)
    for field in ("reference", "hold_expires_at", "idempotency_key", "request_fingerprint"):
        with pytest.raises(ValidationError) as caught:
            await repo.create(booking(ada.id, **{field: "x"}))
        assert caught.value.fields == (field,)


# --- holds ---------------------------------------------------------------------------------


async def test_a_hold_blocks_its_slot_until_it_expires(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    before = datetime.now(UTC)
    held = await repo.hold(booking(ada.id), minutes=15)
    assert held.status == HELD and held.hold_expires_at is not None
    assert (
        before + timedelta(minutes=15)
        <= held.hold_expires_at
        <= datetime.now(UTC) + timedelta(minutes=15)
    )
    with pytest.raises(ConflictError):
        await repo.create(booking(ada.id, time(10, 15)))
    with pytest.raises(ConflictError):
        await repo.hold(booking(ada.id, time(10, 15)))
    slots = await repo.get_available_slots(ada.id, ON_DATE, duration_minutes=30)
    assert time(10) not in [s.time() for s in slots]

    await expire(sessions, held.id)
    slots = await repo.get_available_slots(ada.id, ON_DATE, duration_minutes=30)
    assert time(10) in [s.time() for s in slots]
    taken = await repo.create(booking(ada.id, time(10, 15)))
    assert taken.status == PENDING
    gone = await stored(sessions, held.id)
    assert gone is not None and gone.status == CANCELLED
    assert kinds(await history(sessions, held.id)) == ["held", "expired"]
    with pytest.raises(ValidationError) as caught:
        await repo.confirm(held.id)
    assert caught.value.fields == ("status",)


@pytest.mark.parametrize("method", ["confirm", "cancel"])
async def test_an_unexpired_hold_moves_on_and_stops_expiring(
    db: AsyncSession, sessions: Sessions, ada: Specialist, method: str
) -> None:
    repo = BookingRepository(db)
    held = await repo.hold(booking(ada.id))
    expires = held.hold_expires_at
    assert expires is not None
    moved = await getattr(repo, method)(held.id)
    assert moved.status == (CONFIRMED if method == "confirm" else CANCELLED)
    assert moved.hold_expires_at is None
    row = await stored(sessions, held.id)
    assert row is not None and (row.status, row.hold_expires_at) == (moved.status, None)
    last = (await history(sessions, held.id))[-1]
    assert (last.old, last.new) == (
        {"status": "held", "hold_expires_at": expires.isoformat()},
        {"status": str(moved.status), "hold_expires_at": None},
    )


async def test_a_hold_moves_to_pending_by_update(db: AsyncSession, ada: Specialist) -> None:
    repo = BookingRepository(db)
    held = await repo.hold(booking(ada.id))
    pending = await repo.update(held.id, {"status": "pending"})
    assert (pending.status, pending.hold_expires_at) == (PENDING, None)
    assert kinds(await repo.get_history(held.id)) == ["held", "pending"]


async def test_an_expired_hold_cannot_move_by_any_call(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    held = await repo.hold(booking(ada.id))
    await expire(sessions, held.id)
    for call in (
        repo.confirm(held.id),
        repo.cancel(held.id),
        repo.update(held.id, {"status": "pending"}),
    ):
        with pytest.raises(ValidationError, match="expired"):
            await call
    row = await stored(sessions, held.id)
    assert row is not None and row.status == HELD
    assert kinds(await history(sessions, held.id)) == ["held"]


async def test_release_expired_holds_sweeps_only_expired_ones(
    db: AsyncSession, sessions: Sessions, ada: Specialist, count_statements: Any
) -> None:
    repo = BookingRepository(db)
    old = [await repo.hold(booking(ada.id, time(10 + n))) for n in range(2)]
    fresh = await repo.hold(booking(ada.id, time(14)))
    for hold in old:
        await expire(sessions, hold.id)
    with count_statements() as counter:
        assert await repo.release_expired_holds() == 2
    assert [s.split()[0].upper() for s in counter.statements] == ["UPDATE", "INSERT"]
    with count_statements() as counter:
        assert await repo.release_expired_holds() == 0
    assert counter.count == 1
    assert [b.id for b in await repo.get_by_status("held")] == [fresh.id]
    assert [kinds(await history(sessions, h.id)) for h in old] == [["held", "expired"]] * 2


@pytest.mark.parametrize("minutes", [0, -1, 1441, 1.5, "10", None, True])
async def test_hold_minutes_are_checked(db: AsyncSession, ada: Specialist, minutes: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).hold(booking(ada.id), minutes=minutes)
    assert caught.value.fields == ("minutes",)


@pytest.mark.parametrize("status", ["held", "pending"])
async def test_status_held_comes_from_hold_only(
    db: AsyncSession, ada: Specialist, status: str
) -> None:
    repo = BookingRepository(db)
    with pytest.raises(ValidationError) as caught:
        if status == "held":
            await repo.create(booking(ada.id, status=status))
        else:
            await repo.hold(booking(ada.id, status=status))
    assert caught.value.fields == ("status",)
    made = await repo.create(booking(ada.id))
    with pytest.raises(ValidationError):
        await repo.update(made.id, {"status": "held"})


async def test_a_hold_follows_the_booking_rules(db: AsyncSession, ada: Specialist) -> None:
    with pytest.raises(ValidationError) as caught:
        await BookingRepository(db).hold(booking(ada.id, time(20)))
    assert caught.value.fields


# --- idempotency ---------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["create", "hold"])
async def test_a_retry_with_the_key_returns_the_first_booking(
    db: AsyncSession, sessions: Sessions, ada: Specialist, call: str, count_statements: Any
) -> None:
    repo = BookingRepository(db)
    first = await getattr(repo, call)(booking(ada.id), idempotency_key="order-1")
    with count_statements() as counter:
        again = await getattr(repo, call)(booking(ada.id), idempotency_key="order-1")
    assert counter.count == 1  # the SELECT by key, nothing else
    assert again.id == first.id and again.reference == first.reference
    async with sessions() as fresh:
        assert await BookingRepository(fresh).count() == 1
    assert len(await history(sessions, first.id)) == 1


async def test_the_key_with_different_data_is_a_conflict(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    first = await repo.create(booking(ada.id), idempotency_key="order-2")
    for different in (
        repo.create(booking(ada.id, time(11)), idempotency_key="order-2"),
        repo.create(booking(ada.id, client_name="Other"), idempotency_key="order-2"),
        repo.hold(booking(ada.id), idempotency_key="order-2"),
        repo.create(booking(ada.id), idempotency_key="order-2", enforce_availability=False),
    ):
        with pytest.raises(ConflictError) as caught:
            await different
        assert caught.value.fields == ("idempotency_key",)
    async with sessions() as fresh:
        assert [b.id for b in await BookingRepository(fresh).get_all()] == [first.id]


async def test_normalised_data_is_the_same_request(db: AsyncSession, ada: Specialist) -> None:
    repo = BookingRepository(db)
    first = await repo.create(booking(ada.id), idempotency_key="k")
    again = await repo.create(
        booking(ada.id, client_email="  GRACE@example.COM "), idempotency_key="k"
    )
    assert again.id == first.id


async def test_without_a_key_a_retry_is_a_new_request(db: AsyncSession, ada: Specialist) -> None:
    repo = BookingRepository(db)
    await repo.create(booking(ada.id))
    with pytest.raises(ConflictError):
        await repo.create(booking(ada.id))


# --- status moves: retries are safe -------------------------------------------------------


async def test_a_move_to_the_current_status_returns_the_booking_unchanged(
    db: AsyncSession, sessions: Sessions, ada: Specialist, count_statements: Any
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))
    confirmed = await repo.confirm(made.id)
    with count_statements() as counter:
        again = await repo.confirm(made.id)
    assert counter.count == 1  # the SELECT: no UPDATE, no history
    assert (again.status, again.updated_at) == (CONFIRMED, confirmed.updated_at)
    cancelled = await repo.cancel(made.id, reason="ill")
    assert (await repo.cancel(made.id, reason="other")).updated_at == cancelled.updated_at
    assert kinds(await history(sessions, made.id)) == ["created", "confirmed", "cancelled"]


# --- history -------------------------------------------------------------------------------


async def test_history_records_who_did_what_and_why(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))
    await repo.confirm(made.id, actor="desk")
    await repo.reschedule(made.id, ON_DATE, time(14), 45, actor="client", reason="train late")
    await repo.update(made.id, {"notes": "VIP"})
    await repo.cancel(made.id, reason="ill", actor="client")
    changes = await history(sessions, made.id)
    assert kinds(changes) == ["created", "confirmed", "rescheduled", "updated", "cancelled"]
    created, confirmed, moved, noted, cancelled = changes
    assert created.old is None and created.new == {
        "specialist_id": ada.id,
        "booking_date": ON_DATE.isoformat(),
        "booking_time": "10:00:00",
        "duration_minutes": 30,
        "status": "pending",
    }
    assert (confirmed.actor, confirmed.old, confirmed.new) == (
        "desk",
        {"status": "pending"},
        {"status": "confirmed"},
    )
    assert (moved.actor, moved.reason) == ("client", "train late")
    assert moved.old == {"booking_time": "10:00:00", "duration_minutes": 30}
    assert moved.new == {"booking_time": "14:00:00", "duration_minutes": 45}
    # client fields are recorded as changed, never by value: erasure leaves none behind
    assert (noted.old, noted.new) == ({"notes": "<changed>"}, {"notes": "<changed>"})
    assert (cancelled.reason, cancelled.actor) == ("ill", "client")
    stamps = [c.changed_at for c in changes]
    assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
    row = await stored(sessions, made.id)
    assert row is not None and row.notes == "VIP"  # the reason is not appended to notes


async def test_a_failed_move_leaves_no_history(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))
    other = await repo.create(booking(ada.id, time(12)))
    with pytest.raises(ValidationError):
        await repo.complete(made.id)  # pending -> completed is not a move
    with pytest.raises(ConflictError):
        await repo.reschedule(made.id, ON_DATE, time(12), actor="desk")  # overlaps ``other``
    with pytest.raises(ValidationError):
        await repo.reschedule(made.id, ON_DATE, time(23))  # outside the schedule
    assert kinds(await history(sessions, made.id)) == ["created"]
    assert kinds(await history(sessions, other.id)) == ["created"]


async def test_history_commits_with_its_change_inside_a_block(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with transaction(db):
            await repo.confirm(made.id, actor="desk")
            assert kinds(await repo.get_history(made.id)) == ["created", "confirmed"]
            raise Undo
    assert kinds(await history(sessions, made.id)) == ["created"]
    row = await stored(sessions, made.id)
    assert row is not None and row.status == PENDING


async def test_history_of_create_many_and_of_unknown_bookings(
    db: AsyncSession, ada: Specialist, count_statements: Any
) -> None:
    repo = BookingRepository(db)
    made = await repo.create_many(booking(ada.id, time(10 + n)) for n in range(3))
    for b in made:
        assert kinds(await repo.get_history(b.id)) == ["created"]
    with count_statements() as counter:
        assert await repo.get_history(made[0].id) != []
    assert counter.count == 1
    assert await repo.get_history(424242) == []
    assert await repo.get_history(2**40) == []
    with pytest.raises(ValidationError) as caught:
        await repo.get_history("1")  # type: ignore[arg-type]
    assert caught.value.fields == ("booking_id",)


async def test_history_goes_with_its_booking(
    db: AsyncSession, sessions: Sessions, ada: Specialist
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))
    await repo.hard_delete(made.id)
    assert await history(sessions, made.id) == []


@pytest.mark.parametrize(
    ("actor", "reason", "field"),
    [
        (5, None, "actor"),
        ("x" * 201, None, "actor"),
        (None, b"r", "reason"),
        ("a\x00", None, "actor"),
    ],
)
async def test_actor_and_reason_are_checked_before_sql(
    db: AsyncSession, ada: Specialist, count_statements: Any, actor: Any, reason: Any, field: str
) -> None:
    repo = BookingRepository(db)
    made = await repo.create(booking(ada.id))
    with count_statements() as counter:
        with pytest.raises(ValidationError) as caught:
            await repo.cancel(made.id, reason=reason, actor=actor)
        assert caught.value.fields == (field,)
        with pytest.raises(ValidationError):
            await repo.reschedule(made.id, ON_DATE, time(11), actor=actor, reason=reason)
    assert counter.count == 0


async def test_unknown_ids_are_not_found_for_the_new_calls(db: AsyncSession) -> None:
    repo = BookingRepository(db)
    with pytest.raises(NotFoundError):
        await repo.cancel(424242, reason="x", actor="y")
    with pytest.raises(NotFoundError):
        await repo.reschedule(424242, ON_DATE, time(10), actor="y")


# --- what the calls cost (README, "Booking lifecycle") ---------------------------------


async def test_statement_counts(
    db: AsyncSession, ada: Specialist, count_statements: Any, backend: str
) -> None:
    """hold and a keyed create: SELECT by key (keyed only), SELECT specialist (locked on
    PostgreSQL), UPDATE releasing its expired holds, INSERT and history INSERT (on
    PostgreSQL one statement: a data-modifying WITH). A move: SELECT, compare-and-set
    UPDATE, history INSERT."""
    repo = BookingRepository(db)
    insert = ["WITH"] if backend == "postgresql" else ["INSERT", "INSERT"]

    def verbs(counter: Any) -> list[str]:
        return [s.split()[0].upper() for s in counter.statements]

    with count_statements() as counter:
        held = await repo.hold(booking(ada.id))
    assert verbs(counter) == ["SELECT", "UPDATE", *insert]
    with count_statements() as counter:
        made = await repo.create(booking(ada.id, time(12)), idempotency_key="count-1")
    assert verbs(counter) == ["SELECT", "SELECT", "UPDATE", *insert]
    with count_statements() as counter:
        await repo.confirm(made.id)
    assert verbs(counter) == ["SELECT", "UPDATE", "INSERT"]
    with count_statements() as counter:
        await repo.cancel(held.id, reason="changed mind")
    assert verbs(counter) == ["SELECT", "UPDATE", "INSERT"]
    with count_statements() as counter:
        await repo.reschedule(made.id, ON_DATE, time(14), reason="moved")
    # the locked row, the specialist, releasing holds, the UPDATE, history
    assert verbs(counter) == ["SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT"]
    with count_statements() as counter:
        assert await repo.get_by_reference(made.reference) is not None
    assert verbs(counter) == ["SELECT"]
