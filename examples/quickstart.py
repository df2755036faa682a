"""Quick start: create the schema, add a specialist with a schedule, book, list free slots.

Run with ``python examples/quickstart.py`` (uses DB_URL, default ./app.db).
"""

from __future__ import annotations

import asyncio
from datetime import date, time, timedelta

from asyncdata import (
    BookingRepository,
    ConflictError,
    ScheduleRepository,
    SpecialistRepository,
    dispose_engine,
    get_db,
    init_db,
    transaction,
)


async def main() -> None:
    await init_db()
    async with get_db() as db:
        specialists = SpecialistRepository(db)
        ada = await specialists.get_by_email("ada@example.com")
        if ada is None:
            async with transaction(db):  # the specialist and her week commit together
                ada = await specialists.create(
                    {
                        "name": "Ada Lovelace",
                        "email": "ada@example.com",
                        "timezone": "Europe/London",
                    }
                )
                await ScheduleRepository(db).create_many(
                    {
                        "specialist_id": ada.id,
                        "day_of_week": d,
                        "start_time": time(9),
                        "end_time": time(17),
                    }
                    for d in range(5)
                )
        monday = date.today() + timedelta(days=7 - date.today().weekday())
        bookings = BookingRepository(db)
        try:
            await bookings.create(
                {
                    "specialist_id": ada.id,
                    "client_name": "Grace Hopper",
                    "client_email": "grace@example.com",
                    "booking_date": monday,
                    "booking_time": time(10),
                }
            )
        except ConflictError as exc:
            print(f"already booked: {exc}")
        slots = await bookings.get_available_slots(ada.id, monday, duration_minutes=30)
        print(f"free 30-minute slots on {monday}:", ", ".join(f"{s:%H:%M}" for s in slots))
    await dispose_engine()


if __name__ == "__main__":
    asyncio.run(main())
