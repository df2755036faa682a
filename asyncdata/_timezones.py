"""Specialist-local wall-clock time to UTC instants, with the DST rules of the contract.

A local time in a spring-forward gap does not exist and is refused; an
ambiguous local time (the repeated hour at fall-back) means its first
occurrence. Durations are real elapsed minutes, so a booking that spans a DST
change still lasts exactly ``duration_minutes``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asyncdata.errors import ValidationError

__all__ = ["local_to_utc", "utc_interval", "zone"]


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The IANA zone called ``name``; ValidationError naming ``field`` if there is none."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"{field}: unknown timezone {name!r}", fields=[field]) from None


def local_to_utc(on_date: date, at: time, tz: ZoneInfo, *, field: str = "booking_time") -> datetime:
    """The UTC instant of wall-clock ``at`` on ``on_date`` in ``tz``.

    Raises ValidationError naming ``field`` when that wall-clock time is skipped
    by a DST change; an ambiguous time resolves to its first occurrence.
    """
    local = datetime.combine(on_date, at, tzinfo=tz).replace(fold=0)
    try:
        before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    except OverflowError:
        before = after = None
    # fold=0 reads a time with the offset in force before a change, fold=1 after it:
    # in a spring-forward gap the later offset is larger, at a fall-back it is smaller.
    if before is not None and after is not None and before < after:
        raise ValidationError(
            f"{field}: {on_date.isoformat()} {at.isoformat()} does not exist in {tz.key} "
            "(skipped by a daylight-saving change)",
            fields=[field],
        )
    try:
        return local.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            f"booking_date: {on_date.isoformat()} {at.isoformat()} in {tz.key} is outside "
            "the range of representable instants",
            fields=["booking_date"],
        ) from None


def utc_interval(
    on_date: date, at: time, duration_minutes: int, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """``[starts_at, ends_at)`` in UTC for a booking given in local time."""
    starts_at = local_to_utc(on_date, at, tz)
    try:
        return starts_at, starts_at + timedelta(minutes=duration_minutes)
    except OverflowError:
        raise ValidationError(
            f"booking_date: {on_date.isoformat()} plus {duration_minutes} min is outside "
            "the range of representable instants",
            fields=["booking_date"],
        ) from None
