"""The append-only audit trail of administrative actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from asyncdata.models.base import Base, on_ddl, utcnow
from asyncdata.models.folded import folded_column, search_text

__all__ = ["APPEND_ONLY_GUARD", "AdminLog"]


class AdminLog(Base):
    """One action by one admin; the database refuses to update or delete these rows."""

    __tablename__ = "admin_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(100))
    resource_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )
    search_text: Mapped[str] = folded_column(
        "action", "resource_type", "ip_address", "user_agent", folder=search_text
    )

    __table_args__ = (
        Index("ix_admin_logs_resource_type_resource_id", "resource_type", "resource_id"),
    )

    def __repr__(self) -> str:
        return f"<AdminLog id={self.id} admin_id={self.admin_id} action={self.action!r}>"


APPEND_ONLY_GUARD = "admin_logs_append_only"
"""Makes the admin log append-only in the database itself, on every connection.

PostgreSQL: a statement trigger refusing UPDATE, DELETE and TRUNCATE (SQLSTATE
23001, constraint ``admin_logs_append_only``). SQLite: BEFORE UPDATE and BEFORE
DELETE triggers aborting with that name (SQLite has no TRUNCATE; its
``DELETE FROM`` fires the trigger too). Alembic revision 0007 creates it; the
same DDL runs when ``create_all`` builds the table. Only the table's owner can
lift it (by dropping or disabling the trigger), which the pytest plugin does,
inside its clean-up transaction, to empty the table between tests.
"""

_GUARDS = {
    "postgresql": [
        f"CREATE OR REPLACE FUNCTION {APPEND_ONLY_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = 'admin_logs is append-only: ' || TG_OP "
        f"|| ' refused', ERRCODE = 'restrict_violation', CONSTRAINT = '{APPEND_ONLY_GUARD}'; "
        "END $$",
        f"CREATE TRIGGER {APPEND_ONLY_GUARD} BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_logs "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {APPEND_ONLY_GUARD}()",
    ],
    "sqlite": [
        f"CREATE TRIGGER {APPEND_ONLY_GUARD}_{kind} BEFORE {kind.upper()} ON admin_logs "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_GUARD}'); END"
        for kind in ("update", "delete")
    ],
}
on_ddl(AdminLog.__table__, "after_create", _GUARDS)
