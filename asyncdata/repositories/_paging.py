"""Keyset pagination: the ``Page`` a repository's ``get_page`` returns, its
opaque cursor, and the ``WHERE`` that starts a page right after the cursor's row.

A page is "the next ``limit`` rows in the order, after this row", found through
the order's index whatever the depth, where ``OFFSET`` would walk every row
before it. The order always ends with the id, so it is total: paging while rows
are inserted or deleted never repeats a row nor skips one that existed throughout.

The cursor holds the sort values of the last row of the page, the order they
belong to and the model, as URL-safe base64 of JSON, followed by a checksum (a
truncated HMAC-SHA256 under a key fixed in the library). It is not a secret nor a
credential: it holds only values of a row the caller was shown, and a cursor
crafted by hand only starts a page at another place in the order, which
``filters`` can do anyway. The checksum makes an edited, truncated or foreign
cursor a ValidationError rather than a page from somewhere else, and every value
in it is checked against its column before SQL runs, like any filter value.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Generic, TypeVar

from sqlalchemy import String, and_, false, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._sql import binary_text
from asyncdata._validation import NO_MATCH, check_operand, column_specs
from asyncdata.errors import ValidationError
from asyncdata.models import Base

__all__ = ["Page", "after_clause", "decode_cursor", "encode_cursor", "order_keys"]

T = TypeVar("T")

_KEY = b"asyncdata keyset cursor v1"
_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows: ``items`` in order, and ``next_cursor`` to pass as ``after=`` for the
    next page (None when this is the last one)."""

    items: list[T]
    next_cursor: str | None


def order_keys(model: type[Base], names: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
    """The order ``names`` ("-name" descending) as (column, descending) pairs, ending with
    the id like every ordering of the library."""
    keys = tuple((name.lstrip("-"), name.startswith("-")) for name in names)
    if "id" not in {name for name, _ in keys}:
        keys += (("id", False),)
    return keys


def encode_cursor(model: type[Base], keys: tuple[tuple[str, bool], ...], row: Any) -> str:
    """The cursor of ``row`` (the last row of a page) in the order ``keys``."""
    values = [_plain(getattr(row, name)) for name, _ in keys]
    body = json.dumps(
        [model.__name__, [f"{'-' if d else ''}{n}" for n, d in keys], values],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    token = body + hmac.new(_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def decode_cursor(
    model: type[Base], keys: tuple[tuple[str, bool], ...], cursor: Any
) -> list[Any] | None:
    """The sort values a cursor holds, checked; a ValidationError naming ``after`` for
    anything that is not a cursor of this model and order, untouched."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not cursor.isascii() or len(cursor) > 65_536:
        raise _tampered()
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise _tampered() from None
    body, mac = token[:-_MAC_BYTES], token[-_MAC_BYTES:]
    expected = hmac.new(_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    if len(token) <= _MAC_BYTES or not hmac.compare_digest(mac, expected):
        raise _tampered()
    try:
        name, order, values = json.loads(body)
    except (ValueError, TypeError):
        raise _tampered() from None
    if name != model.__name__ or order != [f"{'-' if d else ''}{n}" for n, d in keys]:
        raise ValidationError(
            "after: the cursor belongs to another model or order_by", fields=["after"]
        )
    if not isinstance(values, list) or len(values) != len(keys):
        raise _tampered()
    specs = column_specs(model)
    checked: list[Any] = []
    for (column, _), value in zip(keys, values, strict=True):
        if value is None:
            if not specs[column].nullable:
                raise _tampered()
            checked.append(None)
            continue
        operand = check_operand(model, column, _typed(specs[column].python_type, value))
        if operand is NO_MATCH:
            raise _tampered()
        checked.append(operand)
    return checked


def after_clause(
    model: type[Base], keys: tuple[tuple[str, bool], ...], values: list[Any]
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` (NULLs last ascending, first
    descending, text by code point: the order ``get_all`` uses).

    When every key is NOT NULL and all go one way, this is one row-value comparison,
    ``(starts_at, id) > (:a, :b)``, which both backends answer by a range scan of
    the order's index; otherwise the equivalent OR of prefixes.
    """
    table = model.__table__
    columns = [_key(table.c[name]) for name, _ in keys]
    directions = {descending for _, descending in keys}
    if (
        len(directions) == 1
        and all(not table.c[name].nullable for name, _ in keys)
        and None not in values
    ):
        row, point = tuple_(*columns), tuple_(*values)
        return row < point if directions == {True} else row > point
    branches = []
    for i, ((_name, descending), value) in enumerate(zip(keys, values, strict=True)):
        same = [_equal(columns[j], values[j]) for j in range(i)]
        branches.append(and_(*same, _beyond(columns[i], value, descending=descending)))
    return or_(*branches)


def _key(column: Any) -> Any:
    return binary_text(column) if isinstance(column.type, String) else column


def _equal(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def _beyond(column: Any, value: Any, *, descending: bool) -> ColumnElement[bool]:
    if descending:  # NULLs first: after NULL come the values, after a value only smaller ones
        return column.is_not(None) if value is None else column < value  # type: ignore[no-any-return]
    if value is None:  # NULLs last: nothing comes after NULL but larger ids
        return false()
    return or_(column > value, column.is_(None))


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _typed(kind: type, value: Any) -> Any:
    try:
        if kind in (datetime, date, time) and isinstance(value, str):
            return kind.fromisoformat(value)
        if issubclass(kind, enum.Enum):
            return kind(value)
    except (ValueError, TypeError):
        raise _tampered() from None
    return value


def _tampered() -> ValidationError:
    return ValidationError("after: not a cursor this call returned (or altered)", fields=["after"])
