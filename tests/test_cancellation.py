"""Calls cancelled at random points (``asyncio.wait_for``, ``asyncio.timeout``), on both backends.

A cancelled call writes nothing partial, returns promptly, gives its
connection back to the pool, logs nothing, and on SQLite leaves the file
unlocked so the next writer goes straight ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asyncdata.database import transaction
from asyncdata.errors import TransientError
from asyncdata.models import Specialist
from asyncdata.repositories import SpecialistRepository

STORM = 300
WAVE = 60  # tasks in flight at once
PG_CANCELLED_TARGET = 500
_tags = itertools.count(1)


def budget(rng: random.Random) -> float:
    """A random time budget, log-uniform from 0.5 ms to 1 s: cancels land everywhere."""
    return float(0.0005 * 2000 ** rng.random())


def person(tag: str) -> dict[str, str]:
    return {"name": f"Specialist {tag}", "email": f"{tag}-{next(_tags)}@example.com"}


class Quiet:
    """Collects what asyncio would report: handler calls and ERROR records of its logger."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.contexts: list[dict[str, Any]] = []

    def __enter__(self) -> Quiet:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: self.contexts.append(context)
        )
        self.caplog.set_level(logging.WARNING, logger="asyncio")
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.get_running_loop().set_exception_handler(None)

    async def assert_nothing_reported(self) -> None:
        for _ in range(3):  # "never retrieved" is reported when the future is collected
            await asyncio.sleep(0.05)
            gc.collect()
        reported = [str(c.get("message")) + ": " + repr(c.get("exception")) for c in self.contexts]
        logged = [r.getMessage() for r in self.caplog.records if r.name.startswith("asyncio")]
        assert reported == [] and logged == []


async def wait_until_pool_is_idle(engine: AsyncEngine) -> int:
    """Checked-out connections after at most 2 s of letting cleanups finish."""
    for _ in range(40):
        if engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
            return 0
        await asyncio.sleep(0.05)
    return int(engine.pool.checkedout())  # type: ignore[attr-defined]


async def bounded(call: Callable[[], Awaitable[None]], budget: float, use_wait_for: bool) -> None:
    if use_wait_for:
        await asyncio.wait_for(call(), budget)
    else:
        async with asyncio.timeout(budget):
            await call()


def operation(
    sessions: async_sessionmaker[AsyncSession], target: int, i: int
) -> Callable[[], Awaitable[None]]:
    """Call ``i`` of a storm: a create, an update, or a block writing a pair of rows."""

    async def call() -> None:
        async with sessions() as db:
            repo = SpecialistRepository(db)
            if i % 3 == 0:
                await repo.create(person(f"storm{i}"))
            elif i % 3 == 1:
                await repo.update(target, {"bio": f"bio {i}"})
            else:
                async with transaction(db):
                    await repo.create(person(f"pair{i}"))
                    await repo.create(person(f"pair{i}"))

    return call


async def pair_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        stored = await conn.scalars(
            select(Specialist.email).where(Specialist.email.startswith("pair"))
        )
        counts: dict[str, int] = {}
        for email in stored:
            counts[email.split("-")[0]] = counts.get(email.split("-")[0], 0) + 1
    return counts


def unexpected(results: list[Any]) -> list[str]:
    """Outcomes other than success, the budget running out, or a retryable fault."""
    return [
        f"{type(r).__module__}.{type(r).__name__}: {r}"
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, TimeoutError | TransientError)
    ]


async def test_a_cancellation_storm(
    backend: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(20240601)
    async with sessions() as db:
        target = (await SpecialistRepository(db).create(person("target"))).id
    results: list[Any] = []
    with Quiet(caplog) as quiet:
        started = time.monotonic()
        for wave in range(0, STORM, WAVE):
            results += await asyncio.gather(
                *(
                    bounded(operation(sessions, target, i), budget(rng), i % 2 == 0)
                    for i in range(wave, wave + WAVE)
                ),
                return_exceptions=True,
            )
        elapsed = time.monotonic() - started
        assert unexpected(results) == []
        assert await wait_until_pool_is_idle(engine) == 0
        await quiet.assert_nothing_reported()
    cancelled = sum(isinstance(r, TimeoutError) for r in results)
    assert STORM // 10 < cancelled < STORM - STORM // 20, f"{cancelled} of {STORM} cancelled"
    assert elapsed < 6 * STORM / WAVE, f"{STORM} calls of at most 1 s budget took {elapsed:.1f} s"
    assert set((await pair_counts(engine)).values()) <= {2}, "a block was stored in part"

    started = time.monotonic()
    async with sessions() as db:
        await SpecialistRepository(db).create(person("next"))
    waited = time.monotonic() - started
    print(f"\n[{backend}] storm: {cancelled}/{STORM} cancelled; next writer waited {waited:.3f} s")
    assert waited < 1.0


@pytest.mark.parametrize("asyncdata_backend", ["sqlite"])
async def test_sqlite_next_writer_does_not_wait_after_a_cancelled_write(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The write lock of a cancelled write is released at once, not at garbage collection."""
    rng = random.Random(7)
    returns: list[float] = []
    waits: list[float] = []
    for i in range(40):

        async def holding_block(i: int = i) -> None:
            async with sessions() as db, transaction(db):
                await SpecialistRepository(db).create(person(f"held{i}"))
                await asyncio.sleep(5)  # cancelled here, holding the write lock

        async def plain_create(i: int = i) -> None:
            async with sessions() as db:
                await SpecialistRepository(db).create(person(f"plain{i}"))

        call, budget = (
            (holding_block, 0.05) if i % 2 == 0 else (plain_create, rng.uniform(0.0, 0.004))
        )
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call(), budget)
        returns.append(time.monotonic() - started - budget)
        started = time.monotonic()
        try:
            async with sessions() as db:
                await SpecialistRepository(db).create(person(f"next{i}"))
        except TransientError as exc:
            kind = "a block holding the lock" if i % 2 == 0 else f"a create ({budget:.4f} s)"
            raise AssertionError(f"call {i}: after cancelling {kind}: {exc}") from exc
        waits.append(time.monotonic() - started)
    print(
        f"\n[sqlite] after a cancelled write: next writer waited max {max(waits):.3f} s "
        f"(mean {sum(waits) / len(waits):.4f} s); cancelled call returned "
        f"at most {max(returns):.3f} s late (busy timeout 5 s)"
    )
    assert max(waits) < 0.5
    assert max(returns) < 0.5
    async with sessions() as db:
        assert await SpecialistRepository(db).count() >= 40
    async with engine.connect() as conn:
        held = await conn.scalars(
            select(Specialist.email).where(Specialist.email.startswith("held"))
        )
        assert list(held) == []
    assert await wait_until_pool_is_idle(engine) == 0


@pytest.mark.parametrize("asyncdata_backend", ["postgresql"])
async def test_postgresql_connections_opened_per_500_cancelled_calls(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(500)
    opened = 0

    def on_connect(*_: Any) -> None:
        nonlocal opened
        opened += 1

    async with sessions() as db:
        target = (await SpecialistRepository(db).create(person("target"))).id
    # do_connect: every attempt to open one, also those whose caller was cancelled meanwhile
    event.listen(engine.sync_engine, "do_connect", on_connect)
    cancelled = calls = 0
    try:
        with Quiet(caplog) as quiet:
            while cancelled < PG_CANCELLED_TARGET and calls < 5 * PG_CANCELLED_TARGET:
                batch = [
                    bounded(operation(sessions, target, calls + k), budget(rng), k % 2 == 0)
                    for k in range(WAVE)
                ]
                calls += len(batch)
                results = await asyncio.gather(*batch, return_exceptions=True)
                assert unexpected(results) == []
                cancelled += sum(isinstance(r, TimeoutError) for r in results)
            per_500 = opened * 500 / max(cancelled, 1)
            print(
                f"\n[postgresql] {opened} connections opened for {cancelled} cancelled calls "
                f"({calls} calls): {per_500:.0f} per 500 cancelled"
            )
            assert await wait_until_pool_is_idle(engine) == 0
            await quiet.assert_nothing_reported()
    finally:
        event.remove(engine.sync_engine, "do_connect", on_connect)
    assert cancelled >= PG_CANCELLED_TARGET
    assert set((await pair_counts(engine)).values()) <= {2}
    assert per_500 <= 250, "most cancelled calls throw their connection away"
