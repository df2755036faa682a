"""The exceptions every repository call may raise, and nothing else.

::

    AsyncDataError                 base of everything asyncdata raises
    ├── NotFoundError              (also LookupError) a row that should exist does not
    ├── ValidationError            (also ValueError) bad input; ``fields`` names the culprits
    ├── ConflictError              the input clashes with stored rows or a concurrent write;
    │                              ``constraint`` names the violated constraint where known
    └── ConfigurationError         ``DB_URL`` or the Alembic setup is unusable

No raw SQLAlchemy or driver exception escapes a repository: the original is
kept as ``__cause__`` for logs. Messages name the offending field and value and
never contain a password.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AsyncDataError",
    "ConfigurationError",
    "ConflictError",
    "NotFoundError",
    "ValidationError",
]


class AsyncDataError(Exception):
    """Base class of every error asyncdata raises on purpose."""


class NotFoundError(AsyncDataError, LookupError):
    """A row looked up by id (or referenced by a foreign key) does not exist."""

    def __init__(self, message: str, *, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)


class ValidationError(AsyncDataError, ValueError):
    """The caller's input breaks a rule; ``fields`` lists the field names at fault."""

    def __init__(self, message: str, *, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)


class ConflictError(AsyncDataError):
    """The write clashes with stored data: a duplicate, an overlap, a lost race.

    ``constraint`` is the database constraint's name when one was violated.
    Retrying the same write unchanged will fail again unless the other row went away.
    """

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        fields: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.constraint = constraint
        self.fields: tuple[str, ...] = tuple(fields)


class ConfigurationError(AsyncDataError):
    """The database URL or the migration setup cannot be used."""
