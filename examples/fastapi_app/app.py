"""A small booking API over asyncdata's repositories.

Run it from the repository root with ``uvicorn examples.fastapi_app.app:app``;
the database is ``DB_URL`` (default ``./app.db``), migrated at start-up.

What it shows:

- ``lifespan`` brings the schema up to date with ``init_db()`` before the first
  request and closes the connection pool with ``dispose_engine()`` at shutdown.
- Every request gets its own session through ``Depends(db_session)``; each
  repository write commits on its own, so a handler needs no commit call.
- asyncdata's errors become HTTP answers in one place: ``ValidationError``
  → 422, ``NotFoundError`` → 404, ``ConflictError`` → 409 and
  ``TransientError`` → 503 (with ``Retry-After``), always as
  ``{"error": <type>, "detail": <message>}``. A malformed request body or
  query is a 422 of the same shape. Nothing else needs try/except.
- Dates, times and instants travel as ISO 8601 text; free slots come back in
  the specialist's own timezone, with its UTC offset.
- Overlapping bookings are refused by the database itself, so concurrent
  requests for one slot give exactly one 201 and 409 for the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata import (
    AsyncDataError,
    BookingRepository,
    BookingStatus,
    ConflictError,
    NotFoundError,
    ScheduleRepository,
    SpecialistRepository,
    TransientError,
    ValidationError,
)
from asyncdata.database import db_session, dispose_engine, init_db

__all__ = ["app"]

Session = Annotated[AsyncSession, Depends(db_session)]
"""A session for one request, closed when the response has been sent."""


# -- request and response bodies -------------------------------------------------


class _In(BaseModel):
    """Request bodies refuse unknown keys, as the repositories do."""

    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SpecialistIn(_In):
    name: str
    email: str
    phone: str | None = None
    specialization: str | None = None
    bio: str | None = None
    languages: str | None = None
    timezone: str = "UTC"


class SpecialistOut(_Out):
    id: int
    name: str
    email: str
    phone: str | None
    specialization: str | None
    bio: str | None
    languages: str | None
    timezone: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ScheduleIn(_In):
    day_of_week: int = Field(description="0 = Monday … 6 = Sunday")
    start_time: time
    end_time: time


class ScheduleOut(_Out):
    id: int
    specialist_id: int
    day_of_week: int
    start_time: time
    end_time: time
    is_active: bool


class BookingIn(_In):
    specialist_id: int
    client_name: str
    client_email: str
    client_phone: str | None = None
    booking_date: date = Field(description="the specialist's local date")
    booking_time: time = Field(description="the specialist's local wall-clock time")
    duration_minutes: int = 60
    notes: str | None = None


class BookingOut(_Out):
    id: int
    specialist_id: int
    client_name: str
    client_email: str
    client_phone: str | None
    booking_date: date
    booking_time: time
    duration_minutes: int
    starts_at: datetime
    ends_at: datetime
    status: BookingStatus
    notes: str | None
    created_at: datetime
    updated_at: datetime


class CancelIn(_In):
    reason: str | None = None


class SlotsOut(BaseModel):
    specialist_id: int
    date: date
    duration_minutes: int
    slots: list[datetime] = Field(description="start times in the specialist's timezone")


# -- application -----------------------------------------------------------------


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Migrate before serving; close the pool after the last request."""
    await init_db()
    try:
        yield
    finally:
        await dispose_engine()


app = FastAPI(title="asyncdata booking example", lifespan=lifespan)

_STATUS_CODES: dict[type[AsyncDataError], int] = {
    ValidationError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    TransientError: 503,
}


def _error(status_code: int, exc: Exception, detail: Any = None) -> JSONResponse:
    body = {"error": type(exc).__name__, "detail": str(exc) if detail is None else detail}
    headers = {"Retry-After": "1"} if status_code == 503 else None
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _asyncdata_error(_request: Request, exc: Exception) -> JSONResponse:
    for kind, status_code in _STATUS_CODES.items():
        if isinstance(exc, kind):
            return _error(status_code, exc)
    return _error(500, exc)


async def _request_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return _error(422, exc, problems)


for _kind in _STATUS_CODES:
    app.add_exception_handler(_kind, _asyncdata_error)
app.add_exception_handler(RequestValidationError, _request_error)


async def _specialist_or_404(db: AsyncSession, specialist_id: int) -> Any:
    specialist = await SpecialistRepository(db).get_by_id(specialist_id)
    if specialist is None:
        raise NotFoundError(f"specialist id={specialist_id} not found", fields=["id"])
    return specialist


# -- specialists and schedules ---------------------------------------------------------


@app.post("/specialists", status_code=201, response_model=SpecialistOut)
async def create_specialist(body: SpecialistIn, db: Session) -> Any:
    return await SpecialistRepository(db).create(body.model_dump(exclude_unset=True))


@app.get("/specialists", response_model=list[SpecialistOut])
async def list_specialists(
    db: Session,
    q: Annotated[str | None, Query(description="text to find in name, email, bio…")] = None,
    specialization: str | None = None,
    language: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    """Active specialists by name; ``q`` searches, the other filters match exactly."""
    repo = SpecialistRepository(db)
    if q is not None:
        return await repo.search(q, limit=limit)
    if specialization is not None:
        return await repo.get_by_specialization(specialization)
    if language is not None:
        return await repo.get_by_language(language)
    return await repo.get_all(limit=limit, offset=offset)


@app.get("/specialists/{specialist_id}", response_model=SpecialistOut)
async def get_specialist(specialist_id: int, db: Session) -> Any:
    return await _specialist_or_404(db, specialist_id)


@app.post("/specialists/{specialist_id}/schedules", status_code=201, response_model=ScheduleOut)
async def create_schedule(specialist_id: int, body: ScheduleIn, db: Session) -> Any:
    return await ScheduleRepository(db).create(
        {"specialist_id": specialist_id, **body.model_dump()}
    )


@app.get("/specialists/{specialist_id}/schedules", response_model=list[ScheduleOut])
async def list_schedules(specialist_id: int, db: Session) -> Any:
    await _specialist_or_404(db, specialist_id)
    return await ScheduleRepository(db).get_by_specialist(specialist_id)


@app.get("/specialists/{specialist_id}/slots", response_model=SlotsOut)
async def free_slots(
    specialist_id: int,
    db: Session,
    on_date: Annotated[date, Query(alias="date", description="local date, YYYY-MM-DD")],
    duration: Annotated[int, Query(ge=1, le=1440)] = 60,
    step: Annotated[int | None, Query(ge=1, le=1440)] = None,
) -> Any:
    """Start times a booking of ``duration`` minutes would be accepted at right now."""
    slots = await BookingRepository(db).get_available_slots(
        specialist_id, on_date, duration_minutes=duration, step_minutes=step
    )
    return SlotsOut(
        specialist_id=specialist_id, date=on_date, duration_minutes=duration, slots=slots
    )


@app.get("/specialists/{specialist_id}/bookings", response_model=list[BookingOut])
async def list_specialist_bookings(
    specialist_id: int,
    db: Session,
    date_from: date | None = None,
    date_to: date | None = None,
    status: Annotated[list[BookingStatus] | None, Query()] = None,
) -> Any:
    """The specialist's bookings, chronological; ``status`` may be repeated."""
    await _specialist_or_404(db, specialist_id)
    return await BookingRepository(db).get_by_specialist(
        specialist_id, date_from=date_from, date_to=date_to, statuses=status
    )


# -- bookings ---------------------------------------------------------------------------


@app.post("/bookings", status_code=201, response_model=BookingOut)
async def create_booking(body: BookingIn, db: Session) -> Any:
    return await BookingRepository(db).create(body.model_dump(exclude_unset=True))


@app.get("/bookings", response_model=list[BookingOut])
async def search_bookings(
    db: Session,
    q: Annotated[str, Query(description="text to find in client name, email, phone, notes")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    return await BookingRepository(db).search(q, limit=limit)


@app.get("/bookings/{booking_id}", response_model=BookingOut)
async def get_booking(booking_id: int, db: Session) -> Any:
    booking = await BookingRepository(db).get_by_id(booking_id)
    if booking is None:
        raise NotFoundError(f"booking id={booking_id} not found", fields=["id"])
    return booking


@app.post("/bookings/{booking_id}/confirm", response_model=BookingOut)
async def confirm_booking(booking_id: int, db: Session) -> Any:
    return await BookingRepository(db).confirm(booking_id)


@app.post("/bookings/{booking_id}/cancel", response_model=BookingOut)
async def cancel_booking(booking_id: int, db: Session, body: CancelIn | None = None) -> Any:
    return await BookingRepository(db).cancel(booking_id, reason=body.reason if body else None)


@app.post("/bookings/{booking_id}/complete", response_model=BookingOut)
async def complete_booking(booking_id: int, db: Session) -> Any:
    return await BookingRepository(db).complete(booking_id)


@app.post("/bookings/{booking_id}/no-show", response_model=BookingOut)
async def no_show_booking(booking_id: int, db: Session) -> Any:
    return await BookingRepository(db).mark_no_show(booking_id)
