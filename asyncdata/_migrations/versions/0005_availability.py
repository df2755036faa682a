"""Availability as real schedules have it: buffers, notice, horizon, date overrides.

Specialists get ``buffer_before_minutes`` and ``buffer_after_minutes`` (0-240),
``min_notice_minutes`` (>= 0, default 0) and ``max_advance_days`` (null: no
limit). The new ``date_overrides`` table holds a date's own windows (both times
null: the date is closed).

Bookings get ``blocked_from``/``blocked_until``, the span a booking keeps with
the buffers in force when it was made; existing rows get their own times
(buffers 0). The overlap guard (0002, bounded by 0004) is rebuilt over that span under the same
name: on PostgreSQL the exclusion constraint over ``tstzrange(blocked_from,
blocked_until)``; on SQLite the triggers, whose lookup is bounded below by the
longest possible span (1440 + 2 * 240 minutes) and served by the new index on
``(specialist_id, blocked_from)``. SQLite rebuilds bookings for the new CHECK and
NOT NULLs; its other triggers (0004's search index upkeep) are put back. Downgrade
restores 0004's guard and drops the rest.

Revision ID: 0005_availability
Revises: 0004_scale
Create Date: 2026-11-29
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0005_availability"
down_revision: str | None = "0004_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ex_bookings_no_overlap"
LONGEST = 1440 + 2 * 240
OLD_CLASH = (  # 0004_scale's
    "SELECT RAISE(ABORT, '{name}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    "AND other.starts_at >= datetime(NEW.starts_at, '-1440 minutes') "
    "AND other.starts_at < NEW.ends_at AND NEW.starts_at < other.ends_at{extra});"
)
NEW_CLASH = (
    "SELECT RAISE(ABORT, '{name}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    f"AND other.blocked_from > datetime(NEW.blocked_from, '-{LONGEST} minutes') "
    "AND other.blocked_from < NEW.blocked_until AND NEW.blocked_from < other.blocked_until"
    "{extra});"
)
SPECIALIST_COLUMNS = {
    "buffer_before_minutes": "buffer_before_minutes BETWEEN 0 AND 240",
    "buffer_after_minutes": "buffer_after_minutes BETWEEN 0 AND 240",
    "min_notice_minutes": "min_notice_minutes >= 0",
}


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def _drop_guard() -> None:
    if _is_postgresql():
        op.execute(f"ALTER TABLE bookings DROP CONSTRAINT IF EXISTS {NAME}")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_insert")
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_update")


def _create_guard(clash: str, start: str, end: str) -> None:
    if _is_postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"ALTER TABLE bookings ADD CONSTRAINT {NAME} EXCLUDE USING gist "
            f"(specialist_id WITH =, tstzrange({start}, {end}, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
        return
    op.execute(
        f"CREATE TRIGGER {NAME}_insert BEFORE INSERT ON bookings "
        f"WHEN NEW.status <> 'cancelled' BEGIN {clash.format(name=NAME, extra='')} END"
    )
    op.execute(
        f"CREATE TRIGGER {NAME}_update BEFORE UPDATE OF specialist_id, {start}, {end}, "
        f"status ON bookings WHEN NEW.status <> 'cancelled' BEGIN "
        f"{clash.format(name=NAME, extra=' AND other.id <> NEW.id')} END"
    )


@contextmanager
def _batch_bookings() -> Iterator[Any]:
    """A batch over bookings. On SQLite that rebuilds the table, which loses its triggers
    (0004's search index upkeep): they are read first and created again afterwards."""
    bind = op.get_bind()
    saved: list[str] = []
    if bind.dialect.name == "sqlite":
        triggers = bind.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bookings'"
            )
        ).scalars()
        saved = [sql for sql in triggers if sql]
    with op.batch_alter_table("bookings") as batch:
        yield batch
    for sql in saved:
        op.execute(sql)


def upgrade() -> None:
    # Column-level CHECKs ride along in ADD COLUMN: a batch copy of specialists would
    # cascade-delete their rows elsewhere on SQLite (foreign keys are on).
    for column, check in SPECIALIST_COLUMNS.items():
        op.add_column(
            "specialists",
            sa.Column(
                column,
                sa.Integer(),
                sa.CheckConstraint(check, name=op.f(f"ck_specialists_{column}")),
                server_default="0",
                nullable=False,
            ),
        )
    op.add_column(
        "specialists",
        sa.Column(
            "max_advance_days",
            sa.Integer(),
            sa.CheckConstraint(
                "max_advance_days >= 0", name=op.f("ck_specialists_max_advance_days")
            ),
            nullable=True,
        ),
    )
    op.create_table(
        "date_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.Integer(), nullable=False),
        sa.Column("override_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=True),
        sa.Column("end_time", sa.Time(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(start_time IS NULL AND end_time IS NULL) OR "
            "(start_time IS NOT NULL AND end_time IS NOT NULL AND start_time < end_time)",
            name=op.f("ck_date_overrides_window_or_closed"),
        ),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["specialists.id"],
            name=op.f("fk_date_overrides_specialist_id_specialists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_date_overrides")),
    )
    op.create_index(
        "ix_date_overrides_specialist_id_override_date",
        "date_overrides",
        ["specialist_id", "override_date"],
    )

    _drop_guard()
    op.add_column("bookings", sa.Column("blocked_from", sa.DateTime(timezone=True)))
    op.add_column("bookings", sa.Column("blocked_until", sa.DateTime(timezone=True)))
    op.execute("UPDATE bookings SET blocked_from = starts_at, blocked_until = ends_at")
    # Nothing references bookings, so SQLite's batch copy of the table is safe here.
    with _batch_bookings() as batch:
        batch.alter_column("blocked_from", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column(
            "blocked_until", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch.create_check_constraint(
            "blocked_covers_booking", "blocked_from <= starts_at AND ends_at <= blocked_until"
        )
    op.create_index(
        "ix_bookings_specialist_id_blocked_from", "bookings", ["specialist_id", "blocked_from"]
    )
    _create_guard(NEW_CLASH, "blocked_from", "blocked_until")


def downgrade() -> None:
    _drop_guard()
    op.drop_index("ix_bookings_specialist_id_blocked_from", table_name="bookings")
    with _batch_bookings() as batch:
        batch.drop_constraint(op.f("ck_bookings_blocked_covers_booking"), type_="check")
        batch.drop_column("blocked_until")
        batch.drop_column("blocked_from")
    _create_guard(OLD_CLASH, "starts_at", "ends_at")
    op.drop_index("ix_date_overrides_specialist_id_override_date", table_name="date_overrides")
    op.drop_table("date_overrides")
    # SQLite drops a column whose CHECK names only that column in place.
    for column in ("max_advance_days", *SPECIALIST_COLUMNS):
        op.drop_column("specialists", column)
