"""``init_db``: bring the schema to the newest revision, by Alembic or by the models.

Alembic runs on the engine's own connection (``run_sync``), handed to
``alembic/env.py`` through ``config.attributes["connection"]``, so SQLite
``:memory:`` databases and test transactions see the same schema.

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

from sqlalchemy import Column, MetaData, String, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from asyncdata._transactions import WRITE_OPTION
from asyncdata.errors import AsyncDataError, ConfigurationError, TransientError
from asyncdata.models import Base
from asyncdata.translate import translate_fault

__all__ = ["HEAD_REVISION", "alembic_config_path", "init_db"]

log = logging.getLogger(__name__)

HEAD_REVISION = "0003_folded_text"
"""The newest migration; ``create_all`` stamps it so a later ``alembic upgrade head`` works.
A test keeps it equal to the head of ``alembic/versions``."""

LOCK_KEY = 0x6173_796E_6364_6221
"""The PostgreSQL advisory lock key ``init_db`` holds while it looks and migrates."""

SQLITE_LOCK_WAIT_S = 300.0
"""How long ``init_db`` keeps retrying for SQLite's write lock (another process migrating)."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config_path() -> Path:
    """``ALEMBIC_CONFIG`` if set, else ``alembic.ini`` at the project root."""
    configured = os.environ.get("ALEMBIC_CONFIG")
    return Path(configured) if configured else PROJECT_ROOT / "alembic.ini"


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``init_db`` found before touching the database."""

    ini: Path | None  # None: Alembic cannot run, ``missing`` says why
    head: str | None
    missing: str | None


def _plan() -> _Plan:
    ini = alembic_config_path()
    if not ini.is_file():
        return _Plan(None, None, f"no Alembic config at {ini}")
    try:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
    except ImportError:
        return _Plan(None, None, "Alembic is not installed")
    try:
        head = ScriptDirectory.from_config(Config(str(ini))).get_current_head()
    except Exception as exc:  # a broken or missing script directory: say why, fall back
        return _Plan(None, None, f"no usable Alembic scripts for {ini}: {_brief(exc)}")
    return _Plan(ini, head, None)


def _brief(exc: BaseException) -> str:
    words = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _version(connection: Connection) -> str | None:
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(connection: Connection, ini: Path) -> None:
    from alembic.config import Config

    from alembic import command

    config = Config(str(ini))
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def _stamp(connection: Connection) -> None:
    version = Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), primary_key=True),
    )
    version.create(connection)
    connection.execute(insert(version).values(version_num=HEAD_REVISION))


def _bring_up_to_date(connection: Connection, plan: _Plan) -> str:
    """Inside the locked transaction: upgrade, or create the tables of an empty database."""
    tables = _table_names(connection)
    if plan.ini is not None:
        current = _version(connection) if "alembic_version" in tables else None
        try:
            _upgrade(connection, plan.ini)
        except Exception as exc:  # the caller's transaction rolls all of it back
            if isinstance(translate_fault(exc), TransientError):
                raise
            raise ConfigurationError(
                f"Alembic upgrade from revision {current or '(none)'} to {plan.head} "
                f"failed, nothing was changed: {_brief(exc)}"
            ) from exc
        return "alembic"
    if tables and not ("alembic_version" in tables and _version(connection) == HEAD_REVISION):
        raise ConfigurationError(
            f"cannot bring the schema up to date: {plan.missing}, and the database already "
            f"holds tables ({', '.join(sorted(tables))}) not stamped at {HEAD_REVISION}; "
            "run 'alembic upgrade head' where the migration scripts are"
        )
    log.warning("init_db: %s; creating tables from the models instead", plan.missing)
    Base.metadata.create_all(connection)
    if not tables:
        _stamp(connection)
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


async def init_db(engine: AsyncEngine | None = None) -> str:
    """Bring the schema up to date; return ``"alembic"`` or ``"create_all"``.

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
    if engine is None:
        from asyncdata.database import get_engine

        engine = get_engine()
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
