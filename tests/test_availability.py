"""Unit and property tests of asyncdata._availability: no database, no event loop."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise, product
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asyncdata._availability import (
    ALLOWED_MOVES,
    NO_RULES,
    OVERLAP_CONSTRAINT,
    Interval,
    Rules,
    Window,
    blocked,
    check_bookable,
    check_move,
    day_windows,
    free_slots,
    window_bounds,
)
from asyncdata._timezones import local_to_utc
from asyncdata.errors import ConflictError, ValidationError
from asyncdata.models.booking import BookingStatus

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
MINUTE = timedelta(minutes=1)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
JUNE = date(2026, 6, 1)  # a Monday, no DST change anywhere near
BERLIN_SPRING, BERLIN_FALL = date(2026, 3, 29), date(2026, 10, 25)
NY_SPRING, NY_FALL = date(2026, 3, 8), date(2026, 11, 1)
LH_FALL, LH_SPRING = date(2026, 4, 5), date(2026, 10, 4)
NINE_TO_FIVE = Window(time(9), time(17))
EARLY = Window(time(0), time(6))


def z(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def bookable(**overrides: Any) -> Interval:
    """check_bookable with harmless defaults: 10:00 Berlin on JUNE, 60 min, 09-17 window."""
    kwargs: dict[str, Any] = {
        "on_date": JUNE,
        "at": time(10),
        "duration_minutes": 60,
        "tz": BERLIN,
        "windows": [NINE_TO_FIVE],
        "day_off": False,
        "busy": [],
        "now": LONG_AGO,
    }
    kwargs.update(overrides)
    return check_bookable(**kwargs)


def slots(**overrides: Any) -> list[datetime]:
    kwargs: dict[str, Any] = {
        "on_date": JUNE,
        "tz": BERLIN,
        "windows": [NINE_TO_FIVE],
        "day_off": False,
        "busy": [],
        "duration_minutes": 60,
        "step_minutes": None,
        "now": LONG_AGO,
    }
    kwargs.update(overrides)
    return free_slots(**kwargs)


def walls(found: Sequence[datetime]) -> list[str]:
    return [s.strftime("%H:%M%z") for s in found]


# --- window_bounds -------------------------------------------------------------------------


def test_window_bounds_plain_summer_day() -> None:
    assert window_bounds(JUNE, NINE_TO_FIVE, BERLIN) == (z(2026, 6, 1, 7), z(2026, 6, 1, 15))


def test_window_bounds_across_dst_changes_are_real_lengths() -> None:
    start, end = window_bounds(BERLIN_SPRING, EARLY, BERLIN)
    assert (start, end - start) == (z(2026, 3, 28, 23), timedelta(hours=5))
    start, end = window_bounds(BERLIN_FALL, EARLY, BERLIN)
    assert (start, end - start) == (z(2026, 10, 24, 22), timedelta(hours=7))


def test_window_bounds_in_gap_shift_forward_and_may_end_up_empty() -> None:
    # 02:30 does not exist on BERLIN_SPRING; read with the pre-change offset it is 03:30 CEST.
    assert window_bounds(BERLIN_SPRING, Window(time(2, 30), time(4)), BERLIN) == (
        z(2026, 3, 29, 1, 30),
        z(2026, 3, 29, 2),
    )
    start, end = window_bounds(BERLIN_SPRING, Window(time(2, 30), time(3, 15)), BERLIN)
    assert end < start
    assert slots(on_date=BERLIN_SPRING, windows=[Window(time(2, 30), time(3, 15))]) == []


def test_window_bounds_ambiguous_means_first_occurrence() -> None:
    assert window_bounds(BERLIN_FALL, Window(time(2, 30), time(3)), BERLIN) == (
        z(2026, 10, 25, 0, 30),
        z(2026, 10, 25, 2),
    )


# --- check_bookable: acceptance ------------------------------------------------------------


def test_accepts_inside_a_window_and_returns_utc_interval() -> None:
    assert bookable() == (z(2026, 6, 1, 8), z(2026, 6, 1, 9))
    assert bookable(at=time(16), duration_minutes=60)[1] == z(2026, 6, 1, 15)  # ends at close


def test_back_to_back_with_busy_on_both_sides_is_fine() -> None:
    busy = [(z(2026, 6, 1, 7), z(2026, 6, 1, 8)), (z(2026, 6, 1, 9), z(2026, 6, 1, 10))]
    assert bookable(busy=busy) == (z(2026, 6, 1, 8), z(2026, 6, 1, 9))


def test_a_start_just_after_now_is_accepted() -> None:
    assert bookable(now=z(2026, 6, 1, 8) - timedelta(microseconds=1))[0] == z(2026, 6, 1, 8)


def test_ambiguous_time_books_the_first_occurrence() -> None:
    starts, ends = bookable(on_date=BERLIN_FALL, at=time(2, 30), windows=[EARLY])
    assert (starts, ends) == (z(2026, 10, 25, 0, 30), z(2026, 10, 25, 1, 30))
    assert bookable(on_date=NY_FALL, at=time(1, 30), tz=NEW_YORK, windows=[EARLY])[0] == z(
        2026, 11, 1, 5, 30
    )


def test_enforce_availability_false_skips_day_off_past_and_schedule() -> None:
    interval = bookable(
        at=time(22), day_off=True, windows=[], now=z(2030, 1, 1), enforce_availability=False
    )
    assert interval == (z(2026, 6, 1, 20), z(2026, 6, 1, 21))


# --- check_bookable: rejections ------------------------------------------------------------


def rejected(error: type[Exception], **overrides: Any) -> ValidationError | ConflictError:
    with pytest.raises(error) as caught:
        bookable(**overrides)
    assert isinstance(caught.value, ValidationError | ConflictError)
    return caught.value


def test_duration_below_one_is_rejected() -> None:
    err = rejected(ValidationError, duration_minutes=0)
    assert err.fields == ("duration_minutes",)


@pytest.mark.parametrize("enforce", [True, False])
def test_time_in_spring_forward_gap_is_rejected_before_anything_else(enforce: bool) -> None:
    err = rejected(
        ValidationError,
        on_date=BERLIN_SPRING,
        at=time(2, 30),
        windows=[EARLY],
        day_off=True,
        busy=[(z(2026, 3, 28), z(2026, 3, 30))],
        enforce_availability=enforce,
    )
    assert err.fields == ("booking_time",)
    assert "2026-03-29" in str(err) and "02:30" in str(err) and "Europe/Berlin" in str(err)
    with pytest.raises(ValidationError):
        bookable(on_date=NY_SPRING, at=time(2), tz=NEW_YORK, windows=[EARLY])
    with pytest.raises(ValidationError):
        bookable(on_date=LH_SPRING, at=time(2, 15), tz=LORD_HOWE, windows=[EARLY])


def test_day_off_is_rejected_before_the_past() -> None:
    err = rejected(ValidationError, day_off=True, now=z(2030, 1, 1), windows=[])
    assert err.fields == ("booking_date",)
    assert "2026-06-01" in str(err)


@pytest.mark.parametrize("now", [z(2026, 6, 1, 8), z(2026, 6, 1, 8, 30), z(2027, 1, 1)])
def test_start_at_or_before_now_is_in_the_past(now: datetime) -> None:
    err = rejected(ValidationError, now=now, windows=[])
    assert err.fields == ("booking_date", "booking_time")
    assert "in the past" in str(err) and "2026-06-01 10:00" in str(err)


@pytest.mark.parametrize(
    ("at", "duration", "windows"),
    [
        (time(8, 30), 60, [NINE_TO_FIVE]),  # starts before opening
        (time(16, 30), 60, [NINE_TO_FIVE]),  # ends after closing
        (time(11, 30), 60, [Window(time(9), time(12)), Window(time(12), time(15))]),  # two
        (time(10), 60, []),  # no window that weekday
        (time(10), 60, [Window(time(14), time(15)), Window(time(9), time(10, 30))]),
    ],
)
def test_outside_one_window_is_rejected(at: time, duration: int, windows: list[Window]) -> None:
    err = rejected(
        ValidationError,
        at=at,
        duration_minutes=duration,
        windows=windows,
        busy=[(z(2026, 6, 1), z(2026, 6, 2))],  # would conflict, but the schedule comes first
    )
    assert err.fields == ("booking_time",)
    message = str(err)
    assert at.strftime("%H:%M") in message and "Europe/Berlin" in message
    for w in windows:
        assert f"{w.start:%H:%M}-{w.end:%H:%M}" in message
    if not windows:
        assert "none" in message


@pytest.mark.parametrize(
    ("b_start", "b_end"),
    [
        (z(2026, 6, 1, 7, 30), z(2026, 6, 1, 8, 1)),  # overlaps the start
        (z(2026, 6, 1, 8, 59), z(2026, 6, 1, 10)),  # overlaps the end
        (z(2026, 6, 1, 8, 10), z(2026, 6, 1, 8, 20)),  # inside
        (z(2026, 6, 1, 7), z(2026, 6, 1, 10)),  # around
        (z(2026, 6, 1, 8), z(2026, 6, 1, 9)),  # identical
    ],
)
@pytest.mark.parametrize("enforce", [True, False])
def test_overlap_is_a_conflict_even_without_enforcement(
    b_start: datetime, b_end: datetime, enforce: bool
) -> None:
    busy = [(z(2026, 5, 1), z(2026, 5, 2)), (b_start, b_end)]
    err = rejected(ConflictError, busy=busy, enforce_availability=enforce)
    assert isinstance(err, ConflictError)
    assert err.constraint == OVERLAP_CONSTRAINT == "ex_bookings_no_overlap"
    assert err.fields == ("booking_time",)
    assert "2026-06-01 10:00" in str(err) and "Europe/Berlin" in str(err)


# --- free_slots ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": -5}, "duration_minutes"),
        ({"step_minutes": 0}, "step_minutes"),
        ({"step_minutes": -1}, "step_minutes"),
    ],
)
def test_free_slots_rejects_bad_minutes(overrides: dict[str, int], field_name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        slots(**overrides)
    assert caught.value.fields == (field_name,)


def test_free_slots_plain_day_default_step_is_the_duration() -> None:
    found = slots()
    assert walls(found) == [f"{h:02d}:00+0200" for h in range(9, 17)]
    assert all(s.tzinfo is BERLIN for s in found)
    assert len(slots(step_minutes=30)) == 15
    assert len(slots(duration_minutes=45)) == 10


def test_free_slots_at_the_end_of_the_calendar_stop_before_year_10000() -> None:
    """The step after the last candidate of 9999-12-29 in UTC-12 would pass year 9999."""
    found = slots(
        on_date=date(9999, 12, 29),
        tz=ZoneInfo("Etc/GMT+12"),
        windows=[Window(time(22), time(23, 59))],
        duration_minutes=30,
        step_minutes=3000,
    )
    assert walls(found) == ["22:00-1200"]


def test_free_slots_day_off_no_windows_and_past() -> None:
    assert slots(day_off=True) == []
    assert slots(windows=[]) == []
    assert slots(now=z(2026, 6, 1, 12)) == slots()[-2:]  # 14:00 local equals now: not offered


def test_free_slots_skip_busy_and_keep_back_to_back() -> None:
    busy = [(z(2026, 6, 1, 8, 30), z(2026, 6, 1, 9)), (z(2026, 6, 1, 10), z(2026, 6, 1, 11))]
    assert walls(slots(busy=busy)) == [
        "09:00+0200",  # ends where the 10:30 local booking starts
        "11:00+0200",  # starts where it ends
        "13:00+0200",
        "14:00+0200",
        "15:00+0200",
        "16:00+0200",
    ]


def test_free_slots_overlapping_windows_give_no_duplicates() -> None:
    windows = [NINE_TO_FIVE, Window(time(9), time(11)), Window(time(9, 30), time(12))]
    found = slots(windows=windows)
    assert found == sorted(set(found))
    assert walls(found) == ["09:00+0200", "09:30+0200", "10:00+0200", "10:30+0200"] + [
        f"{h:02d}:00+0200" for h in range(11, 17)
    ]


def test_spring_forward_berlin_slots_are_real_hours() -> None:
    found = slots(on_date=BERLIN_SPRING, windows=[EARLY])
    assert walls(found) == ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200", "05:00+0200"]
    real = [s.astimezone(UTC) for s in found]  # aware minus aware in one zone is wall-clock
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(real))
    assert found[2] - found[1] == timedelta(hours=2)  # ...which is why the test converts


def test_fall_back_berlin_skips_the_second_occurrence() -> None:
    found = slots(on_date=BERLIN_FALL, windows=[EARLY])
    assert [s.astimezone(UTC) for s in found] == [
        z(2026, 10, 24, 22),
        z(2026, 10, 24, 23),
        z(2026, 10, 25, 0),  # 02:00 CEST, first occurrence
        # 01:00Z is 02:00 CET: create() would read 02:00 as 00:00Z, so it is not offered
        z(2026, 10, 25, 2),
        z(2026, 10, 25, 3),
        z(2026, 10, 25, 4),
    ]
    assert walls(found)[2:4] == ["02:00+0200", "03:00+0100"]
    half_hours = slots(on_date=BERLIN_FALL, windows=[EARLY], duration_minutes=30)
    assert len(half_hours) == 14 - 2  # 7 real hours, minus 02:00 and 02:30 CET


def test_new_york_dst_days() -> None:
    spring = slots(on_date=NY_SPRING, tz=NEW_YORK, windows=[EARLY])
    assert walls(spring) == ["00:00-0500", "01:00-0500", "03:00-0400", "04:00-0400", "05:00-0400"]
    fall = slots(on_date=NY_FALL, tz=NEW_YORK, windows=[EARLY])
    assert walls(fall) == [
        "00:00-0400",
        "01:00-0400",
        "02:00-0500",
        "03:00-0500",
        "04:00-0500",
        "05:00-0500",
    ]
    assert fall[2].astimezone(UTC) - fall[1].astimezone(UTC) == timedelta(hours=2)  # 01:00 EST


def test_lord_howe_half_hour_shift() -> None:
    found = slots(on_date=LH_SPRING, tz=LORD_HOWE, windows=[EARLY])
    assert walls(found) == ["00:00+1030", "01:00+1030", "02:30+1100", "03:30+1100", "04:30+1100"]


@dataclass
class CountingBusy(Sequence[Interval]):
    items: list[Interval]
    reads: int = field(default=0)

    def __iter__(self) -> Iterator[Interval]:
        self.reads += 1
        return iter(self.items)

    def __getitem__(self, index: Any) -> Any:
        self.reads += 1
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


def test_many_busy_intervals_are_read_once() -> None:
    start = z(2026, 5, 1)
    items = [(start + i * 30 * MINUTE, start + (i * 30 + 15) * MINUTE) for i in range(5000)]
    busy = CountingBusy(items)
    found = slots(busy=busy, duration_minutes=15, step_minutes=1)
    assert busy.reads == 1
    assert found == reference_slots(JUNE, BERLIN, [NINE_TO_FIVE], False, items, 15, 1, LONG_AGO)
    assert len(found) == 16


# --- status moves --------------------------------------------------------------------------

S = BookingStatus
LEGAL = {
    (S.PENDING, S.CONFIRMED),
    (S.PENDING, S.CANCELLED),
    (S.CONFIRMED, S.COMPLETED),
    (S.CONFIRMED, S.CANCELLED),
    (S.CONFIRMED, S.NO_SHOW),
    # a hold moves on (the expiry rule is asyncdata._lifecycle.check_hold_move)
    (S.HELD, S.PENDING),
    (S.HELD, S.CONFIRMED),
    (S.HELD, S.CANCELLED),
}


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_check_move_every_pair(current: BookingStatus, target: BookingStatus) -> None:
    assert (target in ALLOWED_MOVES[current]) == ((current, target) in LEGAL)
    if (current, target) in LEGAL:
        check_move(current, target, booking_id=7)
        return
    with pytest.raises(ValidationError) as caught:
        check_move(current, target, booking_id=7)
    assert caught.value.fields == ("status",)
    message = str(caught.value)
    assert str(current) in message and str(target) in message and "7" in message


def test_allowed_moves_is_complete_and_read_only() -> None:
    assert set(ALLOWED_MOVES) == set(S)
    assert sum(len(v) for v in ALLOWED_MOVES.values()) == len(LEGAL) == 8
    with pytest.raises(TypeError):
        ALLOWED_MOVES[S.CANCELLED] = frozenset({S.PENDING})  # type: ignore[index]


# --- property tests against a brute-force reference ----------------------------------------


def reference_slots(
    on_date: date,
    tz: ZoneInfo,
    windows: Sequence[Window],
    day_off: bool,
    busy: Sequence[Interval],
    duration: int,
    step: int | None,
    now: datetime,
    rules: Rules = NO_RULES,
) -> list[datetime]:
    """Minute by minute, no cleverness: the slots create() would accept on on_date."""
    if day_off:
        return []
    horizon = rules.max_advance_days
    if horizon is not None and (on_date - now.astimezone(tz).date()).days > horizon:
        return []
    before, after = rules.buffer_before_minutes, rules.buffer_after_minutes
    every = duration if step is None else step
    busy_minutes: set[datetime] = set()
    for b_start, b_end in busy:
        m = b_start
        while m < b_end:
            busy_minutes.add(m)
            m += MINUTE
    found: set[datetime] = set()
    for w in windows:
        opens = datetime.combine(on_date, w.start, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(on_date, w.end, tzinfo=tz).astimezone(UTC)
        for k in range(int((closes - opens) / MINUTE) + 1):
            if k % every:
                continue
            s = opens + k * MINUTE
            if s <= now or (s - now) < rules.min_notice_minutes * MINUTE:
                continue
            minutes = [s + j * MINUTE for j in range(duration)]
            if not all(opens <= m and m + MINUTE <= closes for m in reversed(minutes)):
                continue
            if any(s + j * MINUTE in busy_minutes for j in range(-before, duration + after)):
                continue
            wall = s.astimezone(tz)
            if local_to_utc(on_date, wall.time(), tz) != s:
                continue
            found.add(s)
    return [s.astimezone(tz) for s in sorted(found)]


# Each zone with the days its clocks change (none in UTC and Asia/Kolkata); half the drawn
# dates are one of the zone's own DST days, so gaps and repeated hours come up often.
DST_DAYS: dict[str, list[date]] = {
    "UTC": [],
    "Europe/Berlin": [BERLIN_SPRING, BERLIN_FALL, date(2027, 3, 28), date(2027, 10, 31)],
    "America/New_York": [NY_SPRING, NY_FALL],
    "Asia/Kolkata": [],
    "Australia/Lord_Howe": [LH_FALL, LH_SPRING],
}
ANY_DAY = st.dates(date(2026, 1, 1), date(2027, 12, 31))
minute_of_day = st.one_of(
    st.integers(0, 1439), st.sampled_from([0, 60, 90, 120, 150, 180, 210, 240, 1439])
)


def as_time(minute: int) -> time:
    return time(minute // 60, minute % 60)


@dataclass(frozen=True)
class Scenario:
    on_date: date
    tz: ZoneInfo
    windows: list[Window]
    day_off: bool
    busy: list[Interval]
    duration: int
    step: int | None
    now: datetime

    def free(self) -> list[datetime]:
        return free_slots(
            on_date=self.on_date,
            tz=self.tz,
            windows=self.windows,
            day_off=self.day_off,
            busy=self.busy,
            duration_minutes=self.duration,
            step_minutes=self.step,
            now=self.now,
        )


@st.composite
def scenarios(draw: st.DrawFn, step: st.SearchStrategy[int | None] | None = None) -> Scenario:
    zone_name = draw(st.sampled_from(sorted(DST_DAYS)))
    days = DST_DAYS[zone_name]
    on_date = draw(st.one_of(st.sampled_from(days), ANY_DAY) if days else ANY_DAY)
    base = datetime.combine(on_date, time(0), tzinfo=UTC)
    windows = [
        Window(as_time(a), as_time(b))
        for a, b in draw(
            st.lists(
                st.lists(minute_of_day, min_size=2, max_size=2, unique=True).map(sorted), max_size=3
            )
        )
    ]
    busy = [
        (base + offset * MINUTE, base + (offset + length) * MINUTE)
        for offset, length in draw(
            st.lists(st.tuples(st.integers(-1440, 2880), st.integers(0, 300)), max_size=12)
        )
    ]
    now_offset = draw(st.one_of(st.just(-(10**6)), st.integers(-2880, 2880)))
    return Scenario(
        on_date=on_date,
        tz=ZoneInfo(zone_name),
        windows=windows,
        day_off=draw(st.sampled_from([False, False, False, True])),
        busy=busy,
        duration=draw(st.integers(1, 240)),
        step=draw(step if step is not None else st.one_of(st.none(), st.integers(1, 120))),
        now=base + now_offset * MINUTE + timedelta(seconds=draw(st.sampled_from([0, 30]))),
    )


PROPERTY = settings(max_examples=200, deadline=None, database=None)


def fixed(on_date: date, zone_name: str, windows: list[Window], step: int | None) -> Scenario:
    return Scenario(on_date, ZoneInfo(zone_name), windows, False, [], 30, step, LONG_AGO)


@PROPERTY
@given(scenarios())
@example(fixed(BERLIN_FALL, "Europe/Berlin", [EARLY], None))
@example(fixed(NY_FALL, "America/New_York", [EARLY, Window(time(1), time(2))], 15))
@example(fixed(LH_FALL, "Australia/Lord_Howe", [EARLY], 7))
@example(fixed(BERLIN_SPRING, "Europe/Berlin", [Window(time(2, 30), time(5))], None))
@example(fixed(LH_SPRING, "Australia/Lord_Howe", [Window(time(1), time(2, 15))], 1))
def test_free_slots_match_brute_force(sc: Scenario) -> None:
    expected = reference_slots(
        sc.on_date, sc.tz, sc.windows, sc.day_off, sc.busy, sc.duration, sc.step, sc.now
    )
    assert sc.free() == expected


@PROPERTY
@given(scenarios())
def test_every_free_slot_is_bookable(sc: Scenario) -> None:
    found = sc.free()
    assert all(a < b for a, b in pairwise(found))
    for slot in found:
        assert slot.tzinfo is sc.tz and slot.date() == sc.on_date
        interval = check_bookable(
            on_date=slot.date(),
            at=slot.time(),
            duration_minutes=sc.duration,
            tz=sc.tz,
            windows=sc.windows,
            day_off=sc.day_off,
            busy=sc.busy,
            now=sc.now,
        )
        assert interval == (slot.astimezone(UTC), slot.astimezone(UTC) + sc.duration * MINUTE)


@settings(max_examples=40, deadline=None, database=None)
@given(scenarios(step=st.just(1)))
def test_with_step_one_slots_are_exactly_the_bookable_minutes(sc: Scenario) -> None:
    bookable_starts = []
    for minute in range(1440):
        try:
            starts, _ = check_bookable(
                on_date=sc.on_date,
                at=as_time(minute),
                duration_minutes=sc.duration,
                tz=sc.tz,
                windows=sc.windows,
                day_off=sc.day_off,
                busy=sc.busy,
                now=sc.now,
            )
        except (ValidationError, ConflictError):
            continue
        bookable_starts.append(starts)
    assert [s.astimezone(UTC) for s in sc.free()] == sorted(set(bookable_starts))


# --- buffers, date overrides, notice and horizon ---------------------------------


@dataclass(frozen=True)
class RuledScenario:
    """A Scenario whose date may have an override (None: none; []: closed; else part-day
    windows) and whose specialist has buffers, notice and a horizon."""

    base: Scenario
    override: list[Window] | None
    rules: Rules

    @property
    def windows(self) -> Sequence[Window]:
        sc = self.base
        overrides = {} if self.override is None else {sc.on_date: self.override}
        return day_windows(sc.on_date, {sc.on_date.weekday(): sc.windows}, overrides)

    def free(self) -> list[datetime]:
        sc = self.base
        return free_slots(
            on_date=sc.on_date,
            tz=sc.tz,
            windows=self.windows,
            day_off=sc.day_off,
            busy=sc.busy,
            duration_minutes=sc.duration,
            step_minutes=sc.step,
            now=sc.now,
            rules=self.rules,
        )

    def bookable(self, at: time) -> Interval:
        sc = self.base
        return check_bookable(
            on_date=sc.on_date,
            at=at,
            duration_minutes=sc.duration,
            tz=sc.tz,
            windows=self.windows,
            day_off=sc.day_off,
            busy=sc.busy,
            now=sc.now,
            rules=self.rules,
        )


buffers = st.one_of(st.just(0), st.integers(0, 240), st.sampled_from([15, 30, 240]))


@st.composite
def ruled_scenarios(
    draw: st.DrawFn, step: st.SearchStrategy[int | None] | None = None
) -> RuledScenario:
    base = draw(scenarios(step))
    windows = st.lists(
        st.lists(minute_of_day, min_size=2, max_size=2, unique=True).map(sorted), max_size=2
    ).map(lambda pairs: [Window(as_time(a), as_time(b)) for a, b in pairs])
    override = draw(st.one_of(st.none(), st.just([]), windows))
    rules = Rules(
        buffer_before_minutes=draw(buffers),
        buffer_after_minutes=draw(buffers),
        min_notice_minutes=draw(st.one_of(st.just(0), st.integers(0, 3000))),
        max_advance_days=draw(st.one_of(st.none(), st.integers(0, 3))),
    )
    # Half the time "now" is near the date, so notice and horizon both bite.
    if draw(st.booleans()):
        offset = draw(st.integers(-4 * 1440, 1440))
        moment = datetime.combine(base.on_date, time(0), tzinfo=UTC) + offset * MINUTE
        base = Scenario(**{**base.__dict__, "now": moment})
    return RuledScenario(base, override, rules)


@PROPERTY
@given(ruled_scenarios())
def test_free_slots_with_rules_match_brute_force(rs: RuledScenario) -> None:
    sc = rs.base
    chosen = sc.windows if rs.override is None else rs.override
    expected = reference_slots(
        sc.on_date, sc.tz, chosen, sc.day_off, sc.busy, sc.duration, sc.step, sc.now, rs.rules
    )
    assert rs.free() == expected


@settings(max_examples=60, deadline=None, database=None)
@given(ruled_scenarios(step=st.just(1)))
def test_with_rules_and_step_one_slots_are_exactly_the_bookable_minutes(
    rs: RuledScenario,
) -> None:
    accepted = []
    for minute in range(1440):
        try:
            starts, _ = rs.bookable(as_time(minute))
        except (ValidationError, ConflictError):
            continue
        accepted.append(starts)
    assert [s.astimezone(UTC) for s in rs.free()] == sorted(set(accepted))


def test_day_windows_prefers_the_override_and_an_empty_one_closes_the_day() -> None:
    weekly = {JUNE.weekday(): [NINE_TO_FIVE]}
    assert day_windows(JUNE, weekly, {}) == [NINE_TO_FIVE]
    assert day_windows(JUNE, weekly, {JUNE: []}) == []
    assert day_windows(JUNE, weekly, {JUNE: [EARLY]}) == [EARLY]
    assert day_windows(JUNE + timedelta(days=1), weekly, {JUNE: []}) == ()


def test_buffers_keep_their_span_free_but_may_reach_outside_the_window() -> None:
    rules = Rules(buffer_before_minutes=30, buffer_after_minutes=15)
    # 09:00 opens the window: the 30 min before lie outside it, which is fine.
    assert bookable(at=time(9), rules=rules) == (z(2026, 6, 1, 7), z(2026, 6, 1, 8))
    assert blocked((z(2026, 6, 1, 7), z(2026, 6, 1, 8)), rules) == (
        z(2026, 6, 1, 6, 30),
        z(2026, 6, 1, 8, 15),
    )
    # A booking 10:00-11:00 Berlin blocks 09:30-11:15; another one, buffers and all, must
    # stay clear of that span: 11:00 would need 10:30-12:15.
    busy = [blocked((z(2026, 6, 1, 8), z(2026, 6, 1, 9)), rules)]
    error = rejected(ConflictError, at=time(11), busy=busy, rules=rules)
    assert error.constraint == OVERLAP_CONSTRAINT
    assert bookable(at=time(11, 45), busy=busy, rules=rules)[0] == z(2026, 6, 1, 9, 45)
    assert walls(slots(busy=busy, rules=rules, step_minutes=15))[:3] == [
        "11:45+0200",
        "12:00+0200",
        "12:15+0200",
    ]


def test_notice_is_real_elapsed_time_across_a_dst_change() -> None:
    # Berlin springs forward at 02:00 on BERLIN_SPRING: 01:00 to 04:00 is two real hours.
    now = datetime.combine(BERLIN_SPRING, time(1), tzinfo=BERLIN).astimezone(UTC)
    rules = Rules(min_notice_minutes=120)
    common = {"on_date": BERLIN_SPRING, "windows": [EARLY], "now": now, "rules": rules}
    assert bookable(at=time(4), **common)[0] == now + timedelta(hours=2)
    error = rejected(ValidationError, at=time(3, 59), **common)
    assert error.fields == ("booking_date", "booking_time")
    assert walls(slots(**common)) == ["04:00+0200", "05:00+0200"]


def test_horizon_counts_days_in_the_specialists_zone() -> None:
    # 23:30 UTC on May 31 is already June 1 in Berlin: "today + 0 days" is June 1 there.
    now = z(2026, 5, 31, 23, 30)
    rules = Rules(max_advance_days=0)
    assert bookable(now=now, rules=rules)[0] == z(2026, 6, 1, 8)
    error = rejected(ValidationError, on_date=JUNE + timedelta(days=1), now=now, rules=rules)
    assert error.fields == ("booking_date",)
    assert slots(on_date=JUNE + timedelta(days=1), now=now, rules=rules) == []
    assert rejected(ValidationError, tz=NEW_YORK, now=now, rules=rules).fields == ("booking_date",)


def test_enforce_availability_false_skips_notice_and_horizon_not_buffers() -> None:
    rules = Rules(buffer_after_minutes=60, min_notice_minutes=10**5, max_advance_days=0)
    assert bookable(enforce_availability=False, rules=rules, now=z(2026, 6, 1))[0] == z(
        2026, 6, 1, 8
    )
    busy = [(z(2026, 6, 1, 9, 30), z(2026, 6, 1, 10))]
    rejected(ConflictError, enforce_availability=False, rules=rules, busy=busy)
