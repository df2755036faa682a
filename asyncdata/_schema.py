"""Bring the schema to the newest revision, by Alembic or by the models (``init_db``).

The migration scripts ship inside the package (``asyncdata/_migrations``), so
an installed wheel migrates from any working directory with no ``alembic.ini``;
``ALEMBIC_CONFIG`` points elsewhere if a deployment keeps its own. The head
revision is read from the scripts, never kept by hand. Alembic runs on the
engine's own connection (``run_sync``), handed to ``env.py`` through
``config.attributes["connection"]``, so SQLite ``:memory:`` databases and test
transactions see the same schema.

Many processes may call ``init_db`` at once (web workers starting together).
The look at the database and the upgrade run in one transaction holding a
lock that serialises them across processes: on PostgreSQL a transaction-level
advisory lock (released by commit, rollback or a lost connection, so it can
never be left behind), on SQLite the write lock taken up front by
``BEGIN IMMEDIATE``. One process migrates; the others wait, then find the
schema current and return the same path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alembic import command
from asyncdata._transactions import WRITE_OPTION
from asyncdata._translate import translate_fault
from asyncdata.errors import AsyncDataError, ConfigurationError, TransientError
from asyncdata.models import Base

__all__ = ["MIGRATIONS", "alembic_config", "head_revision", "migrate"]

log = logging.getLogger(__name__)

LOCK_KEY = 0x6173_796E_6364_6221
"""The PostgreSQL advisory lock key ``init_db`` holds while it looks and migrates."""

SQLITE_LOCK_WAIT_S = 300.0
"""How long ``init_db`` keeps retrying for SQLite's write lock (another process migrating)."""

MIGRATIONS = Path(__file__).resolve().parent / "_migrations"
"""The Alembic script directory inside the installed package."""


def alembic_config() -> Config:
    """The Alembic configuration: the file named by ``ALEMBIC_CONFIG`` if set, else one
    built in memory around the package's own scripts (no ``alembic.ini`` needed)."""
    configured = os.environ.get("ALEMBIC_CONFIG")
    if configured:
        if not Path(configured).is_file():
            raise ConfigurationError(f"ALEMBIC_CONFIG={configured}: no such file")
        return Config(configured)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str | None:
    """The newest revision of the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``init_db`` found before touching the database."""

    head: str | None  # None: Alembic cannot run, ``missing`` says why
    missing: str | None


def _plan() -> _Plan:
    try:
        head = head_revision()
    except ConfigurationError as exc:
        return _Plan(None, str(exc))
    except Exception as exc:  # a broken or missing script directory: say why, fall back
        return _Plan(None, f"no usable Alembic scripts: {_brief(exc)}")
    if head is None:
        return _Plan(None, "the Alembic scripts hold no revision")
    return _Plan(head, None)


def _brief(exc: BaseException) -> str:
    words = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _version(connection: Connection) -> str | None:
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def _stamp(connection: Connection, head: str) -> None:
    version = Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), primary_key=True),
    )
    version.create(connection)
    connection.execute(insert(version).values(version_num=head))


def _bring_up_to_date(connection: Connection, plan: _Plan) -> str:
    """Inside the locked transaction: upgrade, or create the tables of an empty database."""
    tables = _table_names(connection)
    if plan.head is not None:
        current = _version(connection) if "alembic_version" in tables else None
        try:
            _upgrade(connection)
        except Exception as exc:  # the caller's transaction rolls all of it back
            if isinstance(translate_fault(exc), TransientError):
                raise
            raise ConfigurationError(
                f"Alembic upgrade from revision {current or '(none)'} to {plan.head} "
                f"failed, nothing was changed: {_brief(exc)}"
            ) from exc
        return "alembic"
    # The models are those of the package's own scripts: their head is the revision to stamp.
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None, "the package ships its migration scripts"
    if tables and not ("alembic_version" in tables and _version(connection) == head):
        raise ConfigurationError(
            f"cannot bring the schema up to date: {plan.missing}, and the database already "
            f"holds tables ({', '.join(sorted(tables))}) not stamped at {head}; "
            "run 'asyncdata db upgrade' with working migration scripts"
        )
    log.warning("init_db: %s; creating tables from the models instead", plan.missing)
    Base.metadata.create_all(connection)
    if not tables:
        _stamp(connection, head)
    return "create_all"


async def _locked_attempt(engine: AsyncEngine, plan: _Plan) -> str:
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # BEGIN IMMEDIATE: the write lock up front, so no other process migrates meanwhile.
            connection = await connection.execution_options(**{WRITE_OPTION: True})
        else:
            # A real transaction even on an AUTOCOMMIT engine: it holds the advisory lock.
            connection = await connection.execution_options(isolation_level="READ COMMITTED")
        async with connection.begin():
            await _lock(connection)
            return await connection.run_sync(_bring_up_to_date, plan)


async def _lock(connection: AsyncConnection) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already holds the write lock
    # Wait as long as the other process needs: the app's timeouts are for queries,
    # not for migrations. Both settings end with this transaction.
    await connection.execute(text("SET LOCAL lock_timeout = 0"))
    await connection.execute(text("SET LOCAL statement_timeout = 0"))
    await connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))


async def migrate(engine: AsyncEngine) -> str:
    """Bring the schema of ``engine``'s database up to date; return ``"alembic"`` or
    ``"create_all"``. ``asyncdata.database.init_db`` is the public door to it.

    Alembic upgrades to the head revision. Only when Alembic or its scripts
    cannot be found, a warning says why and the tables are created from the
    models instead, which is done only on a database holding no tables (then
    stamped at the head revision, so a later ``alembic upgrade head`` works) or
    one already stamped at it; any other database raises ``ConfigurationError``.
    An upgrade that fails raises ``ConfigurationError`` naming the revisions and
    the cause, and leaves the database as it was. Safe to call repeatedly and
    from many processes at once. An unreachable database raises
    ``TransientError``, an unusable one (bad path, unknown host, wrong
    credentials) ``ConfigurationError``; both name where, never the password.
    """
    plan = _plan()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_LOCK_WAIT_S
    while True:
        try:
            return await _locked_attempt(engine, plan)
        except AsyncDataError:
            raise
        except Exception as exc:
            error = translate_fault(exc, url=engine.url)
            if error is None:
                raise
            busy = engine.dialect.name == "sqlite" and isinstance(error, TransientError)
            if not busy or loop.time() >= deadline:
                raise error from exc
        await asyncio.sleep(0.05)  # another process holds SQLite's write lock: wait for it
