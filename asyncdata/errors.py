"""The exceptions every repository call may raise, and nothing else.

::

    AsyncDataError                 base of everything asyncdata raises
    ├── NotFoundError              (also LookupError) a row that should exist does not
    ├── ValidationError            (also ValueError) bad input; ``fields`` names the culprits
    ├── ConflictError              the input clashes with stored rows or a concurrent write;
    │                              ``constraint`` names the violated constraint where known
    ├── TransientError             the call did not take effect and may succeed if retried:
    │                              connection refused, lost or reset, server starting or
    │                              stopping, a statement/lock/busy timeout, a deadlock or a
    │                              serialization failure
    └── ConfigurationError         ``DB_URL``, a setting or the migration setup is unusable

Every error has ``retryable``: True only for ``TransientError``, so a caller
can write one ``except AsyncDataError as exc: if exc.retryable: ...``.

No raw SQLAlchemy, driver or builtin exception escapes a public call: the
original is kept as ``__cause__`` for logs. Messages name the offending field
and value and never contain a password.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AsyncDataError",
    "ConfigurationError",
    "ConflictError",
    "NotFoundError",
    "TransientError",
    "ValidationError",
]


class AsyncDataError(Exception):
    """Base class of every error asyncdata raises on purpose."""

    retryable: bool = False
    """Whether the same call may succeed if simply retried (only ``TransientError``)."""


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


class TransientError(AsyncDataError):
    """The call did not take effect, and the same call may succeed if retried.

    Raised for lost, refused or reset connections, a server starting or shutting
    down, statement, lock and busy timeouts, deadlocks and serialization failures.
    """

    retryable = True


class ConfigurationError(AsyncDataError):
    """The database URL or the migration setup cannot be used."""
