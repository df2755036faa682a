"""The one transaction model: where transactions begin and end, and what a failure undoes.

Rules (the README repeats them for users):

* Inside ``transaction(db)`` every repository call joins the block. A write
  runs in a SAVEPOINT, so a failed write leaves nothing of itself and the block
  goes on; on PostgreSQL a read does too, because a failed statement there
  aborts the whole transaction (SQLite's does not, so its reads cost nothing
  extra). The block commits once, on a clean exit. If the transaction cannot
  go on (connection lost, call cancelled half-way), the block raises at exit
  instead of committing less than its successful calls.
* Outside a block, a read runs without a transaction: on a connection in
  autocommit mode, one round trip per statement, no ``BEGIN``/``ROLLBACK``,
  and nothing is left open on the server between calls. A read whose pooled
  connection turns out to be dead is retried once on a fresh one. Behind
  PgBouncer's transaction pooling (``PGBOUNCER_OPTION``) it runs in a
  transaction instead, the only way asyncpg's prepare and execute of one
  statement stay on one server.
* Such a read goes to a read replica when the engine has some and the session
  has not written yet (``asyncdata._replicas``); a replica that cannot be
  reached is skipped with a warning. Writes, blocks and every read of a
  session after its first write go to the primary.
* Outside a block, a write is its own transaction, committed before the call
  returns. It refuses, naming them, to start while the session holds ORM
  changes the caller made (objects added, edited or deleted and not yet
  committed): committing them would make them part of a call that may fail,
  and rolling them back would drop them. They stay pending, untouched.
* If the caller opened a transaction on the session directly (``db.execute``
  and friends), a write joins it in a SAVEPOINT and then commits it, so a
  write that returns has committed, and a failed one leaves the caller's
  transaction as it was.
* A failure never expires or expunges what the caller loaded: rollbacks are
  done on the connection, not through ``Session.rollback`` (which would
  expire every object, and a later attribute access would need IO that
  asyncio forbids). Objects a failed call or block put into the session are
  taken out again, and objects it refreshed get their earlier values back.
* Clean-up after a failure or a cancellation runs to its end even if the
  task is cancelled again, so a connection goes back to the pool rolled back
  and a SQLite write lock is released at once.

Write transactions carry ``WRITE_OPTION``; on SQLite it makes them start with
``BEGIN IMMEDIATE`` so a check followed by a write cannot interleave with
another writer's. Autocommit reads carry ``AUTOCOMMIT_OPTION`` on SQLite (our
BEGIN hook then sends nothing) and ``isolation_level="AUTOCOMMIT"`` on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from asyncdata import _replicas
from asyncdata._faults import unreachable
from asyncdata._translate import translate_error, translate_fault
from asyncdata.errors import AsyncDataError, TransientError, ValidationError

__all__ = [
    "AUTOCOMMIT_OPTION",
    "PGBOUNCER_OPTION",
    "WRITE_OPTION",
    "AsyncDataSession",
    "Write",
    "adopt",
    "idle",
    "raise_translated",
    "read",
    "transaction",
    "write",
]

log = logging.getLogger("asyncdata")

WRITE_OPTION = "asyncdata_write"
AUTOCOMMIT_OPTION = "asyncdata_autocommit"
PGBOUNCER_OPTION = "asyncdata_pgbouncer"
"""Engine execution option: connections go through PgBouncer in transaction pooling mode."""

_BLOCK = "asyncdata.block"
_CONNECTED = "asyncdata.connected"
_WRITING = "asyncdata.writing"
_WRITTEN = "asyncdata.written"  # the session has written: its reads go to the primary

T = TypeVar("T")
Translator = Callable[[SQLAlchemyError], AsyncDataError]


# -- bookkeeping -------------------------------------------------------------------


@event.listens_for(Session, "after_begin")
def _connected(session: Session, _transaction: SessionTransaction, _connection: Any) -> None:
    # The session now holds a connection with a database transaction (or an
    # autocommit read) open: "in_transaction()" alone is also true after a bare add().
    session.info[_CONNECTED] = True


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    # The caller's own db.add()/commit() is a write too (read-your-writes).
    session.info[_WRITTEN] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    # So is a commit of the caller's own db.execute(insert/update/delete/text(...)), which
    # no flush sees. Reads outside blocks never commit (they roll back), so only the
    # caller's transactions and the library's writes get here.
    session.info[_WRITTEN] = True


@event.listens_for(Session, "after_transaction_end")
def _released(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CONNECTED, None)


@dataclass
class _Undo:
    """Identity-map changes to reverse if the work they belong to does not commit.

    Each entry is an object and its column values before the work touched it,
    or ``None`` for an object the work put into the session.
    """

    entries: list[tuple[Any, dict[str, Any] | None]] = field(default_factory=list)

    def apply(self, session: Session) -> None:
        for obj, before in reversed(self.entries):
            if before is None:
                if obj in session:
                    session.expunge(obj)
            else:
                for key, value in before.items():
                    set_committed_value(obj, key, value)
        self.entries.clear()


@dataclass
class _Block:
    """State of an open ``transaction(db)`` block."""

    undo: _Undo = field(default_factory=_Undo)
    broken: AsyncDataError | None = None
    """Why the block can no longer commit; it raises this at exit."""


@dataclass
class Write:
    """Handle of one repository write, given by ``write()``.

    The repository reports objects that its statements put into the session
    (``created``) so that a failure can take them out again.
    """

    undo: _Undo = field(default_factory=_Undo)

    def created(self, objects: Iterable[Any]) -> None:
        self.undo.entries.extend((obj, None) for obj in objects)


def adopt(db: AsyncSession, model: type[T], values: dict[str, Any]) -> T:
    """The session's object for the row ``values`` (all columns) after a committed write.

    An object already in the session gets the stored values as its loaded
    state; otherwise a new persistent object is attached. Call it only once
    the write is done: inside a block, the earlier values are remembered and
    put back if the block fails.
    """
    session = db.sync_session
    key = session.identity_key(model, values["id"])
    obj = session.identity_map.get(key)
    block: _Block | None = session.info.get(_BLOCK)
    if obj is None:
        obj = model(**values)
        make_transient_to_detached(obj)
        session.add(obj)
        before: dict[str, Any] | None = None
    else:
        loaded = inspect(obj).dict
        before = {k: loaded[k] for k in values if k in loaded}
        for k, v in values.items():
            set_committed_value(obj, k, v)
    if block is not None:
        block.undo.entries.append((obj, before))
    return obj


# -- failures ----------------------------------------------------------------------


def _translated(exc: BaseException, translate: Translator) -> BaseException:
    """``exc`` as an asyncdata error when it is one we can name; else itself."""
    if isinstance(exc, AsyncDataError):
        return exc
    if isinstance(exc, SQLAlchemyError):
        return translate(exc)
    return translate_fault(exc) or exc


def _reraise(exc: BaseException, translate: Translator) -> NoReturn:
    """Raise ``exc`` as the asyncdata error it stands for, keeping it as the cause."""
    error = _translated(exc, translate)
    if error is exc:
        raise exc
    raise error from exc


def _fail_in_block(block: _Block | None, exc: BaseException, translate: Translator) -> NoReturn:
    """A call joined to a transaction failed: raise it as ours, and if it took the
    transaction with it (connection lost, cancelled half-way) mark the block broken."""
    if block is not None and (_lost(exc) or isinstance(exc, asyncio.CancelledError)):
        error = _translated(exc, translate)
        block.broken = error if isinstance(error, AsyncDataError) else _cancelled()
    _reraise(exc, translate)


def _lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection (and so its transaction) is gone."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _pending_changes(session: Session) -> list[str]:
    """The caller's uncommitted ORM changes, described for an error message."""
    found = [f"new {type(obj).__name__}" for obj in session.new]
    for obj in session.dirty:
        if session.is_modified(obj):
            changed = sorted(a.key for a in inspect(obj).attrs if a.history.has_changes())
            found.append(f"{obj!r} ({', '.join(changed)})")
    found.extend(f"deleted {obj!r}" for obj in session.deleted)
    return found


def _close_transaction(session: Session) -> None:
    """End the session's transaction on the connection: rolled back, nothing expired.

    ``Session.rollback`` would expire every loaded object; closing the
    transaction rolls back the connection and returns it to the pool while
    the objects keep their values. A connection that fails even that is
    discarded instead of going back to the pool.
    """
    transaction = session.get_transaction()
    if transaction is None:
        return
    try:
        transaction.close()
    except Exception:
        log.debug("discarding a connection that failed to roll back", exc_info=True)
        if session.get_transaction() is transaction:
            transaction.close(invalidate=True)


async def _to_the_end(step: Callable[[], Awaitable[None]]) -> None:
    """Run a clean-up step to completion even if this task is cancelled meanwhile.

    A clean-up cut short would leave the connection mid-transaction (on SQLite
    holding the write lock) until garbage collection. A cancellation that
    arrives meanwhile is re-raised once the step is done.
    """
    task = asyncio.ensure_future(step())
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
        except Exception:
            log.debug("clean-up after a failed call failed", exc_info=True)
            break
    if cancelled:
        raise asyncio.CancelledError


async def _abandon(db: AsyncSession) -> None:
    """Roll back the session's transaction on its connection, whatever happens meanwhile."""

    async def step() -> None:
        await db.run_sync(_close_transaction)

    await _to_the_end(step)


def _in_block(db: AsyncSession) -> _Block | None:
    block: _Block | None = db.info.get(_BLOCK)
    return block


def _savepoint_reads(db: AsyncSession) -> bool:
    return db.get_bind().dialect.name != "sqlite"


def _begin_options(db: AsyncSession, *, write: bool) -> dict[str, Any]:
    if write:
        return {WRITE_OPTION: True}
    bind = db.get_bind()
    if bind.dialect.name == "sqlite":
        return {AUTOCOMMIT_OPTION: True}
    if bind.get_execution_options().get(PGBOUNCER_OPTION):
        # Behind PgBouncer's transaction pooling, asyncpg's prepare and execute of one
        # statement must land on the same server: only a transaction guarantees that.
        return {}
    return {"isolation_level": "AUTOCOMMIT"}


# -- reads -------------------------------------------------------------------------


def raise_translated(exc: BaseException) -> NoReturn:
    """Raise ``exc`` (from a read that bypasses ``read()``) as the asyncdata error it stands
    for, as ``read()`` would."""
    _reraise(exc, translate_error)


def idle(session: Session) -> bool:
    """Whether ``session`` holds no connection and is in no block or write: a read now would
    be one outside any transaction (for paths that read without the session's machinery)."""
    info = session.info
    return not (info.get(_BLOCK) or info.get(_CONNECTED) or info.get(_WRITING))


async def read(
    db: AsyncSession, run: Callable[[], Awaitable[T]], translate: Translator = translate_error
) -> T:
    """Run one repository read by the rules above; database errors leave as asyncdata errors.

    ``run`` may be called twice: when the pooled connection of a read outside
    any transaction turns out to be dead, the read is retried once on a fresh one.
    """
    if db.info.get(_WRITING):
        # Part of a write (its checks): the write's own failure handling covers it.
        return await run()
    block = _in_block(db)
    if block is not None or db.info.get(_CONNECTED):
        return await _read_joined(db, block, run, translate)
    retried = False
    while True:
        # A replica when the engine has some and the session has not written.
        replica = _replicas.choose(db, written=bool(db.info.get(_WRITTEN)))
        try:
            with _replicas.routed(db, replica):
                await db.connection(execution_options=_begin_options(db, write=False))
                with db.no_autoflush:
                    return await run()
        except BaseException as exc:
            if replica is not None and (unreachable(exc) or (retried and _lost(exc))):
                _replicas.leave_out(db, replica, exc)  # then another replica or the primary
                continue
            if not retried and _lost(exc):
                retried = True
                log.info("read on a dead pooled connection; retrying on a fresh one")
                continue
            _reraise(exc, translate)
        finally:
            await _abandon(db)


async def _read_joined(
    db: AsyncSession,
    block: _Block | None,
    run: Callable[[], Awaitable[T]],
    translate: Translator,
) -> T:
    if block is not None and block.broken is not None:
        raise _cannot_go_on(block)
    try:
        if not _savepoint_reads(db):
            return await run()
        async with db.begin_nested():
            return await run()
    except BaseException as exc:
        _fail_in_block(block, exc, translate)


# -- writes ------------------------------------------------------------------------


@asynccontextmanager
async def write(db: AsyncSession, translate: Translator = translate_error) -> AsyncIterator[Write]:
    """One atomic repository write, by the rules above.

    Database errors leave as asyncdata errors built by ``translate``; the
    session stays usable either way.
    """
    handle = Write()
    if db.info.get(_WRITING):
        # A write made by another write's body is part of it.
        yield handle
        return
    db.info[_WRITING] = True
    db.info[_WRITTEN] = True
    try:
        async with _write(db, translate, handle):
            yield handle
    finally:
        db.info.pop(_WRITING, None)


@asynccontextmanager
async def _write(db: AsyncSession, translate: Translator, handle: Write) -> AsyncIterator[None]:
    block = _in_block(db)
    if block is not None:
        if block.broken is not None:
            raise _cannot_go_on(block)
        try:
            async with db.begin_nested():
                yield
        except BaseException as exc:
            handle.undo.apply(db.sync_session)
            _fail_in_block(block, exc, translate)
        block.undo.entries.extend(handle.undo.entries)
        return
    pending = _pending_changes(db.sync_session)
    if pending:
        raise ValidationError(
            "the session holds changes that are not committed: "
            + "; ".join(pending)
            + ". Commit them first (await db.commit()) or make them inside transaction(db)",
            fields=["session"],
        )
    joined = bool(db.info.get(_CONNECTED))
    committing = False
    try:
        if joined:
            async with db.begin_nested():
                yield
        else:
            await db.connection(execution_options=_begin_options(db, write=True))
            yield
        committing = True
        await db.commit()
    except BaseException as exc:
        if not joined or committing or _lost(exc):
            await _abandon(db)
        handle.undo.apply(db.sync_session)
        _reraise(exc, translate)


# -- blocks ------------------------------------------------------------------------


def _cancelled() -> TransientError:
    return TransientError("a call inside the transaction was cancelled half-way")


def _cannot_go_on(block: _Block) -> TransientError:
    return TransientError(
        f"the transaction cannot go on ({block.broken}); leave the block and retry it"
    )


@asynccontextmanager
async def transaction(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Group repository calls: all commit on a clean exit, none persist if the block raises.

    A call that fails inside the block leaves nothing of itself and the block
    can go on; if the transaction itself was lost, the block raises at exit.
    A nested ``transaction(db)`` joins the outer one.
    """
    if _in_block(db) is not None:
        yield db
        return
    block = _Block()
    db.info[_WRITTEN] = True  # a block runs on the primary; reads after it stay there
    try:
        if not db.info.get(_CONNECTED):
            await db.connection(execution_options=_begin_options(db, write=True))
    except BaseException as exc:
        await _abandon(db)
        _reraise(exc, translate_error)
    db.info[_BLOCK] = block
    try:
        yield db
    except BaseException:
        db.info.pop(_BLOCK, None)
        await _abandon(db)
        block.undo.apply(db.sync_session)
        raise
    db.info.pop(_BLOCK, None)
    try:
        if block.broken is not None:
            raise _cannot_go_on(block) from block.broken
        await db.commit()
    except BaseException as exc:
        await _abandon(db)
        block.undo.apply(db.sync_session)
        _reraise(exc, translate_error)


# -- sessions ----------------------------------------------------------------------


class AsyncDataSession(AsyncSession):
    """The sessions ``get_db()`` hands out: closing one never raises.

    Reads outside ``transaction(db)`` go to a read replica when the engine has
    some (``asyncdata._replicas``); the rest goes to the engine bound.

    Leaving ``async with get_db()`` after the connection died (server
    restarted, backend killed) discards the connection instead of raising
    from the rollback that returning it to the pool would need.
    """

    sync_session_class = _replicas.RoutingSession

    async def close(self) -> None:
        try:
            await super().close()
        except Exception:
            log.debug("closing a session whose connection failed; discarding it", exc_info=True)
            try:
                await self.invalidate()
            except Exception:
                log.debug("discarding the connection failed too", exc_info=True)
