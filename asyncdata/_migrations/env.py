"""Alembic environment: async, reading ``DB_URL`` like the library.

Two ways in: ``init_db`` hands over its own connection in
``config.attributes["connection"]`` (no second engine, same transaction);
the ``alembic`` command line builds an engine from ``DB_URL``. SQLite needs
``render_as_batch`` because it cannot ALTER most things in place.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from asyncdata._config import load_settings
from asyncdata.database import create_engine
from asyncdata.models import Base
from asyncdata.models._fts import FTS_SUFFIX, FTS_TABLES
from asyncdata.models.booking import OVERLAP_CONSTRAINT

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
FTS_PREFIXES = tuple(table + FTS_SUFFIX for table in FTS_TABLES)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave out what autogenerate cannot compare: the bookings overlap guard
    (an exclusion constraint, whose GiST index PostgreSQL reflects, and
    triggers on SQLite), created by revision 0002 and checked by the tests."""
    if type_ == "table" and (name or "").startswith(FTS_PREFIXES):
        return False  # SQLite's FTS5 trigram tables (revision 0004) and their shadow tables
    return not (name or "").startswith(OVERLAP_CONSTRAINT)


def include_object(
    item: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave out, on a backend other than the one it names, a model index restricted
    to one dialect by ``ddl_if`` (the PostgreSQL trigram indexes), which autogenerate
    would otherwise expect everywhere."""
    ddl_if = getattr(item, "_ddl_if", None)
    wanted = getattr(ddl_if, "dialect", None)
    return wanted is None or wanted == context.get_context().dialect.name


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    settings = load_settings()  # migrations run on the primary; DB_PGBOUNCER still applies
    engine = create_engine(settings.url, pgbouncer=settings.pgbouncer)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=load_settings().url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_migrations(shared)
else:
    asyncio.run(run_async_migrations())
