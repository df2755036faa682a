"""``get_by_id`` in one round trip and little else, on PostgreSQL.

A primary-key read outside any transaction is the hottest call there is, and
through the session it pays for machinery it does not need: the session's
transaction, switching the connection to autocommit and back, compiling the
statement's cache key and the ORM's loading pipeline. Here the row is read
with the driver's own ``fetchrow`` (one round trip; asyncpg keeps the prepared
statement per connection) on a connection of the engine's pool, and put into
the session as a persistent object, exactly as a query would have.

Taken only when the session holds no connection and is in no block or write,
the object is not already in the session, and the engine is asyncpg's on one
server: with read replicas (whose choice and fallback the ordinary read path
makes) or behind PgBouncer (where asyncpg's prepare and execute need a
transaction) the ordinary path runs. A
failure to get a connection raises the error any read would (``TransientError``
for a refused one). A failure of the query itself discards the connection
(never back to the pool half-used) and the caller takes the ordinary path,
which retries a lost connection and translates errors as every read does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, Table, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, attributes, make_transient_to_detached
from sqlalchemy.util.concurrency import await_

from asyncdata._replicas import has_replicas
from asyncdata._transactions import PGBOUNCER_OPTION, idle, raise_translated
from asyncdata.models import Base

__all__ = ["NOT_TAKEN", "get_direct"]

NOT_TAKEN: Any = object()
"""``get_direct`` did not read: take the ordinary path."""


async def get_direct(session: AsyncSession, model: type[Base], id: int) -> Any:
    """The row of ``model`` with this id as a session object, None if there is none, or
    ``NOT_TAKEN``."""
    sync = session.sync_session
    if not idle(sync) or sync.identity_map.get(sync.identity_key(model, id)) is not None:
        return NOT_TAKEN
    return await session.run_sync(_read, model, id)


def _read(session: Session, model: type[Base], id: int) -> Any:
    mapper: Mapper[Any] = inspect(model)
    engine = session.get_bind(mapper)
    if (
        not isinstance(engine, Engine)
        or engine.dialect.driver != "asyncpg"
        or engine.get_execution_options().get(PGBOUNCER_OPTION)
        or has_replicas(engine)
    ):
        return NOT_TAKEN
    sql, keys, processors = _statement(model, engine.dialect)
    try:
        pooled = engine.raw_connection()
    except Exception as exc:  # no connection to be had: the error any read would raise
        raise_translated(exc)
    try:
        record = await_(pooled.driver_connection.fetchrow(sql, id))  # type: ignore[union-attr]
    except Exception:
        pooled.invalidate()  # discarded, never back to the pool in an unknown state
        return NOT_TAKEN
    except BaseException:  # cancelled: discard the connection, let the cancellation go on
        pooled.invalidate()
        raise
    pooled.close()
    if record is None:
        return None
    values = {
        key: (process(value) if process is not None and value is not None else value)
        for key, value, process in zip(keys, record.values(), processors, strict=True)
    }
    obj = mapper.class_manager.new_instance()
    attributes.instance_state(obj).dict.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


@lru_cache(maxsize=64)
def _statement(model: type[Base], dialect: Any) -> tuple[str, list[str], list[Any]]:
    """The SELECT by id, its columns' attribute keys, and each one's result converter."""
    mapper: Mapper[Any] = inspect(model)
    quote = dialect.identifier_preparer.quote
    table = model.__table__
    assert isinstance(table, Table)
    columns = list(table.columns)
    keys = [mapper.get_property_by_column(column).key for column in columns]
    processors = [column.type._cached_result_processor(dialect, None) for column in columns]
    sql = (
        f"SELECT {', '.join(quote(c.name) for c in columns)} FROM {quote(table.name)} "
        f"WHERE {quote(table.c.id.name)} = $1"
    )
    return sql, keys, processors
