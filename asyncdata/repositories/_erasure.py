"""Forgetting a client: their name, email, phone and notes replaced, the booking history kept.

``BookingRepository.erase_client`` delegates here. What is erased is one list,
``ERASED``: each entry names a table, how its rows of the client are found (by
the folded email, or as children of rows erased before it) and the value each
erased column gets. A table that holds client data joins erasure by adding an
entry; nothing else changes.

Rules the caller may rely on:

* One transaction: every table is rewritten, and the admin log entry written,
  or nothing is (inside ``transaction(db)`` it joins the block).
* The address is matched as the library stores emails: trimmed and
  case-folded (``str.casefold``), so any letter case finds the client.
* Times, durations, statuses and ids of bookings stay; ``updated_at`` moves.
  The folded copies kept for search (``search_text``) are rebuilt from the
  placeholders, so the erased values vanish from them too.
* The admin log entry (action ``client.erase``) records who erased (``admin_id``)
  and the ids of the rows erased, never the address or any erased value.
* Idempotent: once erased, the address matches nothing, so a second call
  returns 0 and writes no second log entry. Erasing the placeholder address
  itself is a no-op that returns 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Table, insert, null, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from asyncdata._sql import in_values
from asyncdata._transactions import adopt, write
from asyncdata._translate import translate_error
from asyncdata._validation import check_value, normalised_email
from asyncdata.models import AdminLog, Base, utcnow
from asyncdata.models._fts import FTS_SUFFIX, FTS_TABLES

__all__ = ["ERASED", "ERASED_EMAIL", "ERASED_NAME", "ERASE_ACTION", "Erased", "erase_client"]

ERASED_NAME: Final = "[erased]"
"""What an erased client's name becomes (the column cannot be empty)."""

ERASED_EMAIL: Final = "erased@erased.invalid"
"""What an erased client's email becomes: a valid address in the reserved ``.invalid``
domain, which can reach no one."""

ERASE_ACTION: Final = "client.erase"
"""The ``action`` of the admin log entry each erasure writes."""


@dataclass(frozen=True, slots=True)
class Erased:
    """One table erasure rewrites.

    ``values`` maps each erased column to what it becomes (None: NULL). Rows
    are those whose ``email_column`` holds the client's folded address or,
    with ``parent=(column, table)``, those whose ``column`` refers to a row of
    ``table`` that this erasure rewrote (list the parent first). Erased rows of
    tables without a parent are what ``erase_client`` counts.
    """

    table: str
    values: Mapping[str, Any]
    email_column: str = "client_email"
    parent: tuple[str, str] | None = None


ERASED: tuple[Erased, ...] = (
    Erased(
        "bookings",
        {
            "client_name": ERASED_NAME,
            "client_email": ERASED_EMAIL,
            "client_phone": None,
            "notes": None,
            # Chosen by the caller (may spell out the client) and a hash of the request's
            # client fields (a guessable address could be confirmed against it).
            "idempotency_key": None,
            "request_fingerprint": None,
        },
    ),
    # The history keeps what happened and when. Its old/new values never hold client fields
    # (``asyncdata._lifecycle.CLIENT_FIELDS`` are recorded as changed, not by value); the
    # free text around them may name the client: the reason given, and who acted (a
    # client cancelling their own booking).
    Erased("booking_changes", {"reason": None, "actor": None}, parent=("booking_id", "bookings")),
    Erased(
        "user_sessions",
        {
            "client_name": ERASED_NAME,
            "client_email": ERASED_EMAIL,
            "client_phone": None,
            "ip_address": None,
            "user_agent": None,
            "data": None,
            "is_active": False,  # an erased client keeps no live session
        },
    ),
)
"""Every (table, columns) holding a client's personal data, and what erasure puts there."""


def _model(table: Table) -> type[Base] | None:
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


def _rebuilt(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """The folded copies of ``table`` recomputed from the placeholders.

    Each one must be rebuilt from erased columns only (a mix of kept and erased
    values would need the rows read first); ``check_erased`` enforces it.
    """
    rebuilt: dict[str, Any] = {}
    for column in table.columns:
        sources = column.info.get("folded_from")
        if sources is not None:
            rebuilt[column.key] = column.info["folder"](*(values[s] for s in sources))
    return rebuilt


def check_erased(entries: tuple[Erased, ...] = ERASED) -> None:
    """Refuse, at import, an ``ERASED`` entry this module could not carry out."""
    seen: set[str] = set()
    for entry in entries:
        table = Base.metadata.tables[entry.table]
        missing = [name for name in entry.values if name not in table.c]
        if entry.parent is None:
            missing += [] if entry.email_column in table.c else [entry.email_column]
        elif entry.parent[1] not in seen or entry.parent[0] not in table.c:
            raise TypeError(f"ERASED: {entry.table}'s parent {entry.parent} must come first")
        if missing:
            raise TypeError(f"ERASED: {entry.table} has no column(s) {missing}")
        for column in table.columns:
            sources = column.info.get("folded_from", ())
            if sources and not set(sources) <= entry.values.keys():
                raise TypeError(
                    f"ERASED: {entry.table}.{column.key} is folded from {sources}; "
                    "erase all of them"
                )
        seen.add(entry.table)


check_erased()


async def erase_client(db: AsyncSession, email: str, *, admin_id: int) -> int:
    """Erase the client with this address from every ``ERASED`` table; return how many
    bookings and sessions were erased (see the module docstring)."""
    address = normalised_email(email, "email")
    actor = check_value(AdminLog, "admin_id", admin_id)
    if not address or address == ERASED_EMAIL:
        return 0
    erased: dict[str, list[int]] = {}
    now = utcnow()
    async with write(db, translate_error):
        for entry in ERASED:
            erased[entry.table] = await _erase(db, entry, address, erased, now)
        counted = sum(len(erased[e.table]) for e in ERASED if e.parent is None)
        if counted and db.get_bind().dialect.name == "sqlite":
            await _purge_search_index(db, [table for table, ids in erased.items() if ids])
        if counted:
            details = {table: ids for table, ids in erased.items() if ids}
            entry_values = {
                "admin_id": actor,
                "action": ERASE_ACTION,
                "resource_type": "client",
                "details": details,
            }
            await db.execute(insert(AdminLog).values(entry_values))
    return counted


async def _purge_search_index(db: AsyncSession, tables: list[str]) -> None:
    """SQLite: merge the FTS5 trigram indexes of the erased tables into one segment.

    FTS5 forgets a deleted entry by recording the deletion; the old trigrams stay in its
    storage tables (``<table>_search_data``) until segments merge. ``optimize`` merges
    them all now, so no fragment of an erased value survives there. It rewrites the whole
    index (in proportion to the table), which a rare administrative call can afford.
    """
    for table in tables:
        if table in FTS_TABLES:
            fts = table + FTS_SUFFIX
            await db.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('optimize')"))


async def _erase(
    db: AsyncSession,
    entry: Erased,
    address: str,
    erased: Mapping[str, list[int]],
    now: datetime,
) -> list[int]:
    """One UPDATE … RETURNING id of ``entry``'s table; the session's copies follow."""
    table = Base.metadata.tables[entry.table]
    condition: ColumnElement[bool]
    if entry.parent is None:
        condition = table.c[entry.email_column] == address
    else:
        parents = erased.get(entry.parent[1], [])
        if not parents:
            return []
        condition = in_values(table.c[entry.parent[0]], parents)
    values = {**entry.values, **_rebuilt(table, entry.values)}
    if "updated_at" in table.c:
        values["updated_at"] = now
    stored = {k: null() if v is None else v for k, v in values.items()}
    stmt = update(table).where(condition).values(stored).returning(table.c.id)
    ids = sorted((await db.execute(stmt)).scalars().all())
    model = _model(table)
    if model is not None:
        session = db.sync_session
        for row_id in ids:
            if session.identity_map.get(session.identity_key(model, row_id)) is not None:
                adopt(db, model, {"id": row_id, **values})
    return ids
