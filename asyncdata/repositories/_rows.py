"""Rows of one batch made alike, so that one multi-row INSERT carries them all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

__all__ = ["uniform"]


def uniform(table: Table, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``batch`` with the same keys in every row, so one INSERT can carry them all.

    A key some rows lack is filled with what the database would have stored: the
    column's scalar default, else None for a nullable column without a server
    default. A key that cannot be filled that way (a computed default, a server
    default) is left out of every row that lacks it, and the ORM splits the batch
    there, as before: no model of this library has such a mix.
    """
    keys = set().union(*batch) if batch else set()
    fill: dict[str, Any] = {}
    for key in keys:
        column = table.c[key]
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            fill[key] = getattr(default, "arg", None)
        elif default is None and column.server_default is None and column.nullable:
            fill[key] = None
    if not fill:
        return batch
    return [{**fill, **row} if len(row) < len(keys) else row for row in batch]
