"""Indexes that keep bounded reads flat as tables grow, and their DDL.

Kept apart from the models they index so each reads as "what the data is",
and this module as "what makes the reads fast":

- ``(starts_at, id)`` on bookings, ``(created_at, id)`` on sessions and the
  admin log: their repositories' default orders, so a page (``get_all`` with
  a limit, ``get_page`` from a cursor) reads only its own rows.
- ``expires_at`` of active sessions only (a partial index): ``cleanup_expired``
  with nothing to do touches no row.
- PostgreSQL: a trigram GIN index (``pg_trgm``) on every ``search_text``, so
  ``search`` (``LIKE '%needle%'`` over the folded text) uses an index for any
  needle of three characters or more. SQLite has no trigram index type; see
  ``asyncdata.models._fts`` for its equivalent.

Revision ``0004_scale`` creates the same objects; ``create_all`` builds them
from here.
"""

from __future__ import annotations

from sqlalchemy import Index

from asyncdata.models.admin_log import AdminLog
from asyncdata.models.base import Base, on_ddl
from asyncdata.models.booking import Booking
from asyncdata.models.specialist import Specialist
from asyncdata.models.user_session import UserSession

__all__ = ["TRIGRAM_TABLES", "trigram_index_name"]

TRIGRAM_TABLES = ("specialists", "bookings", "user_sessions", "admin_logs")
"""Tables whose ``search_text`` has a trigram index on PostgreSQL."""


def trigram_index_name(table: str) -> str:
    return f"ix_{table}_search_text_trgm"


Index("ix_bookings_starts_at_id", Booking.starts_at, Booking.id)
Index("ix_user_sessions_created_at_id", UserSession.created_at, UserSession.id)
Index(
    "ix_user_sessions_expires_at_active",
    UserSession.expires_at,
    postgresql_where=UserSession.is_active.is_(True),
    sqlite_where=UserSession.is_active.is_(True),
)
Index("ix_admin_logs_created_at_id", AdminLog.created_at, AdminLog.id)

for _model in (Specialist, Booking, UserSession, AdminLog):
    Index(
        trigram_index_name(_model.__tablename__),
        _model.search_text,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")

on_ddl(Base.metadata, "before_create", {"postgresql": ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]})
