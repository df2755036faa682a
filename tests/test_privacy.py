"""Privacy and security: hashed session ids, a database-guarded admin log, erasure.

Every database test runs on SQLite and PostgreSQL. The session-id tests look for
the id in everything a caller or an operator can see: results, reprs, error
messages and the SQL log with bound parameters (``SQLALCHEMY_ECHO=1``).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from alembic import command
from asyncdata._schema import alembic_config
from asyncdata.database import (
    create_engine,
    dispose_engine,
    get_db,
    init_db,
    session_factory,
    transaction,
)
from asyncdata.errors import AsyncDataError, ValidationError
from asyncdata.models import AdminLog, Booking, UserSession
from asyncdata.repositories import AdminLogRepository, BookingRepository, UserSessionRepository
from asyncdata.repositories._erasure import (
    ERASE_ACTION,
    ERASED,
    ERASED_EMAIL,
    ERASED_NAME,
    Erased,
    check_erased,
)
from tests.helpers import PG_URL, Sessions, columns_of, make_specialist, next_weekday, pg_admin


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# -- session ids ---------------------------------------------------------------------------


async def test_start_returns_a_random_id_once_and_stores_only_its_digest(
    db: AsyncSession, sessions: Sessions
) -> None:
    before = datetime.now(UTC)
    made, session_id = await UserSessionRepository(db).start(
        ttl_seconds=3600, client_name="Ada", client_email=" Ada@Example.COM ", data={"step": 1}
    )
    other, other_id = await UserSessionRepository(db).start(ttl_seconds=60)
    assert session_id != other_id and len(session_id) >= 43  # 256 bits, URL-safe base64
    assert set(session_id) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert made.session_id == sha256(session_id) and other.session_id == sha256(other_id)
    assert made.client_email == "ada@example.com" and made.data == {"step": 1}
    assert made.expires_at is not None
    assert before + timedelta(seconds=3600) <= made.expires_at
    assert made.expires_at <= datetime.now(UTC) + timedelta(seconds=3600)
    async with sessions() as fresh:
        raw = (await fresh.execute(select(UserSession.__table__))).all()
    assert session_id not in repr(raw) and other_id not in repr(raw)
    assert {row.session_id for row in raw} == {sha256(session_id), sha256(other_id)}


async def test_a_session_is_found_by_its_id_not_by_its_digest_nor_a_prefix(
    db: AsyncSession,
) -> None:
    repo = UserSessionRepository(db)
    made, session_id = await repo.start(ttl_seconds=600)
    found = await repo.get_by_session_id(session_id)
    assert found is not None and found.id == made.id
    for wrong in (sha256(session_id), session_id[:-1], session_id[:16], session_id + "x", ""):
        assert await repo.get_by_session_id(wrong) is None, wrong
    assert await repo.count(filters={"session_id": session_id}) == 1
    assert await repo.count(filters={"session_id": [session_id, "other"]}) == 1
    assert await repo.count(filters={"session_id": sha256(session_id)}) == 0
    assert await repo.search(session_id[:10]) == []
    assert await repo.search(sha256(session_id)[:10]) == []
    assert (await repo.extend(session_id, 60)).id == made.id
    assert (await repo.deactivate(session_id)).is_active is False


@pytest.mark.parametrize("ttl", [0, -1, 1.5, "60", True, None, 10**12])
async def test_start_refuses_a_bad_ttl_before_any_sql(
    db: AsyncSession, sessions: Sessions, ttl: Any, count_statements: Any
) -> None:
    with count_statements() as counter, pytest.raises(ValidationError) as caught:
        await UserSessionRepository(db).start(ttl_seconds=ttl)
    assert caught.value.fields == ("ttl_seconds",)
    assert counter.count == 0


async def test_a_caller_given_id_is_stored_as_its_digest_too(db: AsyncSession) -> None:
    repo = UserSessionRepository(db)
    made = await repo.create({"session_id": "caller-made-id"})
    assert made.session_id == sha256("caller-made-id")
    moved = await repo.update(made.id, {"session_id": "rotated-id"})
    assert moved.session_id == sha256("rotated-id")
    assert await repo.get_by_session_id("caller-made-id") is None
    found = await repo.get_by_session_id("rotated-id")
    assert found is not None and found.id == made.id


SECRET = "Sess1on-S3cret-" + "q" * 20


async def session_calls(db: AsyncSession) -> list[Any]:
    """Every session call, succeeding and failing, on ``SECRET``; returns what came back
    (results and the errors raised)."""
    repo = UserSessionRepository(db)
    outcomes: list[Any] = []

    async def attempt(call: Any) -> None:
        try:
            outcomes.append(await call)
        except AsyncDataError as exc:
            outcomes.append(exc)

    await attempt(repo.create({"session_id": SECRET, "client_name": "Zoë"}))
    await attempt(repo.create({"session_id": SECRET}))  # duplicate: ConflictError
    await attempt(repo.create({"session_id": SECRET + "\x00"}))  # ValidationError
    await attempt(repo.create({"session_id": SECRET * 5}))  # too long
    await attempt(repo.create_many([{"session_id": SECRET + "2"}, {"session_id": SECRET + "2"}]))
    await attempt(repo.get_by_session_id(SECRET))
    await attempt(repo.get_by_session_id(SECRET + "\ud800"))
    await attempt(repo.extend(SECRET, 60))
    await attempt(repo.extend(SECRET + "-missing", 60))  # NotFoundError
    await attempt(repo.extend(SECRET, -5))
    await attempt(repo.get_all(filters={"session_id": [SECRET, SECRET + "\x00"]}))
    await attempt(repo.count(filters={"session_id": SECRET}))
    await attempt(repo.search(SECRET))
    await attempt(repo.deactivate(SECRET))
    await attempt(repo.deactivate(SECRET))  # no longer active: NotFoundError
    made = await repo.get_all(include_inactive=True)
    await attempt(repo.update(made[0].id, {"session_id": SECRET + "\x00"}))
    await attempt(repo.start(ttl_seconds=60))
    return outcomes


def shown(outcomes: list[Any]) -> list[str]:
    texts = []
    for outcome in outcomes:
        texts += [str(outcome), repr(outcome)]
        if isinstance(outcome, list):
            texts += [repr(item) for item in outcome]
    return texts


async def test_the_id_is_in_no_message_repr_or_log_record(
    db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    outcomes = await session_calls(db)
    kinds = {type(o).__name__ for o in outcomes}
    assert {"ConflictError", "ValidationError", "NotFoundError", "UserSession"} <= kinds
    logged = [record.getMessage() for record in caplog.records]
    assert any(sha256(SECRET) in line for line in logged)  # parameters are logged: digests
    for line in shown(outcomes) + logged:
        assert SECRET not in line, line


async def test_with_sqlalchemy_echo_on_bound_parameters_carry_only_the_digest(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DB_URL", db_url)
    monkeypatch.setenv("SQLALCHEMY_ECHO", "1")
    await dispose_engine()
    try:
        async with get_db() as db:
            assert db.get_bind().echo is True
            outcomes = await session_calls(db)
    finally:
        await dispose_engine()
    logged = [
        record.getMessage() for record in caplog.records if record.name.startswith("sqlalchemy")
    ]
    assert any("INSERT INTO user_sessions" in line for line in logged)
    assert any(sha256(SECRET) in line for line in logged)
    for line in shown(outcomes) + logged:
        assert SECRET not in line, line


# -- the admin log, append-only in the database -------------------------------------------


async def seed_log(db: AsyncSession) -> AdminLog:
    return await AdminLogRepository(db).log(1, "login", details={"n": 1})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE admin_logs SET action = 'forged'",
        "UPDATE admin_logs SET details = NULL WHERE id = 1",
        "DELETE FROM admin_logs",
        "DELETE FROM admin_logs WHERE id = 1",
    ],
)
async def test_update_and_delete_on_a_raw_connection_are_refused(
    db: AsyncSession, engine: AsyncEngine, sessions: Sessions, statement: str
) -> None:
    entry = await seed_log(db)
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text(statement))
        await conn.rollback()
    assert "admin_logs" in str(caught.value)
    async with sessions() as fresh:
        stored = await AdminLogRepository(fresh).get_all()
    assert [(e.id, e.action, e.details) for e in stored] == [(entry.id, "login", {"n": 1})]
    assert (await AdminLogRepository(db).log(2, "still.appends")).id == entry.id + 1


async def test_truncate_is_refused_on_postgresql(
    db: AsyncSession, engine: AsyncEngine, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (its DELETE FROM is refused, above)")
    await seed_log(db)
    async with engine.connect() as conn:
        with pytest.raises(DBAPIError):
            await conn.execute(text("TRUNCATE admin_logs"))
        await conn.rollback()
    assert await AdminLogRepository(db).count() == 1


@pytest.mark.parametrize("path", ["alembic", "create_all"])
async def test_both_schema_paths_guard_the_log(
    bare_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
) -> None:
    if path == "create_all":
        monkeypatch.setenv("ALEMBIC_CONFIG", str(tmp_path / "missing.ini"))
    assert await init_db(bare_engine) == path
    async with session_factory(bare_engine)() as db:
        entry = await seed_log(db)
    for statement in ("UPDATE admin_logs SET action = 'x'", "DELETE FROM admin_logs"):
        async with bare_engine.connect() as conn:
            with pytest.raises(DBAPIError):
                await conn.execute(text(statement))
            await conn.rollback()
    async with session_factory(bare_engine)() as db:
        assert [e.action for e in await AdminLogRepository(db).get_all()] == [entry.action]


async def test_a_refusal_reaching_a_library_write_is_a_validation_error(
    db: AsyncSession,
) -> None:
    entry = await seed_log(db)
    repo = AdminLogRepository(db)
    with pytest.raises(ValidationError, match="append-only"):
        async with repo.writing():
            await db.execute(update(AdminLog).where(AdminLog.id == entry.id).values(action="x"))
    stored = await repo.get_by_id(entry.id)
    assert stored is not None and stored.action == "login"


# -- erase_client ---------------------------------------------------------------------------

NAME, EMAIL, PHONE = "Grace Hopper", "Grace.Hopper@Example.COM", "+1 555 0100"
NOTE = "allergic to penicillin"
NEEDLES = ("grace", "hopper", "555 0100", "5550100", "penicillin", "10.9.8.7", "navybrowser")
"""Fragments of everything personal about the erased client, case-folded."""


async def client_world(db: AsyncSession) -> dict[str, Any]:
    """A client with three bookings (pending, confirmed, cancelled with a reason) and two
    sessions, and another client with one booking and one session. The bookings' history
    has every kind of entry that could carry client data: updates together with a move
    and with a status change, an earlier address, a cancellation by the client."""
    specialist = await make_specialist(db)
    repo = BookingRepository(db)
    day = next_weekday(1)

    async def book(hour: int, **fields: Any) -> Booking:
        data = {
            "specialist_id": specialist.id,
            "client_name": NAME,
            "client_email": EMAIL,
            "client_phone": PHONE,
            "booking_date": day,
            "booking_time": time(hour),
            "duration_minutes": 30,
            "notes": NOTE,
            **fields,
        }
        return await repo.create(data)

    mine = [await book(9), await book(10), await book(11, client_email="grace.h@navy.example")]
    await repo.confirm(mine[1].id)
    moved = {"client_phone": PHONE + "0", "notes": NOTE + " again", "booking_time": time(14)}
    await repo.update(mine[0].id, moved)  # a "rescheduled" entry
    await repo.update(mine[0].id, {"client_phone": PHONE, "notes": NOTE, "status": "confirmed"})
    await repo.update(mine[2].id, {"client_email": "grace.hopper@example.com"})  # new address
    await repo.cancel(mine[2].id, reason="Grace Hopper is travelling", actor=EMAIL)
    theirs = await book(
        12,
        client_name="Alan Turing",
        client_email="alan@example.com",
        client_phone="+44 20 7946 0000",
        notes=None,
    )
    sessions = UserSessionRepository(db)
    for n in range(2):
        await sessions.start(
            ttl_seconds=3600,
            client_name=NAME,
            client_email=f"  GRACE.hopper@example.com{' ' * n}",
            client_phone=PHONE,
            ip_address="10.9.8.7",
            user_agent="NavyBrowser/1.0",
            data={"email": EMAIL, "note": NOTE},
        )
    other_session, _ = await sessions.start(ttl_seconds=3600, client_email="alan@example.com")
    return {"mine": mine, "theirs": theirs, "other_session": other_session}


async def every_value(engine: AsyncEngine) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every column of every table the inspector lists."""

    def read(conn: Connection) -> list[tuple[str, str, Any]]:
        found = []
        inspector = inspect(conn)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                name = column["name"]
                query = text(f'SELECT "{name}" FROM "{table}"')
                found += [(table, name, value) for (value,) in conn.execute(query)]
        return found

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def traces(values: list[tuple[str, str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (table, column, needle)
        for table, column, value in values
        for needle in NEEDLES
        if value is not None and needle in str(value).casefold()
    ]


KEPT = ("specialist_id", "booking_date", "booking_time", "duration_minutes", "starts_at")
KEPT += ("ends_at", "status", "created_at")


async def test_erase_client_leaves_no_trace_and_keeps_times_and_statuses(
    db: AsyncSession,
    engine: AsyncEngine,
    sessions: Sessions,
    count_statements: Any,
    backend: str,
) -> None:
    world = await client_world(db)
    before = {b.id: columns_of(b) for b in await BookingRepository(db).get_all()}
    assert len(traces(await every_value(engine))) > 10  # the scan does see the client

    with count_statements() as counter:
        erased = await BookingRepository(db).erase_client("  grace.HOPPER@example.com ")
    assert erased == 5  # three bookings, two sessions
    # bookings, their history's free text, sessions; on SQLite the two search indexes
    # merged (optimize); the log entry
    optimize = ["INSERT", "INSERT"] if backend == "sqlite" else []
    assert [s.split()[0].upper() for s in counter.statements] == [
        *["UPDATE"] * 3,
        *optimize,
        "INSERT",
    ]

    assert traces(await every_value(engine)) == []
    async with sessions() as fresh:
        bookings = {b.id: columns_of(b) for b in await BookingRepository(fresh).get_all()}
        logs = await AdminLogRepository(fresh).get_by_action(ERASE_ACTION)
        mine = await UserSessionRepository(fresh).get_all(include_inactive=True)
        assert await BookingRepository(fresh).get_by_client_email(EMAIL) == []
        assert await BookingRepository(fresh).search("hopper") == []
    for booking in world["mine"]:
        row = bookings[booking.id]
        assert {k: row[k] for k in KEPT} == {k: before[booking.id][k] for k in KEPT}
        assert (row["client_name"], row["client_email"]) == (ERASED_NAME, ERASED_EMAIL)
        assert row["client_phone"] is None and row["notes"] is None
        assert row["updated_at"] >= before[booking.id]["updated_at"]
    theirs = world["theirs"].id
    assert bookings[theirs] == before[theirs]  # another client's booking is untouched
    erased_sessions = [s for s in mine if s.client_email == ERASED_EMAIL]
    assert len(erased_sessions) == 2 and not any(s.is_active for s in erased_sessions)
    assert all(s.data is None and s.ip_address is None for s in erased_sessions)
    assert [s.id for s in mine if s.is_active] == [world["other_session"].id]
    assert len(logs) == 1
    assert logs[0].resource_type == "client" and logs[0].admin_id == 0
    async with sessions() as fresh:
        assert [e.id for e in await AdminLogRepository(fresh).search("CLIENT.ERASE")] == [
            logs[0].id
        ]
    assert {k: v for k, v in logs[0].details.items() if k != "booking_changes"} == {
        "bookings": sorted(b.id for b in world["mine"]),
        "user_sessions": sorted(s.id for s in erased_sessions),
    }
    assert logs[0].details["booking_changes"]  # the history rows whose values were erased


async def test_erase_client_leaves_no_fragment_in_the_search_index_storage(
    db: AsyncSession, engine: AsyncEngine, backend: str
) -> None:
    """SQLite's FTS5 index keeps a deleted text's trigrams in its storage until segments
    merge; erasure merges them, so none of the erased email's trigrams survive there."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL has no FTS storage tables (its trigram index follows the row)")
    await client_world(db)
    folded = EMAIL.casefold()
    grams = {folded[i : i + 3].encode() for i in range(len(folded) - 2)}

    async def stored(table: str) -> set[bytes]:
        """The email's trigrams in the index storage that no live row's text has."""
        async with engine.connect() as conn:
            blobs = (await conn.execute(text(f"SELECT block FROM {table}_search_data"))).scalars()
            texts = await conn.execute(text(f"SELECT search_text FROM {table}"))
            live = " ".join(texts.scalars())
        return {g for blob in blobs if blob for g in grams if g in blob} - {
            g for g in grams if g.decode() in live
        }

    await BookingRepository(db).erase_client(EMAIL)
    assert await stored("bookings") == set()
    assert await stored("user_sessions") == set()


async def test_erase_client_is_idempotent(
    db: AsyncSession, engine: AsyncEngine, count_statements: Any
) -> None:
    await client_world(db)
    repo = BookingRepository(db)
    assert await repo.erase_client(EMAIL, admin_id=7) == 5
    after = await every_value(engine)
    for again in (EMAIL, EMAIL.upper(), ERASED_EMAIL, "nobody@example.com", "  "):
        with count_statements() as counter:
            assert await repo.erase_client(again, admin_id=7) == 0
        assert counter.count <= 2 and "INSERT" not in " ".join(counter.statements)
    assert await every_value(engine) == after
    logs = await AdminLogRepository(db).get_by_action(ERASE_ACTION)
    assert [(e.admin_id, e.action) for e in logs] == [(7, ERASE_ACTION)]


async def test_erase_client_updates_what_the_session_holds(db: AsyncSession) -> None:
    world = await client_world(db)
    loaded = await BookingRepository(db).get_by_id(world["mine"][0].id)
    assert loaded is not None and loaded.client_name == NAME
    await BookingRepository(db).erase_client(EMAIL)
    assert (loaded.client_name, loaded.client_email, loaded.notes) == (
        ERASED_NAME,
        ERASED_EMAIL,
        None,
    )


async def test_erase_client_in_a_failed_block_erases_nothing(
    db: AsyncSession, engine: AsyncEngine
) -> None:
    world = await client_world(db)
    loaded = await BookingRepository(db).get_by_id(world["mine"][0].id)
    assert loaded is not None
    before = await every_value(engine)
    with pytest.raises(RuntimeError):
        async with transaction(db):
            assert await BookingRepository(db).erase_client(EMAIL) == 5
            raise RuntimeError("the caller changes its mind")
    assert await every_value(engine) == before
    assert loaded.client_name == NAME and loaded.notes == NOTE


@pytest.mark.parametrize(
    ("args", "keywords", "field"),
    [
        ((5,), {}, "email"),
        ((None,), {}, "email"),
        (("a\x00@example.com",), {}, "email"),
        ((EMAIL,), {"admin_id": "1"}, "admin_id"),
        ((EMAIL,), {"admin_id": 2**63}, "admin_id"),
    ],
)
async def test_erase_client_validates_before_any_sql(
    db: AsyncSession,
    engine: AsyncEngine,
    count_statements: Any,
    args: tuple[Any, ...],
    keywords: dict[str, Any],
    field: str,
) -> None:
    await client_world(db)
    with count_statements() as counter, pytest.raises(ValidationError) as caught:
        await BookingRepository(db).erase_client(*args, **keywords)
    assert caught.value.fields == (field,)
    assert counter.count == 0
    assert len(traces(await every_value(engine))) > 10


def test_the_erased_list_is_checked() -> None:
    check_erased()
    with pytest.raises(TypeError, match="folded"):
        check_erased((Erased("bookings", {"client_name": ERASED_NAME}),))
    with pytest.raises(TypeError, match="no column"):
        check_erased((*ERASED, Erased("admin_logs", {"nope": None}, email_column="action")))
    with pytest.raises(TypeError, match="must come first"):
        check_erased((Erased("user_sessions", {}, parent=("id", "bookings")),))


# -- migration 0007 --------------------------------------------------------------------------


@pytest.fixture
async def bare_engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of this test's own (dropped afterwards)."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/privacy.db")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    name = f"asyncdata_privacy_{uuid.uuid4().hex[:12]}"
    await pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(PG_URL).set(database=name))
    try:
        yield engine
    finally:
        await engine.dispose()
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def migrate_to(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        config.attributes["configure_logger"] = False
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_migration_hashes_stored_ids_and_guards_the_log(bare_engine: AsyncEngine) -> None:
    await migrate_to(bare_engine, "0003_folded_text")
    async with bare_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO user_sessions (session_id, client_name, search_text, is_active, "
                "created_at, updated_at) VALUES ('old-id-é', 'Zoë', 'old-id-é\x1fzoë\x1f\x1f\x1f', "
                "true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO admin_logs (admin_id, action, search_text, created_at) "
                "VALUES (1, 'login', 'login', CURRENT_TIMESTAMP)"
            )
        )
    await migrate_to(bare_engine, "0007_privacy")
    async with session_factory(bare_engine)() as db:
        found = await UserSessionRepository(db).get_by_session_id("old-id-é")
        assert found is not None and found.session_id == sha256("old-id-é")
        assert found.search_text == "\x1f".join(["zoë", "", "", ""])
        assert await UserSessionRepository(db).search("old-id") == []
    async with bare_engine.connect() as conn:
        with pytest.raises(DBAPIError):
            await conn.execute(text("DELETE FROM admin_logs"))
        await conn.rollback()

    await migrate_to(bare_engine, "0003_folded_text", down=True)
    async with bare_engine.begin() as conn:
        stored = (
            await conn.execute(text("SELECT session_id, search_text FROM user_sessions"))
        ).one()
        assert stored == (sha256("old-id-é"), "\x1f".join([sha256("old-id-é"), "zoë", "", "", ""]))
        await conn.execute(text("DELETE FROM admin_logs"))  # the guard is gone
