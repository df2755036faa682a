"""SQLAlchemy, driver and builtin exceptions, turned into asyncdata's own errors.

Both drivers report the same violations differently: asyncpg gives a
SQLSTATE and the constraint's name, SQLite only a message. Both are mapped to
the constraint names of our naming convention, so callers see one
``ConflictError(constraint="uq_specialists_email")`` whichever database ran.

Faults (the call did not take effect and may succeed if retried) become
``TransientError``: a connection refused, lost or reset; a server starting or
shutting down; a statement, lock, pool or busy timeout; a deadlock or a
serialization failure. A database that cannot be used as configured (a bad
SQLite path, an unknown host, wrong credentials, a missing database) becomes
``ConfigurationError``. Messages name the host and port or the file, never
the password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, UniqueConstraint
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.sql.schema import ColumnCollectionConstraint

from asyncdata._arguments import shown as show
from asyncdata._faults import fault_error
from asyncdata.errors import (
    AsyncDataError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from asyncdata.models import Base
from asyncdata.models.admin_log import APPEND_ONLY_GUARD
from asyncdata.models.booking import OVERLAP_CONSTRAINT

__all__ = ["translate_error", "translate_fault"]

_SQLITE = re.compile(r"^(UNIQUE|CHECK|NOT NULL|FOREIGN KEY) constraint failed(?:: (.*))?$")
_WRITTEN_TABLE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE)\s+"?(\w+)', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Violation:
    kind: str
    constraint: str | None
    columns: tuple[str, ...]


@cache
def _constraints() -> dict[str, tuple[str, ...]]:
    """Constraint or unique index name -> column names, from the models' metadata."""
    found: dict[str, tuple[str, ...]] = {OVERLAP_CONSTRAINT: ("booking_date", "booking_time")}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if not isinstance(constraint.name, str):
                continue
            if isinstance(constraint, CheckConstraint):
                # A CHECK names no columns; the ones its SQL mentions are the culprits.
                sql = str(constraint.sqltext)
                found[constraint.name] = tuple(c.name for c in table.columns if c.name in sql)
            elif isinstance(constraint, ColumnCollectionConstraint):
                found[constraint.name] = tuple(c.name for c in constraint.columns)
    return found


def _unique_by_columns(table: str, columns: tuple[str, ...]) -> str | None:
    target = Base.metadata.tables.get(table)
    for constraint in target.constraints if target is not None else ():
        if (
            isinstance(constraint, UniqueConstraint | ForeignKeyConstraint)
            and tuple(c.name for c in constraint.columns) == columns
        ):
            return str(constraint.name)
    return None


def _classify(exc: DBAPIError) -> _Violation | None:
    orig = exc.orig
    driver = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
    state = getattr(driver, "sqlstate", None)
    if state:
        kind = {
            "23505": "unique",
            "23503": "foreign key",
            "23514": "check",
            "23502": "not null",
            "23P01": "exclusion",
            "23001": "restrict",
        }.get(state)
        if kind is None and state.startswith("22"):
            kind = "data"
        if kind is None:
            return None
        name = getattr(driver, "constraint_name", None)
        column = getattr(driver, "column_name", None)
        columns = _constraints().get(name or "", (column,) if column else ())
        return _Violation(kind, name, columns)
    message = str(orig)
    if APPEND_ONLY_GUARD in message:
        return _Violation("restrict", APPEND_ONLY_GUARD, ())
    if OVERLAP_CONSTRAINT in message:
        return _Violation("exclusion", OVERLAP_CONSTRAINT, _constraints()[OVERLAP_CONSTRAINT])
    match = _SQLITE.match(message)
    if match is None:
        return None
    kind, detail = match.group(1).lower(), match.group(2) or ""
    if kind in ("unique", "not null"):
        qualified = [part.strip().split(".", 1) for part in detail.split(",") if "." in part]
        columns = tuple(column for _, column in qualified)
        table = qualified[0][0] if qualified else ""
        return _Violation(kind, _unique_by_columns(table, columns), columns)
    if kind == "check":
        return _Violation(kind, detail or None, _constraints().get(detail, ()))
    if kind == "foreign key":
        return _Violation(kind, None, _foreign_key_columns(exc.statement))
    return _Violation(kind, None, ())


def _foreign_key_columns(statement: str | None) -> tuple[str, ...]:
    """SQLite names no column for a foreign key failure: blame those of the table written to."""
    match = _WRITTEN_TABLE.match(statement or "")
    table = Base.metadata.tables.get(match.group(1)) if match else None
    if table is None:
        return ()
    return tuple(c.parent.name for c in table.foreign_keys)


def _shown(columns: tuple[str, ...], values: Mapping[str, Any]) -> str:
    shown = [f"{c}={show(values[c], c)}" for c in columns if c in values]
    return ", ".join(shown) or ", ".join(columns) or "the given values"


def translate_error(
    exc: SQLAlchemyError, values: Mapping[str, Any] | None = None
) -> AsyncDataError:
    """The asyncdata error for ``exc``; ``values`` (the attempted row) fill the message.

    Faults (lost connections, timeouts, deadlocks, ...) become ``TransientError``
    and an unusable database ``ConfigurationError``, as ``translate_fault`` does.
    """
    values = values or {}
    fault = fault_error(exc)
    if fault is not None:
        return fault
    if isinstance(exc, DBAPIError):
        found = _classify(exc)
    elif isinstance(exc, StatementError) and isinstance(exc.orig, ValueError | TypeError):
        return ValidationError(f"invalid value: {exc.orig}")
    else:
        found = None
    if found is None:
        return AsyncDataError(f"database error ({type(exc).__name__}): {_brief(exc)}")
    columns, name = found.columns, found.constraint
    if name == APPEND_ONLY_GUARD:
        return ValidationError(
            f"admin_logs is append-only: the database refuses to change or delete its rows ({name})"
        )
    if found.kind == "unique":
        return ConflictError(
            f"{_shown(columns, values)} already exists ({name})", constraint=name, fields=columns
        )
    if found.kind == "exclusion":
        return ConflictError(
            f"the booking overlaps another non-cancelled booking of the specialist "
            f"({_shown(columns, values)}; {name})",
            constraint=name,
            fields=columns,
        )
    if found.kind == "foreign key":
        keys = columns or tuple(k for k in values if k.endswith("_id"))
        return NotFoundError(f"{_shown(keys, values)} refers to a missing row", fields=keys)
    if found.kind == "data":
        return ValidationError(f"invalid value: {_brief(exc)}", fields=columns)
    return ValidationError(
        f"{_shown(columns, values)} breaks {found.kind} rule {name or ''}".rstrip(),
        fields=columns,
    )


def _brief(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def translate_fault(exc: BaseException, *, url: URL | None = None) -> AsyncDataError | None:
    """The asyncdata error for a fault raised outside a repository's own SQL, or None.

    Meant for what escapes connecting, pooling and session cleanup: a raw
    ``ConnectionRefusedError``/``OSError``/``TimeoutError`` from the driver, an
    asyncpg or sqlite3 exception, or any SQLAlchemy error (translated as
    ``translate_error`` does). Given ``url``, the message names the host and
    port or the SQLite file (never the password). Returns None for anything
    else, asyncdata's own errors included, so callers re-raise those unchanged.
    """
    if isinstance(exc, AsyncDataError):
        return None
    fault = fault_error(exc, url=url)
    if fault is not None:
        return fault
    if isinstance(exc, SQLAlchemyError):
        return translate_error(exc)
    return None
