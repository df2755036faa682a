"""Guards the exported names: adding or dropping one must be a deliberate change here."""

from __future__ import annotations

import importlib
import inspect
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import inspect as sa_inspect

import asyncdata

EXPECTED_ALL: dict[str, set[str]] = {
    "asyncdata": {
        "AdminLog",
        "AdminLogRepository",
        "AsyncDataError",
        "Base",
        "Booking",
        "BookingChange",
        "BookingRepository",
        "BookingStatus",
        "ConfigurationError",
        "ConflictError",
        "DateOverride",
        "DateOverrideRepository",
        "DayOff",
        "DayOffRepository",
        "NotFoundError",
        "Page",
        "Schedule",
        "ScheduleRepository",
        "Specialist",
        "SpecialistRepository",
        "TransientError",
        "UserSession",
        "UserSessionRepository",
        "ValidationError",
        "create_engine",
        "db_session",
        "dispose_engine",
        "get_db",
        "get_engine",
        "init_db",
        "transaction",
    },
    "asyncdata.database": {
        "SQLITE_BUSY_TIMEOUT_MS",
        "create_engine",
        "db_session",
        "dispose_engine",
        "get_db",
        "get_engine",
        "init_db",
        "session_factory",
        "transaction",
    },
    "asyncdata.models": {
        "NAMING_CONVENTION",
        "AdminLog",
        "Base",
        "Booking",
        "BookingChange",
        "BookingStatus",
        "DateOverride",
        "DayOff",
        "Schedule",
        "Specialist",
        "UTCDateTime",
        "UserSession",
        "utcnow",
    },
    "asyncdata.repositories": {
        "BATCH_SIZE",
        "AdminLogRepository",
        "AppendOnlyRepository",
        "BookingRepository",
        "DateOverrideRepository",
        "DayOffRepository",
        "Page",
        "Repository",
        "ScheduleRepository",
        "SpecialistRepository",
        "UserSessionRepository",
    },
    "asyncdata.errors": {
        "AsyncDataError",
        "ConfigurationError",
        "ConflictError",
        "NotFoundError",
        "TransientError",
        "ValidationError",
    },
}

# The names promised at each stable import path (README, "Using it").
SPEC_NAMES: dict[str, set[str]] = {
    "asyncdata.database": {
        "get_engine",
        "get_db",
        "db_session",
        "transaction",
        "init_db",
        "dispose_engine",
    },
    "asyncdata.models": {
        "Base",
        "Specialist",
        "Schedule",
        "DayOff",
        "Booking",
        "BookingStatus",
        "UserSession",
        "AdminLog",
        "DateOverride",
    },
    "asyncdata.repositories": {
        "SpecialistRepository",
        "ScheduleRepository",
        "DayOffRepository",
        "BookingRepository",
        "DateOverrideRepository",
        "UserSessionRepository",
        "AdminLogRepository",
    },
    "asyncdata.errors": {"AsyncDataError", "NotFoundError", "ValidationError", "ConflictError"},
}

SPEC_COLUMNS: dict[str, set[str]] = {
    "Specialist": {
        "name",
        "email",
        "phone",
        "specialization",
        "bio",
        "languages",
        "timezone",
        "is_active",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "min_notice_minutes",
        "max_advance_days",
        "created_at",
        "updated_at",
    },
    "DateOverride": {
        "specialist_id",
        "override_date",
        "start_time",
        "end_time",
        "created_at",
        "updated_at",
    },
    "Schedule": {
        "specialist_id",
        "day_of_week",
        "start_time",
        "end_time",
        "is_active",
        "created_at",
        "updated_at",
    },
    "DayOff": {"specialist_id", "date", "reason", "is_active", "created_at", "updated_at"},
    "Booking": {
        "specialist_id",
        "client_name",
        "client_email",
        "client_phone",
        "booking_date",
        "booking_time",
        "duration_minutes",
        "starts_at",
        "ends_at",
        "blocked_from",
        "blocked_until",
        "status",
        "notes",
        "created_at",
        "updated_at",
        # holds, idempotent requests, public references
        "reference",
        "hold_expires_at",
        "idempotency_key",
        "request_fingerprint",
    },
    "BookingChange": {"booking_id", "changed_at", "kind", "old", "new", "actor", "reason"},
    "UserSession": {
        "session_id",
        "client_name",
        "client_email",
        "client_phone",
        "ip_address",
        "user_agent",
        "data",
        "expires_at",
        "is_active",
        "created_at",
        "updated_at",
    },
    "AdminLog": {
        "admin_id",
        "action",
        "resource_type",
        "resource_id",
        "details",
        "ip_address",
        "user_agent",
        "created_at",
    },
}

COMMON_METHODS = [
    "create",
    "create_many",
    "get_by_id",
    "update",
    "delete",
    "hard_delete",
    "get_all",
    "count",
    "search",
]
SPECIFIC_METHODS: dict[str, list[str]] = {
    "SpecialistRepository": ["get_by_email", "get_by_specialization", "get_by_language"],
    "ScheduleRepository": ["get_by_specialist", "get_by_day"],
    "DayOffRepository": ["get_by_specialist", "get_by_date", "is_day_off"],
    "BookingRepository": [
        "get_by_specialist",
        "get_by_date",
        "get_by_client_email",
        "get_by_status",
        "confirm",
        "cancel",
        "complete",
        "mark_no_show",
        "reschedule",
        "get_available_slots",
        "get_availability",
        "erase_client",
    ],
    "DateOverrideRepository": ["set_day", "clear_day", "get_by_specialist"],
    "UserSessionRepository": [
        "get_by_session_id",
        "extend",
        "deactivate",
        "cleanup_expired",
        "start",
    ],
    "AdminLogRepository": [
        "log",
        "get_by_admin",
        "get_by_resource",
        "get_by_action",
        "get_between",
    ],
}


APPEND_ONLY_ABSENT = ("update", "delete", "hard_delete")


def test_the_admin_log_repository_has_no_way_to_change_a_row() -> None:
    for method in APPEND_ONLY_ABSENT:
        assert not hasattr(asyncdata.AdminLogRepository, method), method


def test_internal_modules_are_private() -> None:
    """Public modules are the documented import paths; everything else starts with ``_``."""
    package = Path(asyncdata.__file__).parent
    public = {"__init__", "__main__", "database", "errors", "testing", "models", "repositories"}
    for path in package.iterdir():
        name = path.stem
        if path.name == "__pycache__" or name.startswith("_") or path.suffix not in {"", ".py"}:
            continue
        if path.suffix == "" and not path.is_dir():
            continue
        assert name in public, f"asyncdata/{path.name} is neither public API nor private"


def module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_all_is_exactly_the_expected_set(name: str) -> None:
    exported = module(name).__all__
    assert len(exported) == len(set(exported)), f"duplicates in {name}.__all__"
    assert set(exported) == EXPECTED_ALL[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_every_exported_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)
    missing = EXPECTED_ALL[name] - namespace.keys()
    assert not missing, f"{name} exports names it does not define: {missing}"


@pytest.mark.parametrize("name", sorted(SPEC_NAMES))
def test_spec_names_are_at_their_stable_paths(name: str) -> None:
    assert SPEC_NAMES[name] <= set(module(name).__all__)


@pytest.mark.parametrize(
    ("name", "source"), [(name, source) for source in SPEC_NAMES for name in SPEC_NAMES[source]]
)
def test_package_reexports_the_same_objects(name: str, source: str) -> None:
    assert getattr(asyncdata, name) is getattr(module(source), name)


@pytest.mark.parametrize("name", ["init_db", "dispose_engine"])
def test_database_lifecycle_calls_are_coroutines(name: str) -> None:
    assert inspect.iscoroutinefunction(getattr(module("asyncdata.database"), name))


def test_db_session_is_an_async_generator() -> None:
    assert inspect.isasyncgenfunction(asyncdata.db_session)


@pytest.mark.parametrize("model", sorted(SPEC_COLUMNS))
def test_models_have_the_spec_columns(model: str) -> None:
    """The contract's columns, plus only the case-folded copies the library keeps itself."""
    table = getattr(asyncdata, model).__table__
    folded = {c.key for c in table.columns if "folded_from" in c.info}
    columns = set(sa_inspect(getattr(asyncdata, model)).columns.keys())
    assert columns - folded == SPEC_COLUMNS[model] | {"id"}


def test_specialist_relationships() -> None:
    relationships = set(sa_inspect(asyncdata.Specialist).relationships.keys())
    assert {"schedules", "days_off", "bookings"} <= relationships


def test_booking_statuses() -> None:
    assert {status.value for status in asyncdata.BookingStatus} == {
        "pending",
        "confirmed",
        "cancelled",
        "completed",
        "no_show",
        "held",
    }


@pytest.mark.parametrize(
    ("repository", "method"),
    [
        (repo, method)
        for repo in SPECIFIC_METHODS
        for method in COMMON_METHODS
        if (repo, method) != ("ScheduleRepository", "search")  # no text to search
        and (repo, method) != ("DateOverrideRepository", "search")
        and not (repo == "AdminLogRepository" and method in APPEND_ONLY_ABSENT)
    ]
    + [(repo, method) for repo, methods in SPECIFIC_METHODS.items() for method in methods],
)
def test_repository_methods_are_coroutines(repository: str, method: str) -> None:
    assert inspect.iscoroutinefunction(getattr(getattr(asyncdata, repository), method))


def test_get_all_keywords() -> None:
    parameters = inspect.signature(asyncdata.SpecialistRepository.get_all).parameters
    keyword_only = {p.name for p in parameters.values() if p.kind is p.KEYWORD_ONLY}
    assert keyword_only == {"filters", "include_inactive", "order_by", "limit", "offset", "load"}


def test_package_ships_py_typed() -> None:
    assert resources.files("asyncdata").joinpath("py.typed").is_file()
