"""The raw driver (asyncpg, or aiosqlite for SQLite): hand-written SQL, rows as the driver
returns them, no objects built. The floor.

Sequential calls share one connection (SQLite in autocommit mode, so a single
statement is its own transaction); the concurrent bookings use an asyncpg pool
as large as SQLAlchemy's default.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asyncdata.models import Specialist
from asyncdata.models.booking import REFERENCE_BYTES
from benchmarks.database import Target
from benchmarks.drivers import AsyncpgDriver
from benchmarks.peers import Peer
from benchmarks.workload import utc_span

__all__ = ["RawPeer"]

COLUMNS = ", ".join(column.name for column in Specialist.__table__.columns)
_TIMEZONE = list(Specialist.__table__.columns.keys()).index("timezone")
_INSERTED = (
    "name",
    "email",
    "phone",
    "specialization",
    "bio",
    "languages",
    "timezone",
    "is_active",
    "created_at",
    "updated_at",
)
INSERT_SPECIALIST = (
    f"INSERT INTO specialists ({', '.join(_INSERTED)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_INSERTED) + 1))}) RETURNING {COLUMNS}"
)
UPDATE_BIO = f"UPDATE specialists SET bio = $1, updated_at = $2 WHERE id = $3 RETURNING {COLUMNS}"
INSERT_BOOKING = (
    "INSERT INTO bookings (specialist_id, client_name, client_email, booking_date, "
    "booking_time, duration_minutes, starts_at, ends_at, status, created_at, updated_at, "
    "blocked_from, blocked_until, reference) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
)
WINDOWS = (
    "SELECT start_time, end_time FROM schedules WHERE specialist_id = $1 AND day_of_week = $2 "
    "AND is_active = TRUE ORDER BY start_time"
)
DAY_OFF = "SELECT id FROM days_off WHERE specialist_id = $1 AND date = $2 AND is_active = TRUE"
DAY_BOOKINGS = (
    "SELECT starts_at, ends_at FROM bookings WHERE specialist_id = $1 AND status <> 'cancelled' "
    "AND starts_at < $3 AND ends_at > $2"
)


def _in(count: int, first: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


class RawPeer(Peer):
    key = "raw"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.raw = target.raw
        # SQLite's LIKE already ignores (ASCII) case.
        like = "ILIKE" if isinstance(self.raw, AsyncpgDriver) else "LIKE"
        fields = ("name", "email", "specialization", "bio", "languages")
        self.search_sql = (
            f"SELECT {COLUMNS} FROM specialists WHERE is_active = TRUE AND ("
            + " OR ".join(f"{field} {like} $1" for field in fields)
            + ") ORDER BY name, id LIMIT 50"
        )

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"raw {self.raw.name}"

    async def get_by_id(self, id: int) -> Any:
        return await self.raw.fetchrow(f"SELECT {COLUMNS} FROM specialists WHERE id = $1", id)

    async def create(self, data: dict[str, Any]) -> Any:
        now = datetime.now(UTC)
        values = [data.get(name) for name in _INSERTED[:-3]] + [True, now, now]
        return await self.raw.fetchrow(INSERT_SPECIALIST, *self.raw.adapt(values))

    async def update(self, id: int, bio: str) -> Any:
        values = self.raw.adapt([bio, datetime.now(UTC), id])
        return await self.raw.fetchrow(UPDATE_BIO, *values)

    async def search(self, needle: str) -> list[Any]:
        return list(await self.raw.fetch(self.search_sql, f"%{needle}%"))

    async def get_all(self) -> list[Any]:
        specialists = await self.raw.fetch(
            f"SELECT {COLUMNS} FROM specialists WHERE is_active = TRUE ORDER BY name, id LIMIT 50"
        )
        ids = [row[0] for row in specialists]
        schedules = await self.raw.fetch(
            f"SELECT * FROM schedules WHERE specialist_id IN ({_in(len(ids))}) "
            "ORDER BY specialist_id, day_of_week, start_time",
            *ids,
        )
        days_off = await self.raw.fetch(
            f"SELECT * FROM days_off WHERE specialist_id IN ({_in(len(ids))}) "
            "ORDER BY specialist_id, date",
            *ids,
        )
        return [specialists, schedules, days_off]

    async def _zones(self, specialist_ids: list[int]) -> dict[int, ZoneInfo]:
        rows = await self.raw.fetch(
            f"SELECT id, timezone FROM specialists WHERE id IN ({_in(len(specialist_ids))})",
            *specialist_ids,
        )
        return {sid: ZoneInfo(name) for sid, name in rows}

    def _booking(self, row: dict[str, Any], tz: ZoneInfo, now: datetime) -> Any:
        on_date, at, minutes = row["booking_date"], row["booking_time"], row["duration_minutes"]
        starts_at, ends_at = utc_span(on_date, at, minutes, tz)
        return self.raw.adapt(
            (
                row["specialist_id"],
                row["client_name"],
                row["client_email"],
                on_date,
                at,
                minutes,
                starts_at,
                ends_at,
                "pending",
                now,
                now,
                starts_at,  # blocked_from/blocked_until: this peer has no buffers
                ends_at,
                secrets.token_urlsafe(REFERENCE_BYTES),
            )
        )

    async def create_many(self, rows: list[dict[str, Any]]) -> Any:
        zones = await self._zones(sorted({row["specialist_id"] for row in rows}))
        now = datetime.now(UTC)
        params = [self._booking(row, zones[row["specialist_id"]], now) for row in rows]
        await self.raw.executemany(INSERT_BOOKING, params)

    async def slots(self, specialist_id: int, on_date: date) -> list[Any]:
        """The rows ``get_available_slots`` needs, fetched; no slot is computed."""
        specialist = await self.raw.fetchrow(
            f"SELECT {COLUMNS} FROM specialists WHERE id = $1", specialist_id
        )
        assert specialist is not None
        windows = await self.raw.fetch(WINDOWS, specialist_id, on_date.weekday())
        day_off = await self.raw.fetch(DAY_OFF, *self.raw.adapt((specialist_id, on_date)))
        midnight = utc_span(on_date, time(0), 0, ZoneInfo(specialist[_TIMEZONE]))[0]
        bounds = self.raw.adapt((midnight, midnight + timedelta(days=1)))
        busy = await self.raw.fetch(DAY_BOOKINGS, specialist_id, *bounds)
        return [specialist, windows, day_off, busy]

    async def book(self, row: dict[str, Any]) -> Any:
        assert isinstance(self.raw, AsyncpgDriver), "concurrent booking runs on PostgreSQL only"
        pool = await self.raw.pool(15)  # SQLAlchemy's default: 5 + 10 overflow
        async with pool.acquire() as conn:
            name = await conn.fetchval(
                "SELECT timezone FROM specialists WHERE id = $1", row["specialist_id"]
            )
            values = self._booking(row, ZoneInfo(name), datetime.now(UTC))
            await conn.execute(INSERT_BOOKING, *values)
