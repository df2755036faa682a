"""One entry of a booking's history: who changed what, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from asyncdata.models.base import Base, utcnow

__all__ = ["BookingChange"]


class BookingChange(Base):
    """Written in the same transaction as the create, reschedule or status move it records.

    ``kind``: ``created``, ``held``, ``rescheduled``, ``updated``, ``expired``, or the
    status a move went to (``confirmed``, ``cancelled`` …). ``old`` and ``new`` are JSON
    objects of the fields that changed (dates, times and instants as ISO 8601 text).
    ``new`` of an ``updated`` entry (and ``old``) may hold the client's name, email,
    phone or notes, and ``reason`` is free text: erasing a client must scrub them too.
    Rows go with their booking (``ON DELETE CASCADE``).
    """

    __tablename__ = "booking_changes"
    __table_args__ = (Index("ix_booking_changes_booking_id_id", "booking_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    kind: Mapped[str] = mapped_column(String(20))
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<BookingChange id={self.id} booking_id={self.booking_id} {self.kind}>"
