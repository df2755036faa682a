"""Indexes for reads that stay flat as tables grow; a bounded SQLite overlap guard.

- ``(starts_at, id)`` on bookings and ``(created_at, id)`` on user_sessions and
  admin_logs (the repositories' default orders: pages read only their rows);
  ``expires_at`` of active sessions (partial), for ``cleanup_expired``.
- PostgreSQL: ``pg_trgm`` (left installed on downgrade, like ``btree_gist``) and
  a trigram GIN index on ``search_text`` of specialists, bookings, user_sessions
  and admin_logs, which ``LIKE '%needle%'`` uses.
- SQLite: the overlap triggers of 0002 get a lower bound on ``starts_at``. A
  booking lasts at most 1,440 minutes, so one that overlaps a new booking
  starts less than 1,440 minutes before it; with the bound the lookup reads
  one day of the specialist's bookings through
  ``ix_bookings_specialist_id_starts_at`` instead of the whole history, which
  made ``create_many`` quadratic. Instants are stored as fixed-width text
  (``YYYY-MM-DD HH:MM:SS.ffffff``); ``datetime()`` gives the bound truncated to
  the second, which is never later than the exact one, so no clash is missed.
- SQLite: an FTS5 trigram table ``<table>_search`` over ``search_text`` of the same
  four tables (external content, kept in step by triggers, filled here), which
  ``search`` uses to narrow its rows (``asyncdata.models._fts``).

Revision ID: 0004_scale
Revises: 0003_folded_text
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004_scale"
down_revision: str | None = "0003_folded_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ex_bookings_no_overlap"
CLASH = (
    "SELECT RAISE(ABORT, '{name}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    "{bound}AND other.starts_at < NEW.ends_at AND NEW.starts_at < other.ends_at{extra});"
)
BOUND = "AND other.starts_at >= datetime(NEW.starts_at, '-1440 minutes') "
TRIGRAM_TABLES = ("specialists", "bookings", "user_sessions", "admin_logs")


def _fts_ddl(table: str) -> list[str]:
    """The FTS5 table and its triggers, as ``asyncdata.models._fts`` has them in 0004."""
    fts = f"{table}_search"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}', "
        "content_rowid='id', tokenize='trigram case_sensitive 1', detail='none')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (NEW.id, NEW.search_text); END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text); "
        "END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF search_text ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text); "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (NEW.id, NEW.search_text); END",
    ]


def _triggers(bound: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_insert")
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_update")
    op.execute(
        f"CREATE TRIGGER {NAME}_insert BEFORE INSERT ON bookings "
        f"WHEN NEW.status <> 'cancelled' BEGIN "
        f"{CLASH.format(name=NAME, bound=bound, extra='')} END"
    )
    op.execute(
        f"CREATE TRIGGER {NAME}_update BEFORE UPDATE OF specialist_id, starts_at, ends_at, "
        f"status ON bookings WHEN NEW.status <> 'cancelled' BEGIN "
        f"{CLASH.format(name=NAME, bound=bound, extra=' AND other.id <> NEW.id')} END"
    )


def upgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    op.create_index("ix_bookings_starts_at_id", "bookings", ["starts_at", "id"])
    op.create_index("ix_user_sessions_created_at_id", "user_sessions", ["created_at", "id"])
    active = sa.text("is_active IS true" if postgresql else "is_active IS 1")
    op.create_index(
        "ix_user_sessions_expires_at_active",
        "user_sessions",
        ["expires_at"],
        postgresql_where=active,
        sqlite_where=active,
    )
    op.create_index("ix_admin_logs_created_at_id", "admin_logs", ["created_at", "id"])
    if postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table in TRIGRAM_TABLES:
            op.create_index(
                f"ix_{table}_search_text_trgm",
                table,
                ["search_text"],
                postgresql_using="gin",
                postgresql_ops={"search_text": "gin_trgm_ops"},
            )
        return
    _triggers(BOUND)
    for table in TRIGRAM_TABLES:
        fts = f"{table}_search"
        for statement in _fts_ddl(table):
            op.execute(statement)
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def downgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        for table in TRIGRAM_TABLES:
            op.drop_index(f"ix_{table}_search_text_trgm", table_name=table)
    else:
        _triggers("")
        for table in TRIGRAM_TABLES:
            fts = f"{table}_search"
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{event}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    op.drop_index("ix_admin_logs_created_at_id", table_name="admin_logs")
    op.drop_index("ix_user_sessions_expires_at_active", table_name="user_sessions")
    op.drop_index("ix_user_sessions_created_at_id", table_name="user_sessions")
    op.drop_index("ix_bookings_starts_at_id", table_name="bookings")
