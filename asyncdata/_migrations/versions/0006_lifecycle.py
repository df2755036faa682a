"""Booking lifecycle: holds, idempotency keys, public references, history.

Bookings get ``reference`` (random and unique, filled in here for existing rows, in
Python, 144 bits from ``secrets`` per row on both backends), ``hold_expires_at``,
``idempotency_key`` (unique; NULLs allowed) and ``request_fingerprint``; the status
check allows ``held``. New table ``booking_changes`` (the history), where every existing
booking gets a ``created`` entry dated by its ``created_at``.

SQLite cannot change a CHECK constraint in place: the bookings table is rebuilt (Alembic
batch) and its triggers (the overlap guard, whatever revision made it) are put back as
they were. Downgrade drops the history and the columns; holds become ``cancelled``.

Revision ID: 0006_lifecycle
Revises: 0005_availability
Create Date: 2026-11-29
"""

import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0006_lifecycle"
down_revision: str | None = "0005_availability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "confirmed", "cancelled", "completed", "no_show")
REFERENCE_BYTES = 18
BATCH = 1_000
CREATED_FIELDS = ("specialist_id", "booking_date", "booking_time", "duration_minutes", "status")


def _status_check(statuses: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | time | datetime) else value


def _swap_status_check(statuses: Sequence[str], batch: Any) -> None:
    batch.drop_constraint(op.f("ck_bookings_status"), type_="check")
    batch.create_check_constraint(op.f("ck_bookings_status"), _status_check(statuses))


def _alter_bookings(change: Callable[[Any], None]) -> None:
    """Run ``change`` on a batch over bookings. On SQLite that rebuilds the table, which
    loses its triggers: they are read first and created again afterwards."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("bookings") as batch:
            change(batch)
        return
    triggers = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bookings'")
    ).scalars()
    saved = [sql for sql in triggers if sql]
    with op.batch_alter_table("bookings", recreate="always") as batch:
        change(batch)
    for sql in saved:
        op.execute(sql)


def _fill_references() -> None:
    bind = op.get_bind()
    bookings = sa.table("bookings", sa.column("id", sa.Integer), sa.column("reference", sa.String))
    ids = list(bind.execute(sa.select(bookings.c.id)).scalars())
    stmt = (
        sa.update(bookings)
        .where(bookings.c.id == sa.bindparam("row_id"))
        .values(reference=sa.bindparam("new_reference"))
    )
    for start in range(0, len(ids), BATCH):
        params = [
            {"row_id": i, "new_reference": secrets.token_urlsafe(REFERENCE_BYTES)}
            for i in ids[start : start + BATCH]
        ]
        bind.execute(stmt, params)


def _record_created() -> None:
    bind = op.get_bind()
    bookings = sa.table(
        "bookings",
        sa.column("id", sa.Integer),
        sa.column("specialist_id", sa.Integer),
        sa.column("booking_date", sa.Date),
        sa.column("booking_time", sa.Time),
        sa.column("duration_minutes", sa.Integer),
        sa.column("status", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    changes = sa.table(
        "booking_changes",
        sa.column("booking_id", sa.Integer),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("kind", sa.String),
        sa.column("new", sa.JSON),
    )
    rows = bind.execute(sa.select(bookings).order_by(bookings.c.id)).all()
    for start in range(0, len(rows), BATCH):
        params = [
            {
                "booking_id": row.id,
                "changed_at": row.created_at,
                "kind": "created",
                "new": {k: _json(getattr(row, k)) for k in CREATED_FIELDS},
            }
            for row in rows[start : start + BATCH]
        ]
        bind.execute(sa.insert(changes), params)


def upgrade() -> None:
    op.add_column("bookings", sa.Column("reference", sa.String(length=64), nullable=True))
    op.add_column(
        "bookings", sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("bookings", sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.add_column("bookings", sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
    _fill_references()

    def change(batch: Any) -> None:
        batch.alter_column("reference", existing_type=sa.String(length=64), nullable=False)
        _swap_status_check((*STATUSES, "held"), batch)

    _alter_bookings(change)
    op.create_index(op.f("ix_bookings_reference"), "bookings", ["reference"], unique=True)
    op.create_index(
        op.f("ix_bookings_idempotency_key"), "bookings", ["idempotency_key"], unique=True
    )
    op.create_index("ix_bookings_status_hold_expires_at", "bookings", ["status", "hold_expires_at"])

    op.create_table(
        "booking_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_changes_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_changes")),
    )
    op.create_index(
        "ix_booking_changes_booking_id_id", "booking_changes", ["booking_id", "id"], unique=False
    )
    _record_created()


def downgrade() -> None:
    op.drop_index("ix_booking_changes_booking_id_id", table_name="booking_changes")
    op.drop_table("booking_changes")
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status = 'held'")
    op.drop_index("ix_bookings_status_hold_expires_at", table_name="bookings")
    op.drop_index(op.f("ix_bookings_idempotency_key"), table_name="bookings")
    op.drop_index(op.f("ix_bookings_reference"), table_name="bookings")

    def change(batch: Any) -> None:
        _swap_status_check(STATUSES, batch)
        for column in ("request_fingerprint", "idempotency_key", "hold_expires_at", "reference"):
            batch.drop_column(column)

    _alter_bookings(change)
