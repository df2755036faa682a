"""The plain values the domain rules and the models share: booking statuses, the name of
the overlap guard, and the one case-insensitive rule.

The rule modules (``_availability``, ``_lifecycle``, ``_arguments``, ``_timezones``,
``_routing``) import no ORM, so they can be read and tested as plain functions over plain
values (``tests/test_layering.py`` pins it). Those that need a status, the guard's name or
the folding rule take it from here, and so do the models (``asyncdata.models`` re-exports
``BookingStatus``).
"""

from __future__ import annotations

import enum

__all__ = ["OVERLAP_CONSTRAINT", "BookingStatus", "fold"]


class BookingStatus(enum.StrEnum):
    """Where a booking stands; cancelled, completed and no_show are final. ``held``: a hold
    (``BookingRepository.hold``) that blocks its slot until ``hold_expires_at``."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    HELD = "held"


OVERLAP_CONSTRAINT = "ex_bookings_no_overlap"
"""Forbids the blocked intervals ``[blocked_from, blocked_until)`` of two non-cancelled
bookings of one specialist from overlapping (a booking plus its buffers).

Alembic revision 0005 creates it (0002 guarded ``[starts_at, ends_at)``); the same DDL
runs when ``create_all`` builds the table (``asyncdata.models.booking``), so the fallback
schema is guarded too. Autogenerate cannot compare it, so the migrations' ``env.py``
leaves it out of ``alembic check``.
"""


def fold(text: str) -> str:
    """``text`` in Unicode case-folded form: the one case-insensitive rule of the library."""
    return text.casefold()
