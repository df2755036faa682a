"""The FastAPI example, driven over HTTP through httpx's ASGI transport.

Each test runs the app's lifespan (``init_db`` then ``dispose_engine``) with
``DB_URL`` pointing at the test's own database from the asyncdata pytest
plugin, on SQLite and, with ``TEST_PG_URL`` set, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from asyncdata import dispose_engine
from examples.fastapi_app.app import app

BACKENDS = ["sqlite", "postgresql"] if os.environ.get("TEST_PG_URL", "").strip() else ["sqlite"]


@pytest.fixture(params=BACKENDS)
def asyncdata_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(
    asyncdata_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to the app, its lifespan running on this test's database."""
    monkeypatch.setenv("DB_URL", asyncdata_url)
    await dispose_engine()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                yield client
    finally:
        await dispose_engine()
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def monday(weeks_ahead: int = 1) -> date:
    start = date.today() + timedelta(days=7 * weeks_ahead)
    return start - timedelta(days=start.weekday())


def assert_error(response: httpx.Response, status: int, error: str, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error
    for word in words:
        assert word in body["detail"]


async def new_specialist(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/Berlin"}
    response = await client.post("/specialists", json={**body, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def working_specialist(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """A specialist working Monday to Friday, 09:00-12:00 Berlin time."""
    specialist = await new_specialist(client, **fields)
    for day in range(5):
        response = await client.post(
            f"/specialists/{specialist['id']}/schedules",
            json={"day_of_week": day, "start_time": "09:00", "end_time": "12:00"},
        )
        assert response.status_code == 201, response.text
    return specialist


def booking_body(specialist_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "specialist_id": specialist_id,
        "client_name": "Grace Hopper",
        "client_email": "grace@example.com",
        "booking_date": monday().isoformat(),
        "booking_time": "10:00",
        **fields,
    }


# -- specialists ----------------------------------------------------------------------


async def test_create_and_get_specialist(client: httpx.AsyncClient) -> None:
    created = await new_specialist(
        client, email="Ada@Example.com", specialization="Cardiology", languages="English, French"
    )
    assert created["email"] == "ada@example.com"
    assert created["is_active"] is True
    assert datetime.fromisoformat(created["created_at"]).utcoffset() == timedelta(0)

    response = await client.get(f"/specialists/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_specialist_errors(client: httpx.AsyncClient) -> None:
    await new_specialist(client)
    duplicate = await client.post(
        "/specialists", json={"name": "Other", "email": "ADA@example.com"}
    )
    assert_error(duplicate, 409, "ConflictError")
    assert_error(
        await client.post("/specialists", json={"name": "X", "email": "not-an-address"}),
        422,
        "ValidationError",
        "email",
    )
    assert_error(
        await client.post(
            "/specialists", json={"name": "X", "email": "x@example.com", "timezone": "Mars/Base"}
        ),
        422,
        "ValidationError",
        "Mars/Base",
    )
    assert_error(
        await client.post("/specialists", json={"name": "X", "email": "x@example.com", "age": 3}),
        422,
        "RequestValidationError",
        "age",
    )
    assert_error(await client.get("/specialists/999"), 404, "NotFoundError", "999")
    assert_error(await client.get("/specialists/abc"), 422, "RequestValidationError")


async def test_search_and_filter_specialists(client: httpx.AsyncClient) -> None:
    await new_specialist(
        client, name="Élodie Martin", email="elodie@example.com", specialization="Dermatology"
    )
    await new_specialist(client, name="Bob Stone", email="bob@example.com", languages="German")
    await new_specialist(client, name="Ada Lovelace", specialization="Cardiology")

    async def names(**params: Any) -> list[str]:
        response = await client.get("/specialists", params=params)
        assert response.status_code == 200, response.text
        return [s["name"] for s in response.json()]

    assert await names() == ["Ada Lovelace", "Bob Stone", "Élodie Martin"]
    assert await names(limit=1, offset=1) == ["Bob Stone"]
    assert await names(q="ÉLODIE") == ["Élodie Martin"]
    assert await names(q="   ") == []
    assert await names(specialization="cardiology") == ["Ada Lovelace"]
    assert await names(language="german") == ["Bob Stone"]
    assert_error(
        await client.get("/specialists", params={"limit": 0}), 422, "RequestValidationError"
    )


# -- schedules and slots --------------------------------------------------------------


async def test_schedules(client: httpx.AsyncClient) -> None:
    specialist = await new_specialist(client)
    url = f"/specialists/{specialist['id']}/schedules"
    for day, start, end in [(2, "13:00", "17:00"), (0, "09:00", "12:00"), (2, "08:00", "12:00")]:
        response = await client.post(
            url, json={"day_of_week": day, "start_time": start, "end_time": end}
        )
        assert response.status_code == 201, response.text

    listed = (await client.get(url)).json()
    assert [(s["day_of_week"], s["start_time"]) for s in listed] == [
        (0, "09:00:00"),
        (2, "08:00:00"),
        (2, "13:00:00"),
    ]
    assert listed[0]["specialist_id"] == specialist["id"]

    backwards = {"day_of_week": 1, "start_time": "12:00", "end_time": "09:00"}
    assert_error(await client.post(url, json=backwards), 422, "ValidationError")
    assert_error(
        await client.post(
            url, json={"day_of_week": 1, "start_time": "9 o'clock", "end_time": "10:00"}
        ),
        422,
        "RequestValidationError",
        "start_time",
    )
    unknown = "/specialists/999/schedules"
    assert_error(await client.get(unknown), 404, "NotFoundError")
    window = {"day_of_week": 1, "start_time": "09:00", "end_time": "10:00"}
    assert_error(await client.post(unknown, json=window), 404, "NotFoundError", "999")


async def test_free_slots(client: httpx.AsyncClient) -> None:
    specialist = await working_specialist(client)
    day = monday()
    url = f"/specialists/{specialist['id']}/slots"

    response = await client.get(url, params={"date": day.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["date"] == day.isoformat()
    assert body["duration_minutes"] == 60
    starts = [datetime.fromisoformat(s) for s in body["slots"]]
    assert [s.strftime("%H:%M") for s in starts] == ["09:00", "10:00", "11:00"]
    assert all(
        s.date() == day and s.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
        for s in starts
    )

    booked = await client.post("/bookings", json=booking_body(specialist["id"]))
    assert booked.status_code == 201, booked.text
    half_hours = await client.get(url, params={"date": day.isoformat(), "duration": 30})
    assert [s[11:16] for s in half_hours.json()["slots"]] == ["09:00", "09:30", "11:00", "11:30"]
    stepped = await client.get(url, params={"date": day.isoformat(), "duration": 60, "step": 30})
    assert [s[11:16] for s in stepped.json()["slots"]] == ["09:00", "11:00"]

    saturday = (day + timedelta(days=5)).isoformat()
    assert (await client.get(url, params={"date": saturday})).json()["slots"] == []
    assert_error(
        await client.get(url, params={"date": "13/12/2026"}), 422, "RequestValidationError", "date"
    )
    assert_error(await client.get(url), 422, "RequestValidationError", "date")
    assert_error(
        await client.get("/specialists/999/slots", params={"date": day.isoformat()}),
        404,
        "NotFoundError",
    )


# -- bookings ---------------------------------------------------------------------------


async def test_booking_lifecycle(client: httpx.AsyncClient) -> None:
    specialist = await working_specialist(client)
    sid = specialist["id"]
    day = monday()

    response = await client.post("/bookings", json=booking_body(sid, notes="first visit"))
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "pending"
    assert booking["booking_date"] == day.isoformat()
    assert booking["booking_time"] == "10:00:00"
    starts_at = datetime.fromisoformat(booking["starts_at"])
    assert starts_at.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(booking["ends_at"]) - starts_at == timedelta(hours=1)
    assert (await client.get(f"/bookings/{booking['id']}")).json() == booking

    moved = (await client.post(f"/bookings/{booking['id']}/confirm")).json()
    assert moved["status"] == "confirmed"
    moved = (await client.post(f"/bookings/{booking['id']}/complete")).json()
    assert moved["status"] == "completed"
    assert_error(
        await client.post(f"/bookings/{booking['id']}/cancel"), 422, "ValidationError", "completed"
    )

    second = (await client.post("/bookings", json=booking_body(sid, booking_time="11:00"))).json()
    cancelled = await client.post(f"/bookings/{second['id']}/cancel", json={"reason": "ill"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["notes"] is None  # the reason goes to the booking's history

    third = (await client.post("/bookings", json=booking_body(sid, booking_time="09:00"))).json()
    assert_error(await client.post(f"/bookings/{third['id']}/no-show"), 422, "ValidationError")
    await client.post(f"/bookings/{third['id']}/confirm")
    no_show = await client.post(f"/bookings/{third['id']}/no-show")
    assert no_show.json()["status"] == "no_show"

    listed = await client.get(f"/specialists/{sid}/bookings")
    assert [b["booking_time"] for b in listed.json()] == ["09:00:00", "10:00:00", "11:00:00"]
    only = await client.get(
        f"/specialists/{sid}/bookings", params=[("status", "cancelled"), ("status", "no_show")]
    )
    assert [b["status"] for b in only.json()] == ["no_show", "cancelled"]
    later = await client.get(
        f"/specialists/{sid}/bookings", params={"date_from": (day + timedelta(days=1)).isoformat()}
    )
    assert later.json() == []
    assert_error(await client.get("/specialists/999/bookings"), 404, "NotFoundError")
    assert_error(
        await client.get(f"/specialists/{sid}/bookings", params={"status": "lost"}),
        422,
        "RequestValidationError",
    )

    found = await client.get("/bookings", params={"q": "GRACE"})
    assert len(found.json()) == 3
    assert (await client.get("/bookings", params={"q": "nobody"})).json() == []

    for path in ("", "/confirm", "/cancel", "/complete", "/no-show"):
        method = client.get if path == "" else client.post
        assert_error(await method(f"/bookings/999{path}"), 404, "NotFoundError", "999")


async def test_booking_rules_map_to_http(client: httpx.AsyncClient) -> None:
    specialist = await working_specialist(client)
    sid = specialist["id"]
    assert (await client.post("/bookings", json=booking_body(sid))).status_code == 201

    overlap = await client.post("/bookings", json=booking_body(sid, booking_time="10:30"))
    assert_error(overlap, 409, "ConflictError")

    for fields in (
        {"booking_time": "14:00"},  # outside the 09:00-12:00 window
        {"booking_date": (monday() + timedelta(days=5)).isoformat()},  # Saturday
        {"booking_date": monday(weeks_ahead=-1).isoformat()},  # in the past
        {"client_email": "grace-at-example"},
        {"duration_minutes": 0},
    ):
        assert_error(
            await client.post("/bookings", json=booking_body(sid, **fields)), 422, "ValidationError"
        )
    assert_error(
        await client.post("/bookings", json=booking_body(999)), 404, "NotFoundError", "999"
    )
    assert_error(
        await client.post("/bookings", json=booking_body(sid, booking_time="ten")),
        422,
        "RequestValidationError",
        "booking_time",
    )
    assert_error(
        await client.post("/bookings", json={"specialist_id": sid}),
        422,
        "RequestValidationError",
        "client_name",
    )


async def test_booking_race_through_the_api(client: httpx.AsyncClient) -> None:
    specialist = await working_specialist(client)
    body = booking_body(specialist["id"])

    responses = await asyncio.gather(
        *(client.post("/bookings", json={**body, "client_name": f"Client {i}"}) for i in range(20))
    )

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 19}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"] == "ConflictError"
    listed = await client.get(f"/specialists/{specialist['id']}/bookings")
    assert len(listed.json()) == 1


async def test_unreachable_database_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused connection is a TransientError: 503 with Retry-After, the app stays up."""
    monkeypatch.setenv("DB_URL", "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")
    await dispose_engine()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            response = await client.get("/specialists/1")
    finally:
        await dispose_engine()
    assert_error(response, 503, "TransientError")
    assert response.headers["retry-after"] == "1"
    assert "secret" not in response.text
