"""``init_db``: bring the schema to the newest revision, by Alembic or by the models.

Alembic runs on the engine's own connection (``run_sync``), handed to
``alembic/env.py`` through ``config.attributes["connection"]``, so SQLite
``:memory:`` databases and test transactions see the same schema.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import Column, MetaData, String, Table, insert, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from asyncdata.errors import ConfigurationError
from asyncdata.models import Base

__all__ = ["HEAD_REVISION", "alembic_config_path", "init_db"]

log = logging.getLogger(__name__)

HEAD_REVISION = "0002_overlap_guard"
"""The newest migration; ``create_all`` stamps it so a later ``alembic upgrade head`` works.
A test keeps it equal to the head of ``alembic/versions``."""

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config_path() -> Path:
    """``ALEMBIC_CONFIG`` if set, else ``alembic.ini`` at the project root."""
    configured = os.environ.get("ALEMBIC_CONFIG")
    return Path(configured) if configured else PROJECT_ROOT / "alembic.ini"


def _has_tables(connection: Connection) -> bool:
    return bool(inspect(connection).get_table_names())


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


async def _try_alembic(engine: AsyncEngine) -> str | None:
    """Run the upgrade; return None on success, else why it could not run."""
    ini = alembic_config_path()
    if not ini.is_file():
        return f"no Alembic config at {ini}"
    try:
        import alembic  # noqa: F401
    except ImportError:
        return "Alembic is not installed"
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, ini)
    except Exception as exc:  # any failure falls back; the reason is logged
        return f"Alembic upgrade failed: {type(exc).__name__}: {exc}"
    return None


async def init_db(engine: AsyncEngine | None = None) -> str:
    """Bring the schema up to date; return ``"alembic"`` or ``"create_all"``.

    Alembic first; if it or its scripts are missing or the upgrade fails, a
    warning says why and the tables are created from the models instead. Only a
    database that held no tables is then stamped at the head revision, so a
    half-migrated one is never marked current. Safe to call repeatedly.
    """
    if engine is None:
        from asyncdata.database import get_engine

        engine = get_engine()
    async with engine.connect() as connection:
        was_empty = not await connection.run_sync(_has_tables)
    reason = await _try_alembic(engine)
    if reason is None:
        return "alembic"
    log.warning("init_db: %s; creating tables from the models instead", reason)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            if was_empty:
                await connection.run_sync(_stamp)
    except Exception as exc:
        raise ConfigurationError(f"could not create the schema: {type(exc).__name__}") from exc
    return "create_all"
