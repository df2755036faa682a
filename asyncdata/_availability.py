"""The booking rules as plain functions over plain values.

Nothing here opens a session, builds a query or touches an ORM object. The
repositories load the few rows that matter (the specialist's active windows for
the weekday, whether the date is an active day off, the pending and confirmed
bookings around that date) and pass them in as plain values. That way
``create``, ``reschedule`` and ``get_available_slots`` share one definition of
"bookable", slot search costs a fixed number of SQL statements however many
bookings exist, and every rule, DST corner included, is testable without a
database.

Conventions: instants are timezone-aware; an :data:`Interval` is half-open
``[start, end)`` in UTC, so back-to-back bookings do not overlap. Dates, times
and :class:`Window` bounds are the specialist's local wall clock. The final
word on overlaps still belongs to the database (:data:`OVERLAP_CONSTRAINT`);
:func:`check_bookable` only gives the early, well-worded refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from asyncdata._timezones import utc_interval
from asyncdata._vocabulary import OVERLAP_CONSTRAINT, BookingStatus
from asyncdata.errors import ConflictError, ValidationError

__all__ = [
    "ALLOWED_MOVES",
    "NO_RULES",
    "OVERLAP_CONSTRAINT",
    "Interval",
    "Rules",
    "Window",
    "blocked",
    "check_bookable",
    "check_minutes",
    "check_move",
    "day_windows",
    "free_slots",
    "window_bounds",
]

Interval = tuple[datetime, datetime]
"""``(start, end)``: the half-open span ``[start, end)`` of two UTC-aware instants."""


@dataclass(frozen=True, slots=True)
class Window:
    """One active weekly schedule window, ``[start, end)`` on the specialist's wall clock."""

    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Rules:
    """A specialist's booking rules beyond the windows, as plain values.

    ``buffer_before_minutes``/``buffer_after_minutes``: the span a booking keeps free around
    itself; ``min_notice_minutes``: how long after now a booking may start at the earliest
    (real elapsed time, DST changes included); ``max_advance_days``: the last bookable local
    date is today (in the specialist's zone) plus this many days, None for no limit.
    """

    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 0
    max_advance_days: int | None = None

    def last_day(self, now: datetime, tz: ZoneInfo) -> date | None:
        """The last bookable local date at ``now``, or None if there is no limit."""
        if self.max_advance_days is None:
            return None
        try:
            return now.astimezone(tz).date() + timedelta(days=self.max_advance_days)
        except OverflowError:
            return None


NO_RULES = Rules()
"""No buffers, no notice, no horizon: the rules of a specialist that sets none."""


def blocked(interval: Interval, rules: Rules) -> Interval:
    """The span ``[start - before, end + after)`` a booking at ``interval`` keeps free."""
    start, end = interval
    return (
        start - timedelta(minutes=rules.buffer_before_minutes),
        end + timedelta(minutes=rules.buffer_after_minutes),
    )


def day_windows(
    on_date: date,
    weekly: Mapping[int, Sequence[Window]],
    overrides: Mapping[date, Sequence[Window]],
) -> Sequence[Window]:
    """The windows in force on ``on_date``: its date override's if it has one (an empty
    sequence when the override closes the date), else the weekly windows of its weekday."""
    if on_date in overrides:
        return overrides[on_date]
    return weekly.get(on_date.weekday(), ())


def window_bounds(on_date: date, window: Window, tz: ZoneInfo) -> Interval:
    """The UTC instants at which ``window`` opens and closes on local date ``on_date``.

    Never raises. A bound inside a spring-forward gap is read the zoneinfo way
    (``fold=0``, the offset in force before the change), which moves it forward
    by the gap's length; an ambiguous bound means its first occurrence. So the
    result may be shorter or longer than the wall-clock length, and is empty
    (``end <= start``) when a bound shifted past the other; such a window
    accepts nothing.
    """
    return _instant(on_date, window.start, tz), _instant(on_date, window.end, tz)


def check_bookable(
    *,
    on_date: date,
    at: time,
    duration_minutes: int,
    tz: ZoneInfo,
    windows: Sequence[Window],
    day_off: bool,
    busy: Sequence[Interval],
    now: datetime,
    enforce_availability: bool = True,
    rules: Rules = NO_RULES,
) -> Interval:
    """``(starts_at, ends_at)`` in UTC for a booking ``create`` may accept, else an error.

    ``windows`` are the windows in force on ``on_date`` (:func:`day_windows`), ``day_off``
    whether ``on_date`` is an active day off, ``busy`` the blocked UTC intervals
    (:func:`blocked`) of the specialist's pending and confirmed bookings (the booking
    itself excluded when rescheduling), ``now`` an aware instant, ``rules`` the
    specialist's buffers, notice and horizon. Checks, first failure wins:

    1. ``duration_minutes < 1``: ValidationError, fields ``["duration_minutes"]``;
    2. ``at`` skipped by a DST change: ValidationError, ``["booking_time"]``;
    3. only if ``enforce_availability``: a day off, ``["booking_date"]``; a start
       at or before ``now``, ``["booking_date", "booking_time"]``; a start less than
       ``min_notice_minutes`` after ``now``, ``["booking_date", "booking_time"]``; a
       date after the horizon, ``["booking_date"]``; an interval not wholly inside one
       window's :func:`window_bounds`, ``["booking_time"]`` (the buffers may reach outside);
    4. always: the booking's blocked interval overlapping any busy interval (touching
       ends are fine): ConflictError with ``constraint=OVERLAP_CONSTRAINT``,
       ``["booking_time"]``.
    """
    check_minutes(duration_minutes, "duration_minutes")
    starts_at, ends_at = utc_interval(on_date, at, duration_minutes, tz)

    def when() -> str:  # built only for a message: bulk imports call this per row
        return f"{on_date.isoformat()} {_hm(at)} ({tz}) for {duration_minutes} min"

    if enforce_availability:
        if day_off:
            raise ValidationError(
                f"booking_date: {on_date.isoformat()} is a day off of the specialist",
                fields=["booking_date"],
            )
        if starts_at <= now:
            raise ValidationError(
                f"booking_date, booking_time: {when()} is in the past "
                f"(now is {now.astimezone(tz):%Y-%m-%d %H:%M} in {tz})",
                fields=["booking_date", "booking_time"],
            )
        if starts_at - now < timedelta(minutes=rules.min_notice_minutes):
            raise ValidationError(
                f"booking_date, booking_time: {when()} is less than "
                f"{rules.min_notice_minutes} min from now "
                f"({now.astimezone(tz):%Y-%m-%d %H:%M} in {tz}): the specialist needs that notice",
                fields=["booking_date", "booking_time"],
            )
        last_day = rules.last_day(now, tz)
        if last_day is not None and on_date > last_day:
            raise ValidationError(
                f"booking_date: {on_date.isoformat()} is beyond the specialist's horizon of "
                f"{rules.max_advance_days} days (last bookable date {last_day.isoformat()})",
                fields=["booking_date"],
            )
        spans = (window_bounds(on_date, w, tz) for w in windows)
        if not any(ws <= starts_at and ends_at <= we for ws, we in spans):
            listed = ", ".join(f"{_hm(w.start)}-{_hm(w.end)}" for w in sorted(windows, key=_key))
            raise ValidationError(
                f"booking_time: {when()} is not inside one schedule window; "
                f"windows on {on_date.isoformat()}: {listed or 'none'}",
                fields=["booking_time"],
            )
    keeps_from, keeps_until = blocked((starts_at, ends_at), rules)
    for b_start, b_end in busy:
        if max(keeps_from, b_start) < min(keeps_until, b_end):
            raise ConflictError(
                f"booking_time: {when()} overlaps a booking from "
                f"{b_start.astimezone(tz):%Y-%m-%d %H:%M} to {b_end.astimezone(tz):%H:%M}"
                " (buffers included)",
                constraint=OVERLAP_CONSTRAINT,
                fields=["booking_time"],
            )
    return starts_at, ends_at


def free_slots(
    *,
    on_date: date,
    tz: ZoneInfo,
    windows: Sequence[Window],
    day_off: bool,
    busy: Sequence[Interval],
    duration_minutes: int,
    step_minutes: int | None,
    now: datetime,
    rules: Rules = NO_RULES,
) -> list[datetime]:
    """Every start on ``on_date`` that :func:`check_bookable` would accept right now.

    ``windows`` and ``busy`` mean what they mean there; with ``rules`` a slot also
    leaves the buffers free, starts at least the notice after ``now``, and the whole
    day is empty past the horizon.

    Candidates start at each window's opening and advance by ``step_minutes``
    (default: ``duration_minutes``) of real elapsed time, so across a DST change
    every slot still lasts exactly ``duration_minutes``. A candidate whose local
    wall-clock time means another instant (the second pass through an ambiguous
    hour) is left out, since ``create`` would read that time as the first pass.

    Returns datetimes aware in ``tz``, ascending, without duplicates. Cost is
    O(busy log busy + slots): ``busy`` is read once, filtered to the day and
    swept. ``duration_minutes`` or ``step_minutes`` below 1: ValidationError
    naming that field.
    """
    check_minutes(duration_minutes, "duration_minutes")
    if step_minutes is not None:
        check_minutes(step_minutes, "step_minutes")
    duration = timedelta(minutes=duration_minutes)
    # A step longer than any window finds each window's first slot only, whatever its size:
    # capping it keeps the arithmetic inside the representable range.
    step = timedelta(minutes=min(duration_minutes if step_minutes is None else step_minutes, _DAY))
    spans = [window_bounds(on_date, w, tz) for w in windows]
    spans = [(ws, we) for ws, we in spans if ws + duration <= we]
    last_day = rules.last_day(now, tz)
    if day_off or not spans or (last_day is not None and on_date > last_day):
        return []
    before = timedelta(minutes=rules.buffer_before_minutes)
    keeps = duration + before + timedelta(minutes=rules.buffer_after_minutes)
    earliest = now + timedelta(minutes=rules.min_notice_minutes)
    lo = min(ws for ws, _ in spans) - before
    taken = _day_busy(busy, lo, max(we for _, we in spans) - before + keeps)
    found: dict[datetime, datetime] = {}
    count = len(taken)
    for ws, we in spans:
        # A slot at `start` keeps [kf, kf + keeps) with kf = start - before. taken[i] is the
        # first busy interval not over by kf: those before it have ended, those after it
        # start no earlier, so the slot is free iff its span ends by taken[i]'s start.
        i = 0
        kf, last = ws - before, we - duration - before
        while kf <= last:
            start = kf + before
            if start > now and start >= earliest:
                while i < count and taken[i][1] <= kf:
                    i += 1
                if (i == count or kf + keeps <= taken[i][0]) and start not in found:
                    local = start.astimezone(tz)
                    if _round_trips(local, on_date):
                        found[start] = local
            if last - kf < step:
                break  # the next candidate is past the window (adding may pass year 9999)
            kf += step
    return [found[s] for s in sorted(found)]


ALLOWED_MOVES: Mapping[BookingStatus, frozenset[BookingStatus]] = MappingProxyType(
    {
        BookingStatus.PENDING: frozenset({BookingStatus.CONFIRMED, BookingStatus.CANCELLED}),
        BookingStatus.HELD: frozenset(
            {BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.CANCELLED}
        ),
        BookingStatus.CONFIRMED: frozenset(
            {BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW}
        ),
        BookingStatus.CANCELLED: frozenset(),
        BookingStatus.COMPLETED: frozenset(),
        BookingStatus.NO_SHOW: frozenset(),
    }
)
"""Status -> the statuses it may move to; read-only. Staying put is not a move."""


def check_move(
    current: BookingStatus, target: BookingStatus, *, booking_id: int | None = None
) -> None:
    """Return if ``current -> target`` is allowed, else ValidationError, fields ``["status"]``.

    The message names both statuses, the booking id when given, and what is allowed instead.
    """
    allowed = ALLOWED_MOVES.get(current, frozenset())
    if target in allowed:
        return
    who = "a booking" if booking_id is None else f"booking {booking_id}"
    options = ", ".join(sorted(str(s) for s in allowed)) or f"nothing, {current} is final"
    raise ValidationError(
        f"status: cannot move {who} from {current} to {target}; allowed: {options}",
        fields=["status"],
    )


def _instant(on_date: date, at: time, tz: ZoneInfo) -> datetime:
    local = datetime.combine(on_date, at.replace(tzinfo=None), tzinfo=tz)
    return local.replace(fold=0).astimezone(UTC)


def _round_trips(local: datetime, on_date: date) -> bool:
    """Whether ``local`` (an instant just converted to the zone) on ``on_date`` is what its
    wall-clock time reads back as: the conversion never yields a skipped time, and marks
    the second pass through a repeated hour with ``fold=1``, the one ``local_to_utc``
    (first occurrence) would not give back."""
    return local.date() == on_date and local.fold == 0


def _day_busy(busy: Sequence[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    """The non-empty busy intervals meeting ``[lo, hi)``, sorted by start."""
    return sorted((s, e) for s, e in busy if s < e and s < hi and lo < e)


_DAY = 2 * 24 * 60
"""Minutes in two days: longer than any window, DST changes included."""


def check_minutes(
    value: object, field: str, *, high: int | None = None, optional: bool = False
) -> int | None:
    """A number of minutes: an ``int`` >= 1 (and <= ``high`` if given); None too if
    ``optional``. Else a ValidationError naming ``field``."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(
            f"{field}: must be a whole number of minutes, got {type(value).__name__}",
            fields=[field],
        )
    if value < 1:
        raise ValidationError(f"{field}: must be at least 1 minute, got {value}", fields=[field])
    if high is not None and value > high:
        raise ValidationError(
            f"{field}: must be at most {high} minutes, got {value}", fields=[field]
        )
    return value


def _key(window: Window) -> tuple[time, time]:
    return window.start, window.end


def _hm(at: time) -> str:
    """``HH:MM``, or the full ISO form when ``at`` carries seconds."""
    return at.isoformat(timespec="minutes" if not (at.second or at.microsecond) else "auto")
