"""Portable SQL expressions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

__all__ = ["unicode_lower"]


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
