"""The ``asyncdata`` command as an operator runs it: one line and exit 2 on any fault."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_pg import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def asyncdata(
    *args: str, env: dict[str, str], cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    full.pop("ALEMBIC_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "asyncdata", *args],
        cwd=cwd,
        env={**full, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asyncdata: ")
    assert "sekrit" not in result.stderr + result.stdout
    for text in expected:
        assert text in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["init-db", "demo"])
def test_a_closed_port_is_one_line_and_exit_2(command: str) -> None:
    port = free_port()
    result = asyncdata(command, env={"DB_URL": f"postgresql://app:sekrit@127.0.0.1:{port}/app"})
    assert_one_line_failure(result, f"127.0.0.1:{port}", "refused")


def test_a_bad_sqlite_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "app.db"
    result = asyncdata("init-db", env={"DB_URL": f"sqlite:///{path}"})
    assert_one_line_failure(result, str(path))


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = asyncdata(
        "init-db", env={"DB_URL": f"sqlite:///{tmp_path}/app.db", "DB_POOL_SIZE": "many"}
    )
    assert_one_line_failure(result, "DB_POOL_SIZE")


def test_an_unsupported_url_is_one_line_and_exit_2() -> None:
    result = asyncdata("init-db", env={"DB_URL": "mysql://app:sekrit@db.example/app"})
    assert_one_line_failure(result, "mysql")


def test_init_db_succeeds_and_says_which_path_ran(tmp_path: Path) -> None:
    result = asyncdata("init-db", env={"DB_URL": f"sqlite:///{tmp_path}/app.db"})
    assert result.returncode == 0, result.stderr
    assert "via alembic" in result.stdout


def test_db_commands_migrate_with_only_db_url(tmp_path: Path) -> None:
    """``asyncdata db`` runs the package's own migrations, from any directory."""
    env = {"DB_URL": f"sqlite:///{tmp_path}/app.db"}
    elsewhere = {"cwd": tmp_path}
    assert asyncdata("db", "upgrade", env=env, **elsewhere).returncode == 0
    current = asyncdata("db", "current", env=env, **elsewhere)
    assert current.returncode == 0 and "(head)" in current.stdout
    assert asyncdata("db", "check", env=env, **elsewhere).returncode == 0
    history = asyncdata("db", "history", env=env, **elsewhere)
    assert "0001_initial" in history.stdout
    assert asyncdata("db", "downgrade", "base", env=env, **elsewhere).returncode == 0
    assert "(head)" not in asyncdata("db", "current", env=env, **elsewhere).stdout


def test_a_db_command_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {"DB_URL": f"sqlite:///{tmp_path}/app.db"}
    result = asyncdata("db", "downgrade", "no-such-revision", env=env)
    assert_one_line_failure(result, "no-such-revision")
