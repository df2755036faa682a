"""Checks of repository call arguments other than row data: ids, text, dates, limits.

Every check here runs in Python before any SQL, and accepts only values both
SQLite and PostgreSQL store and compare alike, so one input gets one outcome on
either backend: integers within the column's range as PostgreSQL defines it,
text without NUL characters or lone surrogates, instants a ``datetime`` can
hold in UTC. A failed check is a ValidationError naming the argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Final, cast

from asyncdata._vocabulary import fold
from asyncdata.errors import ValidationError

__all__ = [
    "FIRST_INSTANT_DATE",
    "INT_RANGES",
    "LAST_INSTANT_DATE",
    "MAX_ROW_COUNT",
    "NO_MATCH",
    "SECRET_FIELDS",
    "check_date",
    "check_date_range",
    "check_flag",
    "check_id",
    "check_ids",
    "check_instant",
    "check_row_count",
    "check_text",
    "normalised_email",
    "shown",
    "storable_instant",
    "text_problem",
]

FIRST_INSTANT_DATE: Final = date(1, 1, 2)
LAST_INSTANT_DATE: Final = date(9999, 12, 29)
"""Local dates whose every instant, in any timezone and plus a day, a ``datetime`` can hold:
the range of booking dates and of ``get_available_slots`` dates."""

MAX_ROW_COUNT: Final = 2**63 - 1
"""A ``limit`` or ``offset`` above this is taken as this: no table holds more rows."""

INT_RANGES: Final = {
    16: (-(2**15), 2**15 - 1),
    32: (-(2**31), 2**31 - 1),
    64: (-(2**63), 2**63 - 1),
}
"""Signed integer range by width in bits: SMALLINT, INTEGER, BIGINT."""


SECRET_FIELDS: Final = frozenset({"session_id"})
"""Arguments and columns whose values no message shows (a session id is a credential)."""


class _NoMatch:
    """The operand of a comparison no stored value can satisfy (see ``check_operand``)."""

    def __repr__(self) -> str:
        return "NO_MATCH"


NO_MATCH: Final = _NoMatch()


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text on every backend, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (not valid Unicode text)"
    return None


def storable_instant(value: datetime) -> None:
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is outside the range of representable instants") from None


def check_id(value: Any, name: str = "id", *, bits: int = 32) -> int | None:
    """An id argument: an ``int`` (not ``bool``, ``float``, ``Decimal`` or ``str``), else a
    ValidationError naming ``name``. Returns None for an integer no row can have (outside
    the ``bits``-wide signed column range), which callers treat as a missing row."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(
            f"{name}={shown(value)}: must be an integer id, got {type(value).__name__}",
            fields=[name],
        )
    low, high = INT_RANGES[bits]
    return int(value) if low <= value <= high else None


def check_text(value: Any, name: str, *, optional: bool = False) -> str | None:
    """A text argument (None too if ``optional``): a ``str`` without NUL characters or lone
    surrogates, else a ValidationError naming ``name``."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"{name}={shown(value, name)}: must be text, got {type(value).__name__}",
            fields=[name],
        )
    if problem := text_problem(value):
        raise ValidationError(f"{name}={shown(value, name)}: {problem}", fields=[name])
    return value


def check_date(value: Any, name: str, *, optional: bool = False, instants: bool = False) -> Any:
    """A ``date`` argument (not a ``datetime``; None too if ``optional``). With ``instants``
    it must lie between ``FIRST_INSTANT_DATE`` and ``LAST_INSTANT_DATE``."""
    if value is None and optional:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError(
            f"{name}={shown(value)}: must be a date, got {type(value).__name__}", fields=[name]
        )
    if instants and not FIRST_INSTANT_DATE <= value <= LAST_INSTANT_DATE:
        raise ValidationError(
            f"{name}={value}: must be between {FIRST_INSTANT_DATE} and {LAST_INSTANT_DATE}",
            fields=[name],
        )
    return value


def check_instant(value: Any, name: str) -> datetime:
    """A timezone-aware ``datetime`` whose UTC instant is representable."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationError(
            f"{name}={shown(value)}: must be a timezone-aware datetime", fields=[name]
        )
    try:
        storable_instant(value)
    except ValueError as exc:
        raise ValidationError(f"{name}={shown(value)}: {exc}", fields=[name]) from None
    return value


def check_flag(value: Any, name: str) -> bool:
    """A ``bool`` argument such as ``include_inactive``."""
    if not isinstance(value, bool):
        raise ValidationError(
            f"{name}={shown(value)}: must be True or False, got {type(value).__name__}",
            fields=[name],
        )
    return value


def check_row_count(value: Any, name: str, *, optional: bool = True) -> int | None:
    """A ``limit``/``offset``: None (if ``optional``) or an ``int`` >= 0, capped at
    ``MAX_ROW_COUNT`` (no table holds more rows, so the answer is the same)."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name}={shown(value)}: must be a whole number >= 0", fields=[name])
    return min(int(value), MAX_ROW_COUNT)


def shown(value: Any, name: str | None = None) -> str:
    """``value`` as a message shows it: dates, times and instants in ISO 8601, anything
    else as its ``repr``; cut short past 80 characters. The value of a field named in
    ``SECRET_FIELDS`` is never shown, whatever it is."""
    if name in SECRET_FIELDS:
        return "<hidden>"
    text = value.isoformat() if isinstance(value, date | time) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def normalised_email(value: Any, name: str = "email") -> str:
    """An address given to a lookup, in the form ``email`` stores (no shape check)."""
    return fold(cast(str, check_text(value, name)).strip())


MAX_IDS: Final = 1_000
"""Most ids one call takes (``get_availability``'s ``specialist_ids``)."""

MAX_RANGE_DAYS: Final = 92
"""Most days one ``get_availability`` call covers, both ends included."""


def check_ids(value: Any, name: str) -> set[int | None]:
    """A collection of ids (any iterable but text, bytes or a mapping; at most ``MAX_IDS``),
    each checked like ``check_id``: None stands for an id no row can have."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{name}: must be a list of integer ids, got {type(value).__name__}", fields=[name]
        )
    found: set[int | None] = set()
    for item in value:
        found.add(check_id(item, name))
        if len(found) > MAX_IDS:
            raise ValidationError(f"{name}: at most {MAX_IDS} ids", fields=[name])
    return found


def check_date_range(first: date, last: date, *, names: tuple[str, str]) -> None:
    """``first`` on or before ``last``, at most ``MAX_RANGE_DAYS`` days both included."""
    days = (last - first).days + 1
    if days < 1:
        raise ValidationError(
            f"{names[1]}={shown(last)}: must not be before {names[0]}={shown(first)}",
            fields=list(names),
        )
    if days > MAX_RANGE_DAYS:
        raise ValidationError(
            f"{names[0]}..{names[1]}: {days} days, at most {MAX_RANGE_DAYS}", fields=list(names)
        )
