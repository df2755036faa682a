"""Client sessions: lookups that treat an expired session as gone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import or_, update
from sqlalchemy.sql.elements import ColumnElement

from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import UserSession, utcnow
from asyncdata.repositories.base import Repository
from asyncdata.validation import FieldRule, email

__all__ = ["UserSessionRepository"]


class UserSessionRepository(Repository[UserSession]):
    model = UserSession
    default_order = ("created_at",)
    search_fields = ("session_id", "client_name", "client_email", "client_phone", "ip_address")
    rules: ClassVar[dict[str, FieldRule]] = {"client_email": email}

    def active_clause(self) -> ColumnElement[bool]:
        """Active means not deactivated and not past ``expires_at``."""
        return UserSession.is_active.is_(True) & or_(
            UserSession.expires_at.is_(None), UserSession.expires_at > utcnow()
        )

    async def get_by_session_id(self, session_id: str) -> UserSession | None:
        """The session if it is active and unexpired, else None."""
        return await self.first_where(UserSession.session_id == session_id)

    async def _update_live(self, session_id: str, **values: Any) -> UserSession:
        """Change the active, unexpired session in one UPDATE; NotFoundError if there is none."""
        stmt = (
            update(UserSession)
            .where(UserSession.session_id == session_id, self.active_clause())
            .values(**values, updated_at=utcnow())
            .returning(UserSession)
            .execution_options(populate_existing=True)
        )
        async with self.writing({"session_id": session_id}):
            found = (await self.session.scalars(stmt)).one_or_none()
            if found is None:
                raise NotFoundError(
                    f"session_id={session_id!r}: no active session", fields=["session_id"]
                )
        return found

    async def extend(self, session_id: str, seconds: int) -> UserSession:
        """Expire the active session ``seconds`` from now (NotFoundError if none is active)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise ValidationError(
                f"seconds={seconds!r}: must be a whole number > 0", fields=["seconds"]
            )
        return await self._update_live(session_id, expires_at=utcnow() + timedelta(seconds=seconds))

    async def deactivate(self, session_id: str) -> UserSession:
        """End the active session now (NotFoundError if none is active)."""
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
