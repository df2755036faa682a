"""Recognising faults: failures of the connection or the server rather than of the call.

A fault means the call did not take effect and the same call may succeed
later (``TransientError``): connection refused, lost or reset, a server
starting or shutting down, a statement, lock, pool or busy timeout, a
deadlock, a serialization failure. A few failures of the same places mean the
database cannot be used as configured (``ConfigurationError``): a SQLite file
that cannot be opened, an unknown host, refused credentials, a missing
database. Messages say where (host and port, or the file) and never carry the
password. ``asyncdata._translate`` builds on this for every SQLAlchemy error.
"""

from __future__ import annotations

import os
import socket
import sqlite3

import asyncpg  # type: ignore[import-untyped]  # the driver ships no type hints
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from asyncdata.errors import AsyncDataError, ConfigurationError, TransientError

__all__ = ["describe", "fault_error", "one_line", "transient_state", "unreachable"]

_TRANSIENT_STATES = {
    "40001": "a concurrent transaction got in the way (serialization failure)",
    "40P01": "a deadlock with a concurrent transaction",
    "55P03": "a lock could not be taken in time (lock timeout)",
    "57014": "the statement was cancelled (statement timeout or cancel request)",
    "57P01": "the server is shutting down",
    "57P02": "the server is restarting after a crash",
    "57P03": "the server is not accepting connections yet",
    "53300": "the server has too many connections",
}
_REFUSED_STATES = {"28000", "28P01", "3D000"}  # bad credentials, missing database
_CHAIN_LIMIT = 8


def transient_state(sqlstate: str | None) -> str | None:
    """Why a PostgreSQL SQLSTATE is a fault worth retrying, or None if it is not one."""
    if not sqlstate:
        return None
    if sqlstate.startswith("08"):
        return "the connection to the server failed"
    return _TRANSIENT_STATES.get(sqlstate)


def describe(url: URL | None) -> str:
    """Where ``url`` points, for messages: host and port, or the SQLite file; no password."""
    if url is None:
        return "the database"
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or url.query.get("mode") == "memory":
            return "the in-memory SQLite database"
        return f"the SQLite database file {os.path.abspath(path)!r}"
    host = url.host or "localhost"
    port = url.port or 5432
    user = f"user {url.username!r}, " if url.username else ""
    return f"PostgreSQL at {host}:{port} ({user}database {url.database!r})"


def one_line(exc: BaseException, url: URL | None = None) -> str:
    """``exc``'s message on one line, with ``url``'s password (if any) masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def _driver_fault(err: BaseException, url: URL | None) -> AsyncDataError | None:
    """The error for one driver or builtin exception, or None if it is not a fault."""
    where = describe(url)
    if isinstance(err, asyncpg.PostgresError):
        state = getattr(err, "sqlstate", None)
        reason = transient_state(state)
        if reason is not None:
            at = f" ({where})" if url is not None else ""
            return TransientError(f"{reason}{at}: {one_line(err, url)}")
        if state in _REFUSED_STATES:
            return ConfigurationError(f"{where} refused the connection: {one_line(err, url)}")
        return None
    if isinstance(err, asyncpg.ClientConfigurationError):
        return ConfigurationError(f"cannot connect to {where}: {one_line(err, url)}")
    if isinstance(err, asyncpg.InterfaceError):
        return TransientError(f"lost the connection to {where}: {one_line(err, url)}")
    if isinstance(err, sqlite3.Error):
        text = one_line(err, url)
        if "locked" in text or "busy" in text:
            return TransientError(
                f"{where} stayed locked by another writer longer than the busy timeout "
                f"(DB_BUSY_TIMEOUT_MS): {text}"
            )
        if "unable to open database file" in text:
            return ConfigurationError(
                f"cannot open {where}: {text} (does its directory exist and is it writable?)"
            )
        return None
    if isinstance(err, socket.gaierror):
        if err.errno == socket.EAI_AGAIN:
            return TransientError(f"cannot resolve the host of {where} now: {one_line(err, url)}")
        return ConfigurationError(f"unknown host for {where}: {one_line(err, url)}")
    if isinstance(err, ConnectionRefusedError):
        return TransientError(f"{where} refused the connection (is the server running?)")
    if isinstance(err, TimeoutError):
        return TransientError(f"{where} did not answer in time")
    if isinstance(err, OSError | EOFError):
        return TransientError(f"connection to {where} failed: {one_line(err, url)}")
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its explicit causes, nearest first (bounded, cycle-safe)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < _CHAIN_LIMIT:
        found.append(current)
        current = current.__cause__
    return found


def fault_error(exc: BaseException, *, url: URL | None = None) -> AsyncDataError | None:
    """The ``TransientError`` or ``ConfigurationError`` that ``exc`` amounts to, or None.

    Looks at SQLAlchemy's wrapper (pool timeouts, invalidated connections), the
    driver exception inside it, and raw builtin or driver exceptions with their
    ``__cause__`` chain. Anything else (a constraint violation, a bug) is None.
    """
    if isinstance(exc, AsyncDataError):
        return None
    where = describe(url)
    if isinstance(exc, PoolTimeoutError):
        return TransientError(
            f"no free connection to {where} within the pool timeout "
            "(see DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT_S)"
        )
    if isinstance(exc, DisconnectionError):
        return TransientError(f"lost the connection to {where}")
    if isinstance(exc, SQLAlchemyError):
        inner = exc.orig if isinstance(exc, StatementError) else None
        for err in _chain(inner) if inner is not None else []:
            found = _driver_fault(err, url)
            if found is not None:
                return found
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            cause = one_line(exc.orig or exc, url)
            return TransientError(f"lost the connection to {where}: {cause}")
        return None
    for err in _chain(exc):
        found = _driver_fault(err, url)
        if found is not None:
            return found
    return None


_DOWN_STATES = {"57P01", "57P02", "57P03"}  # shutting down, crashed, starting up


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server cannot be reached or used at all right now.

    True for a refused, reset or timed-out connection attempt and a server
    shutting down, restarting or starting up (also behind SQLAlchemy's
    wrapper); False for anything a healthy server says about a statement.
    Used to skip a read replica that is down.
    """
    inner = exc.orig if isinstance(exc, StatementError) else None
    for err in _chain(inner) if inner is not None else _chain(exc):
        if isinstance(err, OSError):
            return True
        if isinstance(err, asyncpg.PostgresError):
            state = getattr(err, "sqlstate", None) or ""
            return state.startswith("08") or state in _DOWN_STATES
    return False
