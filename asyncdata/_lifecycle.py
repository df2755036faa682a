"""Booking lifecycle rules as plain functions: holds, idempotency, references, history values.

Nothing here touches the database or the ORM: the repositories load the values these
functions decide on and write what they return. The rules:

* A hold is a booking in status ``held`` that blocks its slot until ``hold_expires_at``.
  Once that instant has passed it is *expired*: it blocks nobody (the writes that need
  its slot cancel it first, in their own transaction) and it can no longer be moved.
* An idempotency key names one request. The request is remembered by a fingerprint of
  its normalised data; a retry with the same fingerprint gets the first booking back, a
  different request under the same key is a conflict.
* A reference is a random, URL-safe public name for a booking (144 bits, made by the
  model's column default); a lookup checks only its shape.
* History values are JSON-ready: dates, times and instants as ISO 8601 text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Final

from asyncdata._arguments import check_text, shown
from asyncdata._vocabulary import BookingStatus
from asyncdata.errors import ValidationError

__all__ = [
    "CHANGED",
    "CLIENT_FIELDS",
    "HISTORY_FIELDS",
    "IDEMPOTENCY_KEY_LENGTH",
    "Kind",
    "change_kind",
    "check_actor",
    "check_hold_move",
    "check_idempotency_key",
    "check_reference",
    "created_values",
    "diff",
    "fingerprint",
    "hold_expiry",
    "is_expired",
    "json_value",
]

IDEMPOTENCY_KEY_LENGTH: Final = 255
ACTOR_LENGTH: Final = 200

_REFERENCE = re.compile(r"[A-Za-z0-9_-]{16,64}")

HISTORY_FIELDS: Final = (
    "specialist_id",
    "booking_date",
    "booking_time",
    "duration_minutes",
    "status",
    "hold_expires_at",
)
"""What a ``created``/``held`` history entry records: where and when, not who (the
client's name, email and phone stay on the booking, where erasure finds them)."""

_PLACEMENT = frozenset({"specialist_id", "booking_date", "booking_time", "duration_minutes"})
_DERIVED = frozenset(
    {
        "starts_at",
        "ends_at",
        "blocked_from",
        "blocked_until",
        "search_text",
        "updated_at",
        "created_at",
    }
)


class Kind:
    """The ``kind`` of a history entry; a status move is named after its target status."""

    CREATED = "created"
    HELD = "held"
    RESCHEDULED = "rescheduled"
    UPDATED = "updated"
    EXPIRED = "expired"


def check_reference(value: Any, name: str = "reference") -> str:
    """A reference argument: text of 16 to 64 URL-safe characters, else ValidationError."""
    text = check_text(value, name)
    assert text is not None
    if not _REFERENCE.fullmatch(text):
        raise ValidationError(
            f"{name}={shown(value)}: must be 16 to 64 characters of A-Z, a-z, 0-9, '-' or '_'",
            fields=[name],
        )
    return text


def check_idempotency_key(value: Any) -> str | None:
    """None, or non-blank text of at most ``IDEMPOTENCY_KEY_LENGTH`` characters."""
    text = check_text(value, "idempotency_key", optional=True)
    if text is not None and not (0 < len(text) <= IDEMPOTENCY_KEY_LENGTH and text.strip()):
        raise ValidationError(
            f"idempotency_key={shown(value)}: must be 1 to {IDEMPOTENCY_KEY_LENGTH} characters,"
            " not blank",
            fields=["idempotency_key"],
        )
    return text


def check_actor(actor: Any, reason: Any) -> tuple[str | None, str | None]:
    """``actor`` (at most ``ACTOR_LENGTH`` characters) and ``reason``: text or None."""
    who = check_text(actor, "actor", optional=True)
    if who is not None and len(who) > ACTOR_LENGTH:
        raise ValidationError(
            f"actor={shown(actor)}: must be at most {ACTOR_LENGTH} characters", fields=["actor"]
        )
    return who, check_text(reason, "reason", optional=True)


def hold_expiry(now: datetime, minutes: int) -> datetime:
    """When a hold made at ``now`` for ``minutes`` stops blocking its slot."""
    return now + timedelta(minutes=minutes)


def is_expired(
    status: BookingStatus | str, hold_expires_at: datetime | None, now: datetime
) -> bool:
    """Whether a booking is a hold whose time is up (at its expiry instant it is)."""
    return status == BookingStatus.HELD and hold_expires_at is not None and hold_expires_at <= now


def check_hold_move(
    status: BookingStatus | str,
    hold_expires_at: datetime | None,
    now: datetime,
    *,
    booking_id: int | None = None,
) -> None:
    """An expired hold cannot be moved at all: ValidationError (fields ``["status"]``), as
    for any move the rules do not allow (it is as good as cancelled, and will be)."""
    if is_expired(status, hold_expires_at, now):
        assert hold_expires_at is not None
        who = "a hold" if booking_id is None else f"hold {booking_id}"
        raise ValidationError(
            f"status: {who} expired at {hold_expires_at.isoformat()}; it can no longer be "
            "moved, make a new booking",
            fields=["status"],
        )


def json_value(value: Any) -> Any:
    """``value`` as JSON holds it: enums by value, dates, times and instants as ISO 8601."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | time | datetime):
        return value.isoformat()
    return value


def created_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``new`` of a ``created``/``held`` entry: ``HISTORY_FIELDS`` present in ``values``,
    and the status (the column's default, pending, if ``values`` has none)."""
    given = {"status": BookingStatus.PENDING, **values}
    return {k: json_value(given[k]) for k in HISTORY_FIELDS if given.get(k) is not None}


CLIENT_FIELDS: Final = frozenset({"client_name", "client_email", "client_phone", "notes"})
"""A client's personal data: history records that these changed, never their values, so
that erasing the client (``erase_client``) leaves none behind, whatever the entry's kind
and whatever address the booking had then."""

CHANGED: Final = "<changed>"
"""What a history entry holds, old and new, for a client field that changed."""


def diff(
    current: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(old, new)``: the caller-visible fields ``values`` changes, before and after; a
    client field (``CLIENT_FIELDS``) as ``CHANGED`` on both sides."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key, value in values.items():
        if key in _DERIVED or current.get(key) == value:
            continue
        if key in CLIENT_FIELDS:
            old[key] = new[key] = CHANGED
            continue
        old[key] = json_value(current.get(key))
        new[key] = json_value(value)
    return old, new


def change_kind(new: Mapping[str, Any]) -> str:
    """``rescheduled`` if the placement moved, else the new status, else ``updated``."""
    if _PLACEMENT & new.keys():
        return Kind.RESCHEDULED
    if "status" in new:
        return str(new["status"])
    return Kind.UPDATED


def fingerprint(call: str, values: Mapping[str, Any], **options: Any) -> str:
    """SHA-256 (hex) of a request: the call, its normalised data and its options."""
    body = {"call": call, "data": values, "options": options}
    text = json.dumps(body, sort_keys=True, default=json_value, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
