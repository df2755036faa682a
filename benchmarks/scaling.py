"""``python -m benchmarks --replicas``: read replicas and PgBouncer, measured.

Starts its own servers on loopback, as ``tests/test_scaling_out.py`` does
(``tests.helpers_pg``): a throwaway primary cluster, a streaming replica of
it, and PgBouncer in transaction pooling mode in front of the primary; all
are removed afterwards. The shared server is never used.

1. Slot reads: ``TASKS`` concurrent tasks, each in its own session, call
   ``get_available_slots`` for a day of one of the seeded specialists, through
   an engine on the primary alone and through one with the replica attached
   (``read_urls``), in alternating rounds. Both servers run on this one
   machine and share its cores, so the figure shows the mechanism (reads
   leave the primary for the replica and still answer correctly), not the
   capacity gain a replica on its own hardware gives.
2. Booking races through PgBouncer (``pgbouncer=True``, 3 server connections):
   ``TASKS`` tasks book ``SLOTS`` slots at once, several tasks per slot; every
   slot must end with exactly one booking, every other task with
   ``ConflictError``.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from datetime import date, time, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from asyncdata import _replicas
from asyncdata.database import create_engine, init_db, session_factory
from asyncdata.errors import AsyncDataError, ConflictError
from asyncdata.models import Schedule, Specialist
from asyncdata.repositories import BookingRepository

__all__ = ["run_scaling"]

TASKS = 50
SPECIALISTS = 20
SLOTS = 10
BOUNCER_POOL = 3
DATABASE = "app"


def _next_wednesday() -> date:
    start = date.today() + timedelta(days=7)
    return start + timedelta(days=(2 - start.weekday()) % 7)


async def _seed(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        await init_db(engine)
        async with engine.begin() as conn:
            ids = list(
                await conn.scalars(
                    insert(Specialist).returning(Specialist.id),
                    [
                        {"name": f"Specialist {n}", "email": f"s{n}@example.com"}
                        for n in range(SPECIALISTS + 1)
                    ],
                )
            )
            await conn.execute(
                insert(Schedule),
                [
                    {
                        "specialist_id": i,
                        "day_of_week": d,
                        "start_time": time(7),
                        "end_time": time(21),
                    }
                    for i in ids
                    for d in range(7)
                ],
            )
        return ids
    finally:
        await engine.dispose()


async def _reads_per_second(engine: AsyncEngine, ids: list[int], calls: int) -> float:
    sessions = session_factory(engine)
    day = _next_wednesday()

    async def task(n: int) -> None:
        for k in range(calls):
            async with sessions() as db:
                slots = await BookingRepository(db).get_available_slots(
                    ids[(n + k) % len(ids)], day
                )
                assert len(slots) == 14

    started = perf_counter()
    await asyncio.gather(*(task(n) for n in range(TASKS)))
    return TASKS * calls / (perf_counter() - started)


async def _warm(engine: AsyncEngine, ids: list[int]) -> None:
    await _reads_per_second(engine, ids, 1)  # opens the pools' connections, untimed


def _count_replica_reads(engine: AsyncEngine) -> Callable[[], int]:
    seen = [0]

    def count(*_args: Any) -> None:
        seen[0] += 1

    for replica in _replicas.replicas_of(engine):
        event.listen(replica.sync_engine, "before_cursor_execute", count)
    return lambda: seen[0]


async def _race(bouncer_url: str, ids: list[int]) -> dict[str, Any]:
    engine = create_engine(bouncer_url, pgbouncer=True, pool_size=20, max_overflow=40)
    sessions = session_factory(engine)
    starts = [time(7 + n) for n in range(SLOTS)]
    day = _next_wednesday()

    async def book(n: int) -> str:
        for _attempt in range(10):
            try:
                async with sessions() as db:
                    await BookingRepository(db).create(
                        {
                            "specialist_id": ids[-1],
                            "client_name": "Racer",
                            "client_email": f"racer{n}@example.com",
                            "booking_date": day,
                            "booking_time": starts[n % SLOTS],
                            "duration_minutes": 60,
                        }
                    )
                return "won"
            except ConflictError:
                return "conflict"
            except AsyncDataError as exc:
                if not exc.retryable:
                    return type(exc).__name__
        return "gave up"

    try:
        outcomes = await asyncio.gather(*(book(n) for n in range(TASKS)))
        async with engine.connect() as conn:
            per_slot = (
                await conn.execute(
                    text(
                        "SELECT booking_time, count(*) FROM bookings "
                        "WHERE specialist_id = :id AND booking_date = :day GROUP BY 1"
                    ),
                    {"id": ids[-1], "day": day},
                )
            ).all()
    finally:
        await engine.dispose()
    return {
        "won": outcomes.count("won"),
        "conflict": outcomes.count("conflict"),
        "other": len(outcomes) - outcomes.count("won") - outcomes.count("conflict"),
        "bookings_per_slot": sorted({row[1] for row in per_slot}),
        "slots_booked": len(per_slot),
    }


async def _measure(primary_url: str, replica_url: str, ids: list[int], rounds: int) -> str:
    alone = create_engine(primary_url, pool_size=25, max_overflow=25)
    routed = create_engine(primary_url, read_urls=[replica_url], pool_size=25, max_overflow=25)
    replica_reads = _count_replica_reads(routed)
    samples: dict[str, list[float]] = {"primary alone": [], "primary + 1 replica": []}
    try:
        await _warm(alone, ids)
        await _warm(routed, ids)
        before = replica_reads()
        for _ in range(rounds):
            samples["primary alone"].append(await _reads_per_second(alone, ids, 4))
            samples["primary + 1 replica"].append(await _reads_per_second(routed, ids, 4))
        on_replica = replica_reads() - before
    finally:
        await alone.dispose()
        await routed.dispose()
    base = statistics.median(samples["primary alone"])
    lines = [
        f"slot reads (get_available_slots), {TASKS} concurrent tasks, {rounds} alternating "
        "rounds of 4 reads per task; both servers on this one machine (the mechanism, "
        "not a capacity gain)",
        f"{'setup':<22}{'reads/s (median)':>18}{'min':>10}{'max':>10}{'vs alone':>10}",
    ]
    for name, values in samples.items():
        median = statistics.median(values)
        lines.append(
            f"{name:<22}{median:>18.0f}{min(values):>10.0f}{max(values):>10.0f}"
            f"{median / base:>9.2f}x"
        )
    lines.append(f"statements the replica ran in the timed replica rounds: {on_replica}")
    return "\n".join(lines)


def run_scaling(rounds: int) -> str:
    """Start the servers, run both measurements, remove the servers; the report as text."""
    from tests.helpers import pg_admin
    from tests.helpers_pg import pgbouncer, streaming_replica, throwaway_cluster, wait_for_replay

    with throwaway_cluster() as primary:
        primary_url = make_url(primary.url).set(database=DATABASE).render_as_string(False)
        asyncio.run(pg_admin(primary.url, f"CREATE DATABASE {DATABASE}"))
        ids = asyncio.run(_seed(primary_url))
        with (
            streaming_replica(primary) as replica,
            pgbouncer(primary.port, pool_size=BOUNCER_POOL) as bouncer,
        ):
            wait_for_replay(primary.port, replica.port)
            reads = asyncio.run(_measure(primary_url, replica.url(DATABASE), ids, rounds))
            race = asyncio.run(_race(bouncer.url(DATABASE), ids))
    one_each = race["bookings_per_slot"] == [1] and race["slots_booked"] == SLOTS
    return "\n".join(
        [
            reads,
            "",
            f"booking races through PgBouncer (transaction pooling, {BOUNCER_POOL} server "
            f"connections): {TASKS} tasks on {SLOTS} slots",
            f"won {race['won']}, ConflictError {race['conflict']}, other {race['other']}; "
            f"slots booked {race['slots_booked']}, bookings per slot {race['bookings_per_slot']}"
            f" -> {'one winner per slot' if one_each else 'NOT one winner per slot'}",
        ]
    )
