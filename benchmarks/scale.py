"""``python -m benchmarks --scale``: do bounded reads stay flat as the tables grow?

For each size (10k and 100k rows by default, 1M with ``--million``) a fresh
database is loaded through asyncdata's own ``create_many`` (so the load time is
itself a figure): that many bookings over 2,000 specialists, that many client
sessions and that many admin log rows. Then every read is timed, each call in a
fresh session as an application makes it, median of warm calls, and the table
shows each read's median at each size and the growth ratio largest/smallest.
Reads that return or count many rows (the filtered ``count``) are shown with
their row count: they should grow in proportion to it, not to the table.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

from sqlalchemy import text

from asyncdata.models import Booking
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from asyncdata.repositories._paging import encode_cursor, order_keys
from benchmarks.database import Target, open_target

__all__ = ["DEFAULT_SIZES", "MILLION", "render_scale", "run_scale"]

DEFAULT_SIZES = (10_000, 100_000)
MILLION = 1_000_000
SPECIALISTS = 2_000
CONFIRMED_SHARE = 0.225  # 225k of 1M, as in the issue
SURNAMES = [f"surname{n:03d}" for n in range(199)] + ["Garcia"]  # "garcia": 1 row in 200
FIRST_DAY = date(2030, 1, 7)
CALLS = 5
"""Calls of each read per size and round."""
ROUNDS = 8

Progress = Callable[[str], None]


@dataclass
class SizeResult:
    rows: int
    load_s: dict[str, float] = field(default_factory=dict)
    medians_ms: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def specialists_for(rows: int) -> int:
    """2,000 specialists from 10k rows up; fewer for the tiny sizes of a smoke run."""
    return min(SPECIALISTS, max(10, rows // 5))


def booking_row(n: int, rng: random.Random, specialists: int = SPECIALISTS) -> dict[str, Any]:
    """Booking ``n``: specialist ``n % specialists``, 8 a day each, optional fields mixed."""
    per_specialist = n // specialists
    day = FIRST_DAY + timedelta(days=per_specialist // 8)
    row: dict[str, Any] = {
        "specialist_id": n % specialists + 1,
        "client_name": f"{rng.choice(['Ana', 'Bo', 'Chen', 'Dara'])} {rng.choice(SURNAMES)}",
        "client_email": f"client{n}@example.com",
        "booking_date": day,
        "booking_time": clock(9 + per_specialist % 8),
        "duration_minutes": 50,
        "status": "confirmed" if rng.random() < CONFIRMED_SHARE else "pending",
    }
    if rng.random() < 0.5:
        row["client_phone"] = f"+34 600 {n:07d}"
    if rng.random() < 0.3:
        row["notes"] = rng.choice(["first visit", "follow-up", "bring results", None])
    return row


def _session(n: int, now: datetime, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {
        "session_id": f"sess-{n}",
        "expires_at": now + timedelta(days=1 + n % 30),
    }
    if rng.random() < 0.6:
        row["client_name"] = f"Visitor {rng.choice(SURNAMES)}"
    if rng.random() < 0.3:
        row["data"] = {"step": n % 5}
    return row


def _log(n: int, rng: random.Random) -> dict[str, Any]:
    row: dict[str, Any] = {"admin_id": n % 50, "action": rng.choice(["create", "update", "view"])}
    if rng.random() < 0.7:
        row["resource_type"], row["resource_id"] = "booking", n
    return row


async def _load(target: Target, rows: int, result: SizeResult, progress: Progress) -> None:
    rng = random.Random(rows)
    now = datetime.now(UTC)
    chunk = 50_000  # one create_many per chunk: each is all-or-nothing, memory stays bounded

    async def timed(name: str, make: Callable[[int], dict[str, Any]], repo: Any) -> None:
        started = time.perf_counter()
        for first in range(0, _loaded(rows, name), chunk):
            last = min(first + chunk, _loaded(rows, name))
            async with target.sessions() as db:
                await repo(db).create_many(
                    (make(n) for n in range(first, last)),
                    **({"enforce_availability": False} if name == "bookings" else {}),
                )
        result.load_s[name] = time.perf_counter() - started
        progress(f"{rows:,}: {name} loaded in {result.load_s[name]:.1f} s")

    await timed(
        "specialists",
        lambda n: {"name": f"Doctor {n}", "email": f"doc{n}@example.com", "timezone": "UTC"},
        SpecialistRepository,
    )
    async with target.sessions() as db:  # every specialist works 09:00-17:00 every day
        await ScheduleRepository(db).create_many(
            {
                "specialist_id": sid,
                "day_of_week": day,
                "start_time": clock(9),
                "end_time": clock(17),
            }
            for sid in range(1, specialists_for(rows) + 1)
            for day in range(7)
        )
    await timed("bookings", lambda n: booking_row(n, rng, specialists_for(rows)), BookingRepository)
    await timed("sessions", lambda n: _session(n, now, rng), UserSessionRepository)
    await timed("admin_logs", lambda n: _log(n, rng), AdminLogRepository)
    async with target.engine.connect() as conn:
        if target.backend == "postgresql":
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
        else:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


async def _reads(target: Target, rows: int) -> dict[str, tuple[Callable[[], Awaitable[Any]], str]]:
    sessions = target.sessions
    middle = rows // 2
    async with sessions() as db:
        deep = (await BookingRepository(db).get_all(offset=middle, limit=1))[0]
        keys = order_keys(Booking, BookingRepository.default_order)
        cursor = encode_cursor(Booking, keys, deep)
        confirmed = await BookingRepository(db).count(filters={"status": "confirmed"})
        garcias = len(await BookingRepository(db).search("garcia", limit=1_000_000))
    rare = f"client{rows - 7}@"
    ids = random.Random(1)

    def session_call(body: Callable[[Any], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with sessions() as db:
                return await body(db)

        return run

    def bookings(db: Any) -> BookingRepository:
        return BookingRepository(db)

    reads: dict[str, tuple[Callable[[], Awaitable[Any]], str]] = {
        "get_by_id (booking)": (
            session_call(lambda db: bookings(db).get_by_id(ids.randrange(1, rows))),
            "1 row",
        ),
        'search("garcia")': (
            session_call(lambda db: bookings(db).search("garcia")),
            f"first 50 of {garcias:,} matches",
        ),
        "search(rare email, 1 match)": (
            session_call(lambda db: bookings(db).search(rare)),
            f'"{rare}": 1 match',
        ),
        "get_all(limit=50), offset 0": (
            session_call(lambda db: bookings(db).get_all(limit=50)),
            "50 rows",
        ),
        "get_all(limit=50), offset rows/100": (
            session_call(lambda db: bookings(db).get_all(limit=50, offset=rows // 100)),
            "50 rows (OFFSET: walks the rows before)",
        ),
        "get_all(limit=50), offset rows/2": (
            session_call(lambda db: bookings(db).get_all(limit=50, offset=middle)),
            "50 rows (OFFSET: walks the rows before)",
        ),
        "get_page(limit=50), first": (
            session_call(lambda db: bookings(db).get_page(limit=50)),
            "50 rows",
        ),
        "get_page(limit=50), after row rows/2": (
            session_call(lambda db: bookings(db).get_page(limit=50, after=cursor)),
            "50 rows",
        ),
        "get_available_slots (one day)": (
            session_call(
                lambda db: bookings(db).get_available_slots(
                    7, FIRST_DAY + timedelta(days=1), duration_minutes=30
                )
            ),
            "one day",
        ),
        'count(status="confirmed")': (
            session_call(lambda db: bookings(db).count(filters={"status": "confirmed"})),
            f"counts {confirmed:,} rows",
        ),
        "sessions.cleanup_expired() (none due)": (
            session_call(lambda db: UserSessionRepository(db).cleanup_expired()),
            "0 rows",
        ),
        "sessions.get_by_session_id": (
            session_call(
                lambda db: UserSessionRepository(db).get_by_session_id(
                    f"sess-{ids.randrange(rows)}"
                )
            ),
            "1 row",
        ),
        "admin_logs.get_all(limit=50)": (
            session_call(lambda db: AdminLogRepository(db).get_all(limit=50)),
            "50 rows",
        ),
        "admin_logs.get_page(limit=50)": (
            session_call(lambda db: AdminLogRepository(db).get_page(limit=50)),
            "50 rows",
        ),
    }
    return reads


async def run_scale(
    backend: str,
    *,
    pg_url: str | None,
    sizes: tuple[int, ...],
    progress: Progress,
    database: str = "asyncdata_bench_scale",
) -> tuple[str, list[SizeResult]]:
    """Load every size into a database of its own, then time the reads in alternating
    rounds (each read at every size, then the next read; ``ROUNDS`` times), so a busy
    moment of the machine falls on all sizes alike."""
    results = [SizeResult(rows) for rows in sizes]
    async with AsyncExitStack() as stack:
        targets = []
        for result in results:
            target = await stack.enter_async_context(
                open_target(backend, pg_url, database=f"{database}_{result.rows}")
            )
            await _load(target, result.rows, result, progress)
            targets.append(target)
        version = targets[0].server_version
        reads = [
            await _reads(target, result.rows)
            for target, result in zip(targets, results, strict=True)
        ]
        samples: list[dict[str, list[float]]] = [{} for _ in results]
        for round_ in range(ROUNDS):
            for index in range(len(reads[0])):
                for result, found, timed in zip(results, reads, samples, strict=True):
                    name, (call, note) = list(found.items())[index]
                    label = name
                    result.notes[label] = note
                    if round_ == 0:
                        for _ in range(3):  # warm: plans prepared, pages cached
                            await call()
                    for _ in range(CALLS):
                        started = time.perf_counter()
                        await call()
                        timed.setdefault(label, []).append(time.perf_counter() - started)
            progress(f"round {round_ + 1}/{ROUNDS} timed")
        for result, timed in zip(results, samples, strict=True):
            result.medians_ms = {k: statistics.median(v) * 1000 for k, v in timed.items()}
    return version, results


def render_scale(backend: str, version: str, results: list[SizeResult]) -> str:
    """The table: one line per read, a column per size, then largest/smallest."""
    sizes = [r.rows for r in results]
    head = ["read"] + [f"{n:,} rows" for n in sizes] + [f"{sizes[-1]:,}/{sizes[0]:,}", "rows read"]
    lines = [
        f"asyncdata --scale on {backend} {version}: median of {CALLS * ROUNDS} warm calls in "
        f"{ROUNDS} alternating rounds, a fresh session each",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name in results[0].medians_ms:
        values = [r.medians_ms.get(name, float("nan")) for r in results]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        notes = " → ".join(dict.fromkeys(r.notes.get(name, "") for r in results))
        cells = [name, *(f"{v:.2f} ms" for v in values), f"{ratio:.2f}x", notes]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for r in results:
        loads = ", ".join(
            f"{name} {seconds:.1f} s ({_loaded(r.rows, name) / seconds:,.0f} rows/s)"
            for name, seconds in r.load_s.items()
        )
        lines.append(f"load of {r.rows:,}: {loads}")
    return "\n".join(lines)


def _loaded(rows: int, table: str) -> int:
    return specialists_for(rows) if table == "specialists" else rows


def main(backend: str, pg_url: str | None, sizes: tuple[int, ...]) -> int:
    version, found = asyncio.run(
        run_scale(
            backend,
            pg_url=pg_url,
            sizes=sizes,
            progress=lambda m: print(f"… {m}", file=sys.stderr, flush=True),
        )
    )
    print(render_scale(backend, version, found))
    return 0
