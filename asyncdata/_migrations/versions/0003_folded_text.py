"""Case-folded copies of text, kept by the library, for one case-insensitive rule everywhere.

Adds ``search_text`` (the searchable fields, case-folded with Python's
``str.casefold`` and joined by U+001F) to specialists, days_off, bookings,
user_sessions and admin_logs; ``specialization_key`` (indexed) and
``languages_key`` to specialists. Stored emails are re-normalised from
``lower()`` to ``casefold()`` (an address whose folded form another row
already holds keeps its old form). Existing rows are filled in here, in
Python, so both backends store identical text. Downgrade drops the columns;
emails stay case-folded (still lower-case, and still valid).

Revision ID: 0003_folded_text
Revises: 0002_overlap_guard
Create Date: 2026-11-29
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003_folded_text"
down_revision: str | None = "0002_overlap_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEPARATOR = "\x1f"
BATCH = 1_000

SEARCH_FIELDS = {
    "specialists": ("name", "email", "specialization", "bio", "languages"),
    "days_off": ("reason",),
    "bookings": ("client_name", "client_email", "client_phone", "notes"),
    "user_sessions": ("session_id", "client_name", "client_email", "client_phone", "ip_address"),
    "admin_logs": ("action", "resource_type", "ip_address", "user_agent"),
}
EMAILS = {"specialists": "email", "bookings": "client_email", "user_sessions": "client_email"}


def _search_text(*fields: str | None) -> str:
    return SEPARATOR.join(field.casefold() if field else "" for field in fields)


def _text_key(value: str | None) -> str | None:
    return None if value is None else value.strip().casefold()


def _language_key(value: str | None) -> str | None:
    return None if value is None else "," + "".join(value.casefold().split()) + ","


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.Integer), *(sa.column(c, sa.Text) for c in columns))


def _rewrite(
    name: str, sources: Sequence[str], targets: dict[str, Callable[..., str | None]]
) -> None:
    """Set each target column from the row's ``sources``, in batches of updates by id."""
    bind = op.get_bind()
    table = _table(name, *sources, *targets)
    rows = bind.execute(sa.select(table.c.id, *(table.c[s] for s in sources))).all()
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values({t: sa.bindparam(f"new_{t}") for t in targets})
    )
    for start in range(0, len(rows), BATCH):
        params = [
            {"row_id": row[0], **{f"new_{t}": fold(*row[1:]) for t, fold in targets.items()}}
            for row in rows[start : start + BATCH]
        ]
        if params:
            bind.execute(stmt, params)


def _refold_emails(name: str, column: str, *, unique: bool) -> None:
    bind = op.get_bind()
    table = _table(name, column)
    rows = bind.execute(sa.select(table.c.id, table.c[column])).all()
    taken = {value for _, value in rows}
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values({column: sa.bindparam("new")})
    )
    changes = []
    for row_id, value in rows:
        folded = value.strip().casefold() if value is not None else None
        if folded == value or (unique and folded in taken):
            continue
        taken.add(folded)
        changes.append({"row_id": row_id, "new": folded})
    if changes:
        bind.execute(stmt, changes)


def upgrade() -> None:
    for name in SEARCH_FIELDS:
        op.add_column(name, sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.add_column("specialists", sa.Column("specialization_key", sa.Text(), nullable=True))
    op.add_column("specialists", sa.Column("languages_key", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_specialists_specialization_key"), "specialists", ["specialization_key"]
    )
    for name, column in EMAILS.items():
        _refold_emails(name, column, unique=name == "specialists")
    for name, sources in SEARCH_FIELDS.items():
        _rewrite(name, sources, {"search_text": _search_text})
    _rewrite("specialists", ("specialization",), {"specialization_key": _text_key})
    _rewrite("specialists", ("languages",), {"languages_key": _language_key})


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of the table would drop
    # the bookings overlap triggers.
    op.drop_index(op.f("ix_specialists_specialization_key"), table_name="specialists")
    op.drop_column("specialists", "languages_key")
    op.drop_column("specialists", "specialization_key")
    for name in SEARCH_FIELDS:
        op.drop_column(name, "search_text")
