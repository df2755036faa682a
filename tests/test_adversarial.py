"""Property-based attack on every public repository call, with the contract as the oracle.

For each call, hypothesis generates arguments that are mostly valid with a
hostile value mixed in (wrong types, out-of-range integers, NUL and lone
surrogates, NaN in JSON, dates at the ends of the calendar, shapes that are
not what the signature says). The properties:

* the only outcomes are a result or an ``AsyncDataError``; anything else escapes;
* after a rejected call nothing was written (every table compared with a
  snapshot taken before), the same session still works and objects loaded
  before it stay readable;
* a reported success is really stored: a fresh session reads what was returned;
* the same input has the same outcome on SQLite and PostgreSQL: the same error
  class, or the same result (``test_same_outcome_on_both_backends`` runs each
  input on both, side by side, each inside a rolled-back ``transaction(db)``).
"""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata.database import create_engine, session_factory, transaction
from asyncdata.errors import AsyncDataError
from asyncdata.models import (
    AdminLog,
    Base,
    Booking,
    DateOverride,
    DayOff,
    Schedule,
    Specialist,
    UserSession,
)
from asyncdata.repositories import (
    AdminLogRepository,
    BookingRepository,
    DateOverrideRepository,
    DayOffRepository,
    ScheduleRepository,
    SpecialistRepository,
    UserSessionRepository,
)
from asyncdata.repositories._paging import Page, encode_cursor, order_keys
from tests.helpers import Sessions, columns_of, pg_admin, seed, snapshot, stored

EXAMPLES = int(os.environ.get("ADVERSARIAL_EXAMPLES", "30"))
"""Inputs per call in the both-backends test (two thirds of it per backend in the other);
``ADVERSARIAL_EXAMPLES=500`` for a long hunt."""
_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
A_SETTINGS = settings(max_examples=max(1, EXAMPLES * 2 // 3), **_SETTINGS)
B_SETTINGS = settings(max_examples=EXAMPLES, **_SETTINGS)
INPUTS: Counter[str] = Counter()
"""Inputs run per call and backend, for the closing summary."""

# -- values -----------------------------------------------------------------------------

NOT_INTS = [True, False, 1.5, math.nan, Decimal("1"), "1", None, b"1", [1], {}]
EDGE_INTS = [0, -1, 2**15, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]
NASTY_TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\x1f", "%", "_", "\\", "/%"]
NASTY_TEXT += ["İstanbul", "ΟΔΟΣ", "\u212a", "ß", "x" * 321, "Ab" * 30_000]
NOT_TEXT: list[Any] = [None, 5, b"bytes", ["a"], True]
FAR_DATES = [date(1, 1, 1), date(1, 1, 2), date(9999, 12, 29), date(9999, 12, 31)]
NOT_DATES: list[Any] = [None, True, "2030-01-01", datetime(2030, 1, 1), 20300101]
FAR_INSTANTS = [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2030, 1, 1),  # naive
]

ids = st.one_of(st.integers(1, 9), st.sampled_from(EDGE_INTS), st.sampled_from(NOT_INTS))
texts = st.one_of(st.text(max_size=12), st.sampled_from(NASTY_TEXT), st.sampled_from(NOT_TEXT))
small_text = st.text(max_size=12)
flags = st.one_of(st.booleans(), st.booleans(), st.sampled_from([None, 1, "yes"]))
soon = st.integers(7, 40).map(lambda n: date.today() + timedelta(days=n))
dates = st.one_of(soon, st.dates(), st.sampled_from(FAR_DATES), st.sampled_from(NOT_DATES))
work_times = st.integers(36, 66).map(lambda q: time(q // 4, q % 4 * 15))
times = st.one_of(
    work_times, st.times(), st.sampled_from([None, "10:00", 10, time(10, tzinfo=UTC)])
)
instants = st.one_of(
    st.datetimes(timezones=st.just(UTC)), st.sampled_from(FAR_INSTANTS), st.sampled_from(NOT_DATES)
)
numbers = st.one_of(st.integers(-3, 2000), st.sampled_from(EDGE_INTS + NOT_INTS))
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
json_values = st.one_of(
    st.recursive(
        json_leaf,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(small_text, inner, max_size=3),
        max_leaves=6,
    ),
    st.sampled_from([{1: "int key"}, {"x": {1}}, {"x": b"b"}, [math.inf], "text", 5]),
)
emails = st.builds(
    lambda local, n: f"{local}{n}@Example.com",
    st.text(alphabet="abXYZßİK.", min_size=1, max_size=8),
    st.integers(0, 10**6),
)


def rows(valid: dict[str, Any], optional: dict[str, Any], nasty: dict[str, Any]) -> Any:
    """Row dicts: valid, or valid with one hostile field, an unknown key, or not a dict."""
    base = st.fixed_dictionaries(valid, optional=optional)
    spoiled = base.flatmap(
        lambda row: st.sampled_from(sorted(nasty)).flatmap(
            lambda key: nasty[key].map(lambda value: {**row, key: value})
        )
    )
    odd = st.sampled_from([None, "row", [("name", "x")], {"id": 1}, {"search_text": "x"}])
    return st.one_of(base, spoiled, spoiled, odd, base.map(lambda row: {**row, "bogus": 1}))


def partial(fields: dict[str, Any]) -> Any:
    return st.one_of(
        st.fixed_dictionaries({}, optional=fields), st.sampled_from([None, [], {"bogus": 1}])
    )


SPECIALIST = {
    "name": texts,
    "email": st.one_of(emails, texts),
    "phone": texts,
    "specialization": texts,
    "bio": texts,
    "languages": texts,
    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Nope/Zone", "", "utc", "\x00"]),
    "is_active": flags,
    "buffer_before_minutes": numbers,
    "buffer_after_minutes": numbers,
    "min_notice_minutes": numbers,
    "max_advance_days": st.one_of(st.none(), numbers),
}
SCHEDULE = {
    "specialist_id": ids,
    "day_of_week": numbers,
    "start_time": times,
    "end_time": times,
    "is_active": flags,
}
DAY_OFF = {"specialist_id": ids, "date": dates, "reason": texts, "is_active": flags}
DATE_OVERRIDE = {
    "specialist_id": ids,
    "override_date": dates,
    "start_time": st.one_of(st.none(), times),
    "end_time": st.one_of(st.none(), times),
}
BOOKING = {
    "specialist_id": ids,
    "client_name": texts,
    "client_email": st.one_of(emails, texts),
    "client_phone": texts,
    "booking_date": dates,
    "booking_time": times,
    "duration_minutes": numbers,
    "notes": texts,
    "status": st.sampled_from(["pending", "confirmed", "cancelled", "PENDING", None, 1]),
}
SESSION = {
    "session_id": texts,
    "client_name": texts,
    "client_email": st.one_of(emails, texts),
    "data": json_values,
    "expires_at": instants,
    "is_active": flags,
}
LOG = {
    "admin_id": numbers,
    "action": texts,
    "resource_type": texts,
    "resource_id": numbers,
    "details": json_values,
    "ip_address": texts,
    "user_agent": texts,
}
VALID = {
    Specialist: ({"name": small_text, "email": emails}, {"bio": small_text}),
    Schedule: (
        {
            "specialist_id": st.integers(1, 5),
            "day_of_week": st.integers(0, 6),
            "start_time": st.integers(17, 20).map(time),
            "end_time": st.integers(21, 23).map(time),
        },
        {},
    ),
    DayOff: ({"specialist_id": st.integers(1, 5), "date": soon}, {"reason": small_text}),
    DateOverride: (
        {
            "specialist_id": st.integers(1, 5),
            "override_date": soon,
            "start_time": st.integers(6, 11).map(time),
            "end_time": st.integers(12, 20).map(time),
        },
        {},
    ),
    Booking: (
        {
            "specialist_id": st.integers(1, 5),
            "client_name": small_text,
            "client_email": emails,
            "booking_date": soon,
            "booking_time": work_times,
        },
        {"duration_minutes": st.sampled_from([15, 30, 60]), "notes": small_text},
    ),
    UserSession: (
        {"session_id": st.builds(lambda n: f"s{n}", st.integers())},
        {"data": json_values},
    ),
    AdminLog: ({"admin_id": st.integers(1, 5), "action": small_text}, {"details": json_values}),
}
FIELDS = {
    Specialist: SPECIALIST,
    Schedule: SCHEDULE,
    DayOff: DAY_OFF,
    DateOverride: DATE_OVERRIDE,
    Booking: BOOKING,
    UserSession: SESSION,
    AdminLog: LOG,
}
REPOS: dict[type[Base], Any] = {
    Specialist: SpecialistRepository,
    Schedule: ScheduleRepository,
    DayOff: DayOffRepository,
    DateOverride: DateOverrideRepository,
    Booking: BookingRepository,
    UserSession: UserSessionRepository,
    AdminLog: AdminLogRepository,
}
RELATIONS = {Specialist: ["schedules", "days_off", "bookings"], Schedule: ["specialist"]}
RELATIONS[Specialist].append("date_overrides")
RELATIONS |= {DayOff: ["specialist"], Booking: ["specialist"]}
RELATIONS |= {DateOverride: ["specialist"]}

# -- calls ------------------------------------------------------------------------------

Args = tuple[tuple[Any, ...], dict[str, Any]]


@dataclass(frozen=True)
class Call:
    """One public repository call and the strategy of its arguments."""

    model: type[Base]
    method: str
    args: Any  # strategy of Args
    writes: bool = False
    creates: bool = False

    @property
    def name(self) -> str:
        return f"{REPOS[self.model].__name__}.{self.method}"


def call(
    model: type[Base],
    method: str,
    *positional: Any,
    writes: bool = False,
    creates: bool = False,
    **keywords: Any,
) -> Call:
    """A call whose keyword arguments may each be left out."""
    args = st.tuples(st.tuples(*positional), st.fixed_dictionaries({}, optional=keywords))
    return Call(model, method, args, writes, creates)


SAMPLE_KEYS: dict[str, Any] = {
    "name": "Jürgen Groß",
    "start_time": time(9),
    "date": date(2030, 1, 7),
    "starts_at": datetime(2030, 1, 7, 9, tzinfo=UTC),
    "created_at": datetime(2000, 1, 1, tzinfo=UTC),  # before every row on both backends
}


def cursors(model: type[Base]) -> Any:
    """``after``: None, junk, and real cursors of the default order (a row of id 2, 3)."""
    repo = REPOS[model]
    keys = order_keys(model, repo.default_order)
    real = []
    for n in (2, 3):
        row = SimpleNamespace(**{name: SAMPLE_KEYS.get(name, n) for name, _ in keys})
        real.append(encode_cursor(model, keys, row))
    return st.one_of(st.none(), st.sampled_from([*real, "", "AAAA", "a.b", 5, b"x"]), texts)


def common_calls(model: type[Base]) -> list[Call]:
    valid, optional = VALID[model]
    row = rows(valid, optional, FIELDS[model])
    columns = [c.key for c in model.__table__.columns] + ["nope", "-nope", ""]
    names = st.sampled_from(columns + ["-" + c for c in columns])
    loads = st.one_of(
        st.lists(st.sampled_from([*RELATIONS.get(model, []), "nope"]), max_size=2),
        st.sampled_from([*RELATIONS.get(model, [])[:1], None, True, 1, [None]]),
    )
    filter_value = st.one_of(
        ids, texts, dates, flags, st.lists(st.one_of(ids, texts), max_size=4), instants
    )
    filters = st.one_of(
        st.none(),
        st.dictionaries(names.map(lambda n: n.lstrip("-")), filter_value, max_size=2),
        st.sampled_from([True, [], "name", {1: 2}]),
    )
    order_by = st.one_of(
        st.none(), names, st.lists(names, max_size=2), st.sampled_from([5, [None]])
    )
    enforce = {"enforce_availability": st.booleans()} if model is Booking else {}
    keyed = {"idempotency_key": idempotency_keys} if model is Booking else {}
    found = [
        call(model, "create", row, writes=True, creates=True, **enforce, **keyed),
        call(
            model,
            "create_many",
            st.one_of(st.lists(row, max_size=3), st.sampled_from([None, "rows", 5, {}])),
            writes=True,
            creates=True,
            **enforce,
        ),
        call(model, "get_by_id", ids, load=loads),
        call(
            model,
            "get_all",
            filters=filters,
            include_inactive=flags,
            order_by=order_by,
            limit=numbers,
            offset=numbers,
            load=loads,
        ),
        call(model, "count", filters=filters, include_inactive=flags),
        call(
            model,
            "get_page",
            filters=filters,
            order_by=order_by,
            limit=numbers,
            after=cursors(model),
            include_inactive=flags,
            load=loads,
        ),
    ]
    if model is not AdminLog:  # append-only: its repository has no call that changes a row
        found += [
            call(model, "update", ids, partial(FIELDS[model]), writes=True, **enforce),
            call(model, "delete", ids, writes=True),
            call(model, "hard_delete", ids, writes=True),
        ]
    if model not in (Schedule, DateOverride):  # no text to search
        found.append(call(model, "search", texts, limit=numbers, include_inactive=flags))
    return found


SESSION_IDS = ["sess-0", "sess-1", "sess-2", "nope"]
actors = st.one_of(st.none(), texts, st.just("x" * 201))
idempotency_keys = st.one_of(st.none(), st.sampled_from(["key-1", "key-2", "", " "]), texts)
references = st.one_of(texts, st.from_regex(r"[A-Za-z0-9_-]{24}", fullmatch=True))
statuses = st.sampled_from(["pending", "confirmed", "cancelled", "completed", "no_show", "x", 1])
CALLS = [c for model in REPOS for c in common_calls(model)] + [
    call(Specialist, "get_by_email", st.one_of(emails, texts), include_inactive=flags),
    call(Specialist, "get_by_specialization", texts, include_inactive=flags),
    call(Specialist, "get_by_language", texts, include_inactive=flags),
    call(Schedule, "get_by_specialist", ids, include_inactive=flags),
    call(Schedule, "get_by_day", ids, numbers, include_inactive=flags),
    call(DayOff, "get_by_specialist", ids, date_from=dates, date_to=dates, include_inactive=flags),
    call(DayOff, "get_by_date", dates, include_inactive=flags),
    call(DayOff, "is_day_off", ids, dates),
    call(
        Booking,
        "get_by_specialist",
        ids,
        date_from=dates,
        date_to=dates,
        statuses=st.one_of(st.lists(statuses, max_size=3), st.sampled_from([None, "pending", 5])),
    ),
    call(Booking, "get_by_date", dates),
    call(Booking, "get_by_client_email", st.one_of(emails, texts)),
    call(Booking, "get_by_status", statuses),
    call(Booking, "confirm", ids, writes=True, actor=actors),
    call(Booking, "cancel", ids, writes=True, reason=st.one_of(st.none(), texts), actor=actors),
    call(Booking, "complete", ids, writes=True, actor=actors),
    call(Booking, "mark_no_show", ids, writes=True, actor=actors),
    call(
        Booking,
        "reschedule",
        ids,
        dates,
        times,
        st.one_of(st.none(), numbers),
        writes=True,
        actor=actors,
        reason=st.one_of(st.none(), texts),
    ),
    call(
        Booking,
        "hold",
        rows(*VALID[Booking], BOOKING),
        writes=True,
        creates=True,
        minutes=numbers,
        idempotency_key=idempotency_keys,
    ),
    call(Booking, "release_expired_holds", writes=True),
    call(Booking, "get_by_reference", references),
    call(Booking, "get_history", ids),
    call(
        Booking, "get_available_slots", ids, dates, duration_minutes=numbers, step_minutes=numbers
    ),
    call(
        Booking,
        "get_availability",
        st.one_of(st.lists(ids, max_size=3), st.sampled_from([None, "1", 5, {1: 2}, [[1]]])),
        st.one_of(soon, dates),
        st.one_of(soon, dates),
        duration_minutes=numbers,
        step_minutes=numbers,
    ),
    call(
        DateOverride,
        "set_day",
        ids,
        st.one_of(soon, dates),
        st.one_of(
            st.lists(st.tuples(times, times), max_size=3),
            st.lists(st.tuples(work_times, work_times), max_size=3),
            st.sampled_from([None, "09:00-10:00", [(1, 2)], {}, [[time(9)]], (), []]),
        ),
        writes=True,
        creates=True,
    ),
    call(DateOverride, "clear_day", ids, st.one_of(soon, dates), writes=True),
    call(DateOverride, "get_by_specialist", ids, date_from=dates, date_to=dates),
    call(UserSession, "get_by_session_id", st.one_of(st.sampled_from(["sess-0", "sess-2"]), texts)),
    call(
        UserSession, "extend", st.sampled_from(["sess-0", "sess-1", "nope"]), numbers, writes=True
    ),
    call(UserSession, "deactivate", st.one_of(st.just("sess-1"), texts), writes=True),
    call(UserSession, "cleanup_expired", writes=True),
    Call(  # ttl_seconds is required: never left out
        UserSession,
        "start",
        st.tuples(
            st.just(()),
            st.fixed_dictionaries(
                {"ttl_seconds": numbers},
                optional={
                    "client_name": texts,
                    "client_email": st.one_of(emails, texts),
                    "client_phone": texts,
                    "ip_address": texts,
                    "user_agent": texts,
                    "data": json_values,
                },
            ),
        ),
        writes=True,
        creates=True,
    ),
    call(
        Booking,
        "erase_client",
        st.one_of(st.sampled_from(["client1@example.com", " CLIENT2@example.COM", "v0@x"]), texts),
        writes=True,
        admin_id=numbers,
    ),
    call(
        AdminLog,
        "log",
        numbers,
        texts,
        writes=True,
        creates=True,
        resource_type=texts,
        resource_id=numbers,
        details=json_values,
        ip_address=texts,
        user_agent=texts,
    ),
    call(AdminLog, "get_by_admin", numbers),
    call(AdminLog, "get_by_resource", st.one_of(st.none(), texts), st.one_of(st.none(), numbers)),
    call(AdminLog, "get_by_action", texts),
    call(AdminLog, "get_between", instants, instants),
]
BY_NAME = {c.name: c for c in CALLS}
assert len(BY_NAME) == len(CALLS)

# -- the oracle -------------------------------------------------------------------------

PG_URL = os.environ.get("TEST_PG_URL", "").strip()
NAMES = sorted(BY_NAME)
VOLATILE = frozenset({"created_at", "updated_at", "expires_at"})
VOLATILE |= {"reference", "hold_expires_at", "changed_at"}  # random, or read from the clock


async def run(db: AsyncSession, c: Call, args: Args) -> Any:
    """The call's result, or the AsyncDataError it raised; any other exception escapes."""
    positional, keywords = args
    method = getattr(REPOS[c.model](db), c.method)
    try:
        return await method(*positional, **keywords)
    except AsyncDataError as exc:
        return exc


def models_in(result: Any) -> list[Base]:
    if isinstance(result, Base):
        return [result]
    if isinstance(result, list | tuple):
        return [item for item in result if isinstance(item, Base)]
    return []


def readable(objects: list[Base]) -> None:
    """Every column of objects loaded earlier reads without IO (never MissingGreenlet)."""
    for obj in objects:
        for column in type(obj).__table__.columns:
            getattr(obj, column.key)


@dataclass
class Attacked:
    """One test's session, the objects it loaded first, and the last snapshot taken."""

    db: AsyncSession
    sessions: Sessions
    loaded: list[Base]
    tables: dict[str, list[tuple[Any, ...]]] | None = None

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """The stored tables; reused while nothing can have changed them."""
        if self.tables is None:
            self.tables = await snapshot(self.sessions)
        return self.tables


async def check_keeps_contract(target: Attacked, c: Call, args: Args) -> None:
    db, sessions = target.db, target.sessions
    before = await target.snapshot()
    target.tables = None
    outcome = await run(db, c, args)
    if isinstance(outcome, AsyncDataError):
        assert await target.snapshot() == before, f"rejected ({outcome!r}) yet wrote"
        readable(target.loaded)
        await SpecialistRepository(db).count()
        probe = await AdminLogRepository(db).log(0, "probe")
        assert await stored(sessions, AdminLog, probe.id) is not None
        target.tables = None
        return
    readable(target.loaded)
    if not c.writes:
        assert await target.snapshot() == before, "a read wrote"
        return
    removed = c.model is DateOverride and c.method == "delete"  # gives back the removed row
    for obj in [] if removed else models_in(outcome):
        row_id = obj.id  # type: ignore[attr-defined]
        assert await stored(sessions, type(obj), row_id) == columns_of(obj)
    if c.method == "hard_delete" or (c.model is DateOverride and c.method == "delete"):
        assert await stored(sessions, c.model, args[0][0]) is None


@pytest.fixture
async def target(sessions: Sessions, db: AsyncSession) -> Attacked:
    """A seeded world, and objects the test's one session loaded before any attack."""
    async with sessions() as other:
        assert (await seed(other))["specialists"] == [1, 2, 3, 4, 5]
    loaded = [
        *await SpecialistRepository(db).get_all(include_inactive=True, limit=2),
        *await BookingRepository(db).get_all(limit=1),
    ]
    return Attacked(db, sessions, loaded)


@pytest.mark.parametrize("name", NAMES)
@A_SETTINGS
@given(data=st.data())
async def test_call_keeps_the_contract(
    target: Attacked, backend: str, name: str, data: Any
) -> None:
    """One session for every input: it must survive them all, loaded objects included."""
    c = BY_NAME[name]
    args = data.draw(c.args, label="args")
    INPUTS[f"{name} [{backend}]"] += 1
    await check_keeps_contract(target, c, args)


# -- both backends, side by side --------------------------------------------------------


class _Undo(Exception):
    """Raised to roll a ``transaction(db)`` block back."""


def _shape(value: Any, creates: bool) -> Any:
    if isinstance(value, Page):  # the cursor holds created_at on some orders: volatile
        return (_shape(value.items, creates), value.next_cursor is None)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], UserSession):
        # start(): the session and its new random id, different on each run; what must
        # hold on both backends is that the row keeps only the id's digest.
        session, session_id = value
        assert session.session_id == hashlib.sha256(session_id.encode()).hexdigest()
        return ("started", {**_shape(session, creates), "session_id": None})
    if isinstance(value, Base):
        drop = VOLATILE | ({"id"} if creates else set())
        return {k: v for k, v in columns_of(value).items() if k not in drop}
    if isinstance(value, list):
        return [_shape(item, creates) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def outcome_of(sessions: Sessions, c: Call, args: Args) -> Any:
    """The outcome class and, on success, the result, inside a block that is rolled back."""
    async with sessions() as db:
        try:
            async with transaction(db):
                outcome = await run(db, c, args)
                raise _Undo
        except _Undo:
            pass
    if isinstance(outcome, AsyncDataError):
        return type(outcome).__name__
    return ("ok", _shape(outcome, c.creates))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[Sessions]]:
    """Sessions on a SQLite file and on a PostgreSQL database of this module's own, both
    seeded with the same world, which every input leaves as it found it (rolled back)."""
    if not PG_URL:
        pytest.skip("needs TEST_PG_URL")
    name = f"asyncdata_adversarial_{uuid.uuid4().hex[:12]}"
    await pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    path = tmp_path_factory.mktemp("pair") / "pair.db"
    engines = [
        create_engine(f"sqlite+aiosqlite:///{path}"),
        create_engine(make_url(PG_URL).set(database=name)),
    ]
    try:
        found = []
        for engine in engines:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            sessions = session_factory(engine)
            async with sessions() as db:
                await seed(db)
            found.append(sessions)
        yield found
    finally:
        for engine in engines:
            await engine.dispose()
        await pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", NAMES)
@B_SETTINGS
@given(data=st.data())
async def test_same_outcome_on_both_backends(pair: list[Sessions], name: str, data: Any) -> None:
    c = BY_NAME[name]
    args = data.draw(c.args, label="args")
    INPUTS[f"{name} [both]"] += 1
    on_sqlite, on_postgresql = [await outcome_of(sessions, c, args) for sessions in pair]
    assert on_sqlite == on_postgresql


def test_every_public_call_is_attacked() -> None:
    """A new public method must get a strategy here."""
    internal = {"model", "validate", "writing", "prepare", "prepare_many", "active_clause"}
    internal |= {"list_where", "first_where"}
    for model, repo in REPOS.items():
        public = {
            name
            for name in dir(repo)
            if not name.startswith("_") and callable(getattr(repo, name)) and name not in internal
        }
        attacked = {c.method for c in CALLS if c.model is model}
        assert public == attacked, (repo.__name__, public ^ attacked)


@pytest.fixture(scope="module", autouse=True)
def inputs_report() -> Iterator[None]:
    """With ``ADVERSARIAL_REPORT=path``, write how many inputs each call and backend got."""
    yield
    if path := os.environ.get("ADVERSARIAL_REPORT"):
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(f"{count}\t{key}\n" for key, count in sorted(INPUTS.items()))
