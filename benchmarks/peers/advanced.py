"""advanced-alchemy's ``SQLAlchemyAsyncRepository`` over asyncdata's own models.

Its repository needs no base class of its own: ``model_type`` may be any
declarative model, so it runs on ``asyncdata.models`` unchanged. Configured at
its leanest for this work: ``auto_commit=True`` (each write commits, as
asyncdata's do) and ``auto_refresh=False`` (the objects are complete without a
re-SELECT, since every default is set client-side), so the bar is as high as it
can be set. It has no free-slot search: ``slots`` is n/a.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.filters import LimitOffset, OrderBy, SearchFilter
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from asyncdata.models import Booking, Specialist
from benchmarks.peers import Peer
from benchmarks.peers.handwritten import ACTIVE, timezones, with_span

__all__ = ["AdvancedAlchemyPeer"]

_SEARCH_FIELDS = {"name", "email", "specialization", "bio", "languages"}


class SpecialistRepo(SQLAlchemyAsyncRepository[Specialist]):
    model_type = Specialist


class BookingRepo(SQLAlchemyAsyncRepository[Booking]):
    model_type = Booking


def _specialists(db: AsyncSession) -> SpecialistRepo:
    return SpecialistRepo(session=db, auto_commit=True, auto_refresh=False)


def _bookings(db: AsyncSession) -> BookingRepo:
    return BookingRepo(session=db, auto_commit=True, auto_refresh=False)


class AdvancedAlchemyPeer(Peer):
    key = "advanced_alchemy"
    label = "advanced-alchemy"

    async def get_by_id(self, id: int) -> Any:
        async with self.sessions() as db:
            return await _specialists(db).get(id)

    async def create(self, data: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            return await _specialists(db).add(Specialist(**data))

    async def update(self, id: int, bio: str) -> Any:
        async with self.sessions() as db:
            return await _specialists(db).update(Specialist(id=id, bio=bio))

    async def search(self, needle: str) -> list[Any]:
        async with self.sessions() as db:
            return await _specialists(db).get_many(
                SearchFilter(field_name=_SEARCH_FIELDS, value=needle, ignore_case=True),
                ACTIVE,
                OrderBy("name"),
                OrderBy("id"),
                LimitOffset(limit=50, offset=0),
            )

    async def get_all(self) -> list[Any]:
        async with self.sessions() as db:
            return await _specialists(db).get_many(
                ACTIVE,
                OrderBy("name"),
                OrderBy("id"),
                LimitOffset(limit=50, offset=0),
                load=[selectinload(Specialist.schedules), selectinload(Specialist.days_off)],
            )

    async def create_many(self, rows: list[dict[str, Any]]) -> Any:
        async with self.sessions() as db:
            zones = await timezones(db, {row["specialist_id"] for row in rows})
            bookings = [Booking(**with_span(row, zones[row["specialist_id"]])) for row in rows]
            return await _bookings(db).add_many(bookings)

    async def book(self, row: dict[str, Any]) -> Any:
        async with self.sessions() as db:
            zones = await timezones(db, {row["specialist_id"]})
            return await _bookings(db).add(Booking(**with_span(row, zones[row["specialist_id"]])))
