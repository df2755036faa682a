"""Configuration from the environment: DB_URL, SQLALCHEMY_ECHO and the async URL upgrade."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL, make_url

from asyncdata.config import async_url, load_settings
from asyncdata.errors import AsyncDataError, ConfigurationError


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
