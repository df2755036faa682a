"""Client sessions: lookups that treat an expired session as gone, ids kept only as digests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import or_, update
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._privacy import new_session_id, session_digest
from asyncdata._validation import FieldRule, check_text, email
from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import UserSession, utcnow
from asyncdata.repositories.base import Repository
from asyncdata.repositories.searchable import Searchable

__all__ = ["MAX_EXTEND_SECONDS", "UserSessionRepository"]


MAX_EXTEND_SECONDS = 100 * 366 * 86_400
"""The longest ``extend`` or ``start`` ttl: about a century, so every expiry stays a
representable instant."""


def _check_seconds(seconds: Any, name: str) -> int:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not 0 < seconds <= MAX_EXTEND_SECONDS
    ):
        raise ValidationError(
            f"{name}={seconds!r}: must be a whole number from 1 to {MAX_EXTEND_SECONDS}",
            fields=[name],
        )
    return seconds


class UserSessionRepository(Searchable[UserSession], Repository[UserSession]):
    """Sessions, found by their id; the database holds only each id's SHA-256.

    ``start`` makes a random id and returns it once. ``create``, ``create_many``
    and ``update`` accept a ``session_id`` of the caller's and store its digest
    (the returned object's ``session_id`` is that digest); ``get_by_session_id``,
    ``extend``, ``deactivate`` and a ``filters={"session_id": …}`` hash what they
    are given, so a stored digest is no key to its session. No message shows a
    session id.
    """

    model = UserSession
    default_order = ("created_at",)
    rules: ClassVar[dict[str, FieldRule]] = {"client_email": email, "session_id": session_digest}

    def active_clause(self) -> ColumnElement[bool]:
        """Active means not deactivated and not past ``expires_at``."""
        return UserSession.is_active.is_(True) & or_(
            UserSession.expires_at.is_(None), UserSession.expires_at > utcnow()
        )

    async def start(
        self,
        *,
        ttl_seconds: int,
        client_name: str | None = None,
        client_email: str | None = None,
        client_phone: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> tuple[UserSession, str]:
        """Open a session expiring ``ttl_seconds`` from now; returns it and its new id.

        The id (256 random bits, URL-safe) is returned here and nowhere else: the
        database keeps only its SHA-256, so it cannot be read back later. Hand it to
        the client (a cookie, a bot's state) and look the session up with it.
        """
        ttl = _check_seconds(ttl_seconds, "ttl_seconds")
        session_id = new_session_id()
        made = await self.create(
            {
                "session_id": session_id,
                "client_name": client_name,
                "client_email": client_email,
                "client_phone": client_phone,
                "ip_address": ip_address,
                "user_agent": user_agent,
                "data": data,
                "expires_at": utcnow() + timedelta(seconds=ttl),
            }
        )
        return made, session_id

    async def get_by_session_id(self, session_id: str) -> UserSession | None:
        """The session if it is active and unexpired, else None. Found by the id only: its
        stored digest, or a prefix of the id, finds nothing."""
        digest = session_digest(str(check_text(session_id, "session_id")))
        return await self.first_where(UserSession.session_id == digest)

    def _condition(self, name: Any, value: Any) -> ColumnElement[bool]:
        """A ``session_id`` filter compares digests: the ids given are hashed first."""
        if name == "session_id":
            if isinstance(value, str):
                value = session_digest(str(check_text(value, "session_id")))
            elif isinstance(value, list | tuple):
                value = [
                    session_digest(str(check_text(v, "session_id"))) if isinstance(v, str) else v
                    for v in value
                ]
        return super()._condition(name, value)

    async def _update_live(self, session_id: str, **values: Any) -> UserSession:
        """Change the active, unexpired session in one UPDATE; NotFoundError if there is none."""
        table = self._table
        stmt = (
            update(table)
            .where(table.c.session_id == session_digest(session_id), self.active_clause())
            .values(**values, updated_at=utcnow())
            .returning(*table.c)
        )
        async with self.writing():
            found = (await self.session.execute(stmt)).one_or_none()
            if found is None:
                raise NotFoundError(
                    "no active session has the given session_id", fields=["session_id"]
                )
        return self._adopt(found._asdict())

    async def extend(self, session_id: str, seconds: int) -> UserSession:
        """Expire the active session ``seconds`` from now (NotFoundError if none is active)."""
        wanted = str(check_text(session_id, "session_id"))
        seconds = _check_seconds(seconds, "seconds")
        return await self._update_live(wanted, expires_at=utcnow() + timedelta(seconds=seconds))

    async def deactivate(self, session_id: str) -> UserSession:
        """End the active session now (NotFoundError if none is active)."""
        wanted = str(check_text(session_id, "session_id"))
        return await self._update_live(wanted, is_active=False)

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
