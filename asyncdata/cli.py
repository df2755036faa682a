"""The ``asyncdata`` command: ``init-db`` and ``demo``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from asyncdata.config import load_settings
from asyncdata.database import dispose_engine, init_db
from asyncdata.demo import run_demo
from asyncdata.errors import AsyncDataError

__all__ = ["main"]


async def _init_db() -> None:
    try:
        path = await init_db()
        print(f"schema ready on {load_settings().url.render_as_string()} (via {path})")
    finally:
        await dispose_engine()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of ``python -m asyncdata``."""
    parser = argparse.ArgumentParser(
        prog="asyncdata",
        description="Async data layer for appointment booking. Reads DB_URL "
        "(default sqlite+aiosqlite:///./app.db).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init-db", help="bring the schema to the newest revision")
    commands.add_parser("demo", help="create sample data and show search, free slots, bookings")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_init_db() if args.command == "init-db" else run_demo())
    except AsyncDataError as exc:
        parser.exit(1, f"asyncdata: {exc}\n")
    return 0
