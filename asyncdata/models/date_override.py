"""Date overrides: a specialist's own hours on one local date, instead of the weekly plan."""

from __future__ import annotations

from datetime import date, time
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asyncdata.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from asyncdata.models.specialist import Specialist

__all__ = ["DateOverride"]


class DateOverride(TimestampMixin, Base):
    """One window ``[start_time, end_time)`` of a local date, on the specialist's wall clock.

    The rows of a date replace that weekday's schedule windows on that date; a row
    with both times null closes the date. ``DateOverrideRepository.set_day`` writes
    a date's rows as one unit.
    """

    __tablename__ = "date_overrides"
    __table_args__ = (
        CheckConstraint(
            "(start_time IS NULL AND end_time IS NULL) OR "
            "(start_time IS NOT NULL AND end_time IS NOT NULL AND start_time < end_time)",
            name="window_or_closed",
        ),
        Index("ix_date_overrides_specialist_id_override_date", "specialist_id", "override_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    override_date: Mapped[date]
    start_time: Mapped[time | None]
    end_time: Mapped[time | None]

    specialist: Mapped[Specialist] = relationship(back_populates="date_overrides", lazy="raise")

    @property
    def closed(self) -> bool:
        """Whether this row closes its date (no window)."""
        return self.start_time is None

    def __repr__(self) -> str:
        hours = "closed" if self.start_time is None else f"{self.start_time}-{self.end_time}"
        who = f"id={self.id} specialist_id={self.specialist_id}"
        return f"<DateOverride {who} {self.override_date} {hours}>"
