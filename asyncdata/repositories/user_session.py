"""Client sessions: lookups that treat an expired session as gone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import or_, update
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._validation import FieldRule, check_text, email
from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import UserSession, utcnow
from asyncdata.repositories.base import Repository
from asyncdata.repositories.searchable import Searchable

__all__ = ["MAX_EXTEND_SECONDS", "UserSessionRepository"]


MAX_EXTEND_SECONDS = 100 * 366 * 86_400
"""The longest ``extend``: about a century, so every expiry stays a representable instant."""


class UserSessionRepository(Searchable[UserSession], Repository[UserSession]):
    model = UserSession
    default_order = ("created_at",)
    rules: ClassVar[dict[str, FieldRule]] = {"client_email": email}

    def active_clause(self) -> ColumnElement[bool]:
        """Active means not deactivated and not past ``expires_at``."""
        return UserSession.is_active.is_(True) & or_(
            UserSession.expires_at.is_(None), UserSession.expires_at > utcnow()
        )

    async def get_by_session_id(self, session_id: str) -> UserSession | None:
        """The session if it is active and unexpired, else None."""
        wanted = check_text(session_id, "session_id")
        return await self.first_where(UserSession.session_id == wanted)

    async def _update_live(self, session_id: str, **values: Any) -> UserSession:
        """Change the active, unexpired session in one UPDATE; NotFoundError if there is none."""
        table = self._table
        stmt = (
            update(table)
            .where(table.c.session_id == session_id, self.active_clause())
            .values(**values, updated_at=utcnow())
            .returning(*table.c)
        )
        async with self.writing({"session_id": session_id}):
            found = (await self.session.execute(stmt)).one_or_none()
            if found is None:
                raise NotFoundError(
                    f"session_id={session_id!r}: no active session", fields=["session_id"]
                )
        return self._adopt(found._asdict())

    async def extend(self, session_id: str, seconds: int) -> UserSession:
        """Expire the active session ``seconds`` from now (NotFoundError if none is active)."""
        check_text(session_id, "session_id")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not 0 < seconds <= MAX_EXTEND_SECONDS
        ):
            raise ValidationError(
                f"seconds={seconds!r}: must be a whole number from 1 to {MAX_EXTEND_SECONDS}",
                fields=["seconds"],
            )
        return await self._update_live(session_id, expires_at=utcnow() + timedelta(seconds=seconds))

    async def deactivate(self, session_id: str) -> UserSession:
        """End the active session now (NotFoundError if none is active)."""
        check_text(session_id, "session_id")
        return await self._update_live(session_id, is_active=False)

    async def cleanup_expired(self) -> int:
        """Deactivate every session past its expiry; return how many."""
        now = utcnow()
        stmt = (
            update(UserSession)
            .where(UserSession.is_active.is_(True), UserSession.expires_at <= now)
            .values(is_active=False, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        async with self.writing():
            result = await self.session.execute(stmt)
        return int(result.rowcount)  # type: ignore[attr-defined]
