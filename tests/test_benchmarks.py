"""The benchmark suite's machinery, on a few rows: its peers do the same work, and a run
reports every operation in the table and the JSON. Nothing here looks at a timing."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from asyncdata.models import Booking
from benchmarks.database import Target, open_target
from benchmarks.operations import delete_new_bookings
from benchmarks.peers import Peer, available_peers
from benchmarks.report import render, verdicts, write_json
from benchmarks.scale import render_scale, run_scale
from benchmarks.seed import seed
from benchmarks.suite import run_suite
from benchmarks.workload import SMOKE_SIZES, booking_rows

DATABASE = f"asyncdata_bench_test_{os.getpid()}"
OPERATIONS = ["get_by_id", "create", "update", "search", "get_all", "create_many", "slots"]
OPERATIONS += ["availability", "availability_by_day"]
ONLY_OURS_AND_HANDWRITTEN = {"availability", "availability_by_day"}


def server_url(backend: str, db_url: str) -> str | None:
    return db_url if backend == "postgresql" else None


@pytest.fixture
async def target(backend: str, db_url: str) -> AsyncIterator[Target]:
    async with open_target(backend, server_url(backend, db_url), database=DATABASE) as target:
        yield target


def ids(peer: str, rows: list[Any]) -> list[int]:
    """Primary keys of ORM objects, or of raw rows (whose first column is ``id``)."""
    return [row[0] if peer == "raw" else row.id for row in rows]


async def new_bookings(target: Target, baseline: int) -> int:
    async with target.sessions() as db:
        return int(await db.scalar(select(func.count()).where(Booking.id > baseline)) or 0)


async def test_peers_do_the_same_work(target: Target) -> None:
    data = await seed(target, SMOKE_SIZES)
    peers, _missing = available_peers(target)
    by_key: dict[str, Peer] = {peer.key: peer for peer in peers}
    wanted = data.specialist_ids[3]

    for peer in peers:
        assert ids(peer.key, [await peer.get_by_id(wanted)]) == [wanted], peer.key

    searched = {peer.key: ids(peer.key, await peer.search("derma")) for peer in peers}
    assert searched["asyncdata"], "the needle must match some specialists"
    assert all(found == searched["asyncdata"] for found in searched.values()), searched

    listed = {peer.key: await peer.get_all() for peer in peers}
    page = listed.pop("asyncdata")
    assert ids("raw", listed.pop("raw")[0]) == ids("asyncdata", page)
    for key, specialists in listed.items():
        assert ids(key, specialists) == ids("asyncdata", page)
        assert [len(s.schedules) for s in specialists] == [len(s.schedules) for s in page]

    slots = await by_key["asyncdata"].slots(data.slot_specialist_id, data.slot_day)
    assert slots, "the slot day must have free slots"
    assert await by_key["handwritten"].slots(data.slot_specialist_id, data.slot_day) == slots
    ten = [data.slot_specialist_id, *data.specialist_ids[:9]]
    week = await by_key["asyncdata"].availability(ten, data.first_day, 7)
    assert week == await by_key["asyncdata"].availability_by_day(ten, data.first_day, 7)
    assert week == await by_key["handwritten"].availability(ten, data.first_day, 7)
    assert week == await by_key["handwritten"].availability_by_day(ten, data.first_day, 7)

    rows = booking_rows(data.specialist_ids, 30, data.first_day)
    spans: dict[str, list[tuple[Any, Any]]] = {}
    for peer in peers:
        created = await peer.create_many(rows)
        assert await new_bookings(target, data.baseline_booking_id) == len(rows), peer.key
        if created is not None:
            by_email = {booking.client_email: booking for booking in created}
            spans[peer.key] = [
                (by_email[r["client_email"]].starts_at, by_email[r["client_email"]].ends_at)
                for r in rows
            ]
        await delete_new_bookings(target, data)
    created = await by_key["asyncdata"].create_many(rows)
    assert [b.client_email for b in created] == [r["client_email"] for r in rows]
    assert all(found == spans["asyncdata"] for found in spans.values())


async def test_a_run_reports_every_operation_in_table_and_json(
    backend: str, db_url: str, tmp_path: Path
) -> None:
    result = await run_suite(
        backend,
        pg_url=server_url(backend, db_url),
        sizes=SMOKE_SIZES,
        rounds=1,
        database=DATABASE,
    )
    expected = OPERATIONS + (["booking_throughput"] if backend == "postgresql" else [])
    aa_installed = importlib.util.find_spec("advanced_alchemy") is not None
    assert [op.key for op in result.operations] == expected
    for operation in result.operations:
        assert [p.key for p in operation.peers] == [
            "asyncdata",
            "handwritten",
            "advanced_alchemy",
            "raw",
        ]
        for peer in operation.peers:
            absent = peer.key == "advanced_alchemy" and (
                operation.key == "slots" or not aa_installed
            )
            absent |= peer.key in ("advanced_alchemy", "raw") and (
                operation.key in ONLY_OURS_AND_HANDWRITTEN
            )
            if absent:
                assert peer.summary is None and peer.missing
            else:
                assert peer.summary is not None, (operation.key, peer.key)
                assert (peer.summary.rounds, len(peer.samples)) == (1, 1)
        assert operation.ratio("handwritten") is not None
    assert [use.rows for use in result.memory] == list(SMOKE_SIZES.memory_rows)

    found = verdicts(result)
    table = render(result)
    for key in expected:
        assert f"\n{key} " in table
    passed = sum(verdict["met"] for verdict in found)
    assert f"targets: {passed} PASS, {len(found) - passed} MISS" in table

    path = tmp_path / "results" / f"{backend}.json"
    write_json(result, path)
    written = json.loads(path.read_text())
    assert written["backend"] == backend
    assert [op["key"] for op in written["operations"]] == expected
    for operation in written["operations"]:
        mine = operation["peers"]["asyncdata"]
        assert mine["rounds"] == 1 and len(mine["samples_s"]) == 1
        assert {"median_s", "p10_s", "p90_s", "iqr_pct"} <= mine.keys()
        assert operation["peers"]["handwritten"]["ratio"] is not None
    assert len(written["targets"]) == len(found)
    assert len(written["memory"]) == len(SMOKE_SIZES.memory_rows)


async def test_a_scale_run_times_every_read_at_every_size(backend: str, db_url: str) -> None:
    version, results = await run_scale(
        backend,
        pg_url=server_url(backend, db_url),
        sizes=(60, 120),
        progress=lambda _message: None,
        database=DATABASE,
    )
    assert [r.rows for r in results] == [60, 120]
    assert set(results[0].medians_ms) == set(results[1].medians_ms)
    assert len(results[0].medians_ms) == 14
    assert set(results[0].load_s) == {"specialists", "bookings", "sessions", "admin_logs"}
    table = render_scale(backend, version, results)
    assert "| get_page(limit=50), after row rows/2 |" in table
    assert "120/60" in table
