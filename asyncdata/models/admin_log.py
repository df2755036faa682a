"""The append-only audit trail of administrative actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from asyncdata.models.base import Base, utcnow
from asyncdata.models.folded import folded_column, search_text

__all__ = ["AdminLog"]


class AdminLog(Base):
    """One action by one admin; the library never updates or deletes these rows."""

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
