"""Checking and normalising caller input before it reaches the database.

Field types, nullability, required-ness, lengths and integer ranges are read
from the model's columns, so every model gets the same checks without
restating them; the few rules a column cannot express (an email's shape, a
timezone's existence) are plain functions named per field by each repository.
The checks of the other arguments of repository calls (ids, limits, flags,
dates, text) live in ``asyncdata._arguments`` and are re-exported here.

Every value accepted here is one both SQLite and PostgreSQL store and compare
alike: integers within the column's range as PostgreSQL defines it, text
without NUL characters or lone surrogates, JSON without NaN or infinities,
instants a ``datetime`` can hold in UTC.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, Integer, SmallInteger, String, inspect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

from asyncdata._arguments import (
    FIRST_INSTANT_DATE,
    INT_RANGES,
    LAST_INSTANT_DATE,
    MAX_ROW_COUNT,
    NO_MATCH,
    check_date,
    check_flag,
    check_id,
    check_instant,
    check_row_count,
    check_text,
    normalised_email,
    shown,
    storable_instant,
    text_problem,
)
from asyncdata._timezones import zone
from asyncdata.errors import ValidationError
from asyncdata.models.folded import fold

__all__ = [
    "FIRST_INSTANT_DATE",
    "LAST_INSTANT_DATE",
    "MANAGED_FIELDS",
    "MAX_ROW_COUNT",
    "NO_MATCH",
    "FieldRule",
    "FieldSpec",
    "check_date",
    "check_flag",
    "check_id",
    "check_input",
    "check_instant",
    "check_operand",
    "check_row_count",
    "check_text",
    "check_value",
    "column_specs",
    "email",
    "field_specs",
    "in_range",
    "int_range",
    "normalised_email",
    "timezone_name",
]

FieldRule = Callable[[Any], Any]
"""Takes a type-checked value, returns it normalised or raises ValueError with the reason."""

MANAGED_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "starts_at", "ends_at", "blocked_from", "blocked_until"}
    | {"reference", "hold_expires_at", "idempotency_key", "request_fingerprint"}
)
"""Columns the library sets itself; a caller naming one gets a ValidationError. The folded
copies kept for case-insensitive matching (``search_text`` and the like) are managed too."""

MAX_JSON_DEPTH: Final = 100
"""JSON nested deeper than this is refused (both backends then parse it alike)."""


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def int_range(column_type: TypeEngine[Any]) -> tuple[int, int] | None:
    """The integers a column of this type holds on PostgreSQL (SQLite holds more, but one
    answer on both backends means the narrower range); None if not an integer column."""
    if isinstance(column_type, BigInteger):
        return INT_RANGES[64]
    if isinstance(column_type, SmallInteger):
        return INT_RANGES[16]
    if isinstance(column_type, Integer):
        return INT_RANGES[32]
    return None


Check = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What a column accepts, read once from the model.

    ``check`` applies it to a non-null value about to be stored (returns it,
    normalised, or raises ValueError with the reason); ``operand`` to a value a
    stored one is compared with (returns it, or ``NO_MATCH`` when no stored
    value can equal it, e.g. an integer beyond the column's range).
    """

    name: str
    python_type: type
    nullable: bool
    required: bool
    max_length: int | None
    check: Check = field(compare=False, repr=False)
    operand: Check = field(compare=False, repr=False)
    comparable: bool = True


def _python_type(column_type: TypeEngine[Any]) -> type:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return dict
    return column_type.python_type


@cache
def field_specs(model: type[DeclarativeBase]) -> Mapping[str, FieldSpec]:
    """The caller-settable columns of ``model``, keyed by attribute name."""
    managed = MANAGED_FIELDS | _folded(model)
    return {k: v for k, v in column_specs(model).items() if k not in managed}


@cache
def _folded(model: type[DeclarativeBase]) -> frozenset[str]:
    return frozenset(c.key for c in model.__table__.columns if "folded_from" in c.info)


@cache
def _required(model: type[DeclarativeBase]) -> frozenset[str]:
    return frozenset(name for name, spec in field_specs(model).items() if spec.required)


@cache
def column_specs(model: type[DeclarativeBase]) -> Mapping[str, FieldSpec]:
    """Every column of ``model``, library-managed ones included, keyed by attribute name."""
    specs: dict[str, FieldSpec] = {}
    for attr in inspect(model).column_attrs:
        column = attr.columns[0]
        has_default = column.default is not None or column.server_default is not None
        kind = _python_type(column.type)
        nullable = bool(column.nullable)
        max_length = column.type.length if isinstance(column.type, String) else None
        limits = int_range(column.type)
        instants = bool(column.info.get("instants"))
        specs[attr.key] = FieldSpec(
            name=attr.key,
            python_type=kind,
            nullable=nullable,
            required=not nullable and not has_default,
            max_length=max_length,
            check=_checker(kind, nullable, max_length, limits, instants),
            operand=_operand(kind, limits),
            comparable=kind is not dict,
        )
    return specs


def _type_name(kind: type) -> str:
    return {dict: "JSON object", str: "text", int: "integer", bool: "boolean"}.get(
        kind, kind.__name__
    )


def _json_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not JSON both backends store and give back unchanged, or None."""
    if depth > MAX_JSON_DEPTH:
        return f"must not nest deeper than {MAX_JSON_DEPTH} levels"
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if abs(value) < 10**4000 else "holds an integer too large for JSON"
    if isinstance(value, float):
        return None if math.isfinite(value) else "must not hold NaN or infinity"
    if isinstance(value, list | tuple):
        for item in value:
            if problem := _json_problem(item, depth + 1):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"keys must be text, got {type(key).__name__}"
            if problem := _json_problem(item, depth + 1):
                return problem
        return None
    return f"holds {type(value).__name__}, which is not JSON"


def _checker(
    kind: type,
    nullable: bool,
    max_length: int | None,
    limits: tuple[int, int] | None,
    instants: bool,
) -> Check:
    """The type check of one column, specialised once so validating a row stays cheap."""

    def wrong(value: Any) -> ValueError:
        return ValueError(f"must be {_type_name(kind)}, got {type(value).__name__}")

    if issubclass(kind, enum.Enum):
        allowed = ", ".join(str(member.value) for member in kind)

        def check(value: Any) -> Any:
            try:
                return kind(value)
            except (ValueError, TypeError):
                raise ValueError(f"must be one of {allowed}") from None

    elif kind is dict:

        def check(value: Any) -> Any:
            if not isinstance(value, dict | list):
                raise ValueError("must be a JSON object or list")
            if problem := _json_problem(value):
                raise ValueError(problem)
            # The copy the database will give back: tuples become lists.
            return json.loads(json.dumps(value))

    elif kind is str:

        def check(value: Any) -> Any:
            if not isinstance(value, str):
                raise wrong(value)
            if problem := text_problem(value):
                raise ValueError(problem)
            if not nullable and not value.strip():
                raise ValueError("must not be empty")
            if max_length is not None and len(value) > max_length:
                raise ValueError(f"must be at most {max_length} characters")
            return value

    elif kind is datetime:

        def check(value: Any) -> Any:
            if not isinstance(value, datetime):
                raise wrong(value)
            if value.utcoffset() is None:
                raise ValueError("must be timezone-aware (a naive datetime has no defined instant)")
            storable_instant(value)
            return value

    elif kind is time:

        def check(value: Any) -> Any:
            if not isinstance(value, time):
                raise wrong(value)
            if value.tzinfo is not None:
                raise ValueError("must be a wall-clock time without tzinfo")
            return value

    elif kind is date:

        def check(value: Any) -> Any:
            if not isinstance(value, date) or isinstance(value, datetime):
                raise wrong(value)
            if instants and not FIRST_INSTANT_DATE <= value <= LAST_INSTANT_DATE:
                raise ValueError(
                    f"must be between {FIRST_INSTANT_DATE} and {LAST_INSTANT_DATE} "
                    "(its instants must be representable)"
                )
            return value

    elif kind is int:
        low, high = limits or INT_RANGES[64]

        def check(value: Any) -> Any:
            if not isinstance(value, int) or isinstance(value, bool):
                raise wrong(value)
            if not low <= value <= high:
                raise ValueError(f"must be between {low} and {high}")
            return value

    else:
        # bool is an int in Python, but not here.
        excluded = bool if kind is float else None

        def check(value: Any) -> Any:
            if not isinstance(value, kind) or (excluded and isinstance(value, excluded)):
                raise wrong(value)
            return value

    return check


def _operand(kind: type, limits: tuple[int, int] | None) -> Check:
    """The check of a value compared with the column (filters, lookups)."""
    if kind is int:
        low, high = limits or INT_RANGES[64]

        def operand(value: Any) -> Any:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"must be integer, got {type(value).__name__}")
            return value if low <= value <= high else NO_MATCH

    elif kind is str:

        def operand(value: Any) -> Any:
            if not isinstance(value, str):
                raise ValueError(f"must be text, got {type(value).__name__}")
            if problem := text_problem(value):
                raise ValueError(problem)
            return value

    elif kind is date:

        def operand(value: Any) -> Any:
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ValueError(f"must be date, got {type(value).__name__}")
            return value

    else:
        return _checker(kind, True, None, limits, False)
    return operand


def check_input(
    model: type[DeclarativeBase],
    data: Mapping[str, Any],
    *,
    partial: bool,
    rules: Mapping[str, FieldRule] = {},
) -> dict[str, Any]:
    """Validated, normalised copy of ``data`` for ``model``.

    ``partial`` (an update) skips the required-field check. Raises one
    ValidationError naming every field at fault and its value.
    """
    if not isinstance(data, dict) and not isinstance(data, Mapping):
        raise ValidationError(f"data must be a mapping, got {type(data).__name__}")
    specs = field_specs(model)
    if not data.keys() <= specs.keys():
        unknown = sorted(str(key) for key in data if key not in specs)
        raise ValidationError(
            f"unknown or read-only field(s) for {model.__name__}: {', '.join(unknown)}",
            fields=unknown,
        )
    clean: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in data.items():
        try:
            if value is None:
                if not specs[key].nullable:
                    raise ValueError("must not be null")
                clean[key] = None
                continue
            spec = specs[key]
            checked = spec.check(value)
            rule = rules.get(key)
            if rule is not None:
                checked = rule(checked)
                # Length limits hold for the value as stored, e.g. an email after folding.
                if spec.max_length is not None and len(checked) > spec.max_length:
                    raise ValueError(f"must be at most {spec.max_length} characters as stored")
            clean[key] = checked
        except ValueError as exc:
            problems.append((key, f"{key}={shown(value, key)}: {exc}"))
    if not partial and not _required(model) <= data.keys():
        problems.extend(
            (name, f"{name} is required")
            for name in specs
            if name in _required(model) - data.keys()
        )
    if problems:
        raise ValidationError(
            "; ".join(message for _, message in problems), fields=[k for k, _ in problems]
        )
    return clean


def check_value(model: type[DeclarativeBase], name: str, value: Any) -> Any:
    """``value`` checked as a value of column ``name`` (managed ones too).

    Raises a ValidationError naming ``name``.
    """
    try:
        return column_specs(model)[name].check(value)
    except ValueError as exc:
        raise ValidationError(f"{name}={shown(value, name)}: {exc}", fields=[name]) from None


def check_operand(model: type[DeclarativeBase], name: str, value: Any) -> Any:
    """``value`` checked as something column ``name`` is compared with (a filter, a lookup).

    Returns the value, or ``NO_MATCH`` when no stored value can equal it (an
    integer beyond the column's range): the caller then finds nothing, on
    every backend, without asking the database. Raises a ValidationError naming
    ``name`` for a value of the wrong type, text that cannot be text, or a
    column that cannot be compared (JSON).
    """
    spec = column_specs(model)[name]
    if not spec.comparable:
        raise ValidationError(f"{name}: a JSON column cannot be compared", fields=[name])
    try:
        return spec.operand(value)
    except ValueError as exc:
        raise ValidationError(f"{name}={shown(value, name)}: {exc}", fields=[name]) from None


def email(value: str) -> str:
    """An address of the shape ``local@domain.tld``, stored trimmed and case-folded
    (``str.casefold``, so uniqueness and lookups ignore case the Unicode way)."""
    value = fold(value.strip())
    if not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    return value


def timezone_name(value: str) -> str:
    """An IANA timezone name that this machine's tz database knows."""
    value = value.strip()
    try:
        zone(value)
    except ValidationError:
        raise ValueError("is not a known IANA timezone") from None
    return value


def in_range(low: int, high: int) -> FieldRule:
    """A rule accepting integers from ``low`` to ``high`` inclusive."""

    def rule(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return rule
