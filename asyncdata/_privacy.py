"""Session ids as credentials: made at random, stored and compared only as their SHA-256.

A session id is a bearer credential: whoever holds it is the client. So the
database keeps only its digest (a leaked table, backup, log line or search
result is then no live session), and every lookup hashes what it is given
before any SQL runs, so the id itself never reaches a bound parameter, a log
record or an error message. Plain functions over plain values, no ORM.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

__all__ = ["SESSION_ID_BYTES", "new_session_id", "session_digest"]

SESSION_ID_BYTES: Final = 32
"""Random bytes in an id made by ``new_session_id``: 256 bits, well above the 128 needed."""


def session_digest(session_id: str) -> str:
    """The stored form of a session id: SHA-256 of its UTF-8 bytes, 64 lower-case hex digits.

    A plain hash, not a slow or salted one: the ids it protects are random with at
    least 128 bits (``new_session_id``), which no dictionary or brute force reaches,
    and a lookup must find the row by equality on an indexed column.
    """
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def new_session_id() -> str:
    """A fresh, unguessable session id: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)
