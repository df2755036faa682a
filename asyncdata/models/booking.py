"""A client's booking with a specialist."""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asyncdata._vocabulary import OVERLAP_CONSTRAINT, BookingStatus
from asyncdata.models.base import Base, TimestampMixin, on_ddl
from asyncdata.models.folded import folded_column, search_text

if TYPE_CHECKING:
    from asyncdata.models.specialist import Specialist

__all__ = [
    "GUARDS",
    "LONGEST_BLOCK_MINUTES",
    "OVERLAP_CONSTRAINT",
    "REFERENCE_BYTES",
    "Booking",
    "BookingStatus",
    "new_reference",
]

REFERENCE_BYTES = 18
"""Random bytes in a booking reference: 144 bits, 24 URL-safe characters."""


def new_reference() -> str:
    """A fresh booking reference: ``REFERENCE_BYTES`` from ``secrets``, URL-safe base64."""
    return secrets.token_urlsafe(REFERENCE_BYTES)


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
        CheckConstraint(
            "blocked_from <= starts_at AND ends_at <= blocked_until", name="blocked_covers_booking"
        ),
        Index("ix_bookings_specialist_id_blocked_from", "specialist_id", "blocked_from"),
        # Finds the expired holds every booking write releases: only rows still held.
        Index("ix_bookings_status_hold_expires_at", "status", "hold_expires_at"),
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
    blocked_from: Mapped[datetime]
    """``starts_at`` minus the specialist's ``buffer_before_minutes`` when the booking was
    placed; with ``blocked_until`` the span the overlap guard keeps for this booking alone."""
    blocked_until: Mapped[datetime]
    """``ends_at`` plus the specialist's ``buffer_after_minutes`` when the booking was placed."""
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
    reference: Mapped[str] = mapped_column(
        String(64), unique=True, index=True, default=new_reference
    )
    """Unguessable public name of the booking (random, URL-safe): for links sent to clients."""
    hold_expires_at: Mapped[datetime | None]
    """For a hold: when it stops blocking its slot."""
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the request that created the booking under ``idempotency_key``."""
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


LONGEST_BLOCK_MINUTES = 1440 + 2 * 240
"""The longest blocked interval: a 1440-minute booking with two 240-minute buffers. The
SQLite guard looks only this far back, so its lookup is a bounded index range scan."""

_CLASH = (
    f"SELECT RAISE(ABORT, '{OVERLAP_CONSTRAINT}') WHERE EXISTS (SELECT 1 FROM bookings AS other "
    "WHERE other.specialist_id = NEW.specialist_id AND other.status <> 'cancelled' "
    # Stored text is 'YYYY-MM-DD HH:MM:SS.ffffff'; datetime() drops the fraction, which only
    # widens the bound, so no overlapping row is ever skipped.
    f"AND other.blocked_from > datetime(NEW.blocked_from, '-{LONGEST_BLOCK_MINUTES} minutes') "
    "AND other.blocked_from < NEW.blocked_until AND NEW.blocked_from < other.blocked_until"
    "{extra});"
)
GUARDS = {
    "postgresql": [
        "CREATE EXTENSION IF NOT EXISTS btree_gist",
        f"ALTER TABLE bookings ADD CONSTRAINT {OVERLAP_CONSTRAINT} EXCLUDE USING gist "
        "(specialist_id WITH =, tstzrange(blocked_from, blocked_until, '[)') WITH &&) "
        "WHERE (status <> 'cancelled')",
    ],
    "sqlite": [
        f"CREATE TRIGGER {OVERLAP_CONSTRAINT}_insert BEFORE INSERT ON bookings "
        f"WHEN NEW.status <> 'cancelled' BEGIN {_CLASH.format(extra='')} END",
        f"CREATE TRIGGER {OVERLAP_CONSTRAINT}_update BEFORE UPDATE OF specialist_id, "
        "blocked_from, blocked_until, status ON bookings WHEN NEW.status <> 'cancelled' BEGIN "
        f"{_CLASH.format(extra=' AND other.id <> NEW.id')} END",
    ],
}
"""The guard's DDL per dialect; revision 0005 runs the same statements."""
on_ddl(Booking.__table__, "after_create", GUARDS)
