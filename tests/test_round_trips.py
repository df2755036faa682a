"""Round trips per call, counted by the server itself.

A throwaway PostgreSQL cluster logs every protocol step of every statement
(``log_min_duration_statement=0``: ``parse``, ``bind``/``execute``, or
``statement`` for a simple query). A round trip is a simple query, a ``parse``
(asyncpg prepares a statement once per connection, in a round trip of its own)
or an ``execute`` (sent with its ``bind`` in one message). Each call runs in a
fresh session, as an application makes it, after a warm-up call, so what is
counted is the steady state. SQLite has no server and no round trips; the
statements it runs are counted in ``tests/test_transactions.py``.
"""

from __future__ import annotations

import re
import time as clock
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from asyncdata.database import create_engine, init_db, session_factory
from asyncdata.repositories import (
    BookingRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from tests.helpers import PG_URL
from tests.helpers_pg import Cluster, throwaway_cluster

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set")

STEP = re.compile(r"LOG:  duration: [\d.]+ ms  (parse|bind|execute|statement)[ :]")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster("log_min_duration_statement=0") as running:
        yield running


@pytest.fixture
async def server(cluster: Cluster) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(cluster.url)
    await init_db(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


def steps_logged(cluster: Cluster, since: int) -> list[str]:
    """The protocol steps the server logged past byte ``since`` of its log."""
    clock.sleep(0.05)  # the server writes its log line after answering
    with Path(cluster.log).open("rb") as log:
        log.seek(since)
        return STEP.findall(log.read().decode(errors="replace"))


SLOTS_TRIPS = 2
"""The specialist's timezone, windows and day off in one query, then the day's bookings."""


def log_size(cluster: Cluster) -> int:
    return Path(cluster.log).stat().st_size


def round_trips(steps: list[str]) -> int:
    return sum(1 for step in steps if step != "bind")


async def trips(
    cluster: Cluster, engine: AsyncEngine, call: Callable[[AsyncSession], Awaitable[Any]]
) -> tuple[int, list[str]]:
    sessions = session_factory(engine)
    async with sessions() as db:
        await call(db)  # warm: statements prepared on the pooled connection
    since = log_size(cluster)
    async with sessions() as db:
        await call(db)
    steps = steps_logged(cluster, since)
    return round_trips(steps), steps


async def test_round_trips_per_call(cluster: Cluster, server: AsyncEngine) -> None:
    sessions = session_factory(server)
    async with sessions() as db:
        specialist = await SpecialistRepository(db).create(
            {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"}
        )
        await BookingRepository(db).create(
            {
                "specialist_id": specialist.id,
                "client_name": "Grace Garcia",
                "client_email": "grace@example.com",
                "booking_date": date.today() + timedelta(days=30),
                "booking_time": time(10),
            },
            enforce_availability=False,
        )
        await UserSessionRepository(db).create({"session_id": "s1"})
        day = date.today() + timedelta(days=30)
        await ScheduleRepository(db).create(
            {
                "specialist_id": specialist.id,
                "day_of_week": day.weekday(),
                "start_time": time(9),
                "end_time": time(17),
            }
        )
    expected: dict[str, tuple[Callable[[AsyncSession], Awaitable[Any]], int]] = {
        "get_by_id": (lambda db: SpecialistRepository(db).get_by_id(specialist.id), 1),
        "get_by_id (no such row)": (lambda db: SpecialistRepository(db).get_by_id(10**6), 1),
        "get_all": (lambda db: BookingRepository(db).get_all(limit=50), 1),
        "get_page": (lambda db: BookingRepository(db).get_page(limit=50), 1),
        "count": (lambda db: BookingRepository(db).count(filters={"status": "pending"}), 1),
        "search": (lambda db: BookingRepository(db).search("garcia"), 1),
        "get_by_session_id": (lambda db: UserSessionRepository(db).get_by_session_id("s1"), 1),
        "get_available_slots": (
            lambda db: BookingRepository(db).get_available_slots(specialist.id, day),
            SLOTS_TRIPS,
        ),
        # BEGIN, INSERT … RETURNING, COMMIT
        "create": (
            lambda db: SpecialistRepository(db).create(
                {"name": "B", "email": f"b{clock.monotonic_ns()}@example.com"}
            ),
            3,
        ),
        # BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT
        "update": (lambda db: SpecialistRepository(db).update(specialist.id, {"bio": "x"}), 4),
        # BEGIN, UPDATE, COMMIT
        "cleanup_expired": (lambda db: UserSessionRepository(db).cleanup_expired(), 3),
    }
    found = {}
    for name, (call, _) in expected.items():
        found[name] = await trips(cluster, server, call)
    counts = {name: trips_ for name, (trips_, _) in found.items()}
    assert counts == {name: want for name, (_, want) in expected.items()}, found
