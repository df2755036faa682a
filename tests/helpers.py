"""Helpers shared by test modules (fixtures stay in conftest.py; import these instead)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import create_engine, transaction
from asyncdata.models import (
    AdminLog,
    Base,
    Booking,
    BookingChange,
    DateOverride,
    DayOff,
    Schedule,
    Specialist,
    UserSession,
)
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)

Sessions = async_sessionmaker[AsyncSession]

PG_URL = os.environ.get("TEST_PG_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


class StatementCounter:
    """Counts the data statements (SELECT/INSERT/UPDATE/DELETE, and WITH … statements) an
    engine sends."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.lstrip().split(" ", 1)[0].upper()
        if verb in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


MODELS: tuple[type[Base], ...] = (
    Specialist,
    Schedule,
    DayOff,
    Booking,
    BookingChange,
    DateOverride,
    UserSession,
    AdminLog,
)

_emails = itertools.count(1)


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date with the given weekday (0 = Monday), at least ``weeks_ahead`` weeks ahead."""
    start = date.today() + timedelta(days=7 * weeks_ahead)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


async def make_specialist(db: AsyncSession, **overrides: Any) -> Specialist:
    """A specialist working 09:00-17:00 every day of the week (Europe/Berlin by default)."""
    data: dict[str, Any] = {
        "name": "Dr. Ada Lovelace",
        "email": f"helper{next(_emails)}@example.com",
        "specialization": "Cardiology",
        "languages": "English, Spanish",
        "timezone": "Europe/Berlin",
    }
    data.update(overrides)
    specialist = await SpecialistRepository(db).create(data)
    await ScheduleRepository(db).create_many(
        {
            "specialist_id": specialist.id,
            "day_of_week": day,
            "start_time": time(9),
            "end_time": time(17),
        }
        for day in range(7)
    )
    return specialist


SEED_NAMES = ("İstanbul Klinik", "ΟΔΟΣ Ιατρείο", "Kelvin \u212a Lab", "Jürgen Groß", "Ana 100% _x_")


async def seed(db: AsyncSession) -> dict[str, list[int]]:
    """The same small world on any backend, ids 1.. in order: specialists (the last one
    inactive) with weekly schedules, a day off, bookings, sessions (one expired) and logs.
    One transaction, so it costs one commit."""
    async with transaction(db):
        return await _seed(db)


async def _seed(db: AsyncSession) -> dict[str, list[int]]:
    specialists = await SpecialistRepository(db).create_many(
        {
            "name": name,
            "email": f"seed{n}@example.com",
            "specialization": ("Cardiology", "KARDIOLOGIE", "straße", None, "Derma")[n - 1],
            "languages": "English, Spanish",
            "timezone": "Europe/Berlin",
            "bio": f"Bio {n}: {name.upper()}",
        }
        for n, name in enumerate(SEED_NAMES, start=1)
    )
    await ScheduleRepository(db).create_many(
        {"specialist_id": s.id, "day_of_week": day, "start_time": time(9), "end_time": time(17)}
        for s in specialists
        for day in range(7)
    )
    await SpecialistRepository(db).update(specialists[-1].id, {"is_active": False})
    day = next_weekday(2)
    await DayOffRepository(db).create(
        {"specialist_id": specialists[0].id, "date": next_weekday(4), "reason": "İzin GÜNÜ"}
    )
    bookings = await BookingRepository(db).create_many(
        {
            "specialist_id": specialists[n % 2].id,
            "client_name": f"Client {n} Ödön",
            "client_email": f"Client{n}@Example.COM",
            "booking_date": day,
            "booking_time": time(9 + n),
            "duration_minutes": 30,
            "notes": "first visit" if n % 2 else None,
        }
        for n in range(4)
    )
    await BookingRepository(db).confirm(bookings[0].id)
    now = datetime.now(UTC)
    sessions = [
        await UserSessionRepository(db).create(
            {
                "session_id": f"sess-{n}",
                "client_name": f"Visitor {n}",
                "client_email": f"v{n}@example.com",
                "data": {"step": n, "tags": ["a", "b"]},
                "expires_at": now + timedelta(days=-1 if n == 2 else 30),
            }
        )
        for n in range(3)
    ]
    logs = [
        await AdminLogRepository(db).log(
            n + 1,
            ("specialist.update", "booking.cancel", "login")[n],
            resource_type="specialist" if n < 2 else None,
            resource_id=specialists[0].id if n < 2 else None,
            details={"n": n},
            ip_address="10.0.0.1",
            user_agent="curl/8",
        )
        for n in range(3)
    ]
    return {
        "specialists": [s.id for s in specialists],
        "bookings": [b.id for b in bookings],
        "sessions": [s.id for s in sessions],
        "logs": [entry.id for entry in logs],
    }


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, int) else value


async def snapshot(sessions: Sessions) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as a connection of its own reads it (what is really stored)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.connect() as conn:
        for model in MODELS:
            table = model.__table__
            rows = (await conn.execute(select(table).order_by(table.c.id))).all()
            tables[table.name] = [tuple(_plain(v) for v in row) for row in rows]
    return tables


def columns_of(obj: Any) -> dict[str, Any]:
    """The column values of a loaded model object (never triggers a load)."""
    table = type(obj).__table__
    return {c.key: _plain(obj.__dict__[c.key]) for c in table.columns if c.key in obj.__dict__}


async def stored(sessions: Sessions, model: type[Base], id: int) -> dict[str, Any] | None:
    """The row ``id`` of ``model`` as a fresh session reads it, or None."""
    table = model.__table__
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.id == id))).one_or_none()
    return None if row is None else {k: _plain(v) for k, v in row._asdict().items()}


async def pg_admin(url: str, statement: str) -> None:
    """Run one statement on the ``postgres`` database of the server at ``url``, outside a
    transaction (CREATE/DROP DATABASE)."""
    engine = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()
