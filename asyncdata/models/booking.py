"""A client's booking with a specialist."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import DDL, CheckConstraint, Enum, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asyncdata.models.base import Base, TimestampMixin
from asyncdata.models.folded import folded_column, search_text

if TYPE_CHECKING:
    from asyncdata.models.specialist import Specialist

__all__ = ["OVERLAP_CONSTRAINT", "Booking", "BookingStatus"]


class BookingStatus(enum.StrEnum):
    """Where a booking stands; cancelled, completed and no_show are final."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


class Booking(TimestampMixin, Base):
    """An appointment. ``booking_date``/``booking_time`` are the specialist's local
    wall clock; ``starts_at``/``ends_at`` are the UTC instants derived from them,
    the duration and the specialist's timezone on every write.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("duration_minutes BETWEEN 1 AND 1440", name="duration_minutes"),
        CheckConstraint("starts_at < ends_at", name="starts_before_ends"),
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s.value}'" for s in BookingStatus) + ")", name="status"
        ),
        Index("ix_bookings_specialist_id_booking_date", "specialist_id", "booking_date"),
        Index("ix_bookings_specialist_id_starts_at", "specialist_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    client_name: Mapped[str] = mapped_column(String(200))
    client_email: Mapped[str] = mapped_column(String(320), index=True)
    client_phone: Mapped[str | None] = mapped_column(String(50))
    booking_date: Mapped[date] = mapped_column(index=True, info={"instants": True})
    booking_time: Mapped[time]
    duration_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[BookingStatus] = mapped_column(
        Enum(
            BookingStatus,
            native_enum=False,
            create_constraint=False,
            length=20,
            values_callable=lambda statuses: [s.value for s in statuses],
            validate_strings=True,
        ),
        default=BookingStatus.PENDING,
        server_default=BookingStatus.PENDING.value,
        index=True,
    )
    notes: Mapped[str | None] = mapped_column(Text)
    search_text: Mapped[str] = folded_column(
        "client_name", "client_email", "client_phone", "notes", folder=search_text
    )
    """Folded copy of the searchable fields, ``notes`` last (a status move appends to it)."""

    specialist: Mapped[Specialist] = relationship(back_populates="bookings", lazy="raise")

    def __repr__(self) -> str:
        return (
            f"<Booking id={self.id} specialist_id={self.specialist_id} "
            f"{self.booking_date} {self.booking_time} {self.status}>"
        )


OVERLAP_CONSTRAINT = "ex_bookings_no_overlap"
"""Forbids two non-cancelled bookings of one specialist from overlapping.

Alembic revision 0002 creates it; the same DDL below runs when ``create_all``
builds the table, so the fallback schema is guarded too. Autogenerate cannot
compare it, so ``alembic/env.py`` leaves it out of ``alembic check``.
"""

_CLASH = (
    f"SELECT RAISE(ABORT, '{OVERLAP_CONSTRAINT}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    # A booking lasts at most 1,440 minutes: the bound keeps the lookup to one day of the
    # specialist's bookings (revision 0004_scale explains why it is safe on stored text).
    "AND other.starts_at >= datetime(NEW.starts_at, '-1440 minutes') "
    "AND other.starts_at < NEW.ends_at AND NEW.starts_at < other.ends_at{extra});"
)
_GUARDS = {
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS btree_gist",
        f"ALTER TABLE bookings ADD CONSTRAINT {OVERLAP_CONSTRAINT} EXCLUDE USING gist "
        "(specialist_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (status <> 'cancelled')",
    ],
    "sqlite": [
        f"CREATE TRIGGER {OVERLAP_CONSTRAINT}_insert BEFORE INSERT ON bookings "
        f"WHEN NEW.status <> 'cancelled' BEGIN {_CLASH.format(extra='')} END",
        f"CREATE TRIGGER {OVERLAP_CONSTRAINT}_update BEFORE UPDATE OF specialist_id, "
        "starts_at, ends_at, status ON bookings WHEN NEW.status <> 'cancelled' BEGIN "
        f"{_CLASH.format(extra=' AND other.id <> NEW.id')} END",
    ],
}
for _dialect, _statements in _GUARDS.items():
    for _statement in _statements:
        event.listen(
            Booking.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )
