"""The generic repository: CRUD, filters, ordering, search, eager loading, errors.

Each model's repository is a subclass that names its model, default order,
field rules, and adds only the calls special to it; ``asyncdata.repositories.searchable``
adds ``search`` where the model has text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from itertools import islice
from typing import Any, ClassVar, Generic, TypeVar, cast

from sqlalchemy import (
    JSON,
    Row,
    Select,
    String,
    Table,
    delete,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._sql import binary_text, in_values
from asyncdata._transactions import Write, adopt, read, write
from asyncdata._translate import translate_error
from asyncdata._validation import (
    MAX_ROW_COUNT,
    NO_MATCH,
    FieldRule,
    check_flag,
    check_id,
    check_input,
    check_operand,
    check_row_count,
)
from asyncdata.errors import NotFoundError, ValidationError
from asyncdata.models import Base, utcnow
from asyncdata.repositories._direct import NOT_TAKEN, get_direct
from asyncdata.repositories._paging import (
    Page,
    after_clause,
    decode_cursor,
    encode_cursor,
    order_keys,
)
from asyncdata.repositories._rows import uniform

__all__ = ["BATCH_SIZE", "AppendOnlyRepository", "Repository"]

ModelT = TypeVar("ModelT", bound=Base)
T = TypeVar("T")

BATCH_SIZE = 1_000
"""Rows per INSERT batch in ``create_many``: bounds memory whatever the row count."""

Filters = Mapping[str, Any] | None


class AppendOnlyRepository(Generic[ModelT]):
    """Awaitable create and queries for one model, over a caller-owned ``AsyncSession``.

    The base of every repository, and all of an append-only one (the admin
    log): rows are added, never changed. Writes commit before returning unless
    made inside ``transaction(db)``; on any error nothing of the call persists
    and the session stays usable.
    """

    model: ClassVar[type[Base]]
    default_order: ClassVar[tuple[str, ...]] = ("id",)
    rules: ClassVar[Mapping[str, FieldRule]] = {}

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- hooks for subclasses -------------------------------------------------

    def active_clause(self) -> ColumnElement[bool] | None:
        """What "active" means for this model; None if every row counts."""
        column = getattr(self.model, "is_active", None)
        return column.is_(True) if column is not None else None

    async def prepare(
        self, values: dict[str, Any], current: Any | None, *, enforce: bool
    ) -> dict[str, Any]:
        """Model rules needing more than one field or the database; runs inside the write.

        ``current`` is the stored row (column attributes) on update, None on
        create; ``enforce`` is False when an administrator asked to skip the
        rules that may be skipped. Returns the values to write (it may add
        derived fields).
        """
        return values

    async def prepare_many(
        self, rows: list[dict[str, Any]], *, enforce: bool
    ) -> list[dict[str, Any]]:
        """``prepare`` for a batch of new rows; override to share lookups across rows."""
        return [await self.prepare(row, None, enforce=enforce) for row in rows]

    # -- writes -----------------------------------------------------------------

    def validate(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        """Field-level checks of caller input; nothing touches the database."""
        return check_input(self.model, data, partial=partial, rules=self.rules)

    @asynccontextmanager
    async def writing(self, values: Mapping[str, Any] = {}) -> AsyncIterator[Write]:
        """One atomic write whose database errors name ``values`` in their message."""
        async with write(self.session, partial(translate_error, values=values)) as handle:
            yield handle

    async def create(self, data: Mapping[str, Any]) -> ModelT:
        """Validate, insert and return the new row."""
        return await self._create(data, enforce=True)

    async def create_many(self, rows: Iterable[Mapping[str, Any]]) -> list[ModelT]:
        """Insert all rows or none, in multi-row INSERTs of ``BATCH_SIZE``; returns them in
        input order. Rows are validated batch by batch inside the one transaction, so memory
        beyond the rows themselves stays bounded."""
        return await self._create_many(rows, enforce=True)

    async def _create(self, data: Mapping[str, Any], *, enforce: bool) -> ModelT:
        values = self.validate(data, partial=False)
        async with self.writing(values) as handle:
            values = await self.prepare(values, None, enforce=enforce)
            # INSERT … RETURNING rather than add + flush: a failed flush would expire
            # every other object the session holds.
            row = (await self.session.scalars(self._insert, [values])).one()
            handle.created([row])
        return cast(ModelT, row)

    async def _create_many(
        self, rows: Iterable[Mapping[str, Any]], *, enforce: bool
    ) -> list[ModelT]:
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise ValidationError(
                f"rows: must be an iterable of mappings, got {type(rows).__name__}",
                fields=["rows"],
            )
        created: list[ModelT] = []
        pending = iter(rows)
        async with self.writing() as handle:
            while batch := list(islice(pending, BATCH_SIZE)):
                checked = [self.validate(row, partial=False) for row in batch]
                inserted = await self._insert_batch(
                    await self.prepare_many(checked, enforce=enforce)
                )
                handle.created(inserted)
                created.extend(inserted)
        return created

    @property
    def _insert(self) -> Any:
        # populate_existing: an object left in the session for a deleted row whose id the
        # database hands out again must show the new row, not the old one.
        return insert(self.model).returning(self.model).execution_options(populate_existing=True)

    async def _insert_batch(self, batch: list[dict[str, Any]]) -> list[ModelT]:
        """One multi-row INSERT … RETURNING; the rows come back in ``batch`` order.

        The ORM sends one INSERT per run of rows with the same keys and leaves out keys
        whose value is None, so realistic rows (optional fields sometimes set) would be
        split into hundreds of statements. Every row is given the same keys instead
        (``asyncdata.repositories._rows.uniform``) and None is sent as NULL
        (``render_nulls``): one statement per batch.
        """
        rows_in = uniform(self._table, batch)
        if self.session.get_bind().dialect.name != "sqlite":
            stmt = (
                insert(self.model)
                .returning(self.model, sort_by_parameter_order=True)
                .execution_options(populate_existing=True, render_nulls=True)
            )
            return list(await self.session.scalars(stmt, rows_in))
        # SQLAlchemy has no implicit sentinel on SQLite, so sort_by_parameter_order would send
        # one INSERT per row. SQLite gives the rows of one INSERT … VALUES rowids max+1, max+2, …
        # in VALUES order (one writer at a time), so ordering by id restores the input order.
        stmt = self._insert.execution_options(render_nulls=True)
        rows: list[ModelT] = list(await self.session.scalars(stmt, rows_in))
        return sorted(rows, key=lambda row: row.id)  # type: ignore[attr-defined]

    # -- reads ------------------------------------------------------------------

    async def get_by_id(self, id: int, *, load: Sequence[str] = ()) -> ModelT | None:
        """The row with this id, active or not, or None (also for an id no row can have)."""
        if _checked_id(id, load=load) is None:
            return None
        if not load:
            found = await get_direct(self.session, self.model, id)
            if found is NOT_TAKEN:
                found = await self._read(lambda: self.session.get(self.model, id))
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
        """Rows matching ``filters``, in a stable order.

        ``filters`` maps column names to values: equality, None meaning NULL; a
        list or tuple means any of its values (tens of thousands are fine). A
        value no row can hold (an integer beyond the column's range) matches
        nothing. ``order_by`` names columns, ``"-name"`` for descending; text
        sorts by code point and NULLs come last (first when descending) on every
        backend. Arguments of the wrong type or shape are a ValidationError.
        """
        rows, skipped = check_row_count(limit, "limit"), check_row_count(offset, "offset")
        stmt = self._select(
            *self._filter(filters), include_inactive=include_inactive, order_by=order_by, load=load
        )
        if skipped:
            # Deferred join: OFFSET skips rows of the ids alone (which the order's index
            # covers), and only the page's rows are read whole. Still in proportion to the
            # offset: get_page is the flat way deep into a table.
            page = stmt.with_only_columns(self._pk).limit(rows).offset(skipped)
            stmt = stmt.where(self._pk.in_(page.scalar_subquery()))
            return list(await self._scalars(stmt))
        return list(await self._scalars(stmt.limit(rows)))

    async def get_page(
        self,
        *,
        filters: Filters = None,
        order_by: str | Sequence[str] | None = None,
        limit: int = 50,
        after: str | None = None,
        include_inactive: bool = False,
        load: Sequence[str] = (),
    ) -> Page[ModelT]:
        """One page of ``get_all``'s rows, by keyset: ``after`` is the previous page's
        ``next_cursor`` (None for the first page), so any page costs what the first does.

        ``limit`` is 1 or more. Paging while rows are written never repeats a row nor
        skips one that existed throughout. ``next_cursor`` is None on the last page; it
        belongs to this model and ``order_by``: another order's, an edited or a made-up
        cursor is a ValidationError (see ``asyncdata.repositories._paging``).
        """
        size = check_row_count(limit, "limit", optional=False)
        if not size:
            raise ValidationError(f"limit={limit!r}: must be at least 1", fields=["limit"])
        stmt = self._select(
            *self._filter(filters), include_inactive=include_inactive, order_by=order_by, load=load
        )  # checks every argument but the cursor
        names = () if order_by is None else _order_names(order_by)
        keys = order_keys(self.model, names or self.default_order)
        start = decode_cursor(self.model, keys, after)
        if start is not None:
            stmt = stmt.where(after_clause(self.model, keys, start))
        # one row more than asked tells whether another page follows
        rows: list[ModelT] = list(await self._scalars(stmt.limit(min(size, MAX_ROW_COUNT - 1) + 1)))
        if len(rows) <= size:
            return Page(items=rows, next_cursor=None)
        items = rows[:size]
        return Page(items=items, next_cursor=encode_cursor(self.model, keys, items[-1]))

    async def count(self, *, filters: Filters = None, include_inactive: bool = False) -> int:
        """How many rows ``get_all`` would return without limit and offset."""
        stmt = select(func.count()).select_from(self.model).where(*self._filter(filters))
        active = None if check_flag(include_inactive, "include_inactive") else self.active_clause()
        if active is not None:
            stmt = stmt.where(active)
        return int((await self._scalars(stmt)).one())

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
        active = None if check_flag(include_inactive, "include_inactive") else self.active_clause()
        if active is not None:
            stmt = stmt.where(active)
        return stmt.order_by(*self._order(order_by)).options(*self._load(load))

    def _filter(self, filters: Filters) -> list[ColumnElement[bool]]:
        if filters is None:
            return []
        if not isinstance(filters, Mapping):
            raise ValidationError(
                f"filters: must be a mapping of column names to values, got "
                f"{type(filters).__name__}",
                fields=["filters"],
            )
        return [self._condition(name, value) for name, value in filters.items()]

    def _condition(self, name: Any, value: Any) -> ColumnElement[bool]:
        """``filters[name] = value`` as SQL, the value checked against the column first."""
        column = _column(self.model, name, "filters")
        if value is None:
            return cast(ColumnElement[bool], column.is_(None))
        if not isinstance(value, list | tuple):
            operand = check_operand(self.model, name, value)
            return false() if operand is NO_MATCH else cast(ColumnElement[bool], column == operand)
        operands = [None if v is None else check_operand(self.model, name, v) for v in value]
        wanted = list(dict.fromkeys(v for v in operands if v is not None and v is not NO_MATCH))
        tests: list[ColumnElement[bool]] = []
        if None in operands:
            tests.append(column.is_(None))
        if len(wanted) == 1:
            tests.append(column == wanted[0])
        elif wanted:
            tests.append(in_values(column, wanted))
        return or_(*tests) if tests else false()

    def _order(self, order_by: Any) -> tuple[Any, ...]:
        if order_by is None:
            return _order_clauses(self.model, self.default_order)
        names = (order_by,) if isinstance(order_by, str) else order_by
        return _order_clauses(self.model, _names(names, "order_by") or self.default_order)

    def _load(self, load: Any) -> tuple[ORMOption, ...]:
        return _load_options(self.model, _names((load,) if isinstance(load, str) else load, "load"))

    def _not_found(self, id: int) -> NotFoundError:
        return NotFoundError(f"{self.model.__name__} id={id!r} not found", fields=["id"])

    def _adopt(self, values: dict[str, Any]) -> ModelT:
        """The session's object for a row just written (all its columns given)."""
        return cast(ModelT, adopt(self.session, self.model, values))

    async def _scalars(self, stmt: Any) -> Any:
        return await self._read(lambda: self.session.scalars(stmt))

    async def _read(self, run: Callable[[], Awaitable[T]]) -> T:
        """Run a read: no transaction outside ``transaction(db)``, database errors translated."""
        return await read(self.session, run)


class Repository(AppendOnlyRepository[ModelT]):
    """Full CRUD: adds ``update``, ``delete`` (soft) and ``hard_delete``."""

    async def update(self, id: int, data: Mapping[str, Any]) -> ModelT:
        """Change the given fields only; ``updated_at`` moves forward."""
        if check_id(id) is None:
            raise self._not_found(id)
        return await self._update(id, data, enforce=True)

    async def _update(self, id: int, data: Mapping[str, Any], *, enforce: bool) -> ModelT:
        values = self.validate(data, partial=True)
        async with self.writing(values):
            current = await self._require(id)
            values = await self.prepare(values, current, enforce=enforce)
            if "updated_at" in self._table.c:
                values["updated_at"] = utcnow()
            await self.session.execute(update(self._table).where(self._pk == id).values(values))
        # The row was read under a lock, so it plus the written values is what is stored.
        return self._adopt({**current._asdict(), **values})

    async def delete(self, id: int) -> ModelT:
        """Soft delete: the row stays, marked inactive."""
        if check_id(id) is None:
            raise self._not_found(id)
        return await self.update(id, {"is_active": False})

    async def hard_delete(self, id: int) -> None:
        """Remove the row; the database cascades to its children (ON DELETE CASCADE)."""
        if check_id(id) is None:
            raise self._not_found(id)
        async with self.writing({"id": id}):
            deleted = await self.session.scalars(
                delete(self.model).where(self._pk == id).returning(self._pk)
            )
            if deleted.first() is None:
                raise self._not_found(id)
        session = self.session.sync_session
        gone = session.identity_map.get(session.identity_key(self.model, id))
        if gone is not None:
            session.expunge(gone)

    async def _require(self, id: int) -> Row[Any]:
        """The stored row, locked until the write ends: ``update`` checks its rules against it
        (a booking moved or cancelled by another session), not against the session's copy."""
        stmt = select(self._table).where(self._pk == id).with_for_update()
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            raise self._not_found(id)
        return row


def _names(names: Any, purpose: str) -> tuple[str, ...]:
    """``names`` as a tuple of names: a list or tuple of ``str``, else a ValidationError."""
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValidationError(
            f"{purpose}={names!r}: must be a name or a list of names", fields=[purpose]
        )
    return tuple(names)


def _order_names(order_by: Any) -> tuple[str, ...]:
    names = (order_by,) if isinstance(order_by, str) else order_by
    return _names(names, "order_by")


def _checked_id(id: Any, *, load: Any = ()) -> int | None:
    """``get_by_id``'s arguments checked: the id (None if no row can have it), and the shape
    of ``load``."""
    _names((load,) if isinstance(load, str) else load, "load")
    return check_id(id)


def _column(model: type[Base], name: Any, purpose: str) -> Any:
    columns = model.__table__.c
    if not isinstance(name, str) or name not in columns:
        raise ValidationError(
            f"{purpose}: {model.__name__} has no column {name!r}", fields=[str(name)]
        )
    return columns[name]


@lru_cache(maxsize=512)
def _order_clauses(model: type[Base], names: tuple[str, ...]) -> tuple[Any, ...]:
    """ORDER BY for ``names`` ("-name" descending), ending with the id as a tie-breaker.

    Text sorts by code point and NULLs sort last (first when descending) on both
    backends, which differ in both by default. Cached: repositories build the
    same orderings on every call.
    """
    clauses = []
    for name in names:
        descending = name.startswith("-")
        column = _column(model, name[1:] if descending else name, "order_by")
        if isinstance(column.type, JSON):
            raise ValidationError(
                f"order_by: {model.__name__}.{column.key} holds JSON, which has no order",
                fields=["order_by"],
            )
        key = binary_text(column) if isinstance(column.type, String) else column
        if not column.nullable:
            clauses.append(key.desc() if descending else key.asc())
        else:
            clauses.append(key.desc().nulls_first() if descending else key.asc().nulls_last())
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
