"""Portable SQL expressions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import GenericFunction

__all__ = ["ascii_contains", "contains_folded", "folded_contains", "unicode_lower"]


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
    """True when any column contains a non-ASCII needle, ignoring case the Unicode way.

    Build it with :func:`contains_folded`. PostgreSQL gets
    ``lower(col) LIKE :pattern ESCAPE '/' OR …``; SQLite gets one call of
    ``asyncdata_icontains(needle, col, …)`` per row, its own ``lower`` being ASCII-only.
    """

    type = Boolean()
    inherit_cache = True
    name = "folded_contains"


class ascii_contains(GenericFunction[bool]):
    """True when any column contains an ASCII needle, ignoring case.

    SQLite's ``LIKE`` already ignores ASCII case, so there it runs without
    ``lower()`` (twice as fast over a table); PostgreSQL gets ``lower(col) LIKE``.
    """

    type = Boolean()
    inherit_cache = True
    name = "ascii_contains"


def contains_folded(needle: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match of ``needle`` over ``columns``; wildcards match
    themselves.

    No non-ASCII letter lower-cases to plain ASCII but the Kelvin sign, so an
    ASCII needle needs no Unicode folding and takes the cheaper construct.
    """
    folded = needle.lower()
    pattern = literal("%" + folded.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%")
    if folded.isascii():
        return ascii_contains(pattern, *columns)
    return folded_contains(pattern, literal(folded), *columns)


def _like_any(
    compiler: SQLCompiler, pattern: Any, columns: list[Any], template: str, **kw: Any
) -> str:
    like = compiler.process(pattern, **kw)
    tests = [
        f"{template.format(compiler.process(c, **kw))} LIKE {like} ESCAPE '/'" for c in columns
    ]
    return "(" + " OR ".join(tests) + ")"


@compiles(folded_contains)
def _folded_default(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    pattern, _needle, *columns = element.clauses
    return _like_any(compiler, pattern, columns, "lower({})", **kw)


@compiles(folded_contains, "sqlite")
def _folded_sqlite(element: folded_contains, compiler: SQLCompiler, **kw: Any) -> str:
    _pattern, *arguments = element.clauses
    return f"asyncdata_icontains({', '.join(compiler.process(a, **kw) for a in arguments)})"


@compiles(ascii_contains)
def _ascii_default(element: ascii_contains, compiler: SQLCompiler, **kw: Any) -> str:
    pattern, *columns = element.clauses
    return _like_any(compiler, pattern, columns, "lower({})", **kw)


@compiles(ascii_contains, "sqlite")
def _ascii_sqlite(element: ascii_contains, compiler: SQLCompiler, **kw: Any) -> str:
    pattern, *columns = element.clauses
    return _like_any(compiler, pattern, columns, "{}", **kw)
