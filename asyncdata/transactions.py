"""Where transactions begin and end: ``transaction(db)`` and each repository write.

Outside ``transaction(db)`` a repository write is its own transaction: it
commits before returning, or rolls back and raises. Inside, writes join the
caller's transaction, each in a savepoint so a failed call leaves nothing of
itself and the block can go on; the block commits once on a clean exit.

Write transactions carry the ``WRITE_OPTION`` execution option; on SQLite it
makes them start with ``BEGIN IMMEDIATE`` so that a check followed by a write
cannot interleave with another writer's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from asyncdata.errors import AsyncDataError
from asyncdata.translate import translate_error

__all__ = ["WRITE_OPTION", "in_transaction", "transaction", "write_scope"]

WRITE_OPTION = "asyncdata_write"
_ACTIVE = "asyncdata.transaction"

Translator = Callable[[SQLAlchemyError], AsyncDataError]


def in_transaction(db: AsyncSession) -> bool:
    """Whether ``db`` is inside a ``transaction(db)`` block."""
    return bool(db.info.get(_ACTIVE))


async def _begin_write(db: AsyncSession) -> None:
    if db.in_transaction():
        # End the read snapshot first: on SQLite a write must begin afresh as IMMEDIATE.
        await db.commit()
    if db.get_bind().dialect.name == "sqlite":
        await db.connection(execution_options={WRITE_OPTION: True})


async def _discard(db: AsyncSession) -> None:
    # Loaded objects stay readable, detached, instead of being expired by the rollback
    # (an expired attribute would need a lazy load, impossible under asyncio).
    db.expunge_all()
    await db.rollback()


@asynccontextmanager
async def transaction(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Group repository writes: all commit on clean exit, none persist if the block raises.

    A nested ``transaction(db)`` joins the outer one.
    """
    if in_transaction(db):
        yield db
        return
    try:
        await _begin_write(db)
    except SQLAlchemyError as exc:
        raise translate_error(exc) from exc
    db.info[_ACTIVE] = True
    try:
        yield db
    except BaseException:
        db.info.pop(_ACTIVE, None)
        await _discard(db)
        raise
    db.info.pop(_ACTIVE, None)
    try:
        await db.commit()
    except SQLAlchemyError as exc:
        await _discard(db)
        raise translate_error(exc) from exc


@asynccontextmanager
async def write_scope(
    db: AsyncSession, translate: Translator = translate_error
) -> AsyncIterator[None]:
    """One repository write: atomic, committed unless inside ``transaction(db)``.

    Database errors leave as asyncdata errors built by ``translate``; the
    session stays usable either way.
    """
    if in_transaction(db):
        try:
            async with db.begin_nested():
                yield
        except SQLAlchemyError as exc:
            raise translate(exc) from exc
        return
    try:
        await _begin_write(db)
        yield
        await db.commit()
    except BaseException as exc:
        await _discard(db)
        if isinstance(exc, SQLAlchemyError):
            raise translate(exc) from exc
        raise
