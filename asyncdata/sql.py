"""Portable SQL expressions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import GenericFunction

__all__ = ["contains_folded", "folded_contains", "unicode_lower"]


class unicode_lower(GenericFunction[str]):
    """``lower()`` that folds non-ASCII letters too.

    SQLite's built-in ``lower`` only knows ASCII, so there it calls
    ``asyncdata_lower``, which ``asyncdata.database.create_engine`` registers
    on every connection (Python's ``str.lower``, as the caller's side uses).
    """

    type = String()
    inherit_cache = True
    name = "unicode_lower"


@compiles(unicode_lower)
def _lower_default(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _lower_sqlite(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"asyncdata_lower({compiler.process(element.clauses, **kw)})"


class folded_contains(GenericFunction[bool]):
    """True when any column contains the needle, ignoring case the Unicode way.

    Build it with :func:`contains_folded`. PostgreSQL gets
    ``lower(col) LIKE :pattern ESCAPE '/' OR …``; SQLite gets one call of
    ``asyncdata_icontains(needle, col, …)`` per row instead of a Python
    ``lower`` per row and column, which is what makes search cost there.
    """

    type = Boolean()
    inherit_cache = True
    name = "folded_contains"


def contains_folded(needle: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match of ``needle`` over ``columns``; wildcards match
    themselves.

    An ASCII needle needs no Unicode folding (no non-ASCII letter lower-cases to
    plain ASCII but the Kelvin sign), so it takes the databases' own ``lower``,
    which on SQLite saves a Python call per row.
    """
    folded = needle.lower()
    pattern = "%" + folded.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    if folded.isascii():
        return or_(*(func.lower(column).like(pattern, escape="/") for column in columns))
    return folded_contains(literal(pattern), literal(folded), *columns)


@compiles(folded_contains)
def _contains_default(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    pattern, _needle, *columns = element.clauses
    like = compiler.process(pattern, **kw)
    tests = [f"lower({compiler.process(c, **kw)}) LIKE {like} ESCAPE '/'" for c in columns]
    return "(" + " OR ".join(tests) + ")"


@compiles(folded_contains, "sqlite")
def _contains_sqlite(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    _pattern, *arguments = element.clauses
    return f"asyncdata_icontains({', '.join(compiler.process(a, **kw) for a in arguments)})"
