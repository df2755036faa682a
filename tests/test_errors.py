"""The exception tree: what callers catch and what the errors carry."""

from __future__ import annotations

import re

import pytest

from asyncdata import errors
from asyncdata.errors import (
    AsyncDataError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    TransientError,
    ValidationError,
)

SUBCLASSES = [NotFoundError, ValidationError, ConflictError, TransientError, ConfigurationError]


def test_async_data_error_is_a_plain_exception() -> None:
    assert issubclass(AsyncDataError, Exception)
    assert not issubclass(AsyncDataError, LookupError | ValueError)


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_every_error_is_an_async_data_error(cls: type[Exception]) -> None:
    assert issubclass(cls, AsyncDataError)
    with pytest.raises(AsyncDataError):
        raise cls("boom")


@pytest.mark.parametrize(
    ("cls", "builtin"), [(NotFoundError, LookupError), (ValidationError, ValueError)]
)
def test_errors_are_also_the_matching_builtin(cls: type[Exception], builtin: type) -> None:
    with pytest.raises(builtin):
        raise cls("boom")


@pytest.mark.parametrize(
    ("cls", "unrelated"),
    [
        (NotFoundError, ValueError),
        (ValidationError, LookupError),
        (ConflictError, ValueError),
        (ConflictError, LookupError),
    ],
)
def test_errors_do_not_pose_as_other_builtins(cls: type, unrelated: type) -> None:
    assert not issubclass(cls, unrelated)


def test_validation_error_carries_field_names() -> None:
    error = ValidationError("email='x': not an address", fields=["email", "phone"])
    assert list(error.fields) == ["email", "phone"]
    assert str(error) == "email='x': not an address"
    assert list(ValidationError("no field").fields) == []


def test_conflict_error_carries_the_constraint_name() -> None:
    error = ConflictError("already exists", constraint="uq_specialists_email")
    assert error.constraint == "uq_specialists_email"
    assert str(error) == "already exists"
    assert ConflictError("lost a race").constraint is None


def test_only_transient_errors_are_retryable() -> None:
    assert TransientError("x").retryable is True
    assert TransientError.retryable is True
    for cls in [AsyncDataError, NotFoundError, ValidationError, ConflictError, ConfigurationError]:
        assert cls("x").retryable is False, cls


def test_all_lists_every_error() -> None:
    assert set(errors.__all__) == {cls.__name__ for cls in [AsyncDataError, *SUBCLASSES]}


def test_module_docstring_draws_the_tree() -> None:
    """The base sits at the root and every subclass is drawn indented below it."""
    lines = (errors.__doc__ or "").splitlines()

    def line_of(name: str) -> tuple[int, int]:
        for number, line in enumerate(lines):
            if found := re.search(rf"\b{name}\b", line):
                return number, found.start()
        raise AssertionError(f"{name} is not drawn in the errors docstring")

    root_line, root_column = line_of("AsyncDataError")
    for cls in SUBCLASSES:
        line, column = line_of(cls.__name__)
        assert line > root_line, cls.__name__
        assert column > root_column, cls.__name__
