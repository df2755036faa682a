"""Settings read from the environment: ``DB_URL`` and ``SQLALCHEMY_ECHO``.

The ``alembic`` command line and the library read the same variables, so one
``DB_URL`` drives both. Sync-style URLs are upgraded to the async drivers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from asyncdata.errors import ConfigurationError

__all__ = ["DEFAULT_DB_URL", "Settings", "async_url", "load_settings"]

DEFAULT_DB_URL = "sqlite+aiosqlite:///./app.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_TRUTHY = {"1", "true", "yes"}


@dataclass(frozen=True)
class Settings:
    """What the engine is built from; ``url`` is always an async-driver URL."""

    url: URL
    echo: bool


def _scheme(raw: str) -> str:
    return raw.split("://", 1)[0] if "://" in raw else raw.split(":", 1)[0]


def async_url(raw: str | URL) -> URL:
    """Return ``raw`` with its scheme moved to the async driver.

    Raises ConfigurationError for any other scheme; the message names the
    scheme only, so a password in the URL is never printed.
    """
    text = raw.render_as_string(hide_password=False) if isinstance(raw, URL) else raw.strip()
    scheme = _scheme(text).lower()
    driver = _DRIVERS.get(scheme)
    if driver is None:
        raise ConfigurationError(
            f"unsupported database URL scheme {scheme!r}: use sqlite:// or postgresql://"
        )
    try:
        url = make_url(driver + text[len(scheme) :])
    except ArgumentError:
        raise ConfigurationError(f"malformed database URL for scheme {scheme!r}") from None
    return url


def load_settings() -> Settings:
    """Read ``DB_URL`` and ``SQLALCHEMY_ECHO`` now (not at import time)."""
    raw = os.environ.get("DB_URL") or DEFAULT_DB_URL
    echo = os.environ.get("SQLALCHEMY_ECHO", "").strip().lower() in _TRUTHY
    return Settings(url=async_url(raw), echo=echo)
