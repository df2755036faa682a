"""``asyncdata demo``: sample specialists, schedules and bookings, shown as small tables.

Safe to run twice: rows that exist already (same email, same window, same
booking) are reused, not duplicated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import date, time, timedelta

from asyncdata._config import load_settings
from asyncdata.database import dispose_engine, get_db, init_db, transaction
from asyncdata.errors import ConflictError
from asyncdata.models import Booking, Specialist
from asyncdata.repositories import (
    BookingRepository,
    DateOverrideRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
)

__all__ = ["run_demo"]

SPECIALISTS: list[dict[str, object]] = [
    {
        "name": "Dr. Élodie Martin",
        "email": "elodie.martin@example.com",
        "specialization": "Cardiology",
        "languages": "French, English",
        "timezone": "Europe/Paris",
        "bio": "Heart health and prevention.",
    },
    {
        "name": "Dr. Sam Okafor",
        "email": "sam.okafor@example.com",
        "specialization": "Dermatology",
        "languages": "English, Spanish",
        "timezone": "America/New_York",
        "bio": "Skin care for all ages.",
        "buffer_after_minutes": 15,  # time to clean up: slots leave 15 minutes after each booking
    },
]
WINDOWS = [(time(9), time(12)), (time(13), time(17))]
OVERRIDE = [(time(10), time(12))]
"""Thursday's hours of the second specialist: a date override replacing the weekly plan."""
CLIENTS = [("Ana Souza", "ana@example.com"), ("Ben Weiss", "ben@example.com")]


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table with a title line, for terminals."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join("-" * w for w in widths)
    out = [f"\n{title}", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if not cells:
        out.append("(none)")
    return "\n".join(line.rstrip() for line in out)


def next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


async def _specialist(repo: SpecialistRepository, data: Mapping[str, object]) -> Specialist:
    found = await repo.get_by_email(str(data["email"]), include_inactive=True)
    return found if found is not None else await repo.create(data)


async def seed(monday: date) -> list[Specialist]:
    """Create (or find) the sample rows; returns the specialists."""
    async with get_db() as db:
        specialists = SpecialistRepository(db)
        schedules = ScheduleRepository(db)
        bookings = BookingRepository(db)
        result = []
        async with transaction(db):
            for data in SPECIALISTS:
                specialist = await _specialist(specialists, data)
                result.append(specialist)
                if not await schedules.get_by_specialist(specialist.id, include_inactive=True):
                    await schedules.create_many(
                        {
                            "specialist_id": specialist.id,
                            "day_of_week": day,
                            "start_time": start,
                            "end_time": end,
                        }
                        for day in range(5)
                        for start, end in WINDOWS
                    )
            first = result[0]
            if not await DayOffRepository(db).is_day_off(first.id, monday + timedelta(days=2)):
                await DayOffRepository(db).create(
                    {
                        "specialist_id": first.id,
                        "date": monday + timedelta(days=2),
                        "reason": "Conference",
                    }
                )
        thursday = monday + timedelta(days=3)
        overrides = DateOverrideRepository(db)
        if not await overrides.get_by_specialist(result[1].id, thursday, thursday):
            await overrides.set_day(result[1].id, thursday, OVERRIDE)
        for specialist, (client, email) in zip(result, CLIENTS, strict=True):
            for day, at in ((0, time(9)), (1, time(14))):
                with suppress(ConflictError):  # booked by an earlier run
                    await bookings.create(
                        {
                            "specialist_id": specialist.id,
                            "client_name": client,
                            "client_email": email,
                            "booking_date": monday + timedelta(days=day),
                            "booking_time": at,
                            "duration_minutes": 60,
                        }
                    )
        return result


def _slots_row(on_date: date, slots: Sequence[object]) -> list[object]:
    shown = ", ".join(s.strftime("%H:%M") for s in slots)  # type: ignore[attr-defined]
    return [on_date.strftime("%a %d %b"), len(slots), shown or "-"]


async def report(specialists: Sequence[Specialist], monday: date) -> None:
    async with get_db() as db:
        found = await SpecialistRepository(db).search("card")
        print(
            table(
                'Specialists matching "card"',
                ["id", "name", "specialization", "languages", "timezone"],
                [[s.id, s.name, s.specialization, s.languages, s.timezone] for s in found],
            )
        )
        repo = BookingRepository(db)
        friday = monday + timedelta(days=4)
        # One call, two statements, for every specialist and day of the week.
        week = await repo.get_availability([s.id for s in specialists], monday, friday)
        for specialist in specialists:
            rows = [_slots_row(day, slots) for day, slots in week[specialist.id].items()]
            rules = f"buffer after {specialist.buffer_after_minutes} min"
            print(
                table(
                    f"Free 60-minute slots next week: {specialist.name} ({specialist.timezone}, "
                    f"{rules})",
                    ["date", "free", "starts (local time)"],
                    rows,
                )
            )
        overrides: list[list[object]] = []
        for specialist in specialists:
            for row in await DateOverrideRepository(db).get_by_specialist(
                specialist.id, monday, friday
            ):
                hours = "closed" if row.start_time is None else f"{row.start_time:%H:%M}-"
                hours += "" if row.end_time is None else f"{row.end_time:%H:%M}"
                overrides.append([specialist.name, row.override_date.strftime("%a %d %b"), hours])
        print(table("Date overrides next week", ["specialist", "date", "hours"], overrides))
        booked: list[Booking] = []
        for specialist in specialists:
            booked += await repo.get_by_specialist(specialist.id, date_from=monday)
        print(
            table(
                "Bookings from next Monday",
                ["id", "specialist", "client", "local date/time", "UTC start", "min", "status"],
                [
                    [
                        b.id,
                        b.specialist_id,
                        b.client_name,
                        f"{b.booking_date} {b.booking_time:%H:%M}",
                        f"{b.starts_at:%Y-%m-%d %H:%M}",
                        b.duration_minutes,
                        b.status,
                    ]
                    for b in booked
                ],
            )
        )


async def lifecycle(first: Specialist, monday: date) -> None:
    """A hold with an idempotency key, a confirmed booking, and that booking's history."""
    async with get_db() as db:
        repo = BookingRepository(db)
        hold = await repo.hold(
            {
                "specialist_id": first.id,
                "client_name": "Cleo Park",
                "client_email": "cleo@example.com",
                "booking_date": monday,
                "booking_time": time(11),
                "duration_minutes": 30,
            },
            minutes=10,
            idempotency_key=f"demo-hold-{monday}",  # a re-run gets the same hold back
        )
        expires = f"{hold.hold_expires_at:%H:%M:%S} UTC" if hold.hold_expires_at else "-"
        print(
            table(
                "A hold: blocks its slot until it expires, then frees it",
                ["id", "reference", "status", "expires"],
                [[hold.id, hold.reference, hold.status, expires]],
            )
        )
        first_day = await repo.get_by_specialist(
            first.id, date_from=monday, date_to=monday, statuses=["pending", "confirmed"]
        )
        if not first_day:
            return
        booked = first_day[0]
        await repo.confirm(booked.id, actor="demo")  # a second run: already confirmed, a no-op
        changes = await repo.get_history(booked.id)
        print(
            table(
                f"History of booking {booked.id} (reference {booked.reference})",
                ["when (UTC)", "kind", "old", "new", "actor"],
                [
                    [
                        f"{c.changed_at:%Y-%m-%d %H:%M:%S}",
                        c.kind,
                        c.old or "-",
                        c.new,
                        c.actor or "-",
                    ]
                    for c in changes
                ],
            )
        )


async def run_demo() -> None:
    """Create the schema and sample data on ``DB_URL``, then print what it holds."""
    try:
        path = await init_db()
        print(f"database: {load_settings().url.render_as_string()} (schema via {path})")
        monday = next_monday(date.today())
        specialists = await seed(monday)
        await lifecycle(specialists[0], monday)
        await report(specialists, monday)
    finally:
        await dispose_engine()
