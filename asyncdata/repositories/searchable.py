"""``search``, for the repositories whose model has text to search."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import String, bindparam, column, literal_column, select, table
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._arguments import check_flag, check_row_count, check_text
from asyncdata._sql import contains_text
from asyncdata.errors import ValidationError
from asyncdata.models._fts import FTS_SUFFIX, FTS_TABLES
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
        narrowed = self._trigram_candidates(needle)
        stmt = self._select(*narrowed, match, include_inactive=include_inactive)
        return list(await self._scalars(stmt.limit(first)))

    def _trigram_candidates(self, needle: str) -> list[ColumnElement[bool]]:
        """On SQLite, ``id IN`` the rows whose FTS5 trigram index holds every trigram of
        ``needle`` (see ``asyncdata.models._fts``): an index lookup that narrows the rows
        the exact test reads. Nothing for a needle under three characters (no trigram), on
        PostgreSQL (its GIN index serves the ``LIKE`` itself) or for a table without one."""
        name = self._table.name
        if len(needle) < 3 or name not in FTS_TABLES:
            return []
        if self.session.get_bind().dialect.name != "sqlite":
            return []
        grams = list(dict.fromkeys(needle[i : i + 3] for i in range(len(needle) - 2)))
        if len(grams) > _MAX_GRAMS:  # any subset still narrows to a superset of the answer
            step = (len(grams) - 1) / (_MAX_GRAMS - 1)
            grams = list(dict.fromkeys(grams[round(i * step)] for i in range(_MAX_GRAMS)))
        query = " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)
        fts = table(name + FTS_SUFFIX, column("rowid"))
        matching = select(fts.c.rowid).where(
            literal_column(fts.name).op("MATCH")(bindparam(None, query, String()))
        )
        return [self._pk.in_(matching)]


_MAX_GRAMS = 12
