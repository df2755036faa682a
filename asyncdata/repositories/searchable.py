"""``search``, for the repositories whose model has text to search."""

from __future__ import annotations

from typing import Any, cast

from asyncdata._arguments import check_flag, check_row_count, check_text
from asyncdata._sql import contains_text
from asyncdata.errors import ValidationError
from asyncdata.models.folded import SEPARATOR, fold, folded_changes
from asyncdata.repositories.base import AppendOnlyRepository, ModelT

__all__ = ["Searchable"]


class Searchable(AppendOnlyRepository[ModelT]):
    """A repository whose model has text to search: adds ``search``.

    The model keeps a ``search_text`` column, the case-folded text of its
    searchable fields (see ``asyncdata.models.folded``); this class keeps it,
    and every other folded column, in step when an update changes a source field.
    """

    async def prepare(
        self, values: dict[str, Any], current: Any | None, *, enforce: bool
    ) -> dict[str, Any]:
        values = await super().prepare(values, current, enforce=enforce)
        values.update(folded_changes(self.model, values, current))
        return values

    async def search(
        self, query: str, *, limit: int = 50, include_inactive: bool = False
    ) -> list[ModelT]:
        """Rows whose text fields contain ``query``, ignoring case the Unicode way.

        Matching is substring containment after Unicode case folding
        (``str.casefold``) of both sides, so "ÉLODIE" finds "Élodie", "straße"
        finds "STRASSE" and "İSTANBUL" finds "İstanbul", with the same answer on
        every backend (folding is per character: "İ" folds to "i" plus a combining
        dot, so a plain "istanbul" does not find it). The query is trimmed; ``%``,
        ``_`` and ``\\`` match themselves; a blank query finds nothing.
        A query containing NUL, a lone surrogate or U+001F (the separator between
        fields) is a ValidationError. At most ``limit`` rows, in the repository's
        default order.
        """
        text = cast(str, check_text(query, "query"))
        first = check_row_count(limit, "limit", optional=False)
        check_flag(include_inactive, "include_inactive")
        if SEPARATOR in text:
            raise ValidationError("query: must not contain U+001F", fields=["query"])
        needle = fold(text.strip())
        if not needle:
            return []
        match = contains_text(self.model.__table__.c.search_text, needle)
        stmt = self._select(match, include_inactive=include_inactive)
        return list(await self._scalars(stmt.limit(first)))
