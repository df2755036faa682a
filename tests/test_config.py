"""Configuration: DB_URL, SQLALCHEMY_ECHO, the async URL upgrade, pool and timeout settings."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from asyncdata._config import (
    ENV_VARIABLES,
    EngineSettings,
    async_url,
    load_engine_settings,
    load_settings,
)
from asyncdata.database import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    dispose_engine,
    get_engine,
    init_db,
)
from asyncdata.errors import AsyncDataError, ConfigurationError, TransientError
from tests.helpers import PG_URL


def rendered(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////var/lib/app/x.db", "sqlite+aiosqlite:////var/lib/app/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (
            "postgresql://user:secret@db.example:5432/app",
            "postgresql+asyncpg://user:secret@db.example:5432/app",
        ),
        (
            "postgres://user:secret@db.example/app",
            "postgresql+asyncpg://user:secret@db.example/app",
        ),
        ("postgresql+asyncpg://user@localhost/app", "postgresql+asyncpg://user@localhost/app"),
    ],
)
def test_async_url_moves_sync_urls_to_the_async_driver(given: str, expected: str) -> None:
    url = async_url(given)
    assert rendered(url) == expected
    assert url.get_dialect().is_async


def test_async_url_accepts_a_url_object_and_keeps_the_password() -> None:
    url = async_url(make_url("postgresql://user:secret@localhost/app"))
    assert url.drivername == "postgresql+asyncpg"
    assert url.password == "secret"
    assert url.database == "app"


@pytest.mark.parametrize(
    ("given", "scheme"),
    [
        ("mysql://user:secret@h/db", "mysql"),
        ("mysql+aiomysql://user:secret@h/db", "mysql+aiomysql"),
        ("oracle://scott:secret@h:1521/orcl", "oracle"),
        ("mssql+pyodbc://sa:secret@h/db", "mssql+pyodbc"),
    ],
)
def test_other_schemes_are_refused_without_leaking_the_password(given: str, scheme: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        async_url(given)
    message = str(caught.value)
    assert scheme in message
    assert "secret" not in message
    assert "secret" not in repr(caught.value)
    assert isinstance(caught.value, AsyncDataError)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("DB_URL", raising=False)
    monkeypatch.delenv("SQLALCHEMY_ECHO", raising=False)
    for env in ENV_VARIABLES.values():
        monkeypatch.delenv(env, raising=False)
    return monkeypatch


def test_load_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert rendered(settings.url) == "sqlite+aiosqlite:///./app.db"
    assert settings.echo is False


def test_load_settings_reads_db_url_at_call_time(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DB_URL", "postgres://app:secret@db.example/bookings")
    first = load_settings()
    clean_env.setenv("DB_URL", "sqlite:///other.db")
    second = load_settings()
    assert rendered(first.url) == "postgresql+asyncpg://app:secret@db.example/bookings"
    assert rendered(second.url) == "sqlite+aiosqlite:///other.db"


def test_load_settings_refuses_an_unsupported_db_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DB_URL", "mysql://user:secret@h/db")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "mysql" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", "Yes"])
def test_sqlalchemy_echo_on(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("SQLALCHEMY_ECHO", value)
    assert load_settings().echo is True


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "on", "2", "y"])
def test_sqlalchemy_echo_off(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("SQLALCHEMY_ECHO", value)
    assert load_settings().echo is False


# -- pool and timeout settings: environment variables and create_engine keywords -----------

SETTINGS = {
    # keyword: (variable, a good value as text, its parsed value)
    "pool_size": ("DB_POOL_SIZE", "7", 7),
    "max_overflow": ("DB_MAX_OVERFLOW", "0", 0),
    "pool_timeout_s": ("DB_POOL_TIMEOUT_S", "2.5", 2.5),
    "pool_recycle_s": ("DB_POOL_RECYCLE_S", "600", 600.0),
    "connect_timeout_s": ("DB_CONNECT_TIMEOUT_S", "3", 3.0),
    "statement_timeout_ms": ("DB_STATEMENT_TIMEOUT_MS", "1500", 1500),
    "lock_timeout_ms": ("DB_LOCK_TIMEOUT_MS", "700", 700),
    "busy_timeout_ms": ("DB_BUSY_TIMEOUT_MS", "1234", 1234),
}
BAD_TEXT = ["abc", "-1", "1e999", "nan", "1.5.2"]
BAD_KEYWORDS: list[object] = [-1, True, "5", float("nan"), float("inf")]


def test_every_setting_has_its_variable() -> None:
    assert {name: env for name, (env, _, _) in SETTINGS.items()} == dict(ENV_VARIABLES)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_variable_is_read(clean_env: pytest.MonkeyPatch, name: str) -> None:
    env, text, value = SETTINGS[name]
    clean_env.setenv(env, text)
    loaded = load_settings().engine
    assert getattr(loaded, name) == value
    others = {n for n in SETTINGS if n != name}
    assert all(getattr(loaded, n) is None for n in others)


def test_unset_and_empty_variables_mean_the_defaults(clean_env: pytest.MonkeyPatch) -> None:
    for env, _, _ in SETTINGS.values():
        clean_env.setenv(env, "  ")
    resolved = load_engine_settings().with_defaults()
    assert resolved == EngineSettings(
        pool_size=5, max_overflow=10, pool_timeout_s=30, connect_timeout_s=10, busy_timeout_ms=5000
    )
    assert resolved.busy_timeout_ms == SQLITE_BUSY_TIMEOUT_MS


@pytest.mark.parametrize(
    "env", ["DB_POOL_RECYCLE_S", "DB_STATEMENT_TIMEOUT_MS", "DB_LOCK_TIMEOUT_MS"]
)
def test_optional_timeouts_can_be_turned_off(clean_env: pytest.MonkeyPatch, env: str) -> None:
    clean_env.setenv(env, "off")
    assert load_engine_settings().with_defaults() == EngineSettings().with_defaults()


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_bad_variable_is_a_configuration_error_naming_it(
    clean_env: pytest.MonkeyPatch, name: str, bad: str
) -> None:
    env = SETTINGS[name][0]
    clean_env.setenv(env, bad)
    with pytest.raises(ConfigurationError, match=env):
        load_settings()


@pytest.mark.parametrize("env", ["DB_POOL_SIZE", "DB_BUSY_TIMEOUT_MS", "DB_LOCK_TIMEOUT_MS"])
def test_an_integer_setting_refuses_a_fraction(clean_env: pytest.MonkeyPatch, env: str) -> None:
    clean_env.setenv(env, "2.5")
    with pytest.raises(ConfigurationError, match=env):
        load_settings()


def test_pool_size_zero_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DB_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError, match="DB_POOL_SIZE"):
        load_settings()


@pytest.mark.parametrize("bad", BAD_KEYWORDS)
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_bad_keyword_is_a_configuration_error_naming_the_variable(
    name: str, bad: object, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=SETTINGS[name][0]) as caught:
        create_engine(f"sqlite:///{tmp_path}/x.db", **{name: bad})  # type: ignore[arg-type]
    assert name in str(caught.value)


def test_an_unknown_keyword_is_pythons_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        create_engine(f"sqlite:///{tmp_path}/x.db", pool_sise=3)  # type: ignore[call-arg]


async def test_pool_keywords_shape_the_pool(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path}/x.db",
        pool_size=3,
        max_overflow=1,
        pool_timeout_s=0.5,
        pool_recycle_s=90,
    )
    try:
        pool: Any = engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle) == (3, 1, 0.5, 90)
    finally:
        await engine.dispose()


async def test_pool_variables_shape_the_default_engine(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("DB_URL", f"sqlite:///{tmp_path}/x.db")
    clean_env.setenv("DB_POOL_SIZE", "4")
    clean_env.setenv("DB_MAX_OVERFLOW", "2")
    clean_env.setenv("DB_POOL_TIMEOUT_S", "1.5")
    clean_env.setenv("DB_POOL_RECYCLE_S", "120")
    await dispose_engine()
    try:
        pool: Any = get_engine().pool
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle) == (4, 2, 1.5, 120)
    finally:
        await dispose_engine()


async def sqlite_busy_timeout(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("PRAGMA busy_timeout")))


async def test_the_callers_busy_timeout_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/x.db", busy_timeout_ms=1234)
    try:
        assert await sqlite_busy_timeout(engine) == 1234
    finally:
        await engine.dispose()
    clean_env.setenv("DB_URL", f"sqlite:///{tmp_path}/y.db")
    clean_env.setenv("DB_BUSY_TIMEOUT_MS", "777")
    await dispose_engine()
    try:
        assert await sqlite_busy_timeout(get_engine()) == 777
    finally:
        await dispose_engine()


@pytest.mark.skipif(not PG_URL, reason="TEST_PG_URL is not set")
async def test_postgresql_timeouts_reach_the_server_without_a_round_trip(
    clean_env: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(PG_URL, statement_timeout_ms=1500, lock_timeout_ms=700)
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    try:
        async with engine.connect() as conn:
            assert sent == []  # nothing but the startup packet set them
            assert await conn.scalar(text("SHOW statement_timeout")) == "1500ms"
            assert await conn.scalar(text("SHOW lock_timeout")) == "700ms"
    finally:
        await engine.dispose()
    clean_env.setenv("DB_URL", PG_URL)
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", "2500")
    clean_env.setenv("DB_LOCK_TIMEOUT_MS", "900")
    await dispose_engine()
    try:
        async with get_engine().connect() as conn:
            assert await conn.scalar(text("SHOW statement_timeout")) == "2500ms"
            assert await conn.scalar(text("SHOW lock_timeout")) == "900ms"
    finally:
        await dispose_engine()


async def test_connect_timeout_bounds_a_server_that_never_answers() -> None:
    """A socket that accepts but never speaks: the connect timeout is what ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        engine = create_engine(
            f"postgresql://app:sekrit@127.0.0.1:{port}/app", connect_timeout_s=0.3
        )
        started = time.monotonic()
        try:
            with pytest.raises(TransientError) as caught:
                await init_db(engine)
        finally:
            await engine.dispose()
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "sekrit" not in str(caught.value)
