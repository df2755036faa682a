"""Case-folded copies of text columns, kept by the library for case-insensitive matching.

Case-insensitive matching must give one answer on every backend, and the
databases' own ``lower()`` functions disagree with each other and with Python
("İ", final sigma, the Kelvin sign). So the library folds text once, in
Python, with Unicode case folding (``str.casefold``), and stores the result in
a plain column that both backends compare byte for byte (and that an index can
serve). These columns are never set by callers: an INSERT computes them from
the row's own values (a column default), an update of a source field
recomputes them (:func:`folded_changes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Text
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column

from asyncdata._vocabulary import fold

__all__ = [
    "SEPARATOR",
    "fold",
    "folded_changes",
    "folded_column",
    "folded_sources",
    "language_key",
    "search_text",
    "text_key",
]

SEPARATOR = "\x1f"
"""Joins the folded fields of ``search_text``; a search query may not contain it, so a
match never spans two fields."""

Folder = Callable[..., str | None]


def search_text(*fields: str | None) -> str:
    """The folded fields joined by :data:`SEPARATOR` (a missing field counts as empty)."""
    return SEPARATOR.join(fold(field) if field else "" for field in fields)


def text_key(value: str | None) -> str | None:
    """``value`` trimmed and folded, for case-insensitive equality; None stays None."""
    return None if value is None else fold(value.strip())


def language_key(languages: str | None) -> str | None:
    """``"English, Spanish"`` as ``",english,spanish,"``: folded, whitespace removed,
    framed by commas so one language is the substring ``",<language>,"``."""
    return None if languages is None else "," + "".join(fold(languages).split()) + ","


def folded_column(
    *sources: str, folder: Folder, nullable: bool = False, index: bool = False
) -> MappedColumn[Any]:
    """A column holding ``folder(*sources)``, filled in on every INSERT from the row's values."""

    def default(context: Any) -> str | None:
        values = context.get_current_parameters()
        return folder(*(values.get(name) for name in sources))

    return mapped_column(
        Text,
        default=default,
        server_default=None if nullable else "",
        nullable=nullable,
        index=index,
        info={"folded_from": sources, "folder": folder},
    )


def folded_sources(model: type[DeclarativeBase]) -> dict[str, tuple[tuple[str, ...], Folder]]:
    """The folded columns of ``model``: name -> (source fields, folder)."""
    found = {}
    for column in model.__table__.columns:
        if "folded_from" in column.info:
            found[column.key] = (column.info["folded_from"], column.info["folder"])
    return found


def folded_changes(
    model: type[DeclarativeBase], values: Mapping[str, Any], current: Any
) -> dict[str, Any]:
    """The folded columns an update of ``values`` over stored row ``current`` must rewrite
    (none when ``current`` is None: an INSERT computes them itself)."""
    changes: dict[str, Any] = {}
    if current is None:
        return changes  # an INSERT computes them itself
    for name, (sources, folder) in folded_sources(model).items():
        if any(source in values for source in sources):
            merged = [
                values[source] if source in values else getattr(current, source)
                for source in sources
            ]
            changes[name] = folder(*merged)
    return changes
