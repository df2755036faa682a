"""Write-side figures of the scale work: ``--load`` (create_many against asyncpg executemany and
COPY of the same rows), ``--one-specialist`` (create_many linear in its rows on SQLite)
and ``--index-cost`` (what revision 0004's indexes cost writes)."""

from __future__ import annotations

import random
import statistics
import time
from datetime import time as clock
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from asyncdata.models import Booking
from asyncdata.models._fts import FTS_TABLES, fts_drop
from asyncdata.repositories import BookingRepository, SpecialistRepository
from benchmarks.database import Target, open_target
from benchmarks.scale import FIRST_DAY, SPECIALISTS, Progress, booking_row

__all__ = ["compare_load", "index_cost", "one_specialist"]


LOAD_ROWS = 100_000


async def compare_load(pg_url: str, rows: int, progress: Progress) -> str:
    """Bookings loaded three ways into the same empty table, with every index and the
    exclusion constraint in place: ``create_many`` (validation, instants, folding,
    RETURNING of the models), then the very rows it stored by asyncpg ``executemany``
    and by ``COPY``. Statements sent by ``create_many`` are counted."""
    async with open_target("postgresql", pg_url, database="asyncdata_bench_load") as target:
        async with target.sessions() as db:
            await SpecialistRepository(db).create_many(
                {"name": f"Doctor {n}", "email": f"doc{n}@example.com", "timezone": "UTC"}
                for n in range(SPECIALISTS)
            )
        rng = random.Random(rows)
        given = [booking_row(n, rng) for n in range(rows)]
        statements = 0

        def count(*_args: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(target.engine.sync_engine, "before_cursor_execute", count)
        started = time.perf_counter()
        async with target.sessions() as db:
            await BookingRepository(db).create_many(given, enforce_availability=False)
        library = time.perf_counter() - started
        event.remove(target.engine.sync_engine, "before_cursor_execute", count)
        progress(f"create_many of {rows:,} bookings: {library:.1f} s, {statements} statements")
        raw = target.raw.connection  # type: ignore[attr-defined]
        columns = [c.name for c in Booking.__table__.columns if c.name != "id"]
        stored = [tuple(r) for r in await raw.fetch(f"SELECT {', '.join(columns)} FROM bookings")]
        timings = {}
        for way in ("executemany", "copy"):
            await raw.execute("TRUNCATE bookings RESTART IDENTITY")
            await raw.execute("VACUUM ANALYZE bookings")
            started = time.perf_counter()
            async with raw.transaction():
                if way == "executemany":
                    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
                    await raw.executemany(
                        f"INSERT INTO bookings ({', '.join(columns)}) VALUES ({marks})", stored
                    )
                else:
                    await raw.copy_records_to_table("bookings", records=stored, columns=columns)
            timings[way] = time.perf_counter() - started
            progress(f"{way} of {rows:,} bookings: {timings[way]:.1f} s")
    lines = [
        f"bookings loaded on PostgreSQL, {rows:,} realistic rows (optional fields mixed "
        "None/set), same rows, same indexes:",
        "",
        "| way | seconds | rows/s | asyncdata / it |",
        "|---|---|---|---|",
        f"| asyncdata create_many | {library:.1f} | {rows / library:,.0f} | |",
    ]
    for way, seconds in timings.items():
        label = "asyncpg executemany" if way == "executemany" else "asyncpg COPY"
        share = seconds / library
        lines.append(
            f"| {label} | {seconds:.1f} | {rows / seconds:,.0f} | {share:.2f} of its throughput |"
        )
    lines.append("")
    lines.append(
        f"create_many sent {statements} statements: {statements * 1000 / rows:.1f} per 1,000 rows"
    )
    return "\n".join(lines)


async def one_specialist(backend: str, pg_url: str | None, progress: Progress) -> str:
    """``create_many`` of 10k then 20k bookings of one specialist (each into a fresh
    database): the time must be linear in the rows however they are spread, and
    the SQLite overlap guard used to walk the specialist's whole history per row."""
    found = {}
    for rows in (10_000, 20_000):
        async with open_target(backend, pg_url, database="asyncdata_bench_linear") as target:
            async with target.sessions() as db:
                specialist = await SpecialistRepository(db).create(
                    {"name": "Solo", "email": "solo@example.com", "timezone": "UTC"}
                )
            given = [
                {
                    "specialist_id": specialist.id,
                    "client_name": f"Client {n}",
                    "client_email": f"client{n}@example.com",
                    "booking_date": FIRST_DAY + timedelta(days=n // 8),
                    "booking_time": clock(9 + n % 8),
                    "duration_minutes": 50,
                }
                for n in range(rows)
            ]
            started = time.perf_counter()
            async with target.sessions() as db:
                await BookingRepository(db).create_many(given, enforce_availability=False)
            found[rows] = time.perf_counter() - started
            progress(f"{rows:,} bookings of one specialist: {found[rows]:.2f} s")
    return (
        f"create_many of one specialist's bookings on {backend}: 10,000 in "
        f"{found[10_000]:.2f} s, 20,000 in {found[20_000]:.2f} s: "
        f"{found[20_000] / found[10_000]:.2f}x the time for 2x the rows"
    )


_SCALE_INDEXES = (
    "ix_bookings_starts_at_id",
    "ix_user_sessions_created_at_id",
    "ix_user_sessions_expires_at_active",
    "ix_admin_logs_created_at_id",
)
_UNBOUNDED_TRIGGER = (
    "CREATE TRIGGER ex_bookings_no_overlap_insert BEFORE INSERT ON bookings "
    "WHEN NEW.status <> 'cancelled' BEGIN SELECT RAISE(ABORT, 'ex_bookings_no_overlap') "
    "WHERE EXISTS (SELECT 1 FROM bookings AS other WHERE other.specialist_id = "
    "NEW.specialist_id AND other.status <> 'cancelled' AND other.starts_at < NEW.ends_at "
    "AND NEW.starts_at < other.ends_at); END"
)


async def _without_0004(target: Target) -> None:
    """Take revision 0004's objects out of a fresh schema (and put 0002's trigger back)."""
    async with target.engine.begin() as conn:
        for index in _SCALE_INDEXES:
            await conn.exec_driver_sql(f"DROP INDEX {index}")
        for table in FTS_TABLES:
            if target.backend == "postgresql":
                await conn.exec_driver_sql(f"DROP INDEX ix_{table}_search_text_trgm")
            else:
                for statement in fts_drop(table):
                    await conn.exec_driver_sql(statement)
        if target.backend == "sqlite":
            await conn.exec_driver_sql("DROP TRIGGER ex_bookings_no_overlap_insert")
            await conn.exec_driver_sql(_UNBOUNDED_TRIGGER)


async def index_cost(backend: str, pg_url: str | None, progress: Progress) -> str:
    """What revision 0004's indexes cost writes: the same library code writing into two
    databases in one process, one with them and one without, in alternating rounds
    (order swapped every round): ``create`` of a specialist and of a booking, and
    ``create_many`` of 10,000 bookings."""
    samples: dict[tuple[str, str], list[float]] = {}
    async with (
        open_target(backend, pg_url, database="asyncdata_bench_with") as with_,
        open_target(backend, pg_url, database="asyncdata_bench_without") as without,
    ):
        await _without_0004(without)
        for target in (with_, without):
            async with target.sessions() as db:
                await SpecialistRepository(db).create_many(
                    {"name": f"D{n}", "email": f"d{n}@example.com", "timezone": "UTC"}
                    for n in range(SPECIALISTS)
                )
        pairs = [("with 0004", with_), ("without", without)]
        for round_ in range(INDEX_COST_ROUNDS):
            for name, target in pairs if round_ % 2 == 0 else pairs[::-1]:
                rng = random.Random(round_)
                rows = [booking_row(n + round_ * 10_000, rng) for n in range(10_000)]
                started = time.perf_counter()
                async with target.sessions() as db:
                    await BookingRepository(db).create_many(rows, enforce_availability=False)
                samples.setdefault(("create_many 10k bookings", name), []).append(
                    time.perf_counter() - started
                )
                for i in range(40):
                    started = time.perf_counter()
                    async with target.sessions() as db:
                        await SpecialistRepository(db).create(
                            {"name": "X", "email": f"x{round_}_{i}@example.com"}
                        )
                    samples.setdefault(("create specialist", name), []).append(
                        time.perf_counter() - started
                    )
                    booking = booking_row(5_000_000 + round_ * 100 + i, rng)
                    started = time.perf_counter()
                    async with target.sessions() as db:
                        await BookingRepository(db).create(
                            booking | {"booking_time": clock(23)}, enforce_availability=False
                        )
                    samples.setdefault(("create booking", name), []).append(
                        time.perf_counter() - started
                    )
            progress(f"round {round_ + 1}/{INDEX_COST_ROUNDS}")
    lines = [f"write cost of revision 0004's indexes on {backend} (medians, same run):", ""]
    for op in ("create specialist", "create booking", "create_many 10k bookings"):
        with_ms = statistics.median(samples[(op, "with 0004")]) * 1000
        without_ms = statistics.median(samples[(op, "without")]) * 1000
        lines.append(
            f"{op}: {with_ms:.2f} ms with, {without_ms:.2f} ms without: {with_ms / without_ms:.2f}x"
        )
    return "\n".join(lines)


INDEX_COST_ROUNDS = 6
