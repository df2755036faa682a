"""The generic repository: CRUD, filters, ordering, search, eager loading, errors.

Each model's repository is a subclass that names its model, default order,
search fields and field rules, and adds only the calls special to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from itertools import islice
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy import Select, Table, delete, func, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.sql.elements import ColumnElement

from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import Base, utcnow
from asyncdata.sql import contains_folded
from asyncdata.transactions import in_transaction, write_scope
from asyncdata.translate import translate_error
from asyncdata.validation import FieldRule, check_input, check_value

__all__ = ["BATCH_SIZE", "Repository"]

ModelT = TypeVar("ModelT", bound=Base)

BATCH_SIZE = 1_000
"""Rows per INSERT batch in ``create_many``: bounds memory whatever the row count."""

Filters = Mapping[str, Any] | None


class Repository(Generic[ModelT]):
    """Awaitable CRUD and queries for one model, over a caller-owned ``AsyncSession``.

    Writes commit before returning unless made inside ``transaction(db)``; on
    any error nothing of the call persists and the session stays usable.
    """

    model: ClassVar[type[Base]]
    default_order: ClassVar[tuple[str, ...]] = ("id",)
    search_fields: ClassVar[tuple[str, ...]] = ()
    rules: ClassVar[Mapping[str, FieldRule]] = {}

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- hooks for subclasses -------------------------------------------------

    def active_clause(self) -> ColumnElement[bool] | None:
        """What "active" means for this model; None if every row counts."""
        column = getattr(self.model, "is_active", None)
        return column.is_(True) if column is not None else None

    async def prepare(
        self, values: dict[str, Any], current: ModelT | None, **options: Any
    ) -> dict[str, Any]:
        """Model rules needing more than one field or the database; runs inside the write.

        ``current`` is the stored row on update, None on create; ``options`` are
        the keyword arguments the caller gave ``create``/``update``. Returns the
        values to write (it may add derived fields).
        """
        return values

    async def prepare_many(
        self, rows: list[dict[str, Any]], **options: Any
    ) -> list[dict[str, Any]]:
        """``prepare`` for a batch of new rows; override to share lookups across rows."""
        return [await self.prepare(row, None, **options) for row in rows]

    # -- writes -----------------------------------------------------------------

    def validate(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """Field-level checks of caller input; nothing touches the database."""
        return check_input(self.model, data, partial=partial, rules=self.rules)

    @asynccontextmanager
    async def writing(self, values: Mapping[str, Any] = {}) -> AsyncIterator[None]:
        """One atomic write whose database errors name ``values`` in their message."""
        async with write_scope(self.session, partial(translate_error, values=values)):
            yield

    async def create(self, data: Mapping[str, Any], **options: Any) -> ModelT:
        """Validate, insert and return the new row."""
        values = self.validate(data, partial=False)
        async with self.writing(values):
            values = await self.prepare(values, None, **options)
            # INSERT … RETURNING rather than add + flush: a failed flush would expire
            # every other object the session holds.
            stmt = insert(self.model).returning(self.model)
            row = (await self.session.scalars(stmt, [values])).one()
        return cast(ModelT, row)

    async def create_many(self, rows: Iterable[Mapping[str, Any]], **options: Any) -> list[ModelT]:
        """Insert all rows or none, in multi-row INSERTs of ``BATCH_SIZE``; returns them in
        input order. Rows are validated batch by batch inside the one transaction, so memory
        beyond the rows themselves stays bounded."""
        created: list[ModelT] = []
        pending = iter(rows)
        async with self.writing():
            while batch := list(islice(pending, BATCH_SIZE)):
                checked = [self.validate(row, partial=False) for row in batch]
                created.extend(
                    await self._insert_batch(await self.prepare_many(checked, **options))
                )
        return created

    async def _insert_batch(self, batch: list[dict[str, Any]]) -> list[ModelT]:
        """One multi-row INSERT … RETURNING; the rows come back in ``batch`` order."""
        if self.session.get_bind().dialect.name != "sqlite":
            stmt = insert(self.model).returning(self.model, sort_by_parameter_order=True)
            return list(await self.session.scalars(stmt, batch))
        # SQLAlchemy has no implicit sentinel on SQLite, so sort_by_parameter_order would send
        # one INSERT per row. SQLite gives the rows of one INSERT … VALUES rowids max+1, max+2, …
        # in VALUES order (one writer at a time), so ordering by id restores the input order.
        rows: list[ModelT] = list(
            await self.session.scalars(insert(self.model).returning(self.model), batch)
        )
        return sorted(rows, key=lambda row: row.id)  # type: ignore[attr-defined]

    async def update(self, id: int, data: Mapping[str, Any], **options: Any) -> ModelT:
        """Change the given fields only; ``updated_at`` moves forward."""
        values = self.validate(data, partial=True)
        async with self.writing(values):
            row = await self._require(id)
            values = await self.prepare(values, row, **options)
            if hasattr(self.model, "updated_at"):
                values["updated_at"] = utcnow()
            await self.session.execute(update(self._table).where(self._pk == id).values(values))
            # The row was just read under a lock, so it plus the written values is what is stored.
            for key, value in values.items():
                set_committed_value(row, key, value)
        return row

    async def delete(self, id: int) -> ModelT:
        """Soft delete: the row stays, marked inactive."""
        return await self.update(id, {"is_active": False})

    async def hard_delete(self, id: int) -> None:
        """Remove the row; the database cascades to its children (ON DELETE CASCADE)."""
        async with self.writing({"id": id}):
            deleted = await self.session.scalars(
                delete(self.model).where(self._pk == id).returning(self._pk)
            )
            if deleted.first() is None:
                raise self._not_found(id)

    # -- reads ------------------------------------------------------------------

    async def get_by_id(self, id: int, *, load: Sequence[str] = ()) -> ModelT | None:
        """The row with this id, active or not, or None."""
        if not load:
            found = await self._run(self.session.get(self.model, id))
        else:
            stmt = self._select(load=load).where(self._pk == id)
            found = (await self._scalars(stmt.execution_options(populate_existing=True))).first()
        return cast(ModelT | None, found)

    async def get_all(
        self,
        *,
        filters: Filters = None,
        include_inactive: bool = False,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        load: Sequence[str] = (),
    ) -> list[ModelT]:
        """Rows matching ``filters`` (equality; a list or tuple means IN), in a stable order."""
        stmt = self._select(
            *self._filter(filters), include_inactive=include_inactive, order_by=order_by, load=load
        )
        for name, value in (("limit", limit), ("offset", offset)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValidationError(
                    f"{name}={value!r}: must be a whole number >= 0", fields=[name]
                )
        return list(await self._scalars(stmt.limit(limit).offset(offset)))

    async def count(self, *, filters: Filters = None, include_inactive: bool = False) -> int:
        """How many rows ``get_all`` would return without limit and offset."""
        stmt = select(func.count()).select_from(self.model).where(*self._filter(filters))
        if not include_inactive and (active := self.active_clause()) is not None:
            stmt = stmt.where(active)
        return int((await self._scalars(stmt)).one())

    async def search(
        self, query: str, *, limit: int = 50, include_inactive: bool = False
    ) -> list[ModelT]:
        """Case-insensitive, Unicode-aware substring match over the model's text fields.

        ``%``, ``_`` and ``\\`` in ``query`` match themselves; a blank query finds nothing.
        """
        if not isinstance(query, str):
            raise ValidationError(f"query={query!r}: must be text", fields=["query"])
        needle = query.strip().lower()
        if not needle:
            return []
        columns = [getattr(self.model, name) for name in self.search_fields]
        match = contains_folded(needle, *columns)
        stmt = self._select(match, include_inactive=include_inactive)
        return list(await self._scalars(stmt.limit(limit)))

    # -- building blocks for subclasses -----------------------------------------

    async def list_where(
        self, *conditions: ColumnElement[bool], include_inactive: bool = False
    ) -> list[ModelT]:
        """Rows meeting every condition, in the default order: the body of each ``get_by_*``."""
        stmt = self._select(*conditions, include_inactive=include_inactive)
        return list(await self._scalars(stmt))

    async def first_where(
        self, *conditions: ColumnElement[bool], include_inactive: bool = False
    ) -> ModelT | None:
        """The first row ``list_where`` would return, or None."""
        stmt = self._select(*conditions, include_inactive=include_inactive)
        return cast(ModelT | None, (await self._scalars(stmt.limit(1))).first())

    @property
    def _table(self) -> Table:
        return cast(Table, self.model.__table__)

    @property
    def _pk(self) -> Any:
        return self.model.__table__.c.id

    def _select(
        self,
        *conditions: ColumnElement[bool],
        include_inactive: bool = False,
        order_by: str | Sequence[str] | None = None,
        load: Sequence[str] = (),
    ) -> Select[Any]:
        stmt = select(self.model).where(*conditions)
        if not include_inactive and (active := self.active_clause()) is not None:
            stmt = stmt.where(active)
        return stmt.order_by(*self._order(order_by)).options(*self._load(load))

    def _filter(self, filters: Filters) -> list[ColumnElement[bool]]:
        if filters is None:
            return []
        if not isinstance(filters, Mapping):
            raise ValidationError(f"filters={filters!r}: must be a mapping", fields=["filters"])
        conditions = []
        for name, value in filters.items():
            column = _column(self.model, name, "filters")
            values = list(value) if isinstance(value, list | tuple) else [value]
            values = [v if v is None else check_value(self.model, name, v) for v in values]
            if isinstance(value, list | tuple):
                conditions.append(column.in_(values))
            else:
                conditions.append(column.is_(None) if values[0] is None else column == values[0])
        return conditions

    def _order(self, order_by: str | Sequence[str] | None) -> tuple[Any, ...]:
        names = (order_by,) if isinstance(order_by, str) else (order_by or self.default_order)
        return _order_clauses(self.model, _names(names, "order_by"))

    def _load(self, load: str | Sequence[str]) -> tuple[ORMOption, ...]:
        return _load_options(self.model, _names((load,) if isinstance(load, str) else load, "load"))

    def _not_found(self, id: int) -> NotFoundError:
        return NotFoundError(f"{self.model.__name__} id={id!r} not found", fields=["id"])

    async def _require(self, id: int) -> ModelT:
        # The stored row, not the identity map's copy, locked until the write ends: update()
        # checks its rules against it (a booking moved or cancelled by another session).
        row = await self.session.get(self.model, id, populate_existing=True, with_for_update=True)
        if row is None:
            raise self._not_found(id)
        return row  # type: ignore[return-value]

    async def _scalars(self, stmt: Any) -> Any:
        return await self._run(self.session.scalars(stmt))

    async def _run(self, awaitable: Any) -> Any:
        """Await a read, turning database errors into asyncdata errors."""
        try:
            return await awaitable
        except SQLAlchemyError as exc:
            if not in_transaction(self.session):
                await self.session.rollback()
            raise translate_error(exc) from exc


def _names(names: Iterable[Any], purpose: str) -> tuple[str, ...]:
    found = tuple(names)
    if not all(isinstance(name, str) for name in found):
        raise ValidationError(f"{purpose}={found!r}: must be column names", fields=[purpose])
    return found


def _column(model: type[Base], name: str, purpose: str) -> Any:
    columns = model.__table__.c
    if not isinstance(name, str) or name not in columns:
        raise ValidationError(
            f"{purpose}: {model.__name__} has no column {name!r}", fields=[str(name)]
        )
    return columns[name]


@lru_cache(maxsize=512)
def _order_clauses(model: type[Base], names: tuple[str, ...]) -> tuple[Any, ...]:
    """ORDER BY for ``names`` ("-name" descending), ending with the id as a tie-breaker.
    Cached: repositories build the same orderings on every call."""
    clauses = []
    for name in names:
        descending = name.startswith("-")
        column = _column(model, name[1:] if descending else name, "order_by")
        clauses.append(column.desc() if descending else column.asc())
    if "id" not in {name.lstrip("-") for name in names}:
        clauses.append(model.__table__.c.id.asc())
    return tuple(clauses)


@lru_cache(maxsize=512)
def _load_options(model: type[Base], names: tuple[str, ...]) -> tuple[ORMOption, ...]:
    """``selectinload`` options for relationship ``names``; cached like the orderings."""
    relationships = inspect(model).relationships
    options = []
    for name in names:
        if name not in relationships:
            raise ValidationError(
                f"load: {model.__name__} has no relationship {name!r}", fields=["load"]
            )
        options.append(selectinload(relationships[name].class_attribute))
    return tuple(options)
