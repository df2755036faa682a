"""The operations of the issue: what each call gets, how often it runs, what it must meet.

An ``Operation`` names the peer method to call, builds the arguments of the
n-th call, says how many rounds and calls per round it takes by default, and
how to put the database back after a sample that wrote rows (untimed), so
every peer starts from the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from sqlalchemy import delete

from asyncdata.models import Booking, Specialist
from benchmarks.database import Target
from benchmarks.peers import Peer
from benchmarks.timing import Call
from benchmarks.workload import Dataset, Sizes, booking_rows, specialist_data

__all__ = ["GENERAL_LIMITS", "Operation", "bind", "build_operations", "delete_new_bookings"]

GENERAL_LIMITS = {"handwritten": 1.10, "advanced_alchemy": 1.00}
"""asyncdata / peer, for every operation the peer has (the issue's targets)."""

SEARCH_NEEDLE = "derma"


@dataclass
class Operation:
    """One row group of the table: what is called, with what, how often, against which limits."""

    key: str
    title: str
    rounds: int
    calls: int
    arguments: Callable[[int], tuple[Any, ...]]
    method: str = ""
    items: int = 1
    """Items per call; samples are seconds per item (bookings for the throughput run)."""
    reset: Callable[[], Awaitable[None]] | None = None
    finish: Callable[[], Awaitable[None]] | None = None
    tasks: int = 0
    """Concurrent tasks sharing each call's rows; 0 runs the method once per call."""
    limits: dict[str, float] = field(default_factory=lambda: dict(GENERAL_LIMITS))
    note: str = ""

    def __post_init__(self) -> None:
        self.method = self.method or self.key


def bind(operation: Operation, peer: Peer) -> Call | None:
    """The coroutine function that performs ``operation`` for ``peer``, or None (n/a)."""
    if not peer.supports(operation.method):
        return None
    method = getattr(peer, operation.method)
    if not operation.tasks:
        return method  # type: ignore[no-any-return]
    tasks = operation.tasks

    async def concurrently(rows: list[dict[str, Any]]) -> None:
        async def worker(share: list[dict[str, Any]]) -> None:
            for row in share:
                await method(row)

        await asyncio.gather(*(worker(rows[i::tasks]) for i in range(tasks)))

    return concurrently


def build_operations(target: Target, data: Dataset, sizes: Sizes) -> list[Operation]:
    """Every operation of the issue that runs on ``target``'s backend, in table order."""
    ids = data.specialist_ids

    async def drop_new_bookings() -> None:
        await delete_new_bookings(target, data)

    async def drop_new_specialists() -> None:
        async with target.engine.begin() as conn:
            await conn.execute(delete(Specialist).where(Specialist.email.like("new%")))

    bulk = booking_rows(ids, sizes.bulk_rows, data.first_day)
    booked = sizes.tasks * sizes.bookings_per_task
    operations = [
        Operation(
            "get_by_id",
            "one specialist by primary key",
            rounds=30,
            calls=20,
            arguments=lambda n: (ids[n * 7919 % len(ids)],),
            limits={**GENERAL_LIMITS, "raw": 2.0},
        ),
        Operation(
            "create",
            "insert one specialist, committed",
            rounds=30,
            calls=10,
            arguments=lambda n: (specialist_data(n, prefix="new"),),
            finish=drop_new_specialists,
        ),
        Operation(
            "update",
            "change one specialist's bio, committed",
            rounds=30,
            calls=10,
            arguments=lambda n: (ids[len(ids) // 2], f"Revised bio, version {n}."),
        ),
        Operation(
            "search",
            f"search {len(ids):,} specialists for {SEARCH_NEEDLE!r} (5 text fields, limit 50)",
            rounds=25,
            calls=5,
            arguments=lambda n: (SEARCH_NEEDLE,),
        ),
        Operation(
            "get_all",
            'get_all(limit=50, load=("schedules", "days_off"))',
            rounds=25,
            calls=5,
            arguments=lambda n: (),
        ),
        Operation(
            "create_many",
            f"create_many of {len(bulk):,} bookings, committed",
            rounds=5,
            calls=1,
            arguments=lambda n: (bulk,),
            reset=drop_new_bookings,
            limits={**GENERAL_LIMITS, "raw": 1.5},
            note="raw: executemany without RETURNING",
        ),
        Operation(
            "slots",
            f"get_available_slots, {sizes.slot_bookings:,} bookings over {sizes.slot_days} days",
            rounds=30,
            calls=10,
            arguments=lambda n: (data.slot_specialist_id, data.slot_day),
            limits={**GENERAL_LIMITS, "raw": 2.0},
            note="raw: fetch of the rows it needs only",
        ),
    ]
    # Ten specialists: the one with the slot bookings and nine with a weekly plan and a day off.
    ten = [data.slot_specialist_id, *ids[:9]]
    span = sizes.slot_days
    operations += [
        Operation(
            "availability",
            f"get_availability: {len(ten)} specialists x {span} days in one call",
            rounds=10,
            calls=3,
            arguments=lambda n: (ten, data.first_day, span),
            limits={},
            note="hand-written: 4 queries for the range, then a slot search per day",
        ),
        Operation(
            "availability_by_day",
            f"the same as {len(ten) * span} get_available_slots calls (one session)",
            rounds=3,
            calls=1,
            arguments=lambda n: (ten, data.first_day, span),
            limits={},
            note="hand-written: its own single-day slot search, called per day",
        ),
    ]
    if target.backend == "postgresql":
        rows = _distinct_slots(data, booked)
        operations.append(
            Operation(
                "booking_throughput",
                f"{booked} bookings by {sizes.tasks} concurrent tasks through the pool",
                rounds=5,
                calls=1,
                arguments=lambda n: (rows,),
                method="book",
                items=booked,
                reset=drop_new_bookings,
                tasks=sizes.tasks,
                note="hand-written: the same rule checks, by hand; advanced-alchemy, raw: "
                "timezone lookup + insert, no rule checks",
            )
        )
    return operations


async def delete_new_bookings(target: Target, data: Dataset) -> None:
    """Remove the bookings a benchmark call wrote, keeping the seeded ones."""
    async with target.engine.begin() as conn:
        await conn.execute(delete(Booking).where(Booking.id > data.baseline_booking_id))


def _distinct_slots(data: Dataset, count: int) -> list[dict[str, Any]]:
    """``count`` 15-minute bookings of the booking specialist, none overlapping."""
    rows = booking_rows([data.booking_specialist_id], count, data.first_day, tag="task")
    for k, row in enumerate(rows):
        minute = 6 * 60 + 15 * (k % 64)
        row["booking_date"] = data.first_day + timedelta(days=k // 64)
        row["booking_time"] = time(minute // 60, minute % 60)
        row["duration_minutes"] = 15
    return rows
