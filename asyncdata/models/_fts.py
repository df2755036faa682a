"""SQLite's substring index: an FTS5 trigram table beside each searchable table.

SQLite has no trigram index type, but FTS5's ``trigram`` tokenizer (SQLite
3.34+) indexes every three-character run of a text, so a ``MATCH`` of a quoted
needle finds the rows containing it through the index. ``<table>_search`` is
an external-content FTS5 table over ``<table>.search_text`` (the library's
case-folded text), case-sensitive (the text is already folded; folding again
could only widen the candidates), kept in step by triggers on insert, delete
and update of ``search_text``. ``search`` uses it only to narrow the rows: the
exact test (``instr``) still decides, so answers are those of a scan, ``%``,
``_`` and ``\\`` included. A needle shorter than three characters has no
trigram: it falls back to the scan.

Revision ``0004_scale`` creates these objects; ``create_all`` runs the same DDL and
``drop_all`` drops them with their tables.
"""

from __future__ import annotations

from asyncdata.models.admin_log import AdminLog
from asyncdata.models.base import on_ddl
from asyncdata.models.booking import Booking
from asyncdata.models.specialist import Specialist
from asyncdata.models.user_session import UserSession

__all__ = ["FTS_SUFFIX", "FTS_TABLES", "fts_ddl", "fts_drop"]

FTS_SUFFIX = "_search"
FTS_TABLES = ("specialists", "bookings", "user_sessions", "admin_logs")


def fts_ddl(table: str) -> list[str]:
    """Statements creating ``table``'s FTS5 trigram index and its triggers (SQLite only)."""
    fts = table + FTS_SUFFIX
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}', "
        "content_rowid='id', tokenize='trigram case_sensitive 1', detail='none')",
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (NEW.id, NEW.search_text); END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text); "
        "END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF search_text ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', OLD.id, OLD.search_text); "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (NEW.id, NEW.search_text); END",
    ]


def fts_drop(table: str) -> list[str]:
    fts = table + FTS_SUFFIX
    return [
        *(f"DROP TRIGGER IF EXISTS {fts}_{event}" for event in ("insert", "delete", "update")),
        f"DROP TABLE IF EXISTS {fts}",
    ]


for _model in (Specialist, Booking, UserSession, AdminLog):
    _name = _model.__tablename__
    on_ddl(_model.__table__, "after_create", {"sqlite": fts_ddl(_name)})
    on_ddl(_model.__table__, "after_drop", {"sqlite": fts_drop(_name)})
