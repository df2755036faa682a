"""A specialist and the two things that shape their week: schedules and days off."""

from __future__ import annotations

from datetime import date, time
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from asyncdata.models.base import Base, TimestampMixin
from asyncdata.models.folded import folded_column, language_key, search_text, text_key

if TYPE_CHECKING:
    from asyncdata.models.booking import Booking
    from asyncdata.models.date_override import DateOverride

__all__ = ["DayOff", "Schedule", "Specialist"]

_CHILDREN = "all, delete-orphan"


class Specialist(TimestampMixin, Base):
    """A bookable person. ``email`` is stored trimmed and case-folded, so uniqueness ignores
    case. ``search_text``, ``specialization_key`` and ``languages_key`` are folded copies
    the library keeps for case-insensitive matching; callers never set them."""

    __tablename__ = "specialists"
    __table_args__ = (
        CheckConstraint("buffer_before_minutes BETWEEN 0 AND 240", name="buffer_before_minutes"),
        CheckConstraint("buffer_after_minutes BETWEEN 0 AND 240", name="buffer_after_minutes"),
        CheckConstraint("min_notice_minutes >= 0", name="min_notice_minutes"),
        CheckConstraint("max_advance_days >= 0", name="max_advance_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    specialization: Mapped[str | None] = mapped_column(String(200), index=True)
    bio: Mapped[str | None] = mapped_column(Text)
    languages: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    buffer_before_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    """Minutes kept free before each new booking (0-240)."""
    buffer_after_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    """Minutes kept free after each new booking (0-240)."""
    min_notice_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    """A booking must start at least this many minutes after now."""
    max_advance_days: Mapped[int | None]
    """A booking must be on or before today + this many days (local); None: no limit."""
    search_text: Mapped[str] = folded_column(
        "name", "email", "specialization", "bio", "languages", folder=search_text
    )
    specialization_key: Mapped[str | None] = folded_column(
        "specialization", folder=text_key, nullable=True, index=True
    )
    languages_key: Mapped[str | None] = folded_column(
        "languages", folder=language_key, nullable=True
    )

    schedules: Mapped[list[Schedule]] = relationship(
        back_populates="specialist",
        cascade=_CHILDREN,
        passive_deletes=True,
        lazy="raise",
        order_by="(Schedule.day_of_week, Schedule.start_time)",
    )
    days_off: Mapped[list[DayOff]] = relationship(
        back_populates="specialist",
        cascade=_CHILDREN,
        passive_deletes=True,
        lazy="raise",
        order_by="DayOff.date",
    )
    date_overrides: Mapped[list[DateOverride]] = relationship(
        back_populates="specialist",
        cascade=_CHILDREN,
        passive_deletes=True,
        lazy="raise",
        order_by="(DateOverride.override_date, DateOverride.start_time)",
    )
    bookings: Mapped[list[Booking]] = relationship(
        back_populates="specialist",
        cascade=_CHILDREN,
        passive_deletes=True,
        lazy="raise",
        order_by="(Booking.starts_at, Booking.id)",
    )

    def __repr__(self) -> str:
        return f"<Specialist id={self.id} email={self.email!r}>"


class Schedule(TimestampMixin, Base):
    """A weekly window of work, in the specialist's local wall-clock time."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("day_of_week BETWEEN 0 AND 6", name="day_of_week"),
        CheckConstraint("start_time < end_time", name="start_before_end"),
        UniqueConstraint("specialist_id", "day_of_week", "start_time"),
        Index("ix_schedules_specialist_id_day_of_week", "specialist_id", "day_of_week"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    day_of_week: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[time]
    end_time: Mapped[time]
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())

    specialist: Mapped[Specialist] = relationship(back_populates="schedules", lazy="raise")

    def __repr__(self) -> str:
        return f"<Schedule id={self.id} day={self.day_of_week} {self.start_time}-{self.end_time}>"


class DayOff(TimestampMixin, Base):
    """A whole local date on which the specialist takes no bookings."""

    __tablename__ = "days_off"
    __table_args__ = (UniqueConstraint("specialist_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    search_text: Mapped[str] = folded_column("reason", folder=search_text)

    specialist: Mapped[Specialist] = relationship(back_populates="days_off", lazy="raise")

    def __repr__(self) -> str:
        return f"<DayOff id={self.id} specialist_id={self.specialist_id} date={self.date}>"
