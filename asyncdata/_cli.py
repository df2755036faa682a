"""The ``asyncdata`` command: ``init-db``, ``demo`` and ``db`` (the migrations).

``asyncdata db upgrade|downgrade|current|history|check`` run Alembic on the
migration scripts shipped inside the package, against ``DB_URL``: an installed
wheel needs no checkout and no ``alembic.ini``.

Any failure a user can act on (a database down or unreachable, a bad
setting, a failed migration) ends the command with one line
``asyncdata: <what went wrong>`` on stderr and exit status 2, never a
traceback; the line names the host and port or the file, never the password.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from asyncdata._config import load_settings
from asyncdata._demo import run_demo
from asyncdata._faults import one_line
from asyncdata._schema import alembic_config
from asyncdata._translate import translate_fault
from asyncdata.database import dispose_engine, init_db
from asyncdata.errors import AsyncDataError, ConfigurationError

EXIT_FAILURE = 2
"""Exit status when the command could not do its work (database or configuration)."""

__all__ = ["main"]


async def _init_db() -> None:
    try:
        path = await init_db()
        print(f"schema ready on {load_settings().url.render_as_string()} (via {path})")
    finally:
        await dispose_engine()
        # A SQLite connection that failed to open finishes on its worker thread a moment
        # later; let it report back before the event loop closes.
        await asyncio.sleep(0.05)


def _migrations(args: argparse.Namespace) -> None:
    """One Alembic command on the package's scripts; Alembic's own errors become one line."""
    from alembic.util import CommandError

    from alembic import command

    config = alembic_config()
    try:
        if args.db == "upgrade":
            command.upgrade(config, args.revision)
        elif args.db == "downgrade":
            command.downgrade(config, args.revision)
        elif args.db == "current":
            command.current(config, verbose=args.verbose)
        elif args.db == "history":
            command.history(config, verbose=args.verbose)
        else:
            command.check(config)
    except CommandError as exc:
        raise ConfigurationError(f"alembic {args.db}: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncdata",
        description="Async data layer for appointment booking. Reads DB_URL "
        "(default sqlite+aiosqlite:///./app.db).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="bring the schema to the newest revision")
    commands.add_parser("demo", help="create sample data and show search, free slots, bookings")
    db = commands.add_parser("db", help="run the migrations (Alembic) on DB_URL")
    steps = db.add_subparsers(dest="db", required=True)
    upgrade = steps.add_parser("upgrade", help="upgrade to REVISION (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = steps.add_parser("downgrade", help="downgrade to REVISION (e.g. -1, base)")
    downgrade.add_argument("revision")
    for name, text in (("current", "show the revision"), ("history", "list the revisions")):
        steps.add_parser(name, help=text).add_argument("-v", "--verbose", action="store_true")
    steps.add_parser("check", help="fail if the models and the migrations disagree")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m asyncdata``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "db":
            _migrations(args)
        else:
            asyncio.run(_init_db() if args.command == "init-db" else run_demo())
    except KeyboardInterrupt:
        print("asyncdata: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        error = exc if isinstance(exc, AsyncDataError) else _url_fault(exc)
        if error is None:
            raise  # a bug: the traceback is what a report needs
        print(f"asyncdata: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def _url_fault(exc: BaseException) -> AsyncDataError | None:
    try:
        url = load_settings().url
    except AsyncDataError:
        url = None
    return translate_fault(exc, url=url)
