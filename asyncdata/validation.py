"""Checking and normalising caller input before it reaches the database.

Field types, nullability, required-ness and lengths are read from the model's
columns, so every model gets the same checks without restating them; the few
rules a column cannot express (an email's shape, a timezone's existence) are
plain functions named per field by each repository.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from typing import Any

from sqlalchemy import JSON, String, inspect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

from asyncdata.errors import ValidationError
from asyncdata.timezones import zone

__all__ = [
    "MANAGED_FIELDS",
    "FieldRule",
    "FieldSpec",
    "check_input",
    "check_value",
    "column_specs",
    "email",
    "field_specs",
    "in_range",
    "timezone_name",
]

FieldRule = Callable[[Any], Any]
"""Takes a type-checked value, returns it normalised or raises ValueError with the reason."""

MANAGED_FIELDS = frozenset({"id", "created_at", "updated_at", "starts_at", "ends_at"})
"""Columns the library sets itself; a caller naming one gets a ValidationError."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


Check = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What a column accepts, read once from the model; ``check`` applies it to a non-null
    value (returns it, or raises ValueError with the reason)."""

    name: str
    python_type: type
    nullable: bool
    required: bool
    max_length: int | None
    check: Check = field(compare=False, repr=False)


def _python_type(column_type: TypeEngine[Any]) -> type:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return dict
    return column_type.python_type


@cache
def field_specs(model: type[DeclarativeBase]) -> Mapping[str, FieldSpec]:
    """The caller-settable columns of ``model``, keyed by attribute name."""
    return {k: v for k, v in column_specs(model).items() if k not in MANAGED_FIELDS}


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
        specs[attr.key] = FieldSpec(
            name=attr.key,
            python_type=kind,
            nullable=nullable,
            required=not nullable and not has_default,
            max_length=max_length,
            check=_checker(kind, nullable, max_length),
        )
    return specs


def _type_name(kind: type) -> str:
    return {dict: "JSON object", str: "text", int: "integer", bool: "boolean"}.get(
        kind, kind.__name__
    )


def _checker(kind: type, nullable: bool, max_length: int | None) -> Check:
    """The type check of one column, specialised once so validating a row stays cheap."""

    def wrong(value: Any) -> ValueError:
        return ValueError(f"must be {_type_name(kind)}, got {type(value).__name__}")

    if issubclass(kind, enum.Enum):
        allowed = ", ".join(str(member.value) for member in kind)

        def check(value: Any) -> Any:
            try:
                return kind(value)
            except ValueError:
                raise ValueError(f"must be one of {allowed}") from None

    elif kind is dict:

        def check(value: Any) -> Any:
            if not isinstance(value, dict | list):
                raise ValueError("must be a JSON object or list")
            return value

    elif kind is str:

        def check(value: Any) -> Any:
            if not isinstance(value, str):
                raise wrong(value)
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
            return value

    elif kind is time:

        def check(value: Any) -> Any:
            if not isinstance(value, time):
                raise wrong(value)
            if value.tzinfo is not None:
                raise ValueError("must be a wall-clock time without tzinfo")
            return value

    else:
        # bool is an int and datetime is a date in Python, but not here.
        excluded = {int: bool, float: bool, date: datetime}.get(kind)

        def check(value: Any) -> Any:
            if not isinstance(value, kind) or (excluded and isinstance(value, excluded)):
                raise wrong(value)
            return value

    return check


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
            checked = specs[key].check(value)
            rule = rules.get(key)
            clean[key] = checked if rule is None else rule(checked)
        except ValueError as exc:
            problems.append((key, f"{key}={value!r}: {exc}"))
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
    """``value`` checked against column ``name`` (managed ones too), e.g. as a filter operand.

    Raises a ValidationError naming ``name``.
    """
    try:
        return column_specs(model)[name].check(value)
    except ValueError as exc:
        raise ValidationError(f"{name}={value!r}: {exc}", fields=[name]) from None


def email(value: str) -> str:
    """An address of the shape ``local@domain.tld``, stored trimmed and lower-cased."""
    value = value.strip().lower()
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
