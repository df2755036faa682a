"""asyncdata itself: one repository call per operation, in a fresh session."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from asyncdata.repositories import BookingRepository, SpecialistRepository
from benchmarks.peers import Peer
from benchmarks.workload import SLOT_MINUTES

__all__ = ["AsyncdataPeer"]


class AsyncdataPeer(Peer):
    key = "asyncdata"
    label = "asyncdata"

    async def get_by_id(self, id: int) -> Any:
        async with self.sessions() as db:
            return await SpecialistRepository(db).get_by_id(id)

    async def create(self, data: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            return await SpecialistRepository(db).create(data)

    async def update(self, id: int, bio: str) -> Any:
        async with self.sessions() as db:
            return await SpecialistRepository(db).update(id, {"bio": bio})

    async def search(self, needle: str) -> list[Any]:
        async with self.sessions() as db:
            return await SpecialistRepository(db).search(needle, limit=50)

    async def get_all(self) -> list[Any]:
        async with self.sessions() as db:
            return await SpecialistRepository(db).get_all(limit=50, load=("schedules", "days_off"))

    async def create_many(self, rows: list[dict[str, Any]]) -> Any:
        async with self.sessions() as db:
            return await BookingRepository(db).create_many(rows, enforce_availability=False)

    async def slots(self, specialist_id: int, on_date: date) -> list[Any]:
        async with self.sessions() as db:
            return await BookingRepository(db).get_available_slots(
                specialist_id, on_date, duration_minutes=SLOT_MINUTES
            )

    async def book(self, row: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            return await BookingRepository(db).create(row)

    async def availability(self, specialist_ids: list[int], first: date, days: int) -> Any:
        async with self.sessions() as db:
            return await BookingRepository(db).get_availability(
                specialist_ids,
                first,
                first + timedelta(days=days - 1),
                duration_minutes=SLOT_MINUTES,
            )

    async def availability_by_day(self, specialist_ids: list[int], first: date, days: int) -> Any:
        async with self.sessions() as db:
            repo = BookingRepository(db)
            return {
                sid: {
                    day: await repo.get_available_slots(sid, day, duration_minutes=SLOT_MINUTES)
                    for day in (first + timedelta(days=n) for n in range(days))
                }
                for sid in specialist_ids
            }
