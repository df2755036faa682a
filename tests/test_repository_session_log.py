"""UserSession (expiry counts as inactive) and AdminLog (append-only) repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asyncdata._privacy import session_digest
from asyncdata.errors import ConflictError, NotFoundError, ValidationError
from asyncdata.models import AdminLog, UserSession
from asyncdata.repositories import AdminLogRepository, UserSessionRepository

Sessions = async_sessionmaker[AsyncSession]
HOUR = timedelta(hours=1)


def now() -> datetime:
    return datetime.now(UTC)


async def rows_in(sessions: Sessions, model: type[Any]) -> int:
    async with sessions() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(model)))


async def open_session(db: AsyncSession, session_id: str, **extra: Any) -> UserSession:
    return await UserSessionRepository(db).create({"session_id": session_id, **extra})


SEEDED = ("live", "forever", "expired", "expired-too", "ended", "ended-expired")
NAMED = {session_digest(name): name for name in SEEDED}
"""The seeded session ids by their digests, which is what the rows hold."""


async def seed_sessions(db: AsyncSession) -> dict[str, UserSession]:
    """One session of each kind, keyed by its session_id (also its client's name)."""
    repo = UserSessionRepository(db)
    rows: list[dict[str, Any]] = [
        {"session_id": "live", "expires_at": now() + HOUR},
        {"session_id": "forever", "expires_at": None},
        {"session_id": "expired", "expires_at": now() - HOUR},
        {"session_id": "expired-too", "expires_at": now() - timedelta(seconds=1)},
        {"session_id": "ended", "expires_at": now() + HOUR, "is_active": False},
        {"session_id": "ended-expired", "expires_at": now() - HOUR, "is_active": False},
    ]
    made = await repo.create_many({**row, "client_name": row["session_id"]} for row in rows)
    return {row["session_id"]: s for row, s in zip(rows, made, strict=True)}


def ids(found: list[UserSession]) -> set[str]:
    return {NAMED[s.session_id] for s in found}


# -- UserSession: lookups -------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_id", "found"),
    [
        ("live", True),
        ("forever", True),
        ("expired", False),
        ("expired-too", False),
        ("ended", False),
        ("ended-expired", False),
        ("never-existed", False),
    ],
)
async def test_get_by_session_id_returns_only_active_unexpired_sessions(
    db: AsyncSession, session_id: str, found: bool
) -> None:
    await seed_sessions(db)
    got = await UserSessionRepository(db).get_by_session_id(session_id)
    assert (got is not None) is found
    if got is not None:
        assert got.session_id == session_digest(session_id)


async def test_get_by_id_still_returns_expired_and_ended_sessions(db: AsyncSession) -> None:
    made = await seed_sessions(db)
    repo = UserSessionRepository(db)
    for name in ("expired", "ended"):
        got = await repo.get_by_id(made[name].id)
        assert got is not None and got.session_id == session_digest(name)


async def test_expired_sessions_are_hidden_unless_include_inactive(db: AsyncSession) -> None:
    await seed_sessions(db)
    repo = UserSessionRepository(db)
    assert ids(await repo.get_all()) == {"live", "forever"}
    assert await repo.count() == 2
    assert len(await repo.get_all(include_inactive=True)) == 6
    assert await repo.count(include_inactive=True) == 6
    assert ids(await repo.search("expired")) == set()
    assert ids(await repo.search("EXPIRED", include_inactive=True)) == {
        "expired",
        "expired-too",
        "ended-expired",
    }


# -- UserSession: extend, deactivate, cleanup -----------------------------------------


async def test_extend_sets_expiry_to_now_plus_seconds(db: AsyncSession, sessions: Sessions) -> None:
    await open_session(db, "abc", expires_at=now() + timedelta(minutes=5))
    before = now()
    extended = await UserSessionRepository(db).extend("abc", 7200)
    after = now()
    assert extended.expires_at is not None
    assert (
        before + timedelta(seconds=7200) <= extended.expires_at <= after + timedelta(seconds=7200)
    )
    assert extended.expires_at.utcoffset() == timedelta(0)
    async with sessions() as fresh:
        stored = await UserSessionRepository(fresh).get_by_session_id("abc")
    assert stored is not None and stored.expires_at == extended.expires_at


async def test_extend_can_shorten_and_gives_never_expiring_sessions_an_expiry(
    db: AsyncSession,
) -> None:
    await open_session(db, "forever")
    await open_session(db, "long", expires_at=now() + timedelta(days=30))
    repo = UserSessionRepository(db)
    for session_id in ("forever", "long"):
        got = await repo.extend(session_id, 60)
        assert got.expires_at is not None
        assert got.expires_at - now() <= timedelta(seconds=60)


@pytest.mark.parametrize("seconds", [0, -60, 1.5, "60", True, None])
async def test_extend_refuses_bad_seconds(
    db: AsyncSession, sessions: Sessions, seconds: Any
) -> None:
    expires = now() + HOUR
    await open_session(db, "abc", expires_at=expires)
    with pytest.raises(ValidationError) as caught:
        await UserSessionRepository(db).extend("abc", seconds)
    assert caught.value.fields == ("seconds",)
    async with sessions() as fresh:
        stored = await UserSessionRepository(fresh).get_by_session_id("abc")
    assert stored is not None and stored.expires_at == expires


@pytest.mark.parametrize("session_id", ["never-existed", "expired", "ended"])
async def test_extend_and_deactivate_of_missing_or_inactive_session_are_not_found(
    db: AsyncSession, session_id: str
) -> None:
    await seed_sessions(db)
    repo = UserSessionRepository(db)
    with pytest.raises(NotFoundError) as caught:
        await repo.extend(session_id, 60)
    assert session_id not in str(caught.value)  # a session id is never shown
    assert caught.value.fields == ("session_id",)
    with pytest.raises(NotFoundError):
        await repo.deactivate(session_id)
    assert ids(await repo.get_all()) == {"live", "forever"}  # still usable, nothing changed


async def test_deactivate_ends_the_session(db: AsyncSession, sessions: Sessions) -> None:
    made = await open_session(db, "abc", expires_at=now() + HOUR)
    created_updated_at = made.updated_at
    ended = await UserSessionRepository(db).deactivate("abc")
    assert ended.id == made.id and ended.is_active is False
    assert ended.updated_at > created_updated_at
    async with sessions() as fresh:
        repo = UserSessionRepository(fresh)
        assert await repo.get_by_session_id("abc") is None
        stored = await repo.get_by_id(made.id)
    assert stored is not None and stored.is_active is False


async def test_cleanup_expired_deactivates_only_expired_sessions(
    db: AsyncSession, sessions: Sessions
) -> None:
    made = await seed_sessions(db)
    assert await UserSessionRepository(db).cleanup_expired() == 2
    async with sessions() as fresh:
        repo = UserSessionRepository(fresh)
        stored = {NAMED[s.session_id]: s for s in await repo.get_all(include_inactive=True)}
        assert await repo.cleanup_expired() == 0  # nothing left to do
    assert {name for name, s in stored.items() if s.is_active} == {"live", "forever"}
    assert stored["ended-expired"].updated_at == made["ended-expired"].updated_at  # not counted
    assert stored["expired"].updated_at > made["expired"].updated_at
    assert stored["live"].updated_at == made["live"].updated_at


# -- UserSession: writes --------------------------------------------------------------


async def test_session_id_is_unique(db: AsyncSession, sessions: Sessions) -> None:
    await open_session(db, "abc", expires_at=now() - HOUR)  # expired still holds its id
    with pytest.raises(ConflictError) as caught:
        await open_session(db, "abc")
    assert caught.value.constraint == "uq_user_sessions_session_id"
    assert "abc" not in str(caught.value) and session_digest("abc") not in str(caught.value)
    assert await rows_in(sessions, UserSession) == 1
    await open_session(db, "abd")


async def test_data_round_trips_as_json(db: AsyncSession, sessions: Sessions) -> None:
    data = {
        "step": 3,
        "cart": [{"sku": "A-1", "qty": 2, "price": 9.5}],
        "flags": {"vip": True, "coupon": None},
        "name": "Zoë — 東京",
    }
    made = await open_session(db, "abc", data=data, client_email=" Zoe@Example.COM ")
    assert made.client_email == "zoe@example.com"
    async with sessions() as fresh:
        stored = await UserSessionRepository(fresh).get_by_session_id("abc")
    assert stored is not None and stored.data == data
    updated = await UserSessionRepository(db).update(made.id, {"data": {"step": 4}})
    assert updated.data == {"step": 4}
    async with sessions() as fresh:
        stored = await UserSessionRepository(fresh).get_by_session_id("abc")
    assert stored is not None and stored.data == {"step": 4}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"expires_at": datetime(2030, 1, 1)}, "expires_at"),
        ({"client_email": "not-an-email"}, "client_email"),
        ({"data": "{}"}, "data"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": "s" * 129}, "session_id"),
    ],
)
async def test_session_input_is_validated(
    db: AsyncSession, sessions: Sessions, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await UserSessionRepository(db).create({"session_id": "abc", **extra})
    assert caught.value.fields == (field,)
    assert await rows_in(sessions, UserSession) == 0


# -- AdminLog -------------------------------------------------------------------------


async def seed_logs(db: AsyncSession) -> list[AdminLog]:
    """Five entries, logged one after another (so oldest first in the returned list)."""
    repo = AdminLogRepository(db)
    return [
        await repo.log(1, "specialist.create", resource_type="specialist", resource_id=10),
        await repo.log(2, "specialist.update", resource_type="specialist", resource_id=10),
        await repo.log(1, "booking.cancel", resource_type="booking", resource_id=10),
        await repo.log(1, "specialist.update", resource_type="specialist", resource_id=11),
        await repo.log(3, "login", ip_address="10.0.0.7", user_agent="curl/8.0"),
    ]


def entry_ids(found: list[AdminLog]) -> list[int]:
    return [entry.id for entry in found]


async def test_log_stores_an_entry(db: AsyncSession, sessions: Sessions) -> None:
    details = {"changed": ["email"], "old": {"email": "a@x.io"}, "by": "Zoë"}
    entry = await AdminLogRepository(db).log(
        7,
        "specialist.update",
        resource_type="specialist",
        resource_id=42,
        details=details,
        ip_address="2001:db8::1",
        user_agent="Mozilla/5.0",
    )
    assert entry.id is not None and entry.created_at.utcoffset() == timedelta(0)
    assert abs(entry.created_at - now()) < timedelta(seconds=5)
    async with sessions() as fresh:
        stored = await AdminLogRepository(fresh).get_by_id(entry.id)
    assert stored is not None
    assert (stored.admin_id, stored.action, stored.resource_type, stored.resource_id) == (
        7,
        "specialist.update",
        "specialist",
        42,
    )
    assert stored.details == details and stored.ip_address == "2001:db8::1"


@pytest.mark.parametrize(
    ("args", "field"),
    [((1, ""), "action"), (("1", "login"), "admin_id"), ((1, "x" * 101), "action")],
)
async def test_log_validates_its_input(
    db: AsyncSession, sessions: Sessions, args: tuple[Any, ...], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await AdminLogRepository(db).log(*args)
    assert caught.value.fields == (field,)
    assert await rows_in(sessions, AdminLog) == 0


async def test_log_lookups_are_newest_first(db: AsyncSession) -> None:
    logs = await seed_logs(db)
    repo = AdminLogRepository(db)
    by_index = {entry.id: index for index, entry in enumerate(logs)}

    def indexes(found: list[AdminLog]) -> list[int]:
        return [by_index[i] for i in entry_ids(found)]

    assert indexes(await repo.get_all()) == [4, 3, 2, 1, 0]
    assert indexes(await repo.get_by_admin(1)) == [3, 2, 0]
    assert indexes(await repo.get_by_admin(99)) == []
    assert indexes(await repo.get_by_resource("specialist", 10)) == [1, 0]
    assert indexes(await repo.get_by_resource("booking", 10)) == [2]
    assert indexes(await repo.get_by_resource("specialist", 12)) == []
    assert indexes(await repo.get_by_action("specialist.update")) == [3, 1]
    assert indexes(await repo.get_by_action("specialist")) == []  # equality, not substring


async def test_get_between_is_start_inclusive_end_exclusive(db: AsyncSession) -> None:
    logs = await seed_logs(db)
    repo = AdminLogRepository(db)
    first, second, third = logs[0], logs[1], logs[2]
    found = await repo.get_between(first.created_at, third.created_at)
    assert entry_ids(found) == [second.id, first.id]
    everything = await repo.get_between(first.created_at - HOUR, now() + HOUR)
    assert len(everything) == 5
    assert await repo.get_between(now() + HOUR, now() + 2 * HOUR) == []


async def test_get_between_accepts_any_aware_offset(db: AsyncSession) -> None:
    logs = await seed_logs(db)
    plus_five = timezone(timedelta(hours=5))
    start = logs[1].created_at.astimezone(plus_five)
    end = logs[3].created_at.astimezone(timezone(timedelta(hours=-7)))
    found = await AdminLogRepository(db).get_between(start, end)
    assert entry_ids(found) == [logs[2].id, logs[1].id]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(2030, 1, 1), datetime(2030, 1, 2, tzinfo=UTC), "start"),
        (datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 2), "end"),
        ("2030-01-01", datetime(2030, 1, 2, tzinfo=UTC), "start"),
    ],
)
async def test_get_between_refuses_naive_bounds(
    db: AsyncSession, start: Any, end: Any, field: str
) -> None:
    await seed_logs(db)
    repo = AdminLogRepository(db)
    with pytest.raises(ValidationError) as caught:
        await repo.get_between(start, end)
    assert caught.value.fields == (field,)
    assert len(await repo.get_all()) == 5


async def test_admin_log_is_append_only(db: AsyncSession, sessions: Sessions) -> None:
    logs = await seed_logs(db)
    target = logs[0]
    repo = AdminLogRepository(db)
    for method in ("update", "delete", "hard_delete"):
        assert not hasattr(repo, method), method  # append-only: no call changes a row
    async with sessions() as fresh:
        stored = await AdminLogRepository(fresh).get_by_id(target.id)
        assert await AdminLogRepository(fresh).count() == 5
    assert stored is not None and stored.action == "specialist.create"
    assert (await repo.log(1, "still.works")).id is not None


async def test_admin_log_search_covers_action(db: AsyncSession) -> None:
    logs = await seed_logs(db)
    repo = AdminLogRepository(db)
    found = await repo.search("SPECIALIST.UPD")
    assert entry_ids(found) == [logs[3].id, logs[1].id]
    assert entry_ids(await repo.search("curl")) == [logs[4].id]
    assert entry_ids(await repo.search("booking.cancel")) == [logs[2].id]
    assert entry_ids(await repo.search("specialist_update")) == []  # "_" is literal
    assert await repo.search("  ") == []
    assert len(await repo.search("specialist", limit=2)) == 2


async def test_admin_log_create_many_and_filters(db: AsyncSession, sessions: Sessions) -> None:
    repo = AdminLogRepository(db)
    made = await repo.create_many(
        {"admin_id": n % 3, "action": f"import.{n}", "details": {"n": n}} for n in range(30)
    )
    assert [entry.details for entry in made] == [{"n": n} for n in range(30)]
    assert await repo.count(filters={"admin_id": [0, 2]}) == 20
    assert await rows_in(sessions, AdminLog) == 30
