"""Portable SQL expressions that give the same answer on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Boolean, String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["binary_text", "contains_text", "equal_or_in", "in_values"]


class _contains_text(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "asyncdata_contains_text"


def contains_text(column: Any, needle: str) -> ColumnElement[bool]:
    """True where ``column`` contains ``needle`` exactly (case and all); every character,
    ``%``, ``_`` and ``\\`` included, matches itself.

    PostgreSQL gets ``column LIKE '%<needle>%' ESCAPE '/'`` (which a trigram index
    can serve); SQLite gets ``instr(column, needle) > 0``, whose needle has no length
    limit (SQLite refuses LIKE patterns over 50,000 bytes) and whose match never
    ignores ASCII case as SQLite's LIKE does.
    """
    pattern = "%" + needle.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    return _contains_text(
        column, bindparam(None, needle, String()), bindparam(None, pattern, String())
    )


@compiles(_contains_text)
def _contains_like(element: _contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, _needle, pattern = element.clauses
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} ESCAPE '/')"


@compiles(_contains_text, "sqlite")
def _contains_instr(element: _contains_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, needle, _pattern = element.clauses
    return f"(instr({compiler.process(column, **kw)}, {compiler.process(needle, **kw)}) > 0)"


class _ValueList(TypeDecorator[Sequence[Any]]):
    """A list of values of one column type, sent as one parameter: a typed array on
    PostgreSQL, a JSON array of the values as SQLite stores them on SQLite."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return list(value)
        process = self.item_type.dialect_impl(dialect).bind_processor(dialect)
        return json.dumps([process(v) if process else v for v in value])


class _in_values(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True
    name = "asyncdata_in_values"


def equal_or_in(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = v`` for one value (cheaper to execute than an IN), else an expanding IN:
    for the few values of one call (its specialists, weekdays, dates), where ``in_values``
    serves lists of any length."""
    wanted = set(values)
    if len(wanted) == 1:
        return cast(ColumnElement[bool], column == next(iter(wanted)))
    return cast(ColumnElement[bool], column.in_(wanted))


def in_values(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` as one bound parameter, however many values there are.

    An expanding ``IN`` sends one parameter per value, and both backends cap
    those (SQLite at 32,766, asyncpg at 32,767). Here PostgreSQL gets
    ``column = ANY(:array)`` and SQLite ``column IN (SELECT value FROM json_each(:json))``,
    with the values converted by the column's own type, so both find the same rows.
    ``values`` must not contain None (SQL's ``IN`` never matches NULL).
    """
    param = bindparam(None, list(values), _ValueList(column.type))
    return _in_values(column, param)


@compiles(_in_values)
def _in_any(element: _in_values, compiler: SQLCompiler, **kw: Any) -> str:
    column, param = element.clauses
    return f"({compiler.process(column, **kw)} = ANY({compiler.process(param, **kw)}))"


@compiles(_in_values, "sqlite")
def _in_json(element: _in_values, compiler: SQLCompiler, **kw: Any) -> str:
    column, param = element.clauses
    return (
        f"({compiler.process(column, **kw)} IN "
        f"(SELECT value FROM json_each({compiler.process(param, **kw)})))"
    )


class _binary_text(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "asyncdata_binary_text"


def binary_text(column: Any) -> ColumnElement[str]:
    """``column`` compared by code point, for ``ORDER BY``: SQLite's default, ``COLLATE "C"``
    on PostgreSQL (whose default collation may follow a locale), so text sorts alike on both."""
    return _binary_text(column)


@compiles(_binary_text)
def _collate_c(element: _binary_text, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f'({compiler.process(column, **kw)} COLLATE "C")'


@compiles(_binary_text, "sqlite")
def _as_is(element: _binary_text, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return compiler.process(column, **kw)
