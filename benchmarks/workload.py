"""The fixed inputs every peer receives: sizes, the seeded data set and the rows to write.

Everything here is deterministic, so two runs (and the four peers within one
run) work on the same rows. Only plain Python values leave this module; each
peer turns them into its own statements.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "SLOT_MINUTES",
    "SMOKE_SIZES",
    "TIMEZONE",
    "Dataset",
    "Sizes",
    "Span",
    "booking_rows",
    "free_starts",
    "specialist_data",
    "utc_span",
]

TIMEZONE = "Europe/Berlin"
"""Every benchmark specialist works in this zone."""

SLOT_MINUTES = 10
"""``duration_minutes`` of the slot search."""

Span = tuple[datetime, datetime]

_FIRST = ["Ada", "Élodie", "Grace", "Hedy", "Ivan", "Jonas", "Karin", "Liam", "Mina", "Noor"]
_LAST = ["Lovelace", "Hopper", "Lamarr", "Petrov", "Müller", "Okafor", "Rossi", "Sato", "Weber"]
_FIELDS = [
    "Cardiology",
    "Dermatology",
    "Endocrinology",
    "Gastroenterology",
    "Neurology",
    "Oncology",
    "Pediatrics",
    "Psychiatry",
    "Radiology",
    "Rheumatology",
    "Urology",
    "Physiotherapy",
]
_LANGUAGES = ["English", "English, Spanish", "German, English", "French", "Italian, English"]


@dataclass(frozen=True)
class Sizes:
    """How much data each operation works on; the defaults are the issue's figures."""

    specialists: int = 1_000
    bulk_rows: int = 10_000
    memory_rows: tuple[int, ...] = (10_000, 20_000)
    slot_bookings: int = 2_000
    slot_days: int = 30
    tasks: int = 20
    bookings_per_task: int = 10

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SMOKE_SIZES = Sizes(
    specialists=24,
    bulk_rows=48,
    memory_rows=(24, 48),
    slot_bookings=40,
    slot_days=4,
    tasks=3,
    bookings_per_task=2,
)
"""A few rows of everything: exercises the machinery in seconds (tests use it)."""


@dataclass
class Dataset:
    """Ids and dates of the seeded rows, filled in by ``seed``."""

    first_day: date
    specialist_ids: list[int] = field(default_factory=list)
    slot_specialist_id: int = 0
    slot_day: date = date.min
    booking_specialist_id: int = 0
    baseline_booking_id: int = 0
    """Bookings above this id were written by a benchmark round and are deleted after it."""


def specialist_data(index: int, *, prefix: str = "spec") -> dict[str, Any]:
    """The fields of one specialist; ``index`` makes the email unique."""
    pick = random.Random(index)
    specialization = _FIELDS[index % len(_FIELDS)]
    return {
        "name": f"Dr. {pick.choice(_FIRST)} {pick.choice(_LAST)} {index}",
        "email": f"{prefix}{index:05d}@bench.example",
        "phone": f"+49 30 {index:07d}",
        "specialization": specialization,
        "bio": f"Works in {specialization.lower()} since {1990 + index % 30}; "
        "patient, precise and punctual.",
        "languages": _LANGUAGES[index % len(_LANGUAGES)],
        "timezone": TIMEZONE,
    }


def booking_rows(
    specialist_ids: list[int], count: int, first_day: date, *, tag: str = "bulk"
) -> list[dict[str, Any]]:
    """``count`` bookings spread over the specialists, one per specialist and day, at 10:00.

    The input of ``create_many``: what an import would hand over, without the
    derived ``starts_at``/``ends_at``.
    """
    rows = []
    for i in range(count):
        day = first_day + timedelta(days=i // len(specialist_ids))
        rows.append(
            {
                "specialist_id": specialist_ids[i % len(specialist_ids)],
                "client_name": f"Client {i}",
                "client_email": f"{tag}{i}@client.example",
                "booking_date": day,
                "booking_time": time(10),
                "duration_minutes": 30,
            }
        )
    return rows


def utc_span(on_date: date, at: time, minutes: int, tz: ZoneInfo) -> Span:
    """``[starts_at, ends_at)`` in UTC of a local wall-clock booking: what peers without
    asyncdata compute by hand."""
    starts_at = datetime.combine(on_date, at, tzinfo=tz).astimezone(UTC)
    return starts_at, starts_at + timedelta(minutes=minutes)


def free_starts(
    on_date: date,
    tz: ZoneInfo,
    windows: list[tuple[time, time]],
    busy: list[Span],
    minutes: int,
    now: datetime,
) -> list[datetime]:
    """Free slot starts as a good engineer would write it by hand (no DST corner cases).

    ``windows`` are the day's local windows, ``busy`` the taken UTC spans.
    """
    taken = sorted(busy)
    length = timedelta(minutes=minutes)
    found = []
    for opens, closes in windows:
        start, end = utc_span(on_date, opens, 0, tz)[0], utc_span(on_date, closes, 0, tz)[0]
        i = 0
        while start + length <= end:
            while i < len(taken) and taken[i][1] <= start:
                i += 1
            if start > now and (i == len(taken) or start + length <= taken[i][0]):
                found.append(start.astimezone(tz))
            start += length
    return found
