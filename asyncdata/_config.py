"""Settings read from the environment: the database URL, SQL logging, pool and timeouts.

The ``alembic`` command line and the library read the same variables, so one
``DB_URL`` drives both. Sync-style URLs are upgraded to the async drivers.

Every tuning setting exists twice: as an environment variable read by
``get_engine()`` and as a keyword of ``create_engine(...)``. Both go through
the same checks here, so a bad value fails the same way wherever it came from:
a ``ConfigurationError`` naming the variable, raised before any connection is
attempted. Nothing here ever renders a password.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from asyncdata.errors import ConfigurationError

__all__ = [
    "DEFAULT_DB_URL",
    "ENV_VARIABLES",
    "EngineSettings",
    "Settings",
    "async_url",
    "load_engine_settings",
    "load_settings",
    "parse_read_urls",
    "pgbouncer_flag",
]

DEFAULT_DB_URL = "sqlite+aiosqlite:///./app.db"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_TRUTHY = {"1", "true", "yes"}
_FALSY = {"", "0", "false", "no"}
_OFF = {"", "none", "off"}


@dataclass(frozen=True, slots=True)
class _Spec:
    env: str
    minimum: float
    integer: bool
    optional: bool  # may be turned off ("off", "none"; None as a keyword)
    default: float | None


_SPECS: dict[str, _Spec] = {
    "pool_size": _Spec("DB_POOL_SIZE", 1, True, False, 5),
    "max_overflow": _Spec("DB_MAX_OVERFLOW", 0, True, False, 10),
    "pool_timeout_s": _Spec("DB_POOL_TIMEOUT_S", 0, False, False, 30.0),
    "pool_recycle_s": _Spec("DB_POOL_RECYCLE_S", 1, False, True, None),
    "connect_timeout_s": _Spec("DB_CONNECT_TIMEOUT_S", 0.001, False, False, 10.0),
    "statement_timeout_ms": _Spec("DB_STATEMENT_TIMEOUT_MS", 1, True, True, None),
    "lock_timeout_ms": _Spec("DB_LOCK_TIMEOUT_MS", 1, True, True, None),
    "busy_timeout_ms": _Spec("DB_BUSY_TIMEOUT_MS", 0, True, False, 5_000),
}
ENV_VARIABLES: Mapping[str, str] = {name: spec.env for name, spec in _SPECS.items()}
"""``create_engine`` keyword -> environment variable, for every pool and timeout setting."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Pool and timeout settings, checked; ``None`` means "not given".

    Each field is the ``create_engine`` keyword of the same name; its variable
    is in ``ENV_VARIABLES``. ``with_defaults()`` fills what was not given:

    - ``pool_size`` (``DB_POOL_SIZE``, 5): connections kept open in the pool.
    - ``max_overflow`` (``DB_MAX_OVERFLOW``, 10): extra connections allowed under load.
    - ``pool_timeout_s`` (``DB_POOL_TIMEOUT_S``, 30): how long a call waits for a free
      pooled connection before failing with ``TransientError``.
    - ``pool_recycle_s`` (``DB_POOL_RECYCLE_S``, off): replace connections older than
      this, e.g. to stay under a firewall's or pgbouncer's idle cut-off.
    - ``connect_timeout_s`` (``DB_CONNECT_TIMEOUT_S``, 10): how long opening a
      PostgreSQL connection may take before ``TransientError``.
    - ``statement_timeout_ms`` (``DB_STATEMENT_TIMEOUT_MS``, off): PostgreSQL cancels a
      statement running longer (``TransientError``). Sent in the connection's startup
      packet, so it costs no round trip (behind PgBouncer, which refuses such startup
      parameters, asyncpg's ``command_timeout`` instead).
    - ``lock_timeout_ms`` (``DB_LOCK_TIMEOUT_MS``, off): PostgreSQL stops waiting for a
      row or table lock after this long (``TransientError``); startup packet too
      (behind PgBouncer, ``SET LOCAL`` at the start of each transaction).
    - ``busy_timeout_ms`` (``DB_BUSY_TIMEOUT_MS``, 5000): how long a SQLite writer waits
      for another connection's write lock before ``TransientError``.
    """

    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout_s: float | None = None
    pool_recycle_s: float | None = None
    connect_timeout_s: float | None = None
    statement_timeout_ms: int | None = None
    lock_timeout_ms: int | None = None
    busy_timeout_ms: int | None = None

    def __post_init__(self) -> None:
        for name, spec in _SPECS.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _checked(name, spec, value))

    def with_defaults(self) -> EngineSettings:
        """These settings with each one not given replaced by the library default."""
        values = {name: getattr(self, name) for name in _SPECS}
        for name, spec in _SPECS.items():
            if values[name] is None:
                values[name] = spec.default
        return EngineSettings(**values)

    def overridden_by(self, **given: float | None) -> EngineSettings:
        """These settings with every non-None value of ``given`` taking precedence."""
        values = {name: getattr(self, name) for name in _SPECS}
        values.update({name: value for name, value in given.items() if value is not None})
        return EngineSettings(**values)


def _checked(name: str, spec: _Spec, value: object) -> float:
    """``value`` as the setting's number, or ConfigurationError naming variable and keyword."""
    wanted = "an integer" if spec.integer else "a number"
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        number is None
        or not math.isfinite(number)
        or (spec.integer and not float(number).is_integer())
        or number < spec.minimum
    ):
        raise ConfigurationError(
            f"{spec.env} (create_engine {name}=) must be {wanted} >= {spec.minimum:g}, "
            f"got {value!r}"
        )
    return int(number) if spec.integer else float(number)


def _parsed(name: str, spec: _Spec, text: str) -> float | None:
    cleaned = text.strip()
    if spec.optional and cleaned.lower() in _OFF:
        return None
    try:
        number: float = int(cleaned) if spec.integer else float(cleaned)
    except ValueError:
        wanted = "an integer" if spec.integer else "a number"
        hint = " or 'off'" if spec.optional else ""
        raise ConfigurationError(f"{spec.env} must be {wanted}{hint}, got {text!r}") from None
    return _checked(name, spec, number)


def load_engine_settings(environ: Mapping[str, str] | None = None) -> EngineSettings:
    """The pool and timeout settings the environment gives; the others stay None.

    An unset or empty variable means "not given"; ``off`` (or ``none``) turns an
    optional one (recycle, statement and lock timeouts) off explicitly.
    """
    env = os.environ if environ is None else environ
    given: dict[str, float | None] = {}
    for name, spec in _SPECS.items():
        raw = env.get(spec.env)
        if raw is not None and raw.strip():
            given[name] = _parsed(name, spec, raw)
    return EngineSettings(**given)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """What the engine is built from; ``url`` is always an async-driver URL."""

    url: URL
    echo: bool
    engine: EngineSettings = field(default_factory=EngineSettings)
    read_urls: tuple[URL, ...] = ()
    """Replicas serving reads outside transactions (``DB_READ_URLS``); empty: none."""
    pgbouncer: bool = False
    """``DB_PGBOUNCER``: connections go through PgBouncer in transaction pooling mode."""


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


def parse_read_urls(primary: URL, given: object, *, from_env: bool) -> tuple[URL, ...]:
    """The replica URLs of ``given``, each upgraded to asyncpg like ``DB_URL``: a
    comma-separated string from the environment, a list or tuple of strings and
    URLs as a keyword (one string there is refused rather than split at commas).

    Replicas are PostgreSQL only, and only behind a PostgreSQL primary: a SQLite
    file has no replicas. Any other value raises ``ConfigurationError`` naming
    ``DB_READ_URLS``; messages name schemes and positions, never a password.
    """
    if isinstance(given, str) and from_env:
        items: list[object] = [part for part in given.split(",") if part.strip()]
    elif isinstance(given, list | tuple):
        items = list(given)
    else:
        raise ConfigurationError(
            "DB_READ_URLS (create_engine read_urls=) must be a comma-separated string, "
            f"and read_urls= a list or tuple of URLs; got {type(given).__name__}"
        )
    urls: list[URL] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str | URL) or (isinstance(item, str) and not item.strip()):
            raise ConfigurationError(
                f"DB_READ_URLS (create_engine read_urls=): entry {position} must be a "
                f"non-empty URL string, got {type(item).__name__}"
            )
        try:
            url = async_url(item)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"DB_READ_URLS (create_engine read_urls=): entry {position}: {exc}"
            ) from None
        if url.get_backend_name() != "postgresql":
            raise ConfigurationError(
                f"DB_READ_URLS (create_engine read_urls=): entry {position} is not a "
                "PostgreSQL URL; only PostgreSQL replicas are supported"
            )
        urls.append(url)
    if urls and primary.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "DB_READ_URLS (create_engine read_urls=) needs a PostgreSQL DB_URL: "
            "a SQLite database has no replicas"
        )
    return tuple(urls)


def pgbouncer_flag(primary: URL, given: object) -> bool:
    """``DB_PGBOUNCER`` as a bool: ``1``/``true``/``yes`` or ``0``/``false``/``no``/empty.

    Only meaningful for PostgreSQL; turning it on for SQLite raises ``ConfigurationError``.
    """
    if isinstance(given, bool):
        on = given
    elif isinstance(given, str) and given.strip().lower() in _TRUTHY | _FALSY:
        on = given.strip().lower() in _TRUTHY
    else:
        raise ConfigurationError(
            "DB_PGBOUNCER (create_engine pgbouncer=) must be 1/true/yes or 0/false/no, "
            f"got {given!r}"
        )
    if on and primary.get_backend_name() != "postgresql":
        raise ConfigurationError(
            "DB_PGBOUNCER (create_engine pgbouncer=) is for PostgreSQL behind PgBouncer; "
            "DB_URL is a SQLite database"
        )
    return on


def load_settings() -> Settings:
    """Read ``DB_URL``, ``SQLALCHEMY_ECHO`` and the ``DB_*`` settings now (not at import)."""
    raw = os.environ.get("DB_URL") or DEFAULT_DB_URL
    echo = os.environ.get("SQLALCHEMY_ECHO", "").strip().lower() in _TRUTHY
    url = async_url(raw)
    return Settings(
        url=url,
        echo=echo,
        engine=load_engine_settings(),
        read_urls=parse_read_urls(url, os.environ.get("DB_READ_URLS", ""), from_env=True),
        pgbouncer=pgbouncer_flag(url, os.environ.get("DB_PGBOUNCER", "")),
    )
