"""Make overlapping bookings impossible in the database itself.

PostgreSQL: an exclusion constraint over (specialist_id, [starts_at, ends_at))
for non-cancelled rows, which needs the btree_gist extension (left installed on
downgrade: other schemas may use it). SQLite: triggers that abort an insert or
update creating such an overlap. A cancelled booking never blocks its slot.

Revision ID: 0002_overlap_guard
Revises: 0001_initial
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_overlap_guard"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ex_bookings_no_overlap"
CLASH = (
    "SELECT RAISE(ABORT, '{name}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    "AND other.starts_at < NEW.ends_at AND NEW.starts_at < other.ends_at{extra});"
)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"ALTER TABLE bookings ADD CONSTRAINT {NAME} EXCLUDE USING gist "
            "(specialist_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
        return
    op.execute(
        f"CREATE TRIGGER {NAME}_insert BEFORE INSERT ON bookings "
        f"WHEN NEW.status <> 'cancelled' BEGIN {CLASH.format(name=NAME, extra='')} END"
    )
    op.execute(
        f"CREATE TRIGGER {NAME}_update BEFORE UPDATE OF specialist_id, starts_at, ends_at, "
        f"status ON bookings WHEN NEW.status <> 'cancelled' BEGIN "
        f"{CLASH.format(name=NAME, extra=' AND other.id <> NEW.id')} END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE bookings DROP CONSTRAINT IF EXISTS {NAME}")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_insert")
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}_update")
