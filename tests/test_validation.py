"""Unit tests of asyncdata._validation: field checks read from the models, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from asyncdata._validation import (
    MANAGED_FIELDS,
    check_input,
    email,
    field_specs,
    in_range,
    timezone_name,
)
from asyncdata.errors import ValidationError
from asyncdata.models import AdminLog, Booking, DayOff, Schedule, Specialist, UserSession

SPECIALIST = {"name": "Dr. Ada Lovelace", "email": "ada@example.com"}
SCHEDULE = {"specialist_id": 1, "day_of_week": 0, "start_time": time(9), "end_time": time(17)}
SPECIALIST_RULES = {"email": email, "timezone": timezone_name}


def fault(model: type[Any], data: dict[str, Any], *, partial: bool = False, **kw: Any) -> set[str]:
    """The field names of the ValidationError that check_input raises for ``data``."""
    with pytest.raises(ValidationError) as caught:
        check_input(model, data, partial=partial, **kw)
    return set(caught.value.fields)


# -- what the model exposes -----------------------------------------------------------


def test_field_specs_leave_out_library_managed_columns() -> None:
    for model in (Specialist, Schedule, DayOff, Booking, UserSession, AdminLog):
        assert not set(field_specs(model)) & MANAGED_FIELDS, model.__name__
    assert {"name", "email", "timezone", "is_active"} <= set(field_specs(Specialist))


def test_field_specs_read_requiredness_and_length_from_the_columns() -> None:
    specs = field_specs(Specialist)
    assert specs["name"].required and specs["name"].max_length == 200
    assert specs["email"].required
    assert not specs["phone"].required and specs["phone"].nullable
    assert not specs["timezone"].required  # has a default, "UTC"
    assert not specs["is_active"].required
    assert specs["bio"].max_length is None


# -- unknown and read-only fields -----------------------------------------------------


def test_unknown_fields_are_named_all_at_once() -> None:
    assert fault(Specialist, {**SPECIALIST, "nickname": "A", "age": 36}) == {"nickname", "age"}


@pytest.mark.parametrize("field", sorted(MANAGED_FIELDS))
def test_read_only_fields_are_refused(field: str) -> None:
    now = datetime.now(UTC)
    value = 7 if field == "id" else now
    assert fault(Booking, {field: value}, partial=True) == {field}


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at"])
def test_read_only_fields_are_refused_on_create_too(field: str) -> None:
    value = 7 if field == "id" else datetime.now(UTC)
    assert field in fault(Specialist, {**SPECIALIST, field: value})


def test_data_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError):
        check_input(Specialist, [("name", "Ada")], partial=True)  # type: ignore[arg-type]


# -- types ----------------------------------------------------------------------------

NAIVE = datetime(2030, 1, 1, 12, 0)

WRONG_TYPES = [
    pytest.param(Specialist, "name", 5, id="int-for-str"),
    pytest.param(Specialist, "is_active", "yes", id="str-for-bool"),
    pytest.param(Specialist, "is_active", 1, id="int-for-bool"),
    pytest.param(Schedule, "day_of_week", True, id="bool-for-int"),
    pytest.param(Schedule, "day_of_week", 1.0, id="float-for-int"),
    pytest.param(Schedule, "day_of_week", "1", id="str-for-int"),
    pytest.param(Schedule, "start_time", "09:00", id="str-for-time"),
    pytest.param(Schedule, "start_time", time(9, tzinfo=UTC), id="aware-time"),
    pytest.param(DayOff, "date", datetime(2030, 1, 1, tzinfo=UTC), id="datetime-for-date"),
    pytest.param(DayOff, "date", "2030-01-01", id="str-for-date"),
    pytest.param(UserSession, "expires_at", NAIVE, id="naive-datetime"),
    pytest.param(UserSession, "expires_at", date(2030, 1, 1), id="date-for-datetime"),
    pytest.param(UserSession, "data", "{}", id="str-for-json"),
    pytest.param(Booking, "status", "done", id="unknown-enum-value"),
]


@pytest.mark.parametrize(("model", "field", "value"), WRONG_TYPES)
def test_wrong_types_are_refused_naming_the_field(model: type[Any], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        check_input(model, {field: value}, partial=True)
    assert caught.value.fields == (field,)
    # The value is shown as a reader expects it: dates, times and instants in ISO 8601.
    shown = value.isoformat() if isinstance(value, date | time) else repr(value)
    assert f"{field}={shown}" in str(caught.value)


def test_right_types_pass_through() -> None:
    aware = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert check_input(UserSession, {"expires_at": aware}, partial=True) == {"expires_at": aware}
    assert check_input(DayOff, {"date": date(2030, 1, 1)}, partial=True)["date"] == date(2030, 1, 1)
    assert check_input(UserSession, {"data": {"a": [1, 2]}}, partial=True)["data"] == {"a": [1, 2]}
    assert check_input(Booking, {"status": "confirmed"}, partial=True)["status"] == "confirmed"
    assert check_input(Schedule, SCHEDULE, partial=False) == SCHEDULE


def test_null_is_refused_for_non_nullable_columns_and_kept_for_nullable_ones() -> None:
    assert fault(Specialist, {"name": None}, partial=True) == {"name"}
    assert check_input(Specialist, {"phone": None}, partial=True) == {"phone": None}


# -- strings --------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_required_strings_must_not_be_blank(blank: str) -> None:
    assert fault(Specialist, {**SPECIALIST, "name": blank}) == {"name"}


def test_strings_longer_than_the_column_are_refused() -> None:
    assert check_input(Specialist, {"name": "x" * 200}, partial=True)["name"] == "x" * 200
    assert fault(Specialist, {"name": "x" * 201}, partial=True) == {"name"}
    assert fault(UserSession, {"session_id": "s" * 129}, partial=True) == {"session_id"}


def test_unbounded_text_columns_take_long_strings() -> None:
    bio = "word " * 10_000
    assert check_input(Specialist, {"bio": bio}, partial=True)["bio"] == bio


# -- required fields ------------------------------------------------------------------


def test_missing_required_fields_fail_on_create() -> None:
    assert fault(Specialist, {}) == {"name", "email"}
    assert fault(Schedule, {"specialist_id": 1}) == {"day_of_week", "start_time", "end_time"}


def test_missing_required_fields_are_fine_on_partial_update() -> None:
    assert check_input(Specialist, {"phone": "+49 30 1234"}, partial=True) == {
        "phone": "+49 30 1234"
    }
    assert check_input(Specialist, {}, partial=True) == {}


def test_one_error_names_every_field_at_fault() -> None:
    data = {"name": "", "email": "not-an-email", "timezone": "Mars/Olympus", "is_active": "no"}
    with pytest.raises(ValidationError) as caught:
        check_input(Specialist, data, partial=False, rules=SPECIALIST_RULES)
    assert set(caught.value.fields) == {"name", "email", "timezone", "is_active"}
    message = str(caught.value)
    assert "not-an-email" in message and "Mars/Olympus" in message


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        check_input(Specialist, {}, partial=False)


# -- rules: email, timezone, range ----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["", "ada", "ada@", "@example.com", "ada@example", "ada @example.com", "a@b@example.com"],
)
def test_invalid_emails_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        email(bad)
    data = {**SPECIALIST, "email": bad}
    assert "email" in fault(Specialist, data, rules=SPECIALIST_RULES)


def test_email_is_stored_trimmed_and_lower_case() -> None:
    assert email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    clean = check_input(
        Specialist,
        {**SPECIALIST, "email": "ADA@Example.com"},
        partial=False,
        rules=SPECIALIST_RULES,
    )
    assert clean["email"] == "ada@example.com"


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires"])
def test_known_timezones_are_accepted(name: str) -> None:
    assert timezone_name(name) == name


@pytest.mark.parametrize("bad", ["Mars/Olympus", "Europe/Berlinn", "", "../etc/passwd", "CEST+2"])
def test_unknown_timezones_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        timezone_name(bad)


def test_unknown_timezone_names_the_timezone_field() -> None:
    data = {**SPECIALIST, "timezone": "Europe/Atlantis"}
    assert fault(Specialist, data, rules=SPECIALIST_RULES) == {"timezone"}


def test_in_range_is_inclusive() -> None:
    day = in_range(0, 6)
    assert [day(v) for v in (0, 3, 6)] == [0, 3, 6]
    for bad in (-1, 7):
        with pytest.raises(ValueError):
            day(bad)


def test_rules_run_after_the_type_check() -> None:
    rules = {"day_of_week": in_range(0, 6)}
    assert fault(Schedule, {"day_of_week": 7}, partial=True, rules=rules) == {"day_of_week"}
    assert fault(Schedule, {"day_of_week": "7"}, partial=True, rules=rules) == {"day_of_week"}
