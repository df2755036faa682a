"""A client's session, e.g. a chat bot conversation or a web login."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from asyncdata.models.base import Base, TimestampMixin
from asyncdata.models.folded import folded_column, search_text

__all__ = ["UserSession"]


class UserSession(TimestampMixin, Base):
    """A session counts as inactive once ``expires_at`` has passed (``None`` never expires)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    """SHA-256 (hex) of the session id, never the id itself: the repository hashes the id
    it is given on every write and lookup (``asyncdata._privacy``)."""
    client_name: Mapped[str | None] = mapped_column(String(200))
    client_email: Mapped[str | None] = mapped_column(String(320), index=True)
    client_phone: Mapped[str | None] = mapped_column(String(50))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    search_text: Mapped[str] = folded_column(
        "client_name", "client_email", "client_phone", "ip_address", folder=search_text
    )
    """The session id is left out: ``search`` must never find a session by its credential."""

    def __repr__(self) -> str:
        # No session id (nor its digest) and no personal data: reprs end up in logs.
        return f"<UserSession id={self.id} is_active={self.is_active}>"
